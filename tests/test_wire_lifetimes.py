"""course.isolation.wire's links have explicit lifetimes (issue 18, item 6): the serving side
forgets, between two requests, the links to objects it can no longer reach from its roots,
and no reference count is read."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from wire_pair import remote, served_pair

from course.isolation import wire


class Student(wire.Endpoint):
    """The student's side as the agent is: its namespace is one of its roots."""

    def __init__(self, conn, ns):
        super().__init__(conn, "s")
        self.ns = ns

    def roots(self):
        return [self.exported, self.ns]

    def lookup(self, name):
        return self.ns[name]


@pytest.fixture
def pair(monkeypatch):
    def no_refcounts(*args):
        raise AssertionError("wire read a reference count")

    monkeypatch.setattr(sys, "getrefcount", no_refcounts)
    ns = {}
    with served_pair(Student, ns) as (trusted, student):
        yield trusted, student, ns


def test_results_and_arguments_no_one_keeps_are_forgotten_on_both_sides(pair):
    trusted, student, ns = pair
    ns["grads"] = lambda X: {"W": X * 0.0, "b": [np.zeros(2)]}
    f = remote(trusted, "grads")
    X = np.ones((3, 2))
    for _ in range(20):
        out = f(X)
    assert type(out) is dict and np.array_equal(out["W"], np.zeros((3, 2)))
    # after the last reply: nothing the student's side can reach is left linked
    assert student.links == {} and trusted.links == {}


def test_an_argument_the_student_stores_stays_linked(pair):
    """One process's semantics: the student's function keeps the test's array in a global,
    the test changes its array, and the student's next call sees the change."""
    trusted, student, ns = pair

    def keep(a):
        ns["kept"] = a

    ns["keep"] = keep
    ns["total"] = lambda: float(ns["kept"].sum())
    a = np.zeros(3)
    remote(trusted, "keep")(a)
    total = remote(trusted, "total")
    for i in range(3):
        a[i] = 1.0
        assert total() == i + 1.0
    assert len(student.links) == 1


def test_a_result_the_student_keeps_stays_linked_while_others_go(pair):
    trusted, student, ns = pair

    class Model:
        def __init__(self):
            self.params = {"w": np.zeros(3)}

        def loss(self):
            return float(np.sum(self.params["w"] ** 2))

        def grads(self):
            return {"w": 2 * self.params["w"]}

    ns["model"] = Model()
    model = remote(trusted, "model")
    w = model.params["w"]
    for step in range(1, 30):  # a numerical gradient: perturb in place, evaluate, many times
        w[0] = step
        g = model.grads()
        assert model.loss() == step**2 and g["w"][0] == 2 * step
    # at the next walk (due when the checks since the last one have cost as much as it did:
    # brought forward here), the model's dict and array stay linked, and the 29 dicts of
    # gradients and their arrays are forgotten
    student._checked = student._walk_cost
    assert model.loss() == 29**2
    assert sorted(type(v).__name__ for v in student.links.values()) == ["dict", "ndarray"]


def test_a_suspended_generator_keeps_what_it_holds(pair):
    trusted, student, ns = pair

    def batches(X):
        for i in range(len(X)):
            yield float(X[i].sum())

    ns["batches"] = batches
    X = np.arange(6.0).reshape(3, 2)
    it = iter(remote(trusted, "batches")(X))
    assert next(it) == 1.0
    X[1] = 10.0  # the generator holds the student's copy of X: it sees the change
    assert next(it) == 20.0


def test_nothing_is_forgotten_in_a_callback_within_a_call(pair):
    """While the student's train waits in a call of its own, replies within it forget
    nothing: its frames hold the objects it works on."""
    trusted, student, ns = pair

    class Fake:
        def __init__(self):
            self.params = {"w": np.zeros(2)}

        def grad(self):
            return np.ones(2)

    def train(model, steps):
        w = model.params["w"]
        for _ in range(steps):
            w -= 0.5 * model.grad()

    ns["train"] = train
    fake = Fake()
    remote(trusted, "train")(fake, 4)
    assert np.array_equal(fake.params["w"], [-2.0, -2.0])


def test_a_walk_that_gives_up_keeps_every_link(pair, monkeypatch):
    trusted, student, ns = pair
    monkeypatch.setattr(wire, "_REACH_BUDGET", 1)
    ns["make"] = lambda: [np.zeros(1)]
    f = remote(trusted, "make")
    for _ in range(5):
        f()
    assert len(student.links) == 10 and len(trusted.links) == 10
    assert student._walk_cost == 2  # it gave up after the first object beyond the budget


def test_reachable_follows_the_ways_an_object_can_be_held():
    target = np.zeros(1)

    class Slotted:
        __slots__ = ("x",)

    class Holder:
        shared = None

    s = Slotted()
    s.x = target
    Holder.shared = [target]

    def outer():
        def inner():
            return target
        return inner

    def gen():
        held = target
        yield held

    suspended = gen()
    next(suspended)
    Holder.__init__ = lambda self, t=target: None
    holders = [s, Holder, outer(), {"a": (target,)}, (lambda t=target: t), suspended,
               Holder().__init__, {1: [{2: target}]}]
    for holder in holders:
        assert wire._reachable([holder], {id(target)})[0] == {id(target)}, holder
    assert wire._reachable([np.ones(3), "text", sys], {id(target)})[0] == set()


def test_a_large_namespace_is_walked_once_per_batch_of_links(pair, monkeypatch):
    """A walk costs what it takes from its stack; a link kept costs a check in every message.
    So a walk waits until the checks since the last one cost as much: with many objects to
    visit, links are forgotten in batches, not after every call, and still all of them."""
    trusted, student, ns = pair
    ns["history"] = [float(i) for i in range(10_000)]  # a walk takes > 10 000 steps
    ns["grads"] = lambda: {"W": np.zeros(2)}
    walks = []
    reachable = wire._reachable

    def counted(roots, wanted):
        found, steps = reachable(roots, wanted)
        walks.append(steps)
        return found, steps

    monkeypatch.setattr(wire, "_reachable", counted)
    f = remote(trusted, "grads")
    sizes = []
    for _ in range(200):
        f()
        sizes.append(len(student.links))
    # each call links 2 objects (the dict, its array), each check of them costs 2, so k calls
    # after a walk the checks have cost about 2·k², and the next walk comes at k ≈ 71 (at
    # the first reply: nothing was walked yet); after every walk nothing is linked
    assert all(steps > 10_000 for steps in walks[1:])
    assert 3 <= len(walks) <= 5, walks
    assert max(sizes) <= 2 * 80 and sizes.count(0) == len(walks)


def test_a_plot_is_not_walked():
    """matplotlib's figures hold thousands of objects (artists, transforms, callbacks) and no
    data of a test's: a walk does not look into them (wire's _OPAQUE_MODULES)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(np.arange(100.0), label="loss")
    ax.legend()
    try:
        found, steps = wire._reachable([{"fig": fig, "ax": ax}], {id(object())})
    finally:
        plt.close(fig)
    assert found == set() and steps <= 3


def test_a_method_read_many_times_is_exported_once(pair):
    """model.loss_and_grads is a new bound method at every read: the student's side exports
    one handle for it, not one per call (its exported objects are roots of every walk)."""
    trusted, student, ns = pair

    class Model:
        def loss(self, x):
            return float(x)

    ns["model"] = Model()
    model = remote(trusted, "model")
    assert [model.loss(i) for i in range(50)] == [float(i) for i in range(50)]
    methods = [v for v in student.exported.values() if not isinstance(v, Model)]
    assert len(methods) == 1 and methods[0].__self__ is ns["model"]
    other = Model()
    ns["other"] = other
    assert remote(trusted, "other").loss(2) == 2.0  # another object's method: its own handle
    assert sum(getattr(v, "__self__", None) is other for v in student.exported.values()) == 1
