"""``course grade``'s work: autograde every ``submitted/<student>/<id>/`` of a course root on
local worker processes or a Dask cluster, record the results, export ``grades.csv``.

A thin layer over nbgrader's ``Autograde`` and ``GenerateFeedback`` converters. What it adds:

- each submission is autograded in a scratch copy of the course holding only that
  submission's notebook, a snapshot of the gradebook and the trusted student edition of
  ``lib`` (``release/<id>/lib/``), so student code never sees ``source/``, the gradebook,
  other submissions or a ``lib/`` of its own;
- the kernel runs in bubblewrap (:mod:`course.isolation.sandbox`), with a per-cell and a
  whole-notebook time limit; a dead kernel costs only the cells it did not run;
- the results are copied into the real gradebook by this process alone, one submission at
  a time, so parallel workers never write it and a kill at any moment leaves it consistent
  (a rerun regrades everything and converges);
- integrity flags (:mod:`course.intake.scan`) and grading problems go to a ``flags`` column
  of ``grades.csv`` and to nbgrader's ``flagged`` mark;
- feedback HTML without the hidden tests' source or tracebacks (nbgrader #1363, #917).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from nbgrader.api import Gradebook
from tqdm import tqdm

from course.errors import GradeError
from course.grading.course import OpenCourse, find_students, sandbox_choice
from course.grading.gradebook import backup_gradebook, export_csv
from course.grading.lock import service_running
from course.grading.one import without_session_noise
from course.grading.record import INFRA_ATTEMPTS, outcome, record, run_one
from course.grading.workers import make_workers
from course.intake.job import Result
from course.intake.pack import pack_submission

log = logging.getLogger("course.grade")


def clean_stale_scratch() -> None:
    for path in Path(tempfile.gettempdir()).glob("course-grade-*"):
        match = re.match(r"course-grade-(\d+)-", path.name)
        if match and not pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _warm(workers) -> None:
    """Start the workers' processes (a failure shows when the first grading is sent)."""
    try:
        workers.warm()
    except Exception as err:  # closed meanwhile, or the processes do not start
        log.debug("the workers were not started ahead: %s", err)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@without_session_noise
def grade(
    root: Path,
    assignments: list[str],
    students: list[str] | None = None,
    *,
    sandbox: bool | None = None,
    jobs: int = 2,
    memory: int = 2 * 1024**3,
    progress: bool = True,
    scheduler: str | None = None,
) -> list[dict]:
    """Autograde ``submitted/<student>/<id>/`` for each id in ``assignments``.

    Returns one dict per (student, assignment): ``student``, ``assignment``, ``score``,
    ``max_score``, ``flags`` ('' when fine), ``tests`` ({grade_id: (score, max_score)}),
    ``error`` (None, or why nothing could be graded) and ``seconds``. Writes the gradebook,
    ``autograded/``, ``feedback/`` and ``grades.csv`` under ``root``; raises GradeError
    before writing anything if the gradebook is missing, corrupt or locked.

    The gradings run in ``jobs`` processes of this machine, or on the workers of the Dask
    scheduler at ``scheduler`` (course.workers); this process alone writes the gradebook.
    """

    root = Path(root).resolve()
    if service_running(root):
        raise GradeError(
            "course serve is running on this course and grades submissions as they arrive: "
            "stop it first (two graders would overwrite each other's newer grades)")
    course = OpenCourse(root, assignments)
    use_sandbox = sandbox_choice(sandbox, remote=scheduler is not None)
    tasks = []
    for assignment in assignments:
        who = students if students else find_students(root, assignment)
        tasks += [(s, assignment) for s in who]
    try:
        workers = make_workers(jobs, scheduler)
    except Exception as err:
        raise GradeError(f"cannot reach the Dask scheduler {scheduler}: {err}") from err
    try:
        if tasks:  # the worker processes start (about 2 s of imports) while this one prepares
            threading.Thread(target=_warm, args=(workers,), name="course-warm-workers",
                             daemon=True).start()
        backup = backup_gradebook(course.db)
        log.info("gradebook backed up to %s", backup.name)
        clean_stale_scratch()
        bundles = course.bundles()
        log.info("grading %d submission(s) on %s", len(tasks), workers.describe())
        results = run_jobs(tasks, bundles, workers, course, progress,
                           {"sandbox": use_sandbox, "memory": memory})
    finally:
        workers.close()
    export_csv(root, course.db_url, course.course_id)
    return summaries(results, course.db_url, course.course_id)


def pack(root: Path, student: str, assignment: str):
    """The SubmissionPack of ``submitted/<student>/<assignment>/``, or a Result saying why
    there is nothing to grade."""

    folder = root / "submitted" / student / assignment
    if not folder.is_dir() or folder.is_symlink():
        return Result(student, assignment,
                      error=f"no submission folder {folder.relative_to(root)}")
    return pack_submission(folder, student, assignment)


def run_jobs(tasks, bundles, workers, course, progress, options) -> list[Result]:
    results = []
    bar = tqdm(total=len(tasks), desc="grading", unit="nb", disable=not progress,
               file=sys.stderr)
    root = course.root
    pending, attempt = list(tasks), 1
    with Gradebook(course.db_url, course.course_id) as gb, open(root / "grade.log", "a") as logf:
        while pending:
            retry = []
            futures = {}
            for student, assignment in pending:
                sub = pack(root, student, assignment)
                if isinstance(sub, Result):
                    record(gb, logf, root, sub)
                    results.append(sub)
                    bar.update()
                    continue
                futures[run_one(workers, bundles[assignment], sub, options)] = (student,
                                                                                assignment)
            for future in cf.as_completed(futures):
                student, assignment = futures[future]
                result = outcome(future, student, assignment)
                if result.infra and attempt < INFRA_ATTEMPTS:
                    log.warning("%s/%s: %s; grading it again", student, assignment,
                                result.error)
                    retry.append((student, assignment))
                    continue
                record(gb, logf, root, result)
                results.append(result)
                bar.update()
            pending, attempt = retry, attempt + 1
    bar.close()
    return results


def summaries(results: list[Result], db_url: str, course_id: str) -> list[dict]:
    out = []
    with Gradebook(db_url, course_id) as gb:
        for r in sorted(results, key=lambda r: (r.assignment, r.student)):
            submission = gb.find_submission(r.assignment, r.student)
            tests = {}
            for nb in submission.notebooks:
                for g in nb.grades:
                    if g.auto_score is not None or g.manual_score is not None:
                        tests[g.name] = (float(g.score), float(g.max_score))
            out.append(
                {
                    "student": r.student,
                    "assignment": r.assignment,
                    "score": float(submission.score),
                    "max_score": float(submission.max_score),
                    "flags": "; ".join(r.flags),
                    "tests": tests,
                    "error": r.error,
                    "seconds": r.seconds,
                }
            )
    return out


def summary_table(rows: list[dict]) -> str:
    lines = [f"{'student':<16} {'assignment':<22} {'score':>11}  flags"]
    for r in rows:
        score = f"{r['score']:g} / {r['max_score']:g}"
        lines.append(f"{r['student']:<16} {r['assignment']:<22} {score:>11}  {r['flags']}")
    return "\n".join(lines)
