"""The trusted runner: executes autograded test cells outside the student's process.

One runner serves one notebook. It is started by
:class:`course.nbgrader_ext.execute.TrustedExecute` in its own sandbox (bubblewrap where
available, as a user of its own), runs no student code and has nothing the student wrote on
its ``sys.path``: only the Python installation and the trusted student edition of ``lib``.

It talks to the grader over its stdin/stdout (one JSON object per line) and to the grading
agent in the student's kernel over a unix socket (:mod:`course.isolation.wire`). For each test cell:

1. the grader sends ``{"cmd": "cell", "name", "source", "token", "timeout"}``;
2. the agent in the student's kernel connects and says ``hello`` with the cell's token;
3. the runner executes the test's source in its own namespace (:class:`TestNamespace`), where
   the student's names are remote: a call sends plain data to the student's kernel and gets
   plain data (or a handle) back;
4. it tells the agent ``done`` and answers the grader with the cell's outputs (streams,
   ``execute_result``, ``error``), which are the only thing nbgrader scores.

How names resolve (:class:`TestNamespace`) and what the student's side sees of the test's
objects (:class:`TrustedPolicy`, :class:`Runner`) is in docs/threat-model.md, §2, §4 and §5.

This file is not imported: its source follows :mod:`course.isolation.wire`'s in one string
(:func:`course.isolation.runner_process.runner_source`).
"""

import ast
import builtins
import contextlib
import importlib
import io
import json
import linecache
import os
import select
import socket
import sys
import time
import traceback
import types
from multiprocessing.connection import Connection

INTERNAL = "<string>"  # file name of this code, run by `python -c` (frames hidden)
TESTS_MODULE = "__tests__"  # __name__ of the test namespace: classes defined by tests
SCRUB = []  # path prefixes removed from tracebacks (the runner's scratch folder)


public, PUBLIC = public, PUBLIC  # noqa: F821 - what an object declares (course/wire.py)
OPAQUE = {"callable": "test function", "object": "test object", "iterator": "test iterator"}


class TrustedPolicy(Policy):  # noqa: F821 - defined by course/wire.py, prepended
    """What the student's side may do with objects a test passes to it.

    Call them; read public attributes whose values are plain data or bound methods of the
    object itself; set public attributes of instances of classes the tests defined; iterate
    iterators. Modules, classes and the builtins that reach the interpreter never cross. Its
    type name, ``repr`` and ``str`` are opaque (``<test function>``) unless it is public.
    """

    REFUSED_BUILTINS = {"exec", "eval", "compile", "open", "getattr", "setattr", "delattr",
                        "globals", "locals", "vars", "__import__", "input", "breakpoint",
                        "help", "memoryview", "dir", "type", "super", "object"}

    def export(self, obj):
        if isinstance(obj, (types.ModuleType, type, types.CodeType, types.FrameType,
                            types.TracebackType)):
            return False
        if isinstance(obj, types.BuiltinFunctionType) and obj.__self__ is builtins:
            return obj.__name__ not in self.REFUSED_BUILTINS
        return True

    @staticmethod
    def test_defined(obj):
        return getattr(type(obj), "__module__", None) == TESTS_MODULE

    def allowed(self, op, obj, name=None):
        if op in ("getattr", "setattr"):
            if type(name) is not str or name.startswith("_"):
                return False
            return op == "getattr" or self.test_defined(obj)
        if op == "call":
            return callable(obj)
        if op in ("iter", "next"):  # a test's generator or iterator, or its own iterable
            return hasattr(type(obj), "__next__") or self.test_defined(obj)
        if op in ("len", "getitem", "setitem"):
            return self.test_defined(obj)
        return op in ("repr", "str")

    def type_name(self, obj):
        shown = public(obj)
        if shown is None:
            return OPAQUE[proxy_kind(obj)]  # noqa: F821 - defined by course/wire.py
        return shown if type(shown) is str else type(obj).__name__

    def text(self, obj, op):
        shown = public(obj)
        if shown is None:
            return f"<{self.type_name(obj)}>"
        return shown if type(shown) is str else super().text(obj, op)

    def getattr_result(self, obj, name, value):
        if getattr(value, "__self__", None) is obj and callable(value):
            return value  # a bound method of the object: crosses as a handle
        if isinstance(value, (types.ModuleType, type, types.FunctionType,
                              types.BuiltinFunctionType, types.MethodType)):
            raise AttributeError(f"{name} of a {type(obj).__name__} is not accessible")
        return value


def _holds_proxy(value, depth=0):
    """Whether ``value`` (decoded from the student's side) is or holds a student object."""
    if isinstance(value, Proxy) or depth > MAX_DEPTH:  # noqa: F821 - course/wire.py's
        return True
    items = value.values() if type(value) is dict else value if type(value) in (
        list, tuple) else ()
    return any(_holds_proxy(v, depth + 1) for v in items)


class Runner(Endpoint):  # noqa: F821 - defined by course/wire.py, prepended
    def __init__(self):
        super().__init__(None, "t", TrustedPolicy())
        self._serving = None  # the object whose request is being served

    def serve_one(self, message):
        outer, self._serving = self._serving, self.exported.get(message.get("h"))
        try:
            super().serve_one(message)
        finally:
            self._serving = outer

    def dispatch(self, message):
        # plain data only: a student object would learn each item and attribute read of it
        obj = self._serving
        if message.get("op") == "call" and obj is not None and public(obj) is None and (
                _holds_proxy(message.get("args")) or _holds_proxy(message.get("kwargs"))):
            exc = TypeError(f"a {self.policy.type_name(obj)} takes plain data (numbers, "
                            "strings, arrays, lists, tuples, dicts), not objects of your "
                            "notebook")
            setattr(exc, PUBLIC, True)
            raise exc
        return super().dispatch(message)

    def describe(self, exc):
        # the nearest builtin type (a test's exception class has a name), no traceback (it
        # quotes the hidden test) and the message only if the exception is public
        if public(exc) is not None:
            return {"type": type(exc).__name__, "message": str(exc)[:2000]}
        name = next((k.__name__ for k in type(exc).__mro__
                     if EXCEPTIONS.get(k.__name__) is k), "Exception")  # noqa: F821
        what = self.policy.type_name(self._serving) if self._serving is not None else "test"
        return {"type": name, "message": f"the {what} raised {name} (its message is not "
                                         "shown)"}


class TestNamespace(dict):
    """The globals of the test cells: trusted definitions first, the student's on demand.
    A cell's top-level binding or ``del`` of a solution cell's name acts on the student's
    namespace too, until the cell ends (``global`` in a test's function binds here only)."""

    def __init__(self, runner, student_names, imports):
        super().__init__()
        self.runner = runner
        self.student_names = frozenset(student_names)
        self.imports = dict(imports)
        self.rebound, self.deleted = set(), set()  # the student's names a cell (re)bound
        self["__name__"] = TESTS_MODULE
        self["__builtins__"] = builtins

    def acts_on_student(self, name):
        return name in self.student_names and self.runner.conn is not None

    def __setitem__(self, name, value):
        if self.acts_on_student(name):  # sent first: a value that cannot cross fails here
            self.runner.request("bind", name=name, value=value)
            self.deleted.discard(name)
            self.rebound.add(name)
        dict.__setitem__(self, name, value)

    def __delitem__(self, name):
        if not self.acts_on_student(name) or name in self.deleted:
            return dict.__delitem__(self, name)  # KeyError: Python raises NameError
        self.runner.request("unbind", name=name)  # NameError if the student has none
        dict.pop(self, name, None)
        self.deleted.add(name)

    def end_cell(self):
        """Forget the cell's bindings of the student's names: the student's are back."""
        for name in self.rebound:
            dict.pop(self, name, None)
        self.rebound, self.deleted = set(), set()

    def __missing__(self, name):
        if name in self.deleted:
            raise NameError(f"name {name!r} is not defined (the test deleted it)")
        if name in self.student_names:
            return self.runner.request("lookup", name=name)
        spec = self.imports.get(name)
        if spec is not None:
            value = _import(*spec)
            dict.__setitem__(self, name, value)
            return value
        if hasattr(builtins, name):
            return getattr(builtins, name)
        if self.runner.conn is None:
            raise NameError(f"name {name!r} is not defined")
        return self.runner.request("lookup", name=name)


def _import(module, attr):
    """``import module`` (attr None: the top-level package; "": the module itself) or
    ``from module import attr``."""
    mod = importlib.import_module(module)
    if attr is None:
        return sys.modules[module.split(".")[0]]
    if attr == "":
        return mod
    try:
        return getattr(mod, attr)
    except AttributeError:
        return importlib.import_module(f"{module}.{attr}")


class _Capture(io.TextIOBase):
    """sys.stdout / sys.stderr of a test: text becomes nbformat stream outputs, in order."""

    def __init__(self, outputs, name):
        self.outputs, self.name = outputs, name

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        if not text:
            return 0
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == self.name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": self.name, "text": text})
        return len(text)


def _hidden(frame) -> bool:
    """Frames a reader of the verdict does not need: the runner's own, the wire's, and the
    assertion helpers of lib.grading (the message says what failed)."""
    return frame.filename in (INTERNAL, "<course wire>") or \
        frame.filename.replace("\\", "/").endswith("/lib/grading.py")


def _error_output(exc, filename):
    """The error output of a failed test cell: the message first, then where in the test
    cell it failed, then (if the student's code raised) the student's traceback."""
    message = f"{type(exc).__name__}: {exc}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _hidden(f)]
    lines = [message, "", "Traceback (most recent call last):"]
    lines += [line.rstrip("\n") for line in traceback.format_list(frames)]
    trace = getattr(exc, "remote_trace", "")
    if trace:
        lines += ["", "The error was raised in your code:", *trace.rstrip("\n").splitlines()]
    for prefix in SCRUB:
        lines = [line.replace(prefix, "") for line in lines]
    return {"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc),
            "traceback": lines}


def run_source(ns, name, source):
    """Execute a test cell's source in ``ns``; return its nbformat outputs."""
    outputs = []
    filename = f"<{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        return [_error_output(exc, filename)]
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    out, err = _Capture(outputs, "stdout"), _Capture(outputs, "stderr")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            exec(compile(tree, filename, "exec"), ns)  # the instructor's test
            if last is not None:
                value = eval(compile(last, filename, "eval"), ns)
                if value is not None:
                    outputs.append({"output_type": "execute_result", "execution_count": None,
                                    "metadata": {}, "data": {"text/plain": repr(value)}})
    except BaseException as exc:  # any failure of the test is its verdict
        if isinstance(exc, SystemExit):
            exc = RuntimeError(f"the test called exit({exc.code!r})")
        outputs.append(_error_output(exc, filename))
    return outputs


class Main:
    def __init__(self):
        self.control_in = os.fdopen(os.dup(0), "rb", buffering=0)
        self.control_out = os.fdopen(os.dup(1), "wb", buffering=0)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        self._buffer = b""

    def say(self, obj):
        self.control_out.write(json.dumps(obj).encode() + b"\n")

    def hear(self, timeout=None):
        """The next command line, or None when none arrived within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.control_in], [], [], wait)
            if not ready:
                return None
            chunk = os.read(self.control_in.fileno(), 1 << 20)
            if not chunk:
                raise SystemExit(0)  # the grader is gone
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def run(self):
        setup = self.hear()
        for path in reversed(setup["path"]):
            sys.path.insert(0, path)
            SCRUB.append(path.rstrip("/") + "/")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(setup["address"])
        os.chmod(setup["address"], 0o666)
        self.listener.listen(4)
        self.runner = Runner()
        self.ns = TestNamespace(self.runner, setup["student_names"],
                                {k: tuple(v) for k, v in setup["imports"].items()})
        for module in setup.get("preload", []):
            with contextlib.suppress(Exception):
                importlib.import_module(module)
        self.say({"ready": True})
        while True:
            command = self.hear()
            if command.get("cmd") == "cell":
                self.say(self.cell(command))
            elif command.get("cmd") == "quit":
                return

    def connect(self, token, deadline):
        """The agent's connection for this cell, or a reason why there is none."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, "the student's kernel did not start the test in time"
            ready, _, _ = select.select([self.listener, self.control_in], [], [], left)
            if self.control_in in ready:
                command = self.hear(0)
                if command and command.get("cmd") == "abort" and command.get("token") == token:
                    return None, command.get("why", "the student's kernel stopped")
            if self.listener in ready:
                sock, _ = self.listener.accept()
                conn = Connection(sock.detach())
                self.runner.conn, self.runner.broken = conn, None
                self.runner.deadline = deadline
                try:
                    hello = self.runner.receive()
                except Exception:  # a bad greeting: wait for the real agent
                    hello = None
                if type(hello) is dict and hello.get("hello") == token:
                    return conn, None
                conn.close()

    def cell(self, command):
        deadline = time.monotonic() + float(command["timeout"])
        self.runner.reset_links()
        conn, why = self.connect(command["token"], deadline)
        if conn is None:
            self.runner.conn = None
            error = {"output_type": "error", "ename": "StudentKernelError", "evalue": why,
                     "traceback": [f"StudentKernelError: {why}"]}
            return {"outputs": [error], "connected": False}
        self.runner.deadline = deadline
        try:
            outputs = run_source(self.ns, command["name"], command["source"])
        finally:
            with contextlib.suppress(Exception):
                if not self.runner.broken:
                    self.runner.send({"op": "done"})
            with contextlib.suppress(Exception):
                conn.close()
            gone = self.runner.broken
            self.runner.conn = None
            self.runner.reset_links()
            self.ns.end_cell()
        return {"outputs": outputs, "connected": True, "student_gone": gone}


if __name__ == "__main__":
    Main().run()
