"""A Dask cluster on loopback started as docs/instructor-guide.md's recipe starts it
(``dask scheduler`` and ``dask worker`` with every port on 127.0.0.1), which a test can kill
and start again at the same address, as a supervisor would: tests/test_dask.py and
tests/test_faults.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from adversarial import toy
from exchange_course import wait_for

DASK = os.path.join(os.path.dirname(sys.executable), "dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackCluster:
    """A scheduler at ``tcp://127.0.0.1:<port>`` and ``workers`` worker processes."""

    def __init__(self, here: Path, workers: int = 2):
        self.here, self.workers = Path(here), workers
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.log = open(self.here / "cluster.log", "ab")  # closed by stop()
        self.scheduler: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def _popen(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen([DASK, *args], stdout=self.log, stderr=subprocess.STDOUT,
                                env=toy.venv_env(), start_new_session=True)

    def start(self) -> None:
        """The recipe of the guide: scheduler, then workers (a supervisor restarts both)."""
        self.scheduler = self._popen(
            ["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--dashboard-address", "127.0.0.1:0"])
        self.worker = self._popen(
            ["worker", self.address, "--host", "127.0.0.1", "--dashboard-address",
             "127.0.0.1:0", "--nworkers", str(self.workers), "--nthreads", "1",
             "--death-timeout", "120", "--local-directory", str(self.here / "workers")])
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(self.workers, timeout=120)

    def kill_scheduler(self) -> None:
        """The scheduler dies (SIGKILL); its workers end by themselves within seconds."""
        _kill(self.scheduler, signal.SIGKILL)
        wait_for(lambda: self.worker.poll() is not None, 60, "the workers to end")

    def listening(self) -> list[str]:
        """The addresses the cluster's processes listen on."""
        import psutil

        found = []
        for proc in (self.scheduler, self.worker):
            if proc is None or proc.poll() is not None:
                continue
            top = psutil.Process(proc.pid)
            for p in [top, *top.children(recursive=True)]:
                try:
                    found += [f"{c.laddr.ip}:{c.laddr.port}" for c in p.net_connections("tcp")
                              if c.status == psutil.CONN_LISTEN]
                except psutil.Error:
                    continue
        return found

    def stop(self) -> None:
        for proc in (self.worker, self.scheduler):
            _kill(proc, signal.SIGTERM)
        self.log.close()


def _kill(proc: subprocess.Popen | None, sig) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
