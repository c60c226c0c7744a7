"""What every grading of one assignment needs, as plain data (:class:`CourseBundle`), and the
worker's side of a job (:func:`grade_packed`).

A bundle is shared by every submission of one assignment: the course's
``nbgrader_config.py``, ``release/<id>/`` (the released notebooks and the trusted student
edition of ``lib``), a *slim* copy of the gradebook (the assignment's definition, no student
and no grade) and the gradebook's trusted cells. :func:`grade_packed` unpacks a bundle and a
:class:`~course.intake.pack.SubmissionPack` into a scratch course root on the worker, grades
it on the trusted, sandboxed path (:func:`course.grading.one.grade_one`) and returns a
:class:`~course.intake.job.Result` whose ``files`` carry the autograded notebook and the
feedback back. Nothing else crosses: the worker needs this package installed (with
bubblewrap), not the course's files, and the gradebook is written only by the process that
collects the results.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from course.grading.gradebook import QUEUE_TABLE, snapshot
from course.grading.one import grade_one
from course.intake.job import Job, Result
from course.intake.pack import SubmissionPack, unpack_submission
from course.nbgrader_ext.flags import FLAGS_TABLE

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


def slim_gradebook(db: Path, target: Path) -> None:
    """A copy of gradebook ``db`` at ``target`` with every student, submission, grade and
    comment removed: what a worker needs to autograde (the assignments, notebooks, cells and
    due dates) and nothing about anyone."""

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

# nbgrader, the root logger and the kernel's scratch folders are per process: one grading
# at a time in a process, whatever the number of threads a Dask worker runs
_ONE_AT_A_TIME = threading.Lock()


def unpack_course(bundle: CourseBundle, root: Path) -> None:
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

    with _ONE_AT_A_TIME:
        scratch = Path(tempfile.mkdtemp(prefix=f"course-grade-{os.getpid()}-"))
        try:
            root = scratch / "root"
            unpack_course(bundle, root)
            unpack_submission(pack, root / "submitted" / pack.student / pack.assignment)
            job_dir = scratch / "job"
            job_dir.mkdir()
            job = Job(root=root, student=pack.student, assignment=pack.assignment,
                      scratch=job_dir, lib=root / "release" / pack.assignment / "lib",
                      snapshot=root / "gradebook.db", trusted=bundle.trusted,
                      course_id=bundle.course_id, sandbox=sandbox, memory=memory)
            result = grade_one(job)
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
