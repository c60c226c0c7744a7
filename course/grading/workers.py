"""Where gradings run: worker processes of this machine, or a Dask distributed cluster.

Both hand out :func:`course.jobs.grade_packed` calls and return ``concurrent.futures``
futures, so ``course grade`` and ``course serve`` treat them alike:

- :class:`LocalWorkers`: a pool of ``n`` processes started from a fork server that has
  imported nbgrader once; a pool broken by a dead worker (killed, out of memory) is
  replaced, and the gradings it lost fail as infrastructure errors (retried by the caller);
- :class:`DaskWorkers`: a ``distributed.Client`` on a running scheduler
  (``tcp://host:8786``, or ``tls://`` with the certificates of Dask's configuration). A
  bundle is scattered to the workers once; each grading is one task, which the scheduler
  reruns on another worker if its worker dies. Results come back to this process, which
  alone writes the gradebook.
"""

from __future__ import annotations

import concurrent.futures as cf
import ipaddress
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from urllib.parse import urlparse

from course.grading.bundle import CourseBundle, grade_packed
from course.intake.pack import SubmissionPack

log = logging.getLogger("course.workers")

PRELOAD = ["course.grading.bundle", "course.nbgrader_ext.execute", "course.isolation.sandbox",
           "course.intake.scan", "nbgrader.converters", "nbgrader.api", "nbclient"]


class LocalWorkers:
    """``n`` grading processes on this machine."""

    def __init__(self, n: int):
        self.n = max(1, int(n))
        self._pool: cf.ProcessPoolExecutor | None = None
        self._broken = False  # a worker of _pool died: the pool takes no more work

    def describe(self) -> str:
        return f"{self.n} local worker process{'es' if self.n != 1 else ''}"

    @property
    def capacity(self) -> int:
        return self.n

    def _executor(self) -> cf.ProcessPoolExecutor:
        if self._pool is not None and self._broken:
            log.warning("a grading worker died: starting a new pool")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._pool = cf.ProcessPoolExecutor(max_workers=self.n, mp_context=context,
                                                initializer=_die_with,
                                                initargs=(os.getpid(),))
            self._broken = False
        return self._pool

    def submit(self, bundle: CourseBundle, pack: SubmissionPack, **options) -> cf.Future:
        pool = self._executor()
        try:
            future = pool.submit(grade_packed, bundle, pack, **options)
        except BrokenProcessPool:  # a worker died since the last look: a new pool
            self._broken = True
            pool = self._executor()
            future = pool.submit(grade_packed, bundle, pack, **options)
        future.add_done_callback(lambda done: self._mark_broken(pool, done))
        return future

    def _mark_broken(self, pool: cf.ProcessPoolExecutor, future: cf.Future) -> None:
        """A grading that failed with BrokenProcessPool (its worker died) breaks its pool:
        the next submit starts a new one."""
        if pool is self._pool and not future.cancelled() and \
                isinstance(future.exception(), BrokenProcessPool):
            self._broken = True

    def warm(self) -> None:
        """Start the worker processes now, so that the first submission does not wait for
        them (course serve: about 3 s of imports)."""
        pool = self._executor()
        cf.wait([pool.submit(os.getpid) for _ in range(self.n)])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _die_with(pid: int) -> None:
    """End this worker process when process ``pid`` (the grading process that started the
    pool) is gone, even killed with SIGKILL: a worker's parent is the fork server, which
    stays alive as long as any worker holds its pipe. The kernels and runners of a grading
    end with it (bubblewrap's --die-with-parent)."""
    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="course-watch-parent", daemon=True).start()


class DaskWorkers:
    """The workers of a Dask distributed cluster, through its scheduler at ``address``."""

    def __init__(self, address: str, *, timeout: float = 30):
        try:
            from distributed import Client
        except ImportError as err:  # the [cluster] extra is not installed
            raise RuntimeError("Dask's `distributed` is not installed: pip install "
                               "'ml2-companion[cluster]' (or 'dask[distributed]')") from err
        warn_if_exposed(address)
        self.address = address
        self.client = Client(address, timeout=timeout, set_as_default=False)
        self._executor = self.client.get_executor(pure=False)
        self._bundles: dict[str, tuple[str, object]] = {}  # assignment -> (digest, future)

    def warm(self) -> None:
        """Nothing to start: the cluster's workers run already."""

    def describe(self) -> str:
        threads = self.client.nthreads()
        return (f"Dask scheduler {self.address}: {len(threads)} worker(s), "
                f"{sum(threads.values())} thread(s)")

    @property
    def capacity(self) -> int:
        """Gradings run at once: one per worker thread (each worker process grades one at a
        time; start workers with --nthreads 1 and as many processes as cores)."""
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, bundle: CourseBundle, pack: SubmissionPack, **options) -> cf.Future:
        digest, scattered = self._bundles.get(bundle.assignment, ("", None))
        if digest != bundle.digest:  # new, or changed (released again, a new due date)
            scattered = self.client.scatter(bundle, broadcast=True, hash=False)
            self._bundles[bundle.assignment] = (bundle.digest, scattered)  # the old is freed
        return self._executor.submit(grade_packed, scattered, pack, **options)

    def close(self) -> None:
        self._bundles.clear()
        self.client.close()


def make_workers(jobs: int = 2, scheduler: str | None = None):
    """LocalWorkers(jobs), or DaskWorkers(scheduler) when a scheduler address is given."""
    return DaskWorkers(scheduler) if scheduler else LocalWorkers(jobs)


def warn_if_exposed(address: str) -> None:
    """Warn when a plain-TCP scheduler is not on this machine: anyone who can reach a Dask
    scheduler can run code on its workers, which compute the grades (docs/threat-model.md)."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if parsed.scheme == "tls":
        return
    host = parsed.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        log.warning(
            "the Dask scheduler %s is reached over plain TCP: whoever can connect to it can "
            "run code on the grading workers. Use tls:// with client certificates (see "
            "docs/instructor-guide.md, 'Grading on a cluster') on any network students "
            "can reach.", address)
