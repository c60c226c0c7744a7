"""``course grade``: no lost grades, clear errors, the sandbox, the static scan."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adversarial import toy
from jupyter_core.utils import run_sync

from course.commands.options import parse_size
from course.errors import GradeError
from course.grading import batch as grading_run
from course.intake.scan import scan_code, withheld_references
from course.isolation import sandbox
from course.nbgrader_ext.flags import FLAGS_TABLE

SANDBOX = sandbox.bwrap_path() is not None
needs_bwrap = pytest.mark.skipif(not SANDBOX, reason="bubblewrap not available")


# -- static scan (fast) -------------------------------------------------------------------

SETUP = "import numpy as np\nfrom lib import grading, losses"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("np.allclose = lambda *a: True", "assigns to module attribute numpy.allclose"),
        ("np.testing.assert_allclose = print", "numpy.testing.assert_allclose"),
        ("setattr(np, 'allclose', print)", "setattr on module numpy"),
        ("grading.assert_close = print", "lib.grading.assert_close"),
        ("get_ipython().set_custom_exc((Exception,), print)", "set_custom_exc"),
        ("import sys\nsys.excepthook = print", "sys.excepthook"),
        ("import sys\nsys.exit()", "exits the kernel"),
        ("import os\nos._exit(0)", "os._exit"),
        ("import importlib\nimportlib.reload(np)", "reloads a module"),
        ("import os\nos.environ.get('NBGRADER_EXECUTION')", "NBGRADER"),
        ("open('../../source/05_softmax/05_softmax.ipynb')", "source/"),
        ("import subprocess", "subprocess"),
        ("import ctypes", "ctypes"),
        ("!ls", "shell command"),
        ("losses.softmax(z)", "withheld reference lib.losses.softmax"),
        ("from lib.losses import softmax", "withheld reference lib.losses.softmax"),
    ],
)
def test_scan_flags_tampering(code, reason):
    flags = scan_code([code], {"losses": {"softmax"}}, trusted=[SETUP])
    assert any(reason in f for f in flags), flags


def test_scan_leaves_an_honest_solution_alone():
    honest = (
        "def softmax(z):\n    z = np.asarray(z, dtype=np.float64)\n"
        "    e = np.exp(z - z.max(axis=1, keepdims=True))\n"
        "    return e / e.sum(axis=1, keepdims=True)\n"
        "losses.cross_entropy(np.zeros((2, 3)), np.array([0, 1]))\nprint(np.mean([1.0]))"
    )
    assert scan_code([honest], {"losses": {"softmax"}}, trusted=[SETUP]) == []


def test_withheld_references_are_the_functions_that_raise_not_implemented():
    lib = toy.FIXTURE / "student_lib" / "lib"
    assert withheld_references(lib) == {"toy": {"twice"}}


def test_memory_sizes_parse():
    assert parse_size("2G") == 2 * 1024**3
    assert parse_size("512M") == 512 * 1024**2


# -- a small graded course ----------------------------------------------------------------


def _wrong(root):
    nb = toy.solved(root)
    toy.cell(nb, "total").source = "def total(x):\n    return 1.0"
    return nb


def _course(path: Path) -> Path:
    root = toy.build_course(path)
    toy.submit(root, "honest", toy.solved(root))
    toy.submit(root, "blank", toy.release_notebook(root))
    toy.submit(root, "wrong", _wrong(root))
    return root


def _state(root: Path) -> dict:
    """What grading writes to the gradebook, comparable across runs."""
    con = sqlite3.connect(root / "gradebook.db")
    try:
        grades = con.execute(
            "SELECT s.id, gc.name, g.auto_score, g.manual_score, g.needs_manual_grade "
            "FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
            "JOIN student s ON sa.student_id = s.id JOIN base_cell gc ON g.cell_id = gc.id "
            "ORDER BY 1, 2").fetchall()
        comments = con.execute(
            "SELECT s.id, c.auto_comment, c.manual_comment FROM comment c "
            "JOIN submitted_notebook sn ON c.notebook_id = sn.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
            "JOIN student s ON sa.student_id = s.id ORDER BY 1, 2").fetchall()
        flags = con.execute(f"SELECT * FROM {FLAGS_TABLE} ORDER BY 1").fetchall()
    finally:
        con.close()
    return {"grades": grades, "comments": comments, "flags": flags}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = _course(tmp_path_factory.mktemp("small"))
    rows = grading_run.grade(root, ["toy"], jobs=2, progress=False)
    return root, {r["student"]: r for r in rows}, _state(root)


@pytest.mark.slow
def test_grades_follow_the_work(course):
    _, rows, _ = course
    assert rows["honest"]["score"] == 4.0
    assert rows["blank"]["score"] == 0.0
    assert rows["wrong"]["tests"]["test_total"] == (0.0, 2.0)
    assert rows["wrong"]["tests"]["test_double"] == (2.0, 2.0)


@pytest.mark.slow
def test_each_run_backs_up_the_gradebook(course):
    root, _, _ = course
    backups = list(root.glob("gradebook.db.bak-*"))
    assert backups
    con = sqlite3.connect(backups[0])
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_regrading_keeps_manual_grades_and_comments(course):
    from nbgrader.api import Gradebook

    root, _, _ = course
    url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url, "toy") as gb:
        gb.find_grade("why_empty", "toy", "toy", "honest").manual_score = 1.0
        gb.find_grade("test_total", "toy", "toy", "wrong").manual_score = 1.5
        gb.find_comment("why_empty", "toy", "toy", "honest").manual_comment = "Good."
        gb.db.commit()
    rows = {r["student"]: r for r in grading_run.grade(root, ["toy"], ["honest", "wrong"],
                                                        progress=False)}
    assert rows["honest"]["score"] == 5.0
    assert rows["wrong"]["tests"]["test_total"] == (1.5, 2.0)
    with Gradebook(url, "toy") as gb:
        assert gb.find_comment("why_empty", "toy", "toy", "honest").manual_comment == "Good."
        assert gb.find_grade("test_total", "toy", "toy", "wrong").manual_score == 1.5


@pytest.mark.slow
def test_sigkill_then_rerun_leaves_the_gradebook_of_an_uninterrupted_run(course, tmp_path):
    _, _, expected = course  # the gradebook after one uninterrupted run
    root = _course(tmp_path / "killed")
    cmd = [sys.executable, "-m", "course.cli", "--root", str(root), "grade", "toy",
           "--jobs", "1"]
    proc = subprocess.Popen(cmd, env=toy.venv_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    log = root / "grade.log"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and log.read_text().count("=== ") >= 1:
            break  # one submission committed, others in flight
        time.sleep(0.05)
    assert proc.poll() is None, "grading finished before it could be killed mid-run"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cmd, env=toy.venv_env(), capture_output=True, text=True)
    assert rerun.returncode == (0 if SANDBOX else 1), rerun.stderr
    assert _state(root) == expected


def test_a_corrupt_gradebook_stops_before_anything_is_written(tmp_path):
    root = tmp_path
    shutil.copy(toy.FIXTURE / "nbgrader_config.py", root)
    (root / "gradebook.db").write_bytes(b"this is not sqlite" * 100)
    before = (root / "gradebook.db").read_bytes()
    with pytest.raises(GradeError, match="corrupt"):
        grading_run.grade(root, ["toy"], progress=False)
    assert (root / "gradebook.db").read_bytes() == before
    assert not (root / "grades.csv").exists()
    assert not list(root.glob("gradebook.db.bak-*"))


@pytest.mark.slow
@pytest.mark.slow
def test_the_worker_processes_start_while_the_grading_is_prepared(tmp_path, monkeypatch):
    """course grade starts its workers' processes (about 2 s of imports) before it backs up
    the gradebook and packs the bundles, not when the first submission is sent."""
    root = toy.build_course(tmp_path)
    toy.submit(root, "honest", toy.solved(root))
    made, seen = grading_run.make_workers, {}

    def make_workers(*args, **kwargs):
        seen["workers"] = made(*args, **kwargs)
        return seen["workers"]

    def running() -> bool:  # every slot has its process
        return all(pool is not None and pool._processes for pool in seen["workers"]._slots)

    bundles = grading_run.OpenCourse.bundles

    def bundles_once_started(self):
        deadline = time.monotonic() + 60
        while not running() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen["running"] = running()
        return bundles(self)

    monkeypatch.setattr(grading_run, "make_workers", make_workers)
    monkeypatch.setattr(grading_run.OpenCourse, "bundles", bundles_once_started)
    [row] = grading_run.grade(root, ["toy"], jobs=2, progress=False)
    assert seen["running"] and row["score"] == 4.0 and not row["error"]


def test_a_locked_gradebook_gives_a_clear_error(course):
    root, _, _ = course
    con = sqlite3.connect(root / "gradebook.db", isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(GradeError, match="locked"):
            grading_run.grade(root, ["toy"], progress=False)
    finally:
        con.execute("ROLLBACK")
        con.close()


def test_a_missing_gradebook_says_to_release_first(tmp_path):
    with pytest.raises(GradeError, match="course release"):
        grading_run.grade(tmp_path, ["toy"], progress=False)


# -- the sandbox --------------------------------------------------------------------------


@pytest.mark.slow
@needs_bwrap
def test_the_sandboxed_kernel_sees_only_its_work(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    secret = tmp_path / "course" / "source"
    secret.mkdir(parents=True)
    (secret / "answers.txt").write_text("42")
    work = tmp_path / "work"
    work.mkdir()
    lib = tmp_path / "trusted_lib"
    lib.mkdir()
    (lib / "__init__.py").write_text("TRUSTED = True\n")
    probe = (
        "import os, socket, lib\n"
        f"print('secret', os.path.exists({str(secret)!r}))\n"
        "print('home', os.path.expanduser('~'), os.path.exists('/root/.bashrc'))\n"
        "print('trusted', lib.TRUSTED)\n"
        "print('env', sorted(k for k in os.environ if 'NBGRADER' in k))\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
        "    print('net yes')\nexcept OSError:\n    print('net no')\n"
        "try:\n    open('lib/evil.py', 'w')\n    print('lib writable')\n"
        "except OSError:\n    print('lib read-only')\n"
        "open('out.txt', 'w').write('ok')\n"
        "print('wrote', open('out.txt').read())\n"
        "try:\n    open('big', 'wb').write(b'x' * (300 * 2**20))\n    print('disk unlimited')\n"
        "except OSError as err:\n    print('disk', err.strerror)\n"
        "import resource\nprint('as', resource.getrlimit(resource.RLIMIT_AS)[0])"
    )
    nb = new_notebook(cells=[new_code_cell(probe)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    spec = sandbox.SandboxSpec(workdir=work, lib=lib, limits=sandbox.Limits(memory=2**30))
    km = sandbox.SandboxedKernelManager(kernel_name="python3", sandbox_spec=spec)
    runtime = spec.runtime_dir  # made by the manager: removed when the kernel shuts down
    assert runtime is not None and runtime.is_dir()
    try:
        NotebookClient(nb, km=km, timeout=60).execute()
    finally:
        run_sync(km.shutdown_kernel)(now=True)  # nbclient leaves a km it was given
    assert not runtime.exists()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "secret False" in text
    assert "home /tmp False" in text
    assert "trusted True" in text
    assert "env ['NBGRADER_EXECUTION']" in text  # set on purpose: explorers draw statically
    assert "net no" in text
    assert "lib read-only" in text
    assert f"as {2**30}" in text
    # its working folder is a tmpfs of its own: writable, limited, never on the host's disk
    assert "wrote ok" in text
    assert "disk No space left on device" in text or "disk File too large" in text, text
    assert not (work / "out.txt").exists()
    nbformat.validate(nb)


def test_uid_leases_are_one_folder_per_machine_whatever_the_tmpdir(tmp_path):
    """Graders started with different TMPDIRs lease uids in the same folder, so two of their
    kernels are never given the same uid."""
    code = "from course.isolation import sandbox; print(sandbox.UID_LOCKS)"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == str(sandbox.UID_LOCKS) and not out.startswith(str(tmp_path))


@pytest.mark.skipif(os.geteuid() != 0, reason="uids of their own need root")
def test_concurrent_leases_get_distinct_uids_and_release_them():
    first, second = sandbox.UidLease(2), sandbox.UidLease(2)
    try:
        assert len(set(first.uids + second.uids)) == 4
        held = set(first.uids)
    finally:
        first.release()
        second.release()
    again = sandbox.UidLease(2)  # the same process starts its search at the same uid
    try:
        assert set(again.uids) == held  # released leases can be had again
    finally:
        again.release()


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="uids of their own need root")
def test_a_sandboxed_kernel_runs_as_the_uid_it_was_leased(tmp_path):
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    work = tmp_path / "work"
    work.mkdir()
    lease = sandbox.UidLease(1)
    try:
        spec = sandbox.SandboxSpec(workdir=work, uid=lease.uids[0])
        nb = new_notebook(cells=[new_code_cell("import os\nprint('uid', os.getuid())")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        km = sandbox.SandboxedKernelManager(kernel_name="python3", sandbox_spec=spec)
        try:
            NotebookClient(nb, km=km, timeout=60).execute()
        finally:
            run_sync(km.shutdown_kernel)(now=True)
    finally:
        lease.release()
    assert f"uid {lease.uids[0]}" in nb.cells[0].outputs[0]["text"]
