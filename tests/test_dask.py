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

try:  # the [cluster] extra, which make test installs
    import distributed  # noqa: F401
except ImportError:
    if os.environ.get("CI", "").lower() not in ("true", "1"):
        pytest.skip("Dask is not installed (pip install '.[cluster]')", allow_module_level=True)
from adversarial import toy
from exchange_course import Term, honest, slow, stop, wait_for, wrong

from course.grading import batch as grading_run
from course.isolation import sandbox

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
    log = open(here / "cluster.log", "ab")  # closed below
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


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """A scheduler and a worker that accept only connections with a certificate of the
    course's CA (Dask's mutual TLS), as the instructor's guide says to run them."""
    from adversarial.dask_tls import make_ca

    here = tmp_path_factory.mktemp("dask-tls")
    certs = make_ca(here / "certs", "course")
    tls = ["--tls-ca-file", certs["ca"], "--tls-cert", certs["cert"], "--tls-key",
           certs["key"]]
    env = toy.venv_env()
    log = open(here / "cluster.log", "ab")  # closed below
    scheduler_file = here / "scheduler.json"
    procs = [subprocess.Popen(
        [DASK, "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(scheduler_file), *tls],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)]
    try:
        wait_for(scheduler_file.exists, 60, "the scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tls://")
        procs.append(subprocess.Popen(
            [DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
             "--local-directory", str(here / "workers"), *tls],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
        yield address, certs, here
    finally:
        for proc in reversed(procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_course_grade_reaches_a_tls_cluster_with_the_course_certificates(tls_cluster,
                                                                          tmp_path):
    from adversarial.dask_tls import dask_env

    address, certs, _ = tls_cluster
    root = _course(tmp_path / "c", {"honest": honest, "wrong": wrong})
    out = subprocess.run(
        [sys.executable, "-m", "course.cli", "--root", str(root), "grade", "--scheduler",
         address], capture_output=True, text=True, timeout=300,
        env=dict(toy.venv_env(), **dask_env(certs)))
    assert "honest" in out.stdout and "4 / 5" in out.stdout.split("honest", 1)[1][:60], out
    assert "plain TCP" not in out.stderr  # tls:// is not warned about


def _run_code_on_workers(address: str, env: dict) -> subprocess.CompletedProcess:
    """What a student who can reach the scheduler tries: run code on the grading workers."""
    probe = (
        "import sys\nfrom distributed import Client\n"
        f"c = Client({address!r}, timeout=10)\n"
        "print('RAN', c.run(lambda: 'owned'))\n")
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, env=env)


def test_a_stranger_cannot_run_code_on_the_tls_cluster(tls_cluster):
    """Without a certificate, or with one of a CA of their own, a client is refused: nobody
    but the instructor can run code where the grades are computed."""
    from adversarial.dask_tls import dask_env, make_ca

    address, certs, here = tls_cluster
    stranger = make_ca(here / "stranger", "stranger")
    attempts = {
        "no certificate": toy.venv_env(),
        "plain tcp": None,
        "a certificate of another CA": dict(toy.venv_env(), **dask_env(stranger)),
        "the course's CA file but the stranger's certificate": dict(
            toy.venv_env(), **dask_env(dict(stranger, ca=certs["ca"]))),
    }
    for what, env in attempts.items():
        target = address if env is not None else address.replace("tls://", "tcp://")
        out = _run_code_on_workers(target, env or toy.venv_env())
        assert "RAN" not in out.stdout, f"{what}: {out.stdout}"
        assert out.returncode != 0, what
    # and the course's own certificate does get in (the attempts above could not fail
    # for a reason unrelated to TLS)
    ok = _run_code_on_workers(address, dict(toy.venv_env(), **dask_env(certs)))
    assert "RAN" in ok.stdout and "owned" in ok.stdout, ok.stderr[-2000:]


@pytest.fixture
def loopback(tmp_path):
    from dask_cluster import LoopbackCluster

    cluster = LoopbackCluster(tmp_path, workers=2)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def test_the_guides_loopback_recipe_listens_on_loopback_only(loopback):
    ports = loopback.listening()
    assert ports and all(p.startswith("127.0.0.1:") for p in ports), ports


def test_course_serve_survives_a_scheduler_restart(loopback, tmp_path):
    """The scheduler is killed mid-burst (its workers end with it) and started again at the
    same address with new workers, as a supervisor does: what was in flight and what
    arrived meanwhile waits and is graded on the new cluster (the bundle scattered again),
    no attempt counted, nothing failed."""
    term = Term(tmp_path / "term")
    term.submit("ann", slow(term.root, 2))
    term.submit("bob", wrong(term.root))
    proc = term.serve("--scheduler", loopback.address)
    try:
        wait_for(lambda: any(e.state == "done" for e in term.queue()), 180, "one graded")
        loopback.kill_scheduler()
        term.submit("cy", honest(term.root))
        term.submit("dee", wrong(term.root))
        time.sleep(8)  # the outage: nothing may burn attempts or fail
        assert not [e for e in term.queue() if e.state == "failed" or e.attempts], \
            [(e.key, e.state, e.note) for e in term.queue()]
        loopback.start()
        wait_for(lambda: len(term.queue()) == 4 and
                 all(e.state == "done" for e in term.queue()), 240, "all graded")
    finally:
        stop(proc)
    rows = {e.student_id: e for e in term.queue()}
    assert {s: r.score for s, r in rows.items()} == {"ann": 4.0, "bob": 2.0, "cy": 4.0,
                                                      "dee": 2.0}
    assert all(r.attempts == 0 and r.commits == 1 for r in rows.values())
    assert all(len(term.fetch_feedback(s)) == 1 for s in rows)
