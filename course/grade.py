"""``course grade``: autograde submissions with nbgrader, sandboxed, and export grades.

A thin layer over nbgrader's ``Autograde`` and ``GenerateFeedback`` converters. What it adds:

- each submission is autograded in a scratch copy of the course holding only that
  submission's notebook, a snapshot of the gradebook and the trusted student edition of
  ``lib`` (``release/<id>/lib/``), so student code never sees ``source/``, the gradebook,
  other submissions or a ``lib/`` of its own;
- the kernel runs in bubblewrap (:mod:`course.sandbox`), with a per-cell and a
  whole-notebook time limit; a dead kernel costs only the cells it did not run;
- the results are copied into the real gradebook by this process alone, one submission at
  a time, so parallel workers never write it and a kill at any moment leaves it consistent
  (a rerun regrades everything and converges);
- integrity flags (:mod:`course.scan`) and grading problems go to a ``flags`` column of
  ``grades.csv`` and to nbgrader's ``flagged`` mark;
- feedback HTML without the hidden tests' source or tracebacks (nbgrader #1363, #917).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import io
import logging
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path

from course.execute import NOT_SANDBOXED  # noqa: F401 - re-exported for callers
from course.feedback import PREPROCESSORS as FEEDBACK
from course.feedback import FeedbackExporter
from course.gradebook import (  # noqa: F401 - re-exported for callers
    GradeError,
    backup_gradebook,
    check_gradebook,
    commit,
    export_csv,
    read_flags,
    snapshot,
)
from course.submission import (  # noqa: F401 - re-exported for callers
    Job,
    Result,
    load_gradebook_cells,
    prepare,
    restore_metadata,
)

log = logging.getLogger("course.grade")



def _trusted_execute(config):
    """The TrustedExecute class, after checking that the course's configuration uses it.

    ``course grade`` grades through the configured nbgrader pipeline (so that it and
    ``nbgrader autograde`` agree); a configuration that still names nbgrader's own Execute
    would run the tests in the student's kernel, and is refused.
    """
    from course.execute import TrustedExecute

    names = [p if isinstance(p, str) else f"{p.__module__}.{p.__name__}"
             for p in config.Autograde.get("autograde_preprocessors", [])]
    if "course.execute.TrustedExecute" not in names:
        raise GradeError(
            "nbgrader_config.py must set c.Autograde.autograde_preprocessors with "
            "course.execute.TrustedExecute in place of nbgrader's Execute (see the course's "
            "nbgrader_config.py)"
        )
    return TrustedExecute


# ---------------------------------------------------------------------------------------
# configuration


def _load_config(root: Path):
    """The course's configuration (course.workspace.load_config), as a GradeError if absent."""
    from course.workspace import load_config

    try:
        return load_config(root)
    except FileNotFoundError as err:
        raise GradeError(f"{err}: grade in a course root where `course release` ran") from err


def _course_id(config) -> str:
    return config.CourseDirectory.get("course_id", "default_course")


def _parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 2G or 512M)")
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[match.group(2).upper()]
    return int(float(match.group(1)) * scale)


# ---------------------------------------------------------------------------------------
# one submission (runs in a worker process)


def _without_session_noise(fn):
    """Silence SQLAlchemy's "not in session" autoflush warnings while ``fn`` runs.

    nbgrader's gradebook API trips them on every submission: noise that buries the progress
    bar, not a lost write (tests/test_grade.py compares the gradebook with an uninterrupted
    run). Applied in the main process and in each grading worker.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not in session.*")
            return fn(*args, **kwargs)

    return wrapper


@_without_session_noise
def _grade_one(job: Job) -> Result:
    """Autograde one submission in its scratch course; never raises."""
    start = time.monotonic()
    result = Result(job.student, job.assignment)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(name)s %(levelname)s] %(message)s"))
    root_logger = logging.getLogger()
    root_logger.addHandler(handler)
    try:
        _grade_one_inner(job, result)
    except Exception as err:  # a bug or an environment problem: report, don't stop others
        logging.getLogger("course.grade").exception("grading failed")
        result.error = result.error or f"grading failed ({type(err).__name__}: {err})"
        result.infra = True
    finally:
        root_logger.removeHandler(handler)
    result.log = stream.getvalue()
    result.seconds = time.monotonic() - start
    return result


def _grade_one_inner(job: Job, result: Result) -> None:
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    course = job.scratch / "course"
    notebook = prepare(job, result)
    if notebook is None:
        return
    # the released notebooks: SanitizeSubmission compares locked cells with them
    released = course / "release" / job.assignment
    released.mkdir(parents=True)
    for name in job.trusted:
        shutil.copy(job.root / "release" / job.assignment / f"{name}.ipynb", released)
    (course / "source" / job.assignment).mkdir(parents=True)
    db = course / "gradebook.db"
    shutil.copy(job.snapshot, db)
    db_url = f"sqlite:///{db}"

    config = _load_config(job.root)
    _trusted_execute(config)
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = db_url
    config.CourseDirectory.course_id = job.course_id
    config.CourseDirectory.assignment_id = job.assignment
    config.CourseDirectory.student_id = job.student
    config.Autograde.force = True
    config.Autograde.create_student = True
    config.OverwriteCells.add_missing_cells = True
    config.TrustedExecute.lib_dir = str(job.lib)
    config.TrustedExecute.sandbox = "bwrap" if job.sandbox else "none"
    config.TrustedExecute.memory = job.memory
    config.GenerateFeedback.exporter_class = FeedbackExporter
    workdir = course / "autograded" / job.student / job.assignment

    coursedir = CourseDirectory(config=config)
    autograde = Autograde(coursedir=coursedir, config=config)
    autograde.log = logging.getLogger("nbgrader.autograde")
    autograde.log.setLevel(logging.INFO)
    try:
        autograde.start()
    except Exception as err:
        result.error = f"nbgrader could not autograde it ({type(err).__name__}: {err})"
        result.infra = True
        return

    with Gradebook(db_url, job.course_id) as gb:
        pipeline = read_flags(gb).get((job.student, job.assignment), "")
        result.flags += [f for f in pipeline.split("; ") if f and f not in result.flags]
        submission = gb.find_submission(job.assignment, job.student)
        result.timestamp = submission.timestamp.isoformat() if submission.timestamp else None
        for nb in submission.notebooks:
            result.late_penalty[nb.name] = nb.late_submission_penalty
            for grade in nb.grades:
                result.grades[grade.name] = (grade.auto_score, bool(grade.needs_manual_grade))
            for comment in nb.comments:
                result.comments[comment.name] = comment.auto_comment
    result.autograded_dir = str(workdir)

    feedback = GenerateFeedback(coursedir=coursedir, config=config)
    feedback.preprocessors = list(FEEDBACK)
    feedback.force = True
    feedback.log = logging.getLogger("nbgrader.feedback")
    try:
        feedback.start()
        result.feedback_dir = str(course / "feedback" / job.student / job.assignment)
    except Exception as err:
        result.flags.append(f"feedback not generated ({type(err).__name__})")


# ---------------------------------------------------------------------------------------
# the run


def _install_dir(src: Path, dest: Path, *, keep=lambda p: True) -> None:
    """Replace ``dest`` with a copy of ``src`` (only files ``keep`` accepts), atomically enough
    that a kill leaves either the old or the new folder plus a leftover a rerun removes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.new")
    old = dest.with_name(f".{dest.name}.old")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    tmp.mkdir()
    for path in src.iterdir():
        if path.is_file() and keep(path):
            shutil.copy(path, tmp / path.name)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    if old.exists():
        shutil.rmtree(old)


def _remove_dir(dest: Path) -> None:
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        if old.exists():
            shutil.rmtree(old)
        dest.rename(old)
        shutil.rmtree(old)


def _clean_stale_scratch() -> None:
    for path in Path(tempfile.gettempdir()).glob("course-grade-*"):
        match = re.match(r"course-grade-(\d+)-", path.name)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _find_students(root: Path, assignment: str) -> list[str]:
    base = root / "submitted"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())


@_without_session_noise
def grade(
    root: Path,
    assignments: list[str],
    students: list[str] | None = None,
    *,
    sandbox: bool | None = None,
    jobs: int = 2,
    memory: int = 2 * 1024**3,
    progress: bool = True,
) -> list[dict]:
    """Autograde ``submitted/<student>/<id>/`` for each id in ``assignments``.

    Returns one dict per (student, assignment): ``student``, ``assignment``, ``score``,
    ``max_score``, ``flags`` ('' when fine), ``tests`` ({grade_id: (score, max_score)}),
    ``error`` (None, or why nothing could be graded) and ``seconds``. Writes the gradebook,
    ``autograded/``, ``feedback/`` and ``grades.csv`` under ``root``; raises GradeError
    before writing anything if the gradebook is missing, corrupt or locked.
    """
    from course import sandbox as sb

    root = Path(root).resolve()
    config = _load_config(root)
    _trusted_execute(config)
    course_id = _course_id(config)
    db = root / "gradebook.db"
    db_url = f"sqlite:///{db}"
    check_gradebook(db)

    bwrap = None
    if sandbox is not False:
        bwrap = sb.bwrap_path()
        if bwrap is None:
            if sandbox:
                raise GradeError("bubblewrap (bwrap) is not available: install `bubblewrap`")
            log.warning(
                "\n" + "!" * 78 + "\n!! bubblewrap (bwrap) is not available: student code runs "
                "UNSANDBOXED,\n!! with your rights. Install the `bubblewrap` package. Every "
                "grade is flagged.\n" + "!" * 78
            )
    use_sandbox = bwrap is not None

    trusted_by_assignment = {}
    for assignment in assignments:
        lib = root / "release" / assignment / "lib"
        if not lib.is_dir():
            raise GradeError(f"no student edition {lib}: run `course release {assignment}`")
        try:
            trusted_by_assignment[assignment] = load_gradebook_cells(
                root, db_url, course_id, assignment
            )
        except Exception as err:
            raise GradeError(
                f"assignment {assignment} is not in the gradebook: run `course release "
                f"{assignment}` ({err})"
            ) from err

    backup = backup_gradebook(db)
    log.info("gradebook backed up to %s", backup.name)
    _clean_stale_scratch()
    scratch_root = Path(tempfile.mkdtemp(prefix=f"course-grade-{os.getpid()}-"))
    results: list[Result] = []
    try:
        snap = scratch_root / "snapshot.db"
        snapshot(db, snap)
        job_list = []
        for assignment in assignments:
            who = students if students else _find_students(root, assignment)
            for student in who:
                scratch = scratch_root / str(len(job_list))
                scratch.mkdir()
                job_list.append(
                    Job(
                        root=root,
                        student=student,
                        assignment=assignment,
                        scratch=scratch,
                        lib=root / "release" / assignment / "lib",
                        snapshot=snap,
                        trusted=trusted_by_assignment[assignment],
                        course_id=course_id,
                        sandbox=use_sandbox,
                        memory=memory,
                        bwrap=bwrap,
                    )
                )
        results = _run_jobs(job_list, root, db_url, course_id, jobs, progress)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    export_csv(root, db_url, course_id)
    return _summaries(results, db_url, course_id)


INFRA_ATTEMPTS = 3  # gradings of one submission before an infrastructure failure is reported


def _run_jobs(job_list, root, db_url, course_id, jobs, progress) -> list[Result]:
    from nbgrader.api import Gradebook
    from tqdm import tqdm

    results = []
    bar = tqdm(
        total=len(job_list), desc="grading", unit="nb", disable=not progress, file=sys.stderr
    )
    pending, attempt = list(job_list), 1
    with Gradebook(db_url, course_id) as gb, open(root / "grade.log", "a") as logf:
        while pending:
            retry = []
            for job, result in _run_round(pending, jobs):
                if result.infra and attempt < INFRA_ATTEMPTS:
                    log.warning("%s/%s: %s; grading it again", job.student, job.assignment,
                                result.error)
                    retry.append(job)
                    continue
                _record(gb, logf, root, job, result)
                results.append(result)
                bar.update()
            for job in retry:  # a fresh scratch folder for the next attempt
                shutil.rmtree(job.scratch, ignore_errors=True)
                job.scratch.mkdir()
            pending, attempt = retry, attempt + 1
    bar.close()
    return results


def _run_round(job_list, jobs):
    """Yield (job, result) as the gradings finish, in a fresh pool of worker processes."""
    # a fork server that has imported nbgrader once: workers start without re-importing it
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["course.grade", "course.execute", "course.sandbox",
                                    "course.scan", "nbgrader.converters", "nbgrader.api",
                                    "nbclient"])
    with cf.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=context) as pool:
        futures = {pool.submit(_grade_one, job): job for job in job_list}
        for future in cf.as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except Exception as err:  # the worker itself died (out of memory, killed)
                result = Result(job.student, job.assignment, infra=True,
                                error=f"grading worker died ({type(err).__name__}: {err})")
            yield job, result


def _record(gb, logf, root, job, result) -> None:
    """Commit one result to the gradebook, install its files, log it."""
    if result.error:
        unchanged = "; its grades are unchanged, rerun `course grade`" if result.infra else ""
        result.flags.insert(0, f"not graded: {result.error}{unchanged}")
    commit(gb, result)
    dest = root / "autograded" / job.student / job.assignment
    fb_dest = root / "feedback" / job.student / job.assignment
    if not result.infra:
        if result.autograded_dir:
            _install_dir(Path(result.autograded_dir), dest,
                         keep=lambda p: p.suffix == ".ipynb"
                         or p.name in ("timestamp.txt", "submission_secret.txt"))
        else:
            _remove_dir(dest)
        if result.feedback_dir and Path(result.feedback_dir).is_dir():
            _install_dir(Path(result.feedback_dir), fb_dest)
        else:
            _remove_dir(fb_dest)
    logf.write(
        f"=== {datetime.now().isoformat(timespec='seconds')} {job.student} "
        f"{job.assignment} ({result.seconds:.1f} s)\n"
    )
    logf.write(f"flags: {'; '.join(result.flags) or '-'}\n{result.log}\n")
    logf.flush()
    if result.flags:
        log.warning("%s/%s: %s", job.student, job.assignment, "; ".join(result.flags))


def _summaries(results: list[Result], db_url: str, course_id: str) -> list[dict]:
    from nbgrader.api import Gradebook

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


# ---------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="assignments (default: all assignments with submissions)",
    )
    parser.add_argument("--student", action="append", help="only this student (repeatable)")
    parser.add_argument(
        "--no-sandbox", action="store_true", help="run student code without bubblewrap (flagged)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel")
    parser.add_argument(
        "--memory",
        type=_parse_size,
        default="2G",
        help="address-space limit of a kernel (default 2G)",
    )


def _default_assignments(root: Path) -> list[str]:
    base = root / "submitted"
    found = (
        {p.name for s in base.iterdir() if s.is_dir() for p in s.iterdir() if p.is_dir()}
        if base.is_dir()
        else set()
    )
    try:
        from course.cli import ASSIGNMENTS
    except ImportError:
        ASSIGNMENTS = ()
    return [a for a in ASSIGNMENTS if a in found] + sorted(found - set(ASSIGNMENTS))


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    root = Path(getattr(args, "root", ".")).resolve()
    assignments = args.ids or _default_assignments(root)
    if not assignments:
        print(f"nothing to grade: no submissions under {root / 'submitted'}", file=sys.stderr)
        return 1
    try:
        rows = grade(
            root,
            assignments,
            args.student,
            sandbox=False if args.no_sandbox else None,
            jobs=args.jobs,
            memory=args.memory,
        )
    except GradeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary_table(rows))
    print(
        f"\ngrades: {root / 'grades.csv'}\nfeedback: {root / 'feedback'}/<student>/<id>/"
        f"\nlog: {root / 'grade.log'}"
    )
    attention = [r for r in rows if r["flags"]]
    if attention:
        print(f"\n{len(attention)} submission(s) need attention (see flags)", file=sys.stderr)
    return 1 if attention else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course grade")
    parser.add_argument("--root", default=".")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
