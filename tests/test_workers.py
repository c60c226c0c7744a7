"""Where gradings run (course.grading.workers), without a course: a local worker that dies
costs only its own grading, a close ends running gradings at once, and a Dask client that
lost its scheduler sends nothing until one answers, then scatters the bundles again."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import os
import signal
import time
from concurrent.futures.process import BrokenProcessPool
from types import SimpleNamespace

import pytest

from course.grading import workers


def stand_in(seconds, _pack, **_options):
    """Stands for grade_packed in the worker: sleeps, then says which process it was."""
    time.sleep(seconds)
    return os.getpid()


@pytest.fixture
def local(monkeypatch):
    monkeypatch.setattr(workers, "grade_packed", stand_in)
    monkeypatch.setattr(workers, "PRELOAD", [])  # no nbgrader to import: a faster start
    pool = workers.LocalWorkers(2)
    yield pool
    pool.close()


def _pid_of(pool: workers.LocalWorkers, slot: int) -> int:
    for _ in range(100):
        procs = list(getattr(pool._slots[slot], "_processes", None) or {})
        if procs:
            return procs[0]
        time.sleep(0.05)
    raise AssertionError(f"slot {slot} has no process")


def test_a_dead_local_worker_fails_only_its_own_grading(local):
    first, second = local.submit(3, None), local.submit(3, None)
    third = local.submit(0.1, None)  # waits for a free worker
    time.sleep(1)
    os.kill(_pid_of(local, 0), signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        first.result(timeout=30)
    assert isinstance(second.result(timeout=30), int)  # its neighbour went on
    assert isinstance(third.result(timeout=30), int)  # and a new worker took over
    assert local.submit(0, None).result(timeout=30) != first


def test_closing_the_local_workers_ends_running_gradings_at_once(local):
    running = local.submit(60, None)
    waiting = [local.submit(60, None) for _ in range(2)]
    pid = (time.sleep(1), _pid_of(local, 0))[1]
    began = time.monotonic()
    local.close()
    assert time.monotonic() - began < 5
    cf.wait([running, *waiting], timeout=10)
    assert running.done() and all(w.cancelled() for w in waiting[1:])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_lost_is_a_cancelled_or_disconnected_grading_not_a_failed_one():
    assert workers.lost(cf.CancelledError())
    assert workers.lost(asyncio.CancelledError())
    assert not workers.lost(BrokenProcessPool("a worker died"))
    assert not workers.lost(RuntimeError("kernel died"))


class FakeClient:
    """What DaskWorkers uses of a distributed.Client."""

    def __init__(self, ident: str, threads: int = 2):
        self.ident, self.threads, self.status, self.scattered = ident, threads, "running", []

    def nthreads(self):
        return {f"w{i}": 1 for i in range(self.threads)}

    def scheduler_info(self):
        return {"id": self.ident}

    def scatter(self, bundle, **_kw):
        self.scattered.append(bundle.assignment)
        return SimpleNamespace(status="finished", on=self.ident)

    def get_executor(self, **_kw):
        client = self

        class Executor:
            def submit(self, _fn, scattered, _pack, **_options):
                future = cf.Future()
                future.set_result((client.ident, scattered.on))
                return future

        return Executor()

    def close(self, **_kw):
        self.status = "closed"


def _dask(client: FakeClient, reconnect) -> workers.DaskWorkers:
    dask = object.__new__(workers.DaskWorkers)
    dask.address, dask._client_class = "tcp://127.0.0.1:1", reconnect
    dask.client, dask._executor = client, client.get_executor()
    dask._bundles, dask._next_try, dask._was_up = {}, 0.0, True
    return dask


def test_a_dask_scheduler_that_comes_back_gets_the_bundles_again():
    bundle = SimpleNamespace(assignment="toy", digest="d1")
    first = FakeClient("A")
    answers: list = [OSError("connection refused")]

    def reconnect(*_args, **_kw):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    dask = _dask(first, reconnect)
    assert dask.capacity == 2
    assert dask.submit(bundle, None).result() == ("A", "A")
    dask.submit(bundle, None)
    assert first.scattered == ["toy"]  # once per cluster
    # the scheduler went away and the client gave up: nothing can be sent
    first.status = "closed"
    assert dask.capacity == 0 and "0 worker(s)" in dask.describe()
    # a new scheduler at the address: a new client, the bundle scattered to it
    second = FakeClient("B", threads=1)
    answers.append(second)
    dask._next_try = 0.0
    assert dask.capacity == 1
    assert dask.submit(bundle, None).result() == ("B", "B")
    assert second.scattered == ["toy"]
    # the same client reconnected to a restarted scheduler (a new identity)
    second.ident = "C"
    assert dask.submit(bundle, None).result() == ("C", "C")
    assert second.scattered == ["toy", "toy"]
    # no workers yet: nothing is sent
    second.threads = 0
    assert dask.capacity == 0
