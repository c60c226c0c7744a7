"""course.wire: what crosses between the student's kernel and the trusted runner.

Two endpoints over a real socket pair, the student's side served in a thread, as in grading.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from wire_pair import remote, served_pair

from course.isolation import wire


class Student(wire.Endpoint):
    def __init__(self, conn, ns):
        super().__init__(conn, "s")
        self.ns = ns

    def lookup(self, name):
        return self.ns[name]


@pytest.fixture
def pair():
    """(trusted endpoint, student namespace) with the student served in a thread."""
    ns = {}
    with served_pair(Student, ns) as (trusted, _student):
        yield trusted, ns


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**70, 1.5, float("inf"), "text é", b"\x00\xff",
    (1, "a", None), [1, [2.0, (3,)]], {"a": 1, 2: [3], (1, 2): "t"},
    np.arange(6.0).reshape(2, 3), np.array([True, False]), np.arange(5, dtype=np.int8),
    np.float32(1.25), np.int64(-3), np.bool_(True),
    # NaN is not equal to itself: these take the branches below that compare NaN as NaN
    float("nan"), np.float64("nan"), np.float32("nan"), np.array([1.0, np.nan, -np.inf]),
])
def test_plain_data_round_trips_with_its_exact_type(pair, value):
    trusted, ns = pair
    ns["identity"] = lambda x: x
    back = remote(trusted, "identity")(value)
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype
        assert np.array_equal(back, value, equal_nan=value.dtype.kind in "fc")
    elif isinstance(value, (float, np.floating)) and np.isnan(value):
        assert np.isnan(back), f"NaN came back as {back!r}"
    else:
        assert back == value


def test_a_plain_endpoint_sends_subclasses_as_handles(pair):
    from collections import OrderedDict, namedtuple

    trusted, ns = pair
    Point = namedtuple("Point", "x y")
    ns["make"] = lambda: (OrderedDict(a=1), Point(1, 2))
    d, p = remote(trusted, "make")()
    # the student's side is the agent's Policy here (plain Endpoint): exact types only,
    # so these cross as handles; the agent's StudentPolicy converts them (test_agent below)
    assert isinstance(d, wire.Proxy) and isinstance(p, wire.Proxy)


def test_a_student_object_is_a_handle_whose_methods_run_remotely(pair):
    trusted, ns = pair

    class Model:
        def __init__(self):
            self.params = {"W": np.zeros(2)}

        def predict(self, X):
            return X @ self.params["W"] + 1.0

    ns["Model"] = Model
    model = remote(trusted, "Model")()
    assert isinstance(model, wire.Proxy)
    assert np.array_equal(model.predict(np.ones((3, 2))), np.ones(3))
    model.params = {"W": np.array([1.0, 2.0])}
    assert np.array_equal(model.predict(np.ones((1, 2))), [4.0])


def test_a_proxy_never_claims_equality_or_truth(pair):
    trusted, ns = pair

    class Anything:
        def __eq__(self, other):
            return True

        def __bool__(self):
            return True

    ns["x"] = Anything()
    x = remote(trusted, "x")
    assert (x == 3) is False and (x != 3) is True
    with pytest.raises(TypeError, match="truth value"):
        bool(x)


def test_dunder_attributes_are_never_asked_of_the_other_side(pair):
    trusted, ns = pair

    class Pointer:
        __array_interface__ = {"data": (0, False), "shape": (1,), "typestr": "<f8"}

    ns["p"] = Pointer()
    p = remote(trusted, "p")
    with pytest.raises(AttributeError):
        p.__array_interface__  # noqa: B018
    arr = np.asarray(p)  # numpy sees no array protocol: an object array, not memory
    assert arr.dtype == object


def test_in_place_changes_are_seen_by_the_caller(pair):
    trusted, ns = pair

    def scale(a, d):
        a *= 2
        d["new"] = np.ones(1)

    ns["scale"] = scale
    a, d = np.arange(3.0), {}
    remote(trusted, "scale")(a, d)
    assert np.array_equal(a, [0.0, 2.0, 4.0])
    assert list(d) == ["new"] and np.array_equal(d["new"], [1.0])


def test_a_callback_updates_the_trusted_object_in_place(pair):
    trusted, ns = pair

    class FakeModel:
        def __init__(self):
            self.params = {"w": np.zeros(2)}
            self.calls = 0

        def grad(self):
            self.calls += 1
            return np.ones(2)

    def train(model, steps):
        for _ in range(steps):
            model.params["w"] -= 0.5 * model.grad()

    ns["train"] = train
    fake = FakeModel()
    remote(trusted, "train")(fake, 3)
    assert fake.calls == 3
    assert np.array_equal(fake.params["w"], [-1.5, -1.5])


def test_a_generator_crosses_with_its_state_and_advances(pair):
    trusted, ns = pair
    ns["draw"] = lambda rng: rng.permutation(5)
    rng = np.random.default_rng(0)
    first = remote(trusted, "draw")(rng)
    second = remote(trusted, "draw")(rng)
    expected = np.random.default_rng(0)
    assert np.array_equal(first, expected.permutation(5))
    assert np.array_equal(second, expected.permutation(5))


def test_student_exceptions_keep_builtin_types(pair):
    trusted, ns = pair

    def bad(x):
        raise ValueError(f"x must be positive, got {x}")

    ns["bad"] = bad
    with pytest.raises(ValueError, match="must be positive"):
        remote(trusted, "bad")(-1)


def test_iterating_a_student_generator(pair):
    trusted, ns = pair
    ns["batches"] = lambda n: ((i, [i] * 2) for i in range(n))
    assert list(remote(trusted, "batches")(3)) == [(0, [0, 0]), (1, [1, 1]), (2, [2, 2])]


def _frame(header: dict, blobs=()):
    raw = json.dumps(header).encode()
    return b"".join([struct.pack("<I", len(raw)), raw, *blobs])


@pytest.mark.parametrize("tree", [
    {"$": "array", "k": "s1", "dtype": "|O", "shape": [1], "b": 0},
    {"$": "array", "k": "s1", "dtype": "<f8", "shape": [3], "b": 0},
    {"$": "array", "k": "s1", "dtype": "V8", "shape": [1], "b": 0},
    {"$": "scalar", "dtype": "<M8", "b": 0},
    {"$": "yours", "h": "t999"},
    {"$": "handle", "h": "t1", "kind": "object", "type": "x"},
    {"$": "pickle", "v": "gASV"},
    {"$": "rng", "k": "s2", "state": {"bit_generator": "os.system", "state": {}}},
])
def test_malformed_or_forbidden_values_are_refused(tree):
    endpoint = wire.Endpoint(None, "t")
    frame = _frame({"m": {"ok": tree}, "sync": [], "forget": [], "blobs": [8]}, [b"\x00" * 8])
    with pytest.raises(wire.WireError):
        endpoint.decode_message(frame)


def test_a_frame_whose_blobs_do_not_add_up_is_refused():
    endpoint = wire.Endpoint(None, "t")
    with pytest.raises(wire.WireError):
        endpoint.decode_message(_frame({"m": {}, "sync": [], "forget": [], "blobs": [100]},
                                       [b"x"]))


def test_agent_policy_sends_subclasses_as_plain_types():
    from collections import OrderedDict

    from course.isolation.runner_process import agent_source

    ns = {}
    source = agent_source().split("\ndef serve(")[0]  # the classes, without starting to serve
    exec(compile(source, "<agent>", "exec"), ns)
    policy = ns["StudentPolicy"]()
    assert type(policy.plain(OrderedDict(a=1))) is dict
    assert type(policy.plain((1, 2))) is tuple
    assert type(policy.plain(True)) is bool


def test_links_to_objects_no_one_keeps_are_dropped_on_both_sides(pair):
    trusted, ns = pair
    ns["grads"] = lambda X: {"W": X * 0.0, "b": np.zeros(2)}
    f = remote(trusted, "grads")
    X = np.ones((3, 2))
    for _ in range(50):
        f(X)
    assert len(trusted.links) < 10  # 50 calls × (dict + 2 arrays) would be 150


def test_a_returned_array_the_test_keeps_stays_linked(pair):
    """numerical_gradient perturbs model.params[k] in place; the model must see it."""
    trusted, ns = pair

    class Model:
        def __init__(self):
            self.params = {"w": np.zeros(3)}

        def loss(self):
            return float(np.sum(self.params["w"] ** 2))

    ns["model"] = Model()
    model = remote(trusted, "model")
    w = model.params["w"]
    w[1] = 2.0
    assert model.loss() == 4.0
