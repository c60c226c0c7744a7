"""Grading on a Dask distributed cluster: a real one, a scheduler and two worker processes
talking TCP on localhost, started with Dask's own ``dask scheduler`` and ``dask worker``.

The grades must be those of local grading (by construction of the toy assignment: honest
4 of 4 autograded points, the wrong ``total`` 2, the release 0), computed on the workers
(the log names the worker process), and a worker killed mid-job must cost nothing: its job
is rerun elsewhere and its result written once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from adversarial import toy
from exchange_course import Term, honest, slow, wait_for, wrong

from course import grade as grading_run
from course import sandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not available"),
]

DASK = os.path.join(os.path.dirname(sys.executable), "dask")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from distributed import Client

    here = tmp_path_factory.mktemp("dask")
    env = toy.venv_env()
    log = open(here / "cluster.log", "ab")  # noqa: SIM115 - closed below
    scheduler_file = here / "scheduler.json"
    procs = [subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)]
    client = None
    try:
        wait_for(scheduler_file.exists, 60, "the scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(subprocess.Popen(
            [DASK, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
             "--local-directory", str(here / "workers")],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
        client = Client(address, timeout=60)
        client.wait_for_workers(2, timeout=120)
        yield address, client
    finally:
        if client is not None:
            client.close()
        for proc in reversed(procs):
            with_group = proc.pid
            try:
                os.killpg(with_group, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(with_group, signal.SIGKILL)
        log.close()


def _course(path, submissions: dict):
    root = toy.build_course(path)
    for student, make in submissions.items():
        toy.submit(root, student, make(root))
    return root


def _graded_on(root) -> dict[str, list[int]]:
    """student -> pids of the processes that graded them (from grade.log)."""
    found: dict[str, list[int]] = {}
    for m in re.finditer(r"^=== \S+ (\S+) toy \([\d.]+ s on [^:]+:(\d+)\)",
                         (root / "grade.log").read_text(), re.M):
        found.setdefault(m.group(1), []).append(int(m.group(2)))
    return found


def test_course_grade_on_the_cluster_gives_the_grades_of_local_grading(cluster, tmp_path):
    address, client = cluster
    root = _course(tmp_path / "c", {"honest": honest, "wrong": wrong,
                                    "blank": toy.release_notebook})
    rows = {r["student"]: r for r in grading_run.grade(root, ["toy"], scheduler=address,
                                                       progress=False)}
    assert rows["honest"]["tests"] == {"test_double": (2.0, 2.0), "test_total": (2.0, 2.0)}
    assert rows["wrong"]["tests"]["test_total"] == (0.0, 2.0)
    assert rows["blank"]["tests"]["test_double"] == (0.0, 2.0)
    assert all(r["flags"] == "" for r in (rows["honest"], rows["wrong"]))
    workers = set(client.run(os.getpid).values())
    graded_on = _graded_on(root)
    assert {pid for pids in graded_on.values() for pid in pids} <= workers
    assert os.getpid() not in workers
    assert (root / "feedback" / "honest" / "toy" / "toy.html").exists()


def test_a_worker_killed_mid_job_has_the_job_rerun_and_its_result_written_once(
        cluster, tmp_path):
    address, client = cluster
    students = {f"s{k}": (lambda r: slow(r, 3)) for k in range(4)}
    root = _course(tmp_path / "c", students)
    proc = subprocess.Popen(
        [sys.executable, "-m", "course.cli", "--root", str(root), "grade", "--scheduler",
         address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=toy.venv_env())
    busy = wait_for(lambda: [w for w, tasks in client.processing().items() if tasks], 120,
                    "a worker with a grading")
    time.sleep(1.5)  # well inside the grading (its notebook sleeps 3 s)
    pids = client.run(os.getpid)
    os.kill(pids[busy[0]], signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    graded_on = _graded_on(root)
    assert sorted(graded_on) == sorted(students)
    assert all(len(pids) == 1 for pids in graded_on.values()), graded_on  # written once
    rows = {r.split()[0]: r for r in out.splitlines() if r.startswith("s")}
    assert all("4 / 5" in rows[s] for s in students), out
    client.wait_for_workers(2, timeout=120)  # the nanny restarted the killed worker
    assert pids[busy[0]] not in client.run(os.getpid).values()


def test_course_serve_on_the_cluster_releases_feedback(cluster, tmp_path):
    address, _ = cluster
    term = Term(tmp_path)
    term.submit("ann", honest(term.root))
    term.submit("bob", wrong(term.root))
    out = term.serve_once("--scheduler", address)
    assert out.returncode == 0, out.stderr
    rows = {e.student_id: e for e in term.queue()}
    assert rows["ann"].score == 4.0 and rows["bob"].score == 2.0
    assert all(e.state == "done" and e.counted for e in rows.values())
    assert all(len(term.fetch_feedback(s)) == 1 for s in ("ann", "bob"))
