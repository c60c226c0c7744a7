"""The toy course with nbgrader's exchange in a folder, students who fetch and submit as
``nbgrader submit`` does, and ``course serve`` run as the instructor runs it: the fixtures of
tests/test_serve.py and tests/test_dask.py."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from adversarial import toy

from course.author.publish import release_to_exchange
from course.commands import demo_students

COURSE_ID = toy.ASSIGNMENT  # the toy course's id and its assignment's are both "toy"
UTC = dt.UTC


class Term:
    """A toy course released to an exchange, and the homes of its students."""

    def __init__(self, base: Path, *, check_owner: bool = False, root_in: Path | None = None):
        self.base = Path(base)
        # the course root under ``root_in`` if given (a small file system of its own)
        self.root = toy.build_course(Path(root_in or self.base) / "course")
        self.exchange = self.base / "exchange"
        demo_students.use_exchange(self.root, self.exchange)
        if check_owner:
            with (self.root / "nbgrader_config.py").open("a") as fh:
                fh.write("c.ExchangeCollect.check_owner = True\n")
        release_to_exchange(self.root, [toy.ASSIGNMENT])
        self.homes: dict[str, Path] = {}

    def home(self, student: str) -> Path:
        if student not in self.homes:
            home = self.base / "students" / student
            home.mkdir(parents=True)
            demo_students.student_jupyter_config(home, self.exchange, student)
            demo_students.fetch(home, COURSE_ID, toy.ASSIGNMENT)
            self.homes[student] = home
        return self.homes[student]

    def submit(self, student: str, nb, when: dt.datetime | None = None) -> None:
        """``student`` saves ``nb`` as their assignment and submits it (nbgrader submit)."""
        home = self.home(student)
        nbformat.write(nb, home / toy.ASSIGNMENT / f"{toy.ASSIGNMENT}.ipynb")
        demo_students.submit(home, COURSE_ID, toy.ASSIGNMENT, when)
        time.sleep(0.01)  # distinct time stamps

    def fetch_feedback(self, student: str) -> list[Path]:
        return demo_students.fetch_feedback(self.home(student), COURSE_ID, toy.ASSIGNMENT)

    # -- the instructor's side ---------------------------------------------------------------
    def serve(self, *args: str) -> subprocess.Popen:
        """``course serve`` in the background (its output in serve.out)."""
        out = open(self.base / "serve.out", "ab")  # closed with the process
        return subprocess.Popen(
            [sys.executable, "-m", "course.cli", "--root", str(self.root), "serve",
             "--poll", "0.3", *args],
            stdout=out, stderr=subprocess.STDOUT, env=toy.venv_env(), start_new_session=True)

    def course(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``course --root ROOT ARGS...``, as the instructor runs it."""
        return subprocess.run(
            [sys.executable, "-m", "course.cli", "--root", str(self.root), *args],
            capture_output=True, text=True, timeout=timeout, env=toy.venv_env())

    def serve_once(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``course serve --once``: grade what has arrived, release the feedback, exit."""
        return self.course("serve", "--once", "--poll", "0.3", *args, timeout=timeout)

    def queue(self):
        from course.service.queue import read_queue

        return read_queue(self.root / "gradebook.db")

    def by_student(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for entry in self.queue():
            out.setdefault(entry.student_id, []).append(entry)
        return out

    def set_due(self, due: dt.datetime) -> None:
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}", COURSE_ID) as gb:
            gb.update_or_create_assignment(toy.ASSIGNMENT, duedate=due)

    def submission(self, student: str) -> dict:
        """The gradebook's submission of ``student``: autograded points and its notebook's
        grades ({grade id: (auto, manual)})."""
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}", COURSE_ID) as gb:
            sub = gb.find_submission(toy.ASSIGNMENT, student)
            nb = sub.notebooks[0]
            return {"code_score": float(sub.code_score), "timestamp": sub.timestamp,
                    "seconds_late": sub.total_seconds_late,
                    "grades": {g.name: (g.auto_score, g.manual_score) for g in nb.grades}}


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MB tmpfs for the course root (we run as root in CI; skipped where mount is not
    allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk):
    """Fill the file system of ``disk``; the file that fills it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (2**20, 2**12):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                pass
    return filler


def grading_workers(proc: subprocess.Popen, *, busy: bool = False) -> list:
    """The local grading worker processes of the service ``proc`` (the fork server's
    children); ``busy``: only those grading now (they have a sandbox or kernel child)."""
    import psutil

    found = []
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            parent = child.parent()
            if parent is None or "forkserver" not in " ".join(parent.cmdline()):
                continue
            if not busy or child.children():
                found.append(child)
        except psutil.Error:
            continue
    return found


def wait_for(predicate, timeout: float = 120, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    """Stop a background service (and, for SIGKILL, nothing else: its workers must end by
    themselves, as after a crash)."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- submissions ------------------------------------------------------------------------------


def honest(root):
    return toy.solved(root)


def wrong(root):
    nb = toy.solved(root)
    toy.cell(nb, "total").source = "def total(x):\n    return 1.0"
    return nb


def slow(root, seconds: float = 3):
    """Correct work whose solution cell takes ``seconds`` to run."""
    nb = toy.solved(root)
    toy.cell(nb, "total").source += f"\n\nimport time\ntime.sleep({seconds})"
    return nb


def with_code(root, code: str):
    """Correct work whose last solution cell runs ``code`` before defining ``total``."""
    nb = toy.solved(root)
    cell = toy.cell(nb, "total")
    cell.source = code + "\n\n" + cell.source
    return nb
