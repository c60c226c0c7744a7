"""Issue 20's operator scenario, small: a burst of submissions to ``course serve`` while the
service is killed twice, a grading worker once, the course root's disk fills and a Dask
scheduler is restarted. At the end every submission is graded exactly once with the score
that grading gives it (the toy assignment's, by construction: honest 4, wrong ``total`` 2;
tests/test_dask.py checks course grade gives those on a cluster too), every student's
feedback is fetchable and is the course root's, no process outlived its service, and
nothing needed ``--retry-failed``."""

from __future__ import annotations

import signal
import time

import pytest
from exchange_course import (  # noqa: F401 (small_disk: a fixture)
    Term,
    fill,
    grading_workers,
    slow,
    small_disk,
    stop,
    wait_for,
    wrong,
)

from course.isolation import sandbox

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sandbox.bwrap_path() is None,
                                 reason="bubblewrap not available")]

FULL = 4.0


def _tree(proc) -> list:
    import psutil

    return psutil.Process(proc.pid).children(recursive=True)


def _ends_with(proc, sig, timeout: float) -> list:
    """Stop ``proc`` with ``sig``; the processes of its tree still alive ``timeout`` s
    later."""
    import psutil

    left = _tree(proc)
    stop(proc, sig)
    return [p.cmdline()[:3] for p in psutil.wait_procs(left, timeout=timeout)[1]]


def test_a_burst_survives_kills_a_dead_worker_a_full_disk_and_a_scheduler_restart(
        small_disk, tmp_path):  # noqa: F811 (the fixture)
    try:
        import distributed  # noqa: F401
        from dask_cluster import LoopbackCluster
    except ImportError:  # no distributed: the local half still runs
        LoopbackCluster = None
    term = Term(tmp_path / "term", root_in=small_disk)
    expected, orphans, seen_failed = {}, [], set()

    def submit(student, good):
        term.submit(student, slow(term.root, 2) if good else wrong(term.root))
        expected[student] = FULL if good else FULL - 2

    def done() -> int:
        rows = term.queue()
        seen_failed.update(e.key for e in rows if e.state == "failed")
        return sum(e.state == "done" for e in rows)

    serve = ("--jobs", "2", "--min-free", "1M")
    for k in range(4):
        submit(f"s{k}", k % 2 == 0)
    proc = term.serve(*serve)
    wait_for(lambda: done() >= 1, 240, "one graded")
    orphans += _ends_with(proc, signal.SIGKILL, 20)  # kill 1
    proc = term.serve(*serve)
    busy = wait_for(lambda: grading_workers(proc, busy=True), 240, "a grading")
    busy[0].kill()  # a worker dies mid-grading
    wait_for(lambda: done() >= 2, 240, "two graded")
    orphans += _ends_with(proc, signal.SIGKILL, 20)  # kill 2
    proc = term.serve(*serve)
    filler = fill(small_disk)
    wait_for(lambda: "disk full" in term.course("status").stdout, 60, "disk full")
    time.sleep(2)
    assert proc.poll() is None
    filler.unlink()
    wait_for(lambda: done() == 4, 300, "the local burst graded")
    orphans += _ends_with(proc, signal.SIGTERM, 5)

    if LoopbackCluster is not None:
        (tmp_path / "dask").mkdir()
        cluster = LoopbackCluster(tmp_path / "dask", workers=2)
        try:
            cluster.start()
            submit("s4", True)
            submit("s5", False)
            proc = term.serve("--scheduler", cluster.address, "--min-free", "1M")
            wait_for(lambda: any(e.state == "grading" for e in term.queue()), 240,
                     "a grading on the cluster")
            cluster.kill_scheduler()
            time.sleep(3)
            cluster.start()  # as its supervisor would
            wait_for(lambda: done() == 6, 300, "the cluster's burst graded")
            orphans += _ends_with(proc, signal.SIGTERM, 5)
        finally:
            cluster.stop()

    rows = {e.student_id: e for e in term.queue()}
    assert sorted(rows) == sorted(expected)
    assert not seen_failed, f"failed on the way: {seen_failed}"
    assert not orphans, f"processes outlived the service: {orphans}"
    for student, score in expected.items():
        entry = rows[student]
        assert (entry.state, entry.commits, entry.score) == ("done", 1, score), \
            (student, entry)
        assert term.submission(student)["code_score"] == score
        (page,) = term.fetch_feedback(student)
        ours = term.root / "feedback" / student / "toy" / "toy.html"
        assert page.read_bytes() == ours.read_bytes(), f"{student}'s feedback differs"
    attempts = sorted(e.attempts for e in rows.values())
    assert attempts[-1] <= 1 and sum(attempts) <= 1, attempts  # the dead worker's, at most
    print(f"\nfault scenario: {len(expected)} submissions, "
          f"{sum(e.state == 'done' for e in rows.values())} graded, "
          f"{sum(e.commits > 1 for e in rows.values())} duplicates, "
          f"{len(set(expected) - set(rows))} lost, "
          f"{sum(len(term.fetch_feedback(s)) != 1 for s in expected)} without feedback, "
          f"{len(orphans)} orphans, attempts {attempts}")
