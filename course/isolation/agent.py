"""The grading agent: serves a test's requests inside the student's kernel.

Run as the source of one cell in the student's kernel while an autograded test cell runs in
the trusted runner (:mod:`course.isolation.runner`): it connects to the runner's socket, answers
``lookup`` of the student's names and the calls, attribute reads and iteration the test makes
on the student's objects, and returns when the runner says ``done``.

Everything here runs in the student's process and can be changed by the student; that is by
design. What it sends is decoded as plain data by the runner, and the runner alone decides
whether the test passed: a broken or lying agent can only make tests fail.

This file is not imported: its source follows :mod:`course.isolation.wire`'s in one string
(:func:`course.isolation.runner_process.agent_source`), executed with ``_ADDRESS``,
``_TOKEN`` and ``_USER_NS``.
"""

import sys
import traceback
import types

import numpy as np

STATE = "_course_grading_agent"  # module in sys.modules that keeps handles between cells


class StudentPolicy(Policy):  # noqa: F821 - defined by course/wire.py, prepended
    """The student's side shares anything, and sends dict, list, tuple, int, float and str
    subclasses (an OrderedDict, a namedtuple) as their plain base types."""

    def plain(self, value):
        t = type(value)
        if t in (dict, list, tuple, int, float, str, bool, bytes, np.ndarray) or value is None:
            return value
        if isinstance(value, dict):
            return dict(value)
        if isinstance(value, tuple):
            return tuple(value)
        if isinstance(value, list):
            return list(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, str):
            return str(value)
        return value


_UNBOUND = object()  # a saved binding: the name had none


class Agent(Endpoint):  # noqa: F821 - defined by course/wire.py, prepended
    def __init__(self, user_ns):
        super().__init__(None, "s", StudentPolicy())
        self.user_ns = user_ns
        self.saved = {}  # name -> the student's binding before the test cell rebound it

    def roots(self):
        # the notebook's globals too: a test's results the student's code stored there stay
        # linked (wire's Endpoint._release); and the bindings a test cell replaced
        return [self.exported, self.user_ns, list(self.saved.values())]

    def lookup(self, name):
        try:
            return self.user_ns[name]
        except KeyError:
            raise NameError(f"name {name!r} is not defined in your notebook") from None

    def bind(self, name, bind, value):
        """The test cell binds (or deletes) ``name``: until it ends (:meth:`restore`)."""
        if not bind and name not in self.user_ns:
            raise NameError(f"name {name!r} is not defined in your notebook")
        self.saved.setdefault(name, self.user_ns.get(name, _UNBOUND))
        if bind:
            self.user_ns[name] = value
        else:
            del self.user_ns[name]

    def restore(self):
        """Put back the student's bindings of the names the test cell rebound or deleted."""
        saved, self.saved = self.saved, {}
        for name, value in saved.items():
            if value is _UNBOUND:
                self.user_ns.pop(name, None)
            else:
                self.user_ns[name] = value

    def describe(self, exc):
        lines = traceback.format_exception(exc)
        # drop the agent's own frames: the student's code starts after them
        trace = "".join(line for line in lines if "<course grading agent>" not in line)
        return {"type": type(exc).__name__, "message": str(exc)[:20000], "trace": trace[-20000:]}


def serve(address, token, user_ns):
    from multiprocessing.connection import Client

    state = sys.modules.get(STATE)
    if state is None or not isinstance(getattr(state, "agent", None), Endpoint):  # noqa: F821
        state = types.ModuleType(STATE)
        state.agent = Agent(user_ns)
        sys.modules[STATE] = state
    state.serve = serve  # later test cells call it (runner_process.agent_cell_code)
    agent = state.agent
    agent.user_ns = user_ns
    agent.conn = Client(address, family="AF_UNIX")
    agent.broken = None
    agent.reset_links()
    try:
        agent.send({"hello": token})
        while True:
            message = agent.receive()
            if message.get("op") == "done":
                return
            agent.serve_one(message)
    except PeerGone:  # noqa: F821 - the runner ended the session or died
        return
    finally:  # also when the runner died or the connection dropped
        agent.restore()
        try:
            agent.conn.close()
        except OSError:
            pass
        agent.reset_links()


serve(_ADDRESS, _TOKEN, _USER_NS)  # noqa: F821 - given by the cell that runs this source
