"""The trusted runner and the grading agent as in grading: the runner's source (wire + runner)
and the agent's (wire + agent), each run as a module, connected over a unix socket; the
agent's ``serve`` answers in a thread as it does in the student's kernel.

Issue 19, hole 3: what a test's objects show the student's code (an opaque name, generic
errors, plain data only into a test's callables) unless declared public. Drop-in semantics:
a test cell that rebinds or deletes a student's name acts on the student's namespace for the
duration of the cell, and the student's binding is back afterwards.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from multiprocessing.connection import Client, Listener
from pathlib import Path

import pytest

from course.isolation.runner_process import agent_source, runner_source

REPO = Path(__file__).resolve().parents[1]

STUDENT = '''
import numpy as np

def squares(n):
    return [i * i for i in range(1, n + 1)]

def sum_of_squares(n):
    return sum(squares(n))

def peek(thing):
    """What a determined student learns of a test's object."""
    seen = [repr(thing), str(thing), type(thing).__name__, thing._wire_type, str(dir(thing))]
    for name in ("__name__", "__qualname__", "__code__", "__closure__", "__dict__",
                 "func_name", "secret_attr"):
        try:
            seen.append(f"{name}={getattr(thing, name)!r}")
        except Exception as exc:
            seen.append(f"{name}: {type(exc).__name__}: {exc}")
    return seen

LOG = []

class Recorder:
    def __getitem__(self, key):
        LOG.append(f"getitem {key!r}")
        return self
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        LOG.append(f"getattr {name!r}")
        return self
    def __call__(self, *args, **kwargs):
        LOG.append(f"call {args!r}")
        return self
    def __pow__(self, other):
        LOG.append(f"pow {other!r}")
        return 1.0

def probe(fn):
    """Call a test's callable with wrong and recording arguments; what comes back."""
    seen = []
    for arg in (Recorder(), {}, {"W": "text"}, None, [Recorder()], {"W": np.ones(2)}):
        try:
            seen.append(repr(fn(arg)))
        except Exception as exc:
            seen.append(f"{type(exc).__name__}: {exc} {exc.args!r}")
    return seen

def drain(it):
    return list(it)

def catches_value_error(fn):
    try:
        fn(1)
    except ValueError as exc:
        return f"caught {type(exc).__name__}: {exc}"
    return "not raised"
'''

HIDDEN_HELPER = '''
class _HiddenLossObject:
    secret_attr = 3.0
    def __call__(self, p):
        return float(np.sum(p["W"] ** 3) + p.get("zz_hidden_key", 0.0))

def _hidden_cubic_helper(p):
    return float(np.sum(p["W"] ** 3) + p.get("zz_hidden_key", 0.0))

class _HiddenFakeModel:
    def _private_hidden_step(self):
        pass
'''
SECRETS = ["_hidden", "Hidden", "zz_hidden_key", "** 3", "cubic", "pow", "private"]


@pytest.fixture(scope="module")
def code():
    runner = {"__name__": "course_runner_under_test"}
    exec(compile(runner_source(), "<string>", "exec"), runner)
    agent = {"__name__": "_course_agent"}
    source = agent_source().rsplit("\nserve(", 1)[0]  # its functions, without serving
    exec(compile(source, "<course grading agent>", "exec"), agent)
    yield runner, agent
    sys.modules.pop(agent["STATE"], None)


@pytest.fixture
def student():
    ns = {"__name__": "__main__"}
    exec(STUDENT, ns)
    return ns


@contextlib.contextmanager
def cell(code, user_ns, tmp_path, *, student_names=("squares", "sum_of_squares", "peek",
                                                     "probe", "drain", "catches_value_error")):
    """One test cell's session, as runner.Main.cell runs it: yields run(source) -> outputs
    and the namespace; ends with ``done`` (or ``drop()`` first: the connection dies)."""
    runner_ns, agent_ns = code
    sys.modules.pop(agent_ns["STATE"], None)  # a new runner: a new agent (handle ids restart)
    runner = runner_ns["Runner"]()
    runner.timeout = 20
    ns = runner_ns["TestNamespace"](runner, student_names, {})
    ns["np"] = __import__("numpy")
    address = str(tmp_path / "agent.sock")
    with Listener(address, family="AF_UNIX") as listener:
        thread = threading.Thread(target=agent_ns["serve"], args=(address, "tok", user_ns),
                                  daemon=True)
        thread.start()
        conn = listener.accept()
        runner.conn = conn
        assert runner.receive() == {"hello": "tok"}

        def run(source):
            return runner_ns["run_source"](ns, "test_cell", source)

        def drop():
            conn.close()
            runner.broken = "dropped"

        try:
            yield run, ns, drop
        finally:
            if not runner.broken:
                runner.send({"op": "done"})
            conn.close()
            runner.conn = None
            runner.reset_links()
            ns.end_cell()
            thread.join(10)
            assert not thread.is_alive()


def _errors(outputs):
    return [o for o in outputs if o["output_type"] == "error"]


def _text(outputs):
    return "".join(o.get("text", "") for o in outputs) + "".join(
        "\n".join(o.get("traceback", [])) for o in outputs)


# -- drop-in semantics: a test cell rebinds or deletes a student's name ---------------------
def test_rebinding_a_student_name_is_seen_by_the_students_function_for_the_cell(
        code, student, tmp_path):
    original = student["squares"]
    with cell(code, student, tmp_path) as (run, ns, _):
        outputs = run("assert sum_of_squares(3) == 14\n"
                      "squares = lambda n: [1] * n\n"
                      "assert sum_of_squares(3) == 3, sum_of_squares(3)\n"
                      "assert squares(4) == [1, 1, 1, 1]  # the runner sees its own binding\n")
        assert not _errors(outputs), outputs
        assert student["squares"] is not original  # rebound in the student's namespace
    assert student["squares"] is original
    with cell(code, student, tmp_path) as (run, _, _):
        outputs = run("assert squares(3) == [1, 4, 9]\nassert sum_of_squares(2) == 5\n")
        assert not _errors(outputs), outputs


def test_deleting_a_student_name_makes_the_students_function_raise_name_error(
        code, student, tmp_path):
    original = student["squares"]
    source = ("del squares\n"
              "try:\n    sum_of_squares(1)\nexcept NameError:\n    pass\n"
              "else:\n    raise AssertionError('sum_of_squares must call squares')\n"
              "try:\n    squares\nexcept NameError:\n    pass\n"
              "else:\n    raise AssertionError('the runner still sees squares')\n")
    with cell(code, student, tmp_path) as (run, _, _):
        outputs = run(source)
        assert not _errors(outputs), outputs
        assert "squares" not in student
    assert student["squares"] is original
    with cell(code, student, tmp_path) as (run, _, _):  # deleting it twice: NameError
        [error] = _errors(run("del squares\ndel squares\n"))
    assert error["ename"] == "NameError"
    assert student["squares"] is original


def test_the_students_binding_is_back_when_the_test_fails_or_the_connection_drops(
        code, student, tmp_path):
    original = student["squares"]
    with cell(code, student, tmp_path) as (run, _, _):
        [error] = _errors(run("squares = lambda n: []\nassert sum_of_squares(2) == 99\n"))
        assert error["ename"] == "AssertionError"
    assert student["squares"] is original
    with cell(code, student, tmp_path) as (run, _, drop):
        run("squares = lambda n: []\ndel sum_of_squares\n")
        assert "sum_of_squares" not in student
        drop()
    assert student["squares"] is original and "sum_of_squares" in student


def test_names_that_are_not_the_students_stay_in_the_runner(code, student, tmp_path):
    student["_expected"] = "the student's helper"
    with cell(code, student, tmp_path) as (run, ns, _):
        assert not _errors(run("_expected = 4.0\nassert _expected == 4.0\n"))
        assert student["_expected"] == "the student's helper"
        assert ns["_expected"] == 4.0


def test_a_value_that_cannot_cross_fails_the_test_and_binds_nothing(code, student, tmp_path):
    original = student["squares"]
    with cell(code, student, tmp_path) as (run, _, _):
        [error] = _errors(run("import json\nsquares = json\n"))
        assert "cannot be passed" in error["evalue"]
    assert student["squares"] is original


# -- what a test's object shows the student's code ---------------------------------------------
def test_a_test_objects_repr_type_and_attributes_name_nothing_hidden(code, student, tmp_path):
    with cell(code, student, tmp_path) as (run, _, _):
        outputs = run(HIDDEN_HELPER + "for _seen in (peek(_hidden_cubic_helper), "
                      "peek(_HiddenLossObject()), peek(_HiddenFakeModel())):\n"
                      "    print(_seen)\n")
    assert not _errors(outputs), outputs
    text = _text(outputs)
    assert "<test function>" in text and "<test object>" in text
    for secret in SECRETS:
        assert secret not in text, (secret, text)


def test_errors_of_a_test_callable_are_generic_and_recorders_are_refused(
        code, student, tmp_path):
    with cell(code, student, tmp_path) as (run, _, _):
        outputs = run(HIDDEN_HELPER + "print(probe(_hidden_cubic_helper))\n"
                      "print(probe(_HiddenLossObject()))\n")
    assert not _errors(outputs), outputs
    text = _text(outputs)
    for secret in SECRETS + ["'W'", "getitem", "getattr", "str' and 'int'"]:
        assert secret not in text, (secret, text)
    assert student["LOG"] == []  # the recording object was never asked anything
    assert "KeyError: 'the test function raised KeyError (its message is not shown)'" in text
    assert "takes plain data" in text  # the refusal of a student object says why
    assert "16.0" not in text and "2.0" in text  # {"W": ones(2)}: the real value comes back


def test_exception_types_are_kept_builtin_and_iteration_works(code, student, tmp_path):
    source = ("class _SecretHelperError(ValueError):\n    pass\n"
              "def _raises(x):\n    raise _SecretHelperError('the hidden reason')\n"
              "print(catches_value_error(_raises))\n"
              "assert drain(iter([1, 2, 3])) == [1, 2, 3]\n"
              "assert drain(i * i for i in range(3)) == [0, 1, 4]\n")
    with cell(code, student, tmp_path) as (run, _, _):
        outputs = run(source)
    assert not _errors(outputs), outputs
    text = _text(outputs)
    assert "caught ValueError" in text
    assert "Secret" not in text and "hidden reason" not in text


def test_an_object_or_exception_declared_public_shows_itself(code, student, tmp_path):
    sys.path.insert(0, str(REPO))
    try:
        from lib import grading
        source = ("@grading.public\ndef loss(p):\n    return 1.0\n"
                  "named = grading.public(lambda p: 2.0, name='L(p) = 2')\n"
                  "@grading.public\nclass Model:\n    def __repr__(self):\n"
                  "        return 'Model(w=1)'\n"
                  "def _explains(x):\n    raise grading.public(ValueError('x must be > 0'))\n"
                  "print(peek(loss)[0], peek(named)[0], peek(Model())[0])\n"
                  "print(catches_value_error(_explains))\n"
                  "print(probe(loss)[0])\n")
        with cell(code, student, tmp_path) as (run, ns, _):
            ns["grading"] = grading
            outputs = run(source)
    finally:
        sys.path.remove(str(REPO))
    assert not _errors(outputs), outputs
    text = _text(outputs)
    assert "<function loss at" in text and "L(p) = 2" in text and "Model(w=1)" in text
    assert "caught ValueError: x must be > 0" in text
    assert student["LOG"] == []  # a public callable takes the student's objects, unasked


# -- the agent cell: the whole source once per kernel, then a call of what it left ------------
def _session(code, address, cell_source, user_ns):
    """Run the agent cell ``cell_source`` in ``user_ns`` (as the kernel runs it) against a
    runner that looks up ``squares``: what the lookup gave, or the cell's exception."""
    runner_ns, _ = code
    runner = runner_ns["Runner"]()
    runner.timeout = 20
    raised = []

    def kernel():
        try:
            exec(cell_source, user_ns)
        except Exception as exc:  # noqa: BLE001 - what the cell raised is the result
            raised.append(exc)
            Client(address, family="AF_UNIX").close()  # no agent will connect: wake accept

    with Listener(address, family="AF_UNIX") as listener:
        thread = threading.Thread(target=kernel, daemon=True)
        thread.start()
        runner.conn = listener.accept()
        if raised:
            return raised[0]
        assert runner.receive() == {"hello": "tok"}
        got = runner.request("lookup", name="squares")(3)
        runner.send({"op": "done"})
        thread.join(10)
        runner.conn.close()
    return got


def test_a_later_test_cell_calls_the_agent_the_first_one_left(code, student, tmp_path):
    from course.isolation.runner_process import AGENT_STATE, agent_cell_code

    _, agent_ns = code
    assert AGENT_STATE == agent_ns["STATE"]
    sys.modules.pop(AGENT_STATE, None)
    address = str(tmp_path / "a.sock")
    whole, later = agent_cell_code(address, "tok"), agent_cell_code(address, "tok", loaded=True)
    assert len(later) < 200 < 10_000 < len(whole)
    try:
        assert _session(code, address, whole, student) == [1, 4, 9]
        assert _session(code, address, later, student) == [1, 4, 9]
        # the student's code removed it: that test fails (testcell then sends it whole again)
        del sys.modules[AGENT_STATE]
        assert isinstance(_session(code, address, later, student), KeyError)
        assert _session(code, address, whole, student) == [1, 4, 9]
    finally:
        sys.modules.pop(AGENT_STATE, None)
