"""The trusted runner as a process: its source, how it is started (sandboxed or not), and the
line protocol by which :class:`~course.nbgrader_ext.execute.TrustedExecute` feeds it test cells.

The runner and the grading agent are run from source (``python -c``): each is
``isolation/wire.py`` followed by ``isolation/runner.py`` or ``isolation/agent.py``, so that
the student's kernel imports nothing of this package.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

from course.isolation import confine, sandbox

HERE = Path(__file__).resolve().parent


@functools.cache
def _wire_source() -> str:
    return (HERE / "wire.py").read_text()


@functools.cache
def agent_source() -> str:
    """Source run by the agent cell: isolation/wire.py followed by isolation/agent.py."""
    return _wire_source() + "\n" + (HERE / "agent.py").read_text()


@functools.cache
def runner_source() -> str:
    """Source of the trusted runner: isolation/wire.py followed by isolation/runner.py."""
    return _wire_source() + "\n" + (HERE / "runner.py").read_text()


AGENT_STATE = "_course_grading_agent"  # the module in the kernel's sys.modules (agent.STATE)


def agent_cell_code(address: str, token: str, *, loaded: bool = False) -> str:
    """The one statement the student's kernel runs while a test cell is graded: the agent's
    source, compiled and run; or, once it has run in this kernel (``loaded``), a call of the
    ``serve`` it left in ``sys.modules``, which saves compiling it for every test. (The
    student's code can remove or replace it, as it can change anything in its own process:
    then its tests fail, see agent.py.) The marker comment keeps the line out of the
    tracebacks the agent sends."""
    if loaded:
        return (f"__import__('sys').modules[{AGENT_STATE!r}].serve({address!r}, {token!r}, "
                "globals())  # <course grading agent>")
    return (
        f"exec(compile({agent_source()!r}, '<course grading agent>', 'exec'), "
        f"{{'__name__': '_course_agent', '_ADDRESS': {address!r}, '_TOKEN': {token!r}, "
        "'_USER_NS': globals()})"
    )


class RunnerError(RuntimeError):
    pass


class RunnerProcess:
    """One trusted runner: started sandboxed (or not), fed one test cell at a time."""

    def __init__(self, *, scratch: Path, lib: Path, setup: dict, bwrap: str | None,
                 uid: int | None, memory: int):
        self.chan = scratch / "chan"
        self.chan.mkdir()
        self.address = str(self.chan / "agent.sock")
        home = scratch / "runner"
        home.mkdir()
        trusted = scratch / "trusted"
        (trusted / "lib").mkdir(parents=True)
        self.log_path = scratch / "runner.log"
        cmd = [sys.executable, "-I", "-c", runner_source()]
        bind_at = self.address  # where the runner binds it: chan is at RUNTIME_MOUNT inside
        if bwrap:
            bind_at = f"{confine.RUNTIME_MOUNT}/agent.sock"
            if uid is not None:
                for path in (self.chan, home):
                    os.chown(path, uid, uid)
            os.chmod(self.chan, 0o755)
            spec = sandbox.SandboxSpec(
                workdir=home, lib=None, runtime_dir=self.chan, bwrap=bwrap, uid=uid,
                limits=sandbox.Limits(memory=memory),
                ro_binds=[(str(lib), str(trusted / "lib"))],
            )
            cmd = sandbox.build_command(spec, cmd)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            shutil.copytree(lib, trusted / "lib", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                cwd=str(home),
            )
        self._buffer = b""
        self.send({"path": [str(trusted)], "address": bind_at, **setup,
                   "preload": ["numpy", "lib.grading"]})

    def _write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as err:
            raise RunnerError(f"the trusted runner is gone ({self._tail()})") from err

    def send(self, obj: dict) -> None:
        self._write(json.dumps(obj).encode() + b"\n")

    def read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunnerError("the trusted runner did not answer in time")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RunnerError(f"the trusted runner died ({self._tail()})")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return text[-1][:300] if text else "no output"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send({"cmd": "quit"})
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
