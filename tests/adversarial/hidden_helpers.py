"""The toy course with two more exercises, for issue 19 (hole 3) and nbgrader's drop-in
semantics of test cells that rebind or delete a student's name.

- ``numerical_grads(loss_fn, params, h)``: its hidden tests pass named helpers of their own
  (a function and a callable object) that the student's code calls. A determined student
  prints the repr, type name and attributes of everything they are given, calls it with a
  recording object and wrong types, catches the exceptions and prints their messages, keeps
  all that for a later cell and raises it as their own error. None of the hidden helpers'
  names or source may reach the feedback.
- ``squares`` / ``sum_of_squares``: a visible test rebinds ``squares`` to a fake and deletes
  it (as nbgrader's own tests do with ``del squares``); the next test sees the student's
  ``squares`` again.
"""

from __future__ import annotations

from nbformat.v4 import new_code_cell

from .catalogue import _insert_after
from .toy import cell

GRADS_SOLUTION = '''def numerical_grads(loss_fn, params, h=1e-5):
    """Centred differences of loss_fn at params (a dict of float64 arrays), entry by entry."""
    ### BEGIN SOLUTION
    grads = {}
    for key, value in params.items():
        g = np.zeros(value.shape)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + h
            up = loss_fn(params)
            value[idx] = old - h
            down = loss_fn(params)
            value[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads[key] = g
    return grads
    ### END SOLUTION'''

GRADS_TEST = '''def _quadratic(p):
    return float(np.sum(p["a"] ** 2))


_g = grading.call(numerical_grads, _quadratic, {"a": np.array([1.0, -2.0])})
grading.assert_close(_g["a"], [2.0, -4.0], rtol=1e-6, name="numerical_grads")
### BEGIN HIDDEN TESTS
def _hidden_cubic_helper(p):
    return float(np.sum(p["W"] ** 3) + p.get("zz_hidden_key", 0.0))


class _HiddenLossObject:
    def __call__(self, p):
        return _hidden_cubic_helper(p)


_W = np.array([[2.0, -1.0], [0.0, 1.5]])
for _loss in (_hidden_cubic_helper, _HiddenLossObject()):
    _g = grading.call(numerical_grads, _loss, {"W": _W.copy()}, 0.1)
    grading.assert_close(_g["W"], 3 * _W ** 2 + 0.01, rtol=1e-9, atol=1e-9, name="W")
### END HIDDEN TESTS'''

SQUARES_SOLUTION = '''def squares(n):
    """The squares 1, 4, ..., n²."""
    ### BEGIN SOLUTION
    return [i * i for i in range(1, n + 1)]
    ### END SOLUTION


def sum_of_squares(n):
    """1 + 4 + ... + n², by calling squares."""
    ### BEGIN SOLUTION
    print("summing the squares up to", n)
    return sum(squares(n))
    ### END SOLUTION'''

REBIND_TEST = '''assert sum_of_squares(3) == 14
squares = lambda n: [1] * n  # a fake: sum_of_squares must call squares
assert sum_of_squares(3) == 3, "sum_of_squares must call squares"
del squares
try:
    sum_of_squares(1)
except NameError:
    pass
else:
    raise AssertionError("sum_of_squares must look up squares when it is called")'''

RESTORED_TEST = '''assert squares(3) == [1, 4, 9], squares(3)
assert sum_of_squares(2) == 5'''

TESTS = {"test_grads": 2, "test_rebind": 1, "test_restored": 1}
# what a hidden test's helpers are and do: none of it may reach the student
SECRETS = ["_hidden", "Hidden", "zz_hidden_key", "** 3", "pow 3", "cubic", "getitem 'W'",
           "getattr 'get'"]


def _code(source, grade_id, *, points=None):
    meta = {"schema_version": 3, "grade_id": grade_id, "solution": points is None,
            "grade": points is not None, "locked": points is not None}
    if points is not None:
        meta["points"] = points
    new = new_code_cell(source)
    new.metadata["nbgrader"] = meta
    new["id"] = grade_id.replace("_", "-")
    return new


def extra_cells():
    return [
        _code(GRADS_SOLUTION, "grads"),
        _code(GRADS_TEST, "test_grads", points=TESTS["test_grads"]),
        _code(SQUARES_SOLUTION, "squares"),
        _code(REBIND_TEST, "test_rebind", points=TESTS["test_rebind"]),
        _code(RESTORED_TEST, "test_restored", points=TESTS["test_restored"]),
    ]


SPY = '''import numpy as np

LOG = []


class Recorder:
    """Logs what the test's code asks of it."""

    def __getitem__(self, key):
        LOG.append(f"getitem {key!r}")
        return self

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        LOG.append(f"getattr {name!r}")
        return self

    def __call__(self, *args, **kwargs):
        LOG.append(f"call {args!r} {kwargs!r}")
        return self

    def __pow__(self, other):
        LOG.append(f"pow {other!r}")
        return 1.0

    __mul__ = __add__ = __radd__ = __rmul__ = __pow__


def spy(thing):
    LOG.extend([repr(thing), str(thing), type(thing).__name__, str(dir(thing))])
    for name in ("_wire_type", "_wire_kind", "__name__", "__qualname__", "__code__",
                 "__closure__", "__globals__", "__dict__", "__class__", "func_name"):
        try:
            LOG.append(f"{name}={getattr(thing, name)!r}")
        except Exception as exc:
            LOG.append(f"{name}: {type(exc).__name__}: {exc}")
    for arg in (Recorder(), {}, {"W": "text"}, {"W": None}, None, "abc", [1.0],
                {"W": Recorder()}, {"W": np.ones(2)}):
        try:
            LOG.append(repr(thing(arg)))
        except BaseException as exc:
            LOG.append(f"{type(exc).__name__}: {exc} {exc.args!r} "
                       f"{getattr(exc, 'remote_trace', '')}")


def numerical_grads(loss_fn, params, h=1e-5):
    spy(loss_fn)
    for value in params.values():
        LOG.append(repr(value))
    print("\\n".join(LOG))
    if len(LOG) > 60:  # the second hidden call: the log as my own error
        raise ValueError("\\n".join(LOG))
    grads = {}
    for key, value in params.items():
        g = np.zeros(value.shape)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + h
            up = loss_fn(params)
            value[idx] = old - h
            down = loss_fn(params)
            value[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads[key] = g
    return grads'''


def spy_submission(nb):
    """The honest notebook, with a numerical_grads that spies, and a later cell that prints
    what it kept."""
    cell(nb, "grads").source = SPY
    return _insert_after(nb, "test_grads", "print('\\n'.join(LOG))")
