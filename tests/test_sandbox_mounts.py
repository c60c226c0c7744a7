"""Every place a sandboxed kernel can write is size-limited (issue 19, hole 2).

A kernel walks its mounts and folders and fills every one it can (tests/adversarial/
writable.py); the host then checks that nothing landed outside size-limited tmpfs mounts and
that the runtime folder on its disk holds only sockets and its own connection files. The
same attack as a submission is graded through ``course grade`` and plain ``nbgrader
autograde`` beside the honest styles, which keep every point and get no flag.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from adversarial import catalogue, toy, writable

from course.grading import batch as grading_run
from course.isolation import confine, landlock, sandbox

SANDBOX = sandbox.bwrap_path() is not None
needs_bwrap = pytest.mark.skipif(not SANDBOX, reason="bubblewrap not available")
pytestmark = [pytest.mark.slow, needs_bwrap]

SMALL = 8 * 2**20  # each tmpfs of the test's sandbox; the walker tries twice as much


def _run_kernel(tmp_path, code: str, **limits) -> tuple[str, sandbox.SandboxSpec]:
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    work, run = tmp_path / "work", tmp_path / "run"
    work.mkdir()
    run.mkdir()
    lim = sandbox.Limits(memory=2**30, tmp_size=SMALL, work_size=SMALL)
    lim.shm_size = SMALL
    for key, value in limits.items():
        setattr(lim, key, value)
    spec = sandbox.SandboxSpec(workdir=work, runtime_dir=run, limits=lim,
                               log_path=tmp_path / "kernel.log")
    nb = new_notebook(cells=[new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    km = sandbox.SandboxedKernelManager(kernel_name="python3", sandbox_spec=spec)
    NotebookClient(nb, km=km, timeout=60).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    errors = [o for o in nb.cells[0].outputs if o.get("output_type") == "error"]
    assert not errors, errors
    return text, spec


def test_every_place_a_sandboxed_kernel_can_write_is_size_limited(tmp_path):
    text, spec = _run_kernel(tmp_path, writable.walker_code(cap=2 * SMALL, total=12 * SMALL))
    report = writable.report_of(text)
    writable.check_report(report, cap=2 * SMALL)
    filled = {p["mount"] for p in report["places"].values() if p["bytes"]}
    assert {"/tmp", "/dev/shm", str(spec.workdir)} <= filled, report["places"]
    if landlock.abi() or os.geteuid() == 0:
        assert confine.RUNTIME_MOUNT in report["refused"], report["refused"]
    writable.check_runtime_entries(writable.runtime_listing(spec.runtime_dir))


def test_without_landlock_a_root_grader_locks_the_runtime_folder_once_bound(tmp_path,
                                                                             monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("without Landlock only a root grader keeps the runtime folder read-only")
    source = confine.limiter_source()
    monkeypatch.setattr(confine, "limiter_source", lambda: source.replace(
        "if not restrict(json.loads", "restrict = lambda rules: 0\nif not restrict(json.loads"))
    text, spec = _run_kernel(tmp_path, writable.walker_code(cap=2 * SMALL, total=12 * SMALL))
    assert (tmp_path / "kernel.log").read_text().count("no Landlock") == 1
    report = writable.report_of(text)
    writable.check_report(report, cap=2 * SMALL)
    assert confine.RUNTIME_MOUNT in report["refused"], report["refused"]
    writable.check_runtime_entries(writable.runtime_listing(spec.runtime_dir))


def test_the_kernels_output_on_the_host_is_bounded(tmp_path):
    code = ("import os, subprocess, sys\n"
            f"os.write(2, b'e' * {confine.LOG_LIMIT})\n"
            f"subprocess.run([sys.executable, '-c', 'import os; os.write(1, b\"o\" * "
            f"{confine.LOG_LIMIT})'])\nprint('done')")
    text, _ = _run_kernel(tmp_path, code)
    assert "done" in text
    log = (tmp_path / "kernel.log").read_bytes()
    for _ in range(50):  # the grader's copy of the pipe may still be writing
        if len(log) >= confine.LOG_LIMIT:
            break
        time.sleep(0.1)
        log = (tmp_path / "kernel.log").read_bytes()
    assert confine.LOG_LIMIT <= len(log) < confine.LOG_LIMIT + 200
    assert log.endswith(b"over the log's limit dropped]\n")


# -- the attack as a submission, through `course grade` and `nbgrader autograde` -----------

ATTACK = next(e for e in catalogue.ENTRIES if e.name == "fill_writable_places")


def _course(tmp_path_factory, name):
    root = toy.build_course(tmp_path_factory.mktemp(name))
    release = toy.release_notebook(root)
    for entry in [ATTACK, *catalogue.HONEST]:
        nb, files = catalogue.build(entry, release, root)
        toy.submit(root, entry.name, nb, files=files)
    toy.submit(root, "honest", toy.solved(root))
    return root


@pytest.fixture(scope="module")
def course_graded(tmp_path_factory):
    root = _course(tmp_path_factory, "course")
    rows = grading_run.grade(root, ["toy"], jobs=2, progress=False)
    return root, {r["student"]: r for r in rows}


@pytest.fixture(scope="module")
def nbgrader_graded(tmp_path_factory):
    root = _course(tmp_path_factory, "nbgrader")
    out = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "toy", "--force"],
                         cwd=root, env=toy.venv_env(), capture_output=True, timeout=600,
                         text=True)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return root


def _autograded(root, student):
    import nbformat

    return nbformat.read(root / "autograded" / student / "toy" / "toy.ipynb", as_version=4)


def test_course_grade_contains_the_attack_and_grades_the_others(course_graded):
    root, rows = course_graded
    ATTACK.check(_autograded(root, ATTACK.name))
    assert all(rows[ATTACK.name]["tests"][t][0] == 0.0 for t in ATTACK.zero), rows[ATTACK.name]
    for name in ["honest"] + [e.name for e in catalogue.HONEST]:
        autograded = {k: v for k, v in rows[name]["tests"].items() if k.startswith("test_")}
        assert autograded == {"test_double": (2.0, 2.0), "test_total": (2.0, 2.0)}, rows[name]
        assert rows[name]["flags"] == "", rows[name]


def test_nbgrader_autograde_contains_the_attack_and_grades_the_others(nbgrader_graded):
    from nbgrader.api import Gradebook

    ATTACK.check(_autograded(nbgrader_graded, ATTACK.name))
    with Gradebook(f"sqlite:///{nbgrader_graded / 'gradebook.db'}", "toy") as gb:
        for name in [ATTACK.name, "honest"] + [e.name for e in catalogue.HONEST]:
            sub = gb.find_submission("toy", name)
            got = {g.name: float(g.score) for nb in sub.notebooks for g in nb.grades
                   if g.name.startswith("test_")}
            want = 0.0 if name == ATTACK.name else 2.0
            assert got == {"test_double": want, "test_total": want}, (name, got)
