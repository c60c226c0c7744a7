"""A JupyterLab server for the tests (tests/test_lab.py, tests/browser/test_term.py).

:class:`LabServer` starts a ``jupyter lab`` command, or a Makefile lab target
(``make ... lab``), on 127.0.0.1 and a free port with a token of its own, no browser and no
check for updates or news (HARNESS), and waits until the server answers ``api/status``. The
harness options go after a ``jupyter lab`` command (with ``--allow-root`` when run as root),
or through ``LAB_ARGS`` to a make target (the Makefile adds ``--allow-root`` itself). The
server's output goes to a log file; :meth:`LabServer.stop` ends the process group (make and
the jupyter it started).

Importable from tests/ and tests/browser/ alike: tests/ has no ``__init__.py``, so pytest
puts it on ``sys.path`` for its conftest.py (as for ``from adversarial import toy``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

HARNESS = ["--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.news_url=None"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(drop: Iterable[str] = (), **variables: str) -> dict[str, str]:
    """This process's environment without the variables ``drop``, with ``variables`` set."""
    drop = set(drop)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(variables)
    return env


class LabServer:
    """``argv`` (a ``jupyter lab`` command, or ``make ... <lab target>``) started in ``cwd``
    with the HARNESS options, a free port and a token, in ``env``, its output in ``log``.
    Raises RuntimeError (naming the log, with its end) if the process exits, or ``timeout``
    seconds pass, before ``api/status`` answers."""

    def __init__(self, argv: list[str], cwd: Path, log: Path, *, env: dict[str, str],
                 timeout: float = 60.0):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log_path = log
        options = [*HARNESS, f"--ServerApp.port={self.port}",
                   f"--IdentityProvider.token={self.token}"]
        exe = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
        if Path(argv[0]).name == "make":  # a lab target: the options go through LAB_ARGS
            command = [exe, *argv[1:], "LAB_ARGS=" + " ".join(options)]
        else:
            command = [exe, *argv[1:], *options,
                       *(["--allow-root"] if os.geteuid() == 0 else [])]
        self._log = log.open("w")
        self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("api/status"), timeout=5).close()
                return
            except OSError:  # not listening yet, or an HTTP error (URLError is an OSError)
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        how = (f"exited with {self.proc.returncode}" if self.proc.poll() is not None
               else f"did not answer in {timeout:.0f} s")
        self.stop()
        raise RuntimeError(f"{' '.join(argv)} in {cwd} {how}; see {log}:\n"
                           f"{log.read_text(errors='replace')[-3000:]}")

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def get(self, path: str) -> str:
        """The body of ``path``; an HTTP error raises."""
        with urllib.request.urlopen(self.url(path), timeout=30) as response:
            return response.read().decode("utf-8")

    def status(self, path: str) -> int:
        """The HTTP status of ``path`` (an error's too)."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # make and the jupyter lab it started
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
