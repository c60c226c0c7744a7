"""Grading jobs as plain data, so that any worker can grade them: a process of this machine
or a Dask worker on another one.

A job is two values:

- a :class:`CourseBundle`, shared by every submission of one assignment: the course's
  ``nbgrader_config.py``, ``release/<id>/`` (the released notebooks and the trusted student
  edition of ``lib``), a *slim* copy of the gradebook (the assignment's definition, no
  student and no grade) and the gradebook's trusted cells;
- a :class:`SubmissionPack`: the files of one submitted folder, read as untrusted input.
  Regular files are carried as bytes; a symlink, FIFO or device is carried as what it is and
  recreated on the worker, so the worker's checks (:func:`course.submission.prepare`) see
  exactly what was submitted and refuse it the same way, without the instructor's machine
  ever following a link or blocking on a FIFO.

:func:`grade_packed` unpacks both into a scratch course root on the worker, grades it on the
trusted, sandboxed path (:func:`course.grade._grade_one`: nbgrader's Autograde with
TrustedExecute, then GenerateFeedback) and returns a :class:`~course.submission.Result`
whose ``files`` carry the autograded notebook and the feedback back. Nothing else crosses:
the worker needs this package installed (with bubblewrap), not the course's files, and the
gradebook is written only by the process that collects the results.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from course.submission import MAX_NOTEBOOK_BYTES, Job, Result, _read_regular

# What one submission may bring: more than this (in all) is carried as sizes only, and the
# files it concerns are refused by the worker's checks as too large.
MAX_SUBMISSION_BYTES = 256 * 1024**2
MAX_ENTRIES = 10_000
# the files of the autograded folder that are kept (course grade installs them)
AUTOGRADED_KEEP = ("timestamp.txt", "submission_secret.txt")


@dataclass(frozen=True)
class CourseBundle:
    """What every grading of one assignment needs, as bytes."""

    course_id: str
    assignment: str
    config: bytes  # nbgrader_config.py
    release: dict[str, bytes]  # path under release/<id>/ -> bytes
    gradebook: bytes  # slim gradebook: the assignment's definition, no students
    trusted: dict  # course.submission.load_gradebook_cells
    digest: str = ""  # sha256 of the above, names the bundle in logs and caches


@dataclass
class SubmissionPack:
    """The entries of one submitted folder: path -> ("file", bytes) | ("link", target) |
    ("fifo", "") | ("special", kind) | ("big", size) | ("dir", "")."""

    student: str
    assignment: str
    entries: dict[str, tuple[str, object]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what could not be carried


# ---------------------------------------------------------------------------------------
# packing (the collecting process)


def slim_gradebook(db: Path, target: Path) -> None:
    """A copy of gradebook ``db`` at ``target`` with every student, submission, grade and
    comment removed: what a worker needs to autograde (the assignments, notebooks, cells and
    due dates) and nothing about anyone."""
    from course.gradebook import FLAGS_TABLE, QUEUE_TABLE, snapshot

    snapshot(db, target)
    con = sqlite3.connect(target)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table in ("comment", "grade", "submitted_notebook", "submitted_assignment",
                      "student", FLAGS_TABLE, QUEUE_TABLE):
            if table in tables:
                con.execute(f"DELETE FROM {table}")
        con.commit()
        con.execute("VACUUM")
    finally:
        con.close()


def pack_course(root: Path, assignment: str, course_id: str, trusted: dict,
                gradebook: bytes) -> CourseBundle:
    """The bundle of ``assignment`` of the course at ``root`` (``gradebook``: slim bytes)."""
    release_dir = root / "release" / assignment
    release: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(release_dir):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".pyc"):
                continue
            path = Path(dirpath) / name
            release[str(path.relative_to(release_dir))] = path.read_bytes()
    config = (root / "nbgrader_config.py").read_bytes()
    digest = hashlib.sha256()
    for part in (course_id, assignment, config, gradebook, repr(sorted(trusted.items()))):
        digest.update(part if isinstance(part, bytes) else part.encode())
    for rel in sorted(release):
        digest.update(rel.encode())
        digest.update(release[rel])
    return CourseBundle(course_id, assignment, config, release, gradebook, trusted,
                        digest.hexdigest()[:16])


def pack_submission(folder: Path, student: str, assignment: str) -> SubmissionPack:
    """Read ``folder`` as untrusted input: never follow a link, never open a FIFO or device,
    never read more than MAX_SUBMISSION_BYTES."""
    pack = SubmissionPack(student, assignment)
    budget = MAX_SUBMISSION_BYTES
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            names = sorted(os.listdir(folder / rel_dir if rel_dir else folder))
        except OSError as err:
            pack.problems.append(f"folder {rel_dir or '.'} unreadable ({err.strerror})")
            continue
        for name in names:
            if len(pack.entries) >= MAX_ENTRIES:
                pack.problems.append(f"more than {MAX_ENTRIES} files submitted; the rest ignored")
                return pack
            rel = f"{rel_dir}/{name}" if rel_dir else name
            path = folder / rel
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                pack.entries[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                pack.entries[rel] = ("dir", "")
                stack.append(rel)
            elif stat.S_ISFIFO(info.st_mode):
                pack.entries[rel] = ("fifo", "")
            elif not stat.S_ISREG(info.st_mode):
                pack.entries[rel] = ("special", stat.filemode(info.st_mode)[0])
            elif info.st_size > min(budget, MAX_NOTEBOOK_BYTES):
                pack.entries[rel] = ("big", info.st_size)
            else:
                try:
                    data = _read_regular(path, min(budget, MAX_NOTEBOOK_BYTES))
                except ValueError:  # replaced by a link or grown since the lstat
                    pack.entries[rel] = ("big", info.st_size)
                    continue
                except OSError as err:
                    pack.problems.append(f"{rel} unreadable ({err.strerror})")
                    continue
                budget -= len(data)
                pack.entries[rel] = ("file", data)
    return pack


# ---------------------------------------------------------------------------------------
# unpacking and grading (the worker)

# nbgrader, the root logger and the kernel's scratch folders are per process: one grading
# at a time in a process, whatever the number of threads a Dask worker runs
_ONE_AT_A_TIME = threading.Lock()


def _unpack_submission(pack: SubmissionPack, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for rel, (kind, value) in sorted(pack.entries.items()):
        path = dest / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "file":
            path.write_bytes(value)
        elif kind == "link":
            os.symlink(str(value), path)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "big":  # sparse: the worker's size checks refuse it, no disk is used
            with open(path, "wb") as fh:
                fh.truncate(int(value))
        # other special files are left out: the worker's checks find them missing


def _unpack_course(bundle: CourseBundle, root: Path) -> None:
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_bytes(bundle.config)
    (root / "gradebook.db").write_bytes(bundle.gradebook)
    release = root / "release" / bundle.assignment
    for rel, data in bundle.release.items():
        path = release / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _read_dir(path: str | None, keep=lambda name: True) -> dict[str, bytes] | None:
    if not path or not Path(path).is_dir():
        return None
    return {p.name: p.read_bytes() for p in sorted(Path(path).iterdir())
            if p.is_file() and keep(p.name)}


def grade_packed(bundle: CourseBundle, pack: SubmissionPack, *, sandbox: bool,
                 memory: int) -> Result:
    """Grade one packed submission here; never raises (a failure is ``result.infra``).

    ``sandbox`` True requires bubblewrap on this machine: without it the grading fails as
    an infrastructure error (retried elsewhere, then reported), never runs unsandboxed.
    """
    from course.grade import _grade_one

    with _ONE_AT_A_TIME:
        scratch = Path(tempfile.mkdtemp(prefix=f"course-grade-{os.getpid()}-"))
        try:
            root = scratch / "root"
            _unpack_course(bundle, root)
            _unpack_submission(pack, root / "submitted" / pack.student / pack.assignment)
            job_dir = scratch / "job"
            job_dir.mkdir()
            job = Job(root=root, student=pack.student, assignment=pack.assignment,
                      scratch=job_dir, lib=root / "release" / pack.assignment / "lib",
                      snapshot=root / "gradebook.db", trusted=bundle.trusted,
                      course_id=bundle.course_id, sandbox=sandbox, memory=memory)
            result = _grade_one(job)
            result.flags[:0] = [p for p in pack.problems if p not in result.flags]
            if not result.infra:
                result.files["autograded"] = _read_dir(
                    result.autograded_dir,
                    lambda n: n.endswith(".ipynb") or n in AUTOGRADED_KEEP)
                result.files["feedback"] = _read_dir(result.feedback_dir)
            result.autograded_dir = result.feedback_dir = None
            result.worker = f"{os.uname().nodename}:{os.getpid()}"
            return result
        except Exception as err:  # unpacking failed: the worker's problem, not the student's
            return Result(pack.student, pack.assignment, infra=True,
                          error=f"worker could not set up the grading ({type(err).__name__}: "
                                f"{err})")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
