"""Where gradings run: worker processes of this machine, or a Dask distributed cluster.

Both hand out :func:`course.jobs.grade_packed` calls and return ``concurrent.futures``
futures, so ``course grade`` and ``course serve`` treat them alike:

- :class:`LocalWorkers`: ``n`` processes started from a fork server that has imported
  nbgrader once, each grading one submission at a time; a dead worker (killed, out of
  memory) fails only its own grading (an infrastructure error, retried by the caller) and
  is replaced;
- :class:`DaskWorkers`: a ``distributed.Client`` on a running scheduler
  (``tcp://host:8786``, or ``tls://`` with the certificates of Dask's configuration). A
  bundle is scattered to the workers once; each grading is one task, which the scheduler
  reruns on another worker if its worker dies. Results come back to this process, which
  alone writes the gradebook.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures as cf
import contextlib
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
    """``n`` grading processes on this machine, each in a pool of its own (a *slot*), which
    grades one submission at a time; gradings wait in this object's queue for a free slot.

    A worker that dies (killed, out of memory) breaks only its own one-process pool: the
    grading it ran fails (BrokenProcessPool, an infrastructure failure that counts for that
    submission alone), the other slots go on, and the slot gets a new process for its next
    grading. (One pool of ``n`` processes would fail every grading in flight.)
    """

    def __init__(self, n: int):
        self.n = max(1, int(n))
        self._slots: list[cf.ProcessPoolExecutor | None] = [None] * self.n
        self._busy: list[bool] = [False] * self.n
        self._waiting: collections.deque = collections.deque()  # (outer future, args)
        self._lock = threading.RLock()
        self._closed = False

    def describe(self) -> str:
        return f"{self.n} local worker process{'es' if self.n != 1 else ''}"

    @property
    def capacity(self) -> int:
        return self.n

    def _pool(self, slot: int) -> cf.ProcessPoolExecutor:
        if self._slots[slot] is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._slots[slot] = cf.ProcessPoolExecutor(
                max_workers=1, mp_context=context, initializer=_die_with,
                initargs=(os.getpid(),))
        return self._slots[slot]

    def submit(self, bundle: CourseBundle, pack: SubmissionPack, **options) -> cf.Future:
        outer: cf.Future = cf.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the local workers are closed")
            self._waiting.append((outer, (bundle, pack), options))
            self._pump()
        return outer

    def _pump(self) -> None:
        """Start waiting gradings on free slots (under the lock)."""
        while self._waiting and not self._closed and not all(self._busy):
            slot = self._busy.index(False)
            outer, args, options = self._waiting.popleft()
            if not outer.set_running_or_notify_cancel():
                continue
            try:
                inner = self._pool(slot).submit(grade_packed, *args, **options)
            except BrokenProcessPool:  # its process died while idle: a new one
                self._replace(slot)
                inner = self._pool(slot).submit(grade_packed, *args, **options)
            self._busy[slot] = True
            inner.add_done_callback(lambda done, s=slot, o=outer: self._done(s, o, done))

    def _done(self, slot: int, outer: cf.Future, inner: cf.Future) -> None:
        with self._lock:
            self._busy[slot] = False
            error = None if inner.cancelled() else inner.exception()
            if isinstance(error, BrokenProcessPool):  # this slot's worker died
                log.warning("a grading worker died: its slot gets a new process")
                self._replace(slot)
            if inner.cancelled():
                outer.set_exception(cf.CancelledError("the local workers were closed"))
            elif error is not None:
                outer.set_exception(error)
            else:
                outer.set_result(inner.result())
            self._pump()

    def _replace(self, slot: int) -> None:
        pool, self._slots[slot] = self._slots[slot], None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def warm(self) -> None:
        """Start the worker processes now, so that the first submission does not wait for
        them (course serve: about 3 s of imports)."""
        with self._lock:
            pools = [self._pool(slot) for slot in range(self.n)]
        cf.wait([pool.submit(os.getpid) for pool in pools])

    def close(self, timeout: float = 3.0) -> None:
        """Stop at once: waiting gradings are cancelled, running ones killed with their
        worker (SIGTERM, SIGKILL after ``timeout`` seconds); their kernels end with it."""
        with self._lock:
            self._closed = True
            for outer, _args, _options in self._waiting:
                outer.cancel()
            self._waiting.clear()
            pools, self._slots = self._slots, [None] * self.n
        procs = []
        for pool in pools:
            if pool is not None:
                procs += list((getattr(pool, "_processes", None) or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()
                    proc.join(1)


def lost(err: BaseException) -> bool:
    """Whether a grading that raised ``err`` was lost with the machinery rather than failed:
    cancelled because the Dask scheduler went away (or the workers were closed), or a
    connection to the scheduler that closed. Such a grading is queued again at no cost."""
    if isinstance(err, cf.CancelledError | asyncio.CancelledError):
        return True
    names = {cls.__name__ for cls in type(err).__mro__}
    return bool(names & {"CommClosedError", "FutureCancelledError"})


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
    """The workers of a Dask distributed cluster, through its scheduler at ``address``.

    The scheduler may go away and come back (restarted, another machine): while it is gone
    ``capacity`` is 0, so nothing is sent (submissions wait in the caller's queue), and the
    gradings it had are lost (:func:`lost`: cancelled, queued again at no cost). When it is
    back, with the same client reconnected or a new one, each bundle is scattered again to
    the new cluster (bundles are kept per scheduler identity).
    """

    RECONNECT_EVERY = 5.0  # seconds between attempts to reach a scheduler that is gone

    def __init__(self, address: str, *, timeout: float = 30):
        try:
            from distributed import Client
        except ImportError as err:  # the [cluster] extra is not installed
            raise RuntimeError("Dask's `distributed` is not installed: pip install "
                               "'ml2-companion[cluster]' (or 'dask[distributed]')") from err
        warn_if_exposed(address)
        self.address, self._client_class = address, Client
        self.client = Client(address, timeout=timeout, set_as_default=False)
        self._executor = self.client.get_executor(pure=False)
        # assignment -> (digest, scheduler id, scattered future)
        self._bundles: dict[str, tuple[str, str, object]] = {}
        self._next_try, self._was_up = 0.0, True

    def warm(self) -> None:
        """Nothing to start: the cluster's workers run already."""

    def _connected(self) -> bool:
        """Whether a scheduler is reachable now (a client that gave up is replaced)."""
        if self.client.status == "running":
            return True
        if self.client.status in ("closed", "closing", "failed") and \
                time.monotonic() >= self._next_try:
            self._next_try = time.monotonic() + self.RECONNECT_EVERY
            try:
                client = self._client_class(self.address, timeout=2, set_as_default=False)
            except Exception as err:  # still gone
                log.debug("the Dask scheduler %s is not reachable: %s", self.address, err)
                return False
            with contextlib.suppress(Exception):
                self.client.close()
            self.client, self._executor = client, client.get_executor(pure=False)
        return self.client.status == "running"

    def _threads(self) -> dict:
        try:
            return self.client.nthreads() if self._connected() else {}
        except Exception:  # lost in between
            return {}

    def describe(self) -> str:
        threads = self._threads()
        return (f"Dask scheduler {self.address}: {len(threads)} worker(s), "
                f"{sum(threads.values())} thread(s)")

    @property
    def capacity(self) -> int:
        """Gradings run at once: one per worker thread (each worker process grades one at a
        time; start workers with --nthreads 1 and as many processes as cores); 0 while the
        scheduler is unreachable or has no workers."""
        threads = sum(self._threads().values())
        if bool(threads) != self._was_up:
            self._was_up = bool(threads)
            log.warning("the Dask scheduler %s %s", self.address,
                        f"is back: {threads} worker thread(s)" if threads else
                        "is unreachable or has no workers: gradings wait in the queue")
        return threads

    def submit(self, bundle: CourseBundle, pack: SubmissionPack, **options) -> cf.Future:
        cluster = self.client.scheduler_info().get("id", "")
        digest, where, scattered = self._bundles.get(bundle.assignment, ("", "", None))
        if (digest, where) != (bundle.digest, cluster) or \
                getattr(scattered, "status", "finished") != "finished":
            # new, changed (released again, a new due date), or held by a former cluster
            scattered = self.client.scatter(bundle, broadcast=True, hash=False)
            self._bundles[bundle.assignment] = (bundle.digest, cluster, scattered)
        return self._executor.submit(grade_packed, scattered, pack, **options)

    def close(self) -> None:
        self._bundles.clear()
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)


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
