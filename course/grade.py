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


def _install_files(files: dict[str, bytes], dest: Path) -> None:
    """Replace the folder ``dest`` with ``files`` (name -> bytes), atomically enough that a
    kill leaves either the old or the new folder plus a leftover that the next run removes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.new")
    old = dest.with_name(f".{dest.name}.old")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    tmp.mkdir()
    for name, data in files.items():
        (tmp / Path(name).name).write_bytes(data)
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
    from course.serve import running
    from course.workers import make_workers

    root = Path(root).resolve()
    if running(root):
        raise GradeError(
            "course serve is running on this course and grades submissions as they arrive: "
            "stop it first (two graders would overwrite each other's newer grades)")
    course = OpenCourse(root, assignments)
    use_sandbox = _sandbox_choice(sandbox, remote=scheduler is not None)
    backup = backup_gradebook(course.db)
    log.info("gradebook backed up to %s", backup.name)
    _clean_stale_scratch()
    bundles = course.bundles()
    tasks = []
    for assignment in assignments:
        who = students if students else _find_students(root, assignment)
        tasks += [(s, assignment) for s in who]
    try:
        workers = make_workers(jobs, scheduler)
    except Exception as err:
        raise GradeError(f"cannot reach the Dask scheduler {scheduler}: {err}") from err
    log.info("grading %d submission(s) on %s", len(tasks), workers.describe())
    try:
        results = _run_jobs(tasks, bundles, workers, course, progress,
                            {"sandbox": use_sandbox, "memory": memory})
    finally:
        workers.close()
    export_csv(root, course.db_url, course.course_id)
    return _summaries(results, course.db_url, course.course_id)


class OpenCourse:
    """A checked course root: its configuration, gradebook and the trusted cells of the
    assignments to grade (GradeError if any is missing)."""

    def __init__(self, root: Path, assignments: list[str]):
        self.root = root
        config = _load_config(root)
        _trusted_execute(config)
        self.course_id = _course_id(config)
        self.db = root / "gradebook.db"
        self.db_url = f"sqlite:///{self.db}"
        check_gradebook(self.db)
        self.trusted = {}
        for assignment in assignments:
            self.add(assignment)

    def add(self, assignment: str) -> None:
        lib = self.root / "release" / assignment / "lib"
        if not lib.is_dir():
            raise GradeError(f"no student edition {lib}: run `course release {assignment}`")
        try:
            self.trusted[assignment] = load_gradebook_cells(
                self.root, self.db_url, self.course_id, assignment)
        except Exception as err:
            raise GradeError(
                f"assignment {assignment} is not in the gradebook: run `course release "
                f"{assignment}` ({err})"
            ) from err

    def bundles(self) -> dict:
        """assignment -> course.jobs.CourseBundle (with a slim copy of the gradebook)."""
        from course.jobs import pack_course, slim_gradebook

        with tempfile.TemporaryDirectory(prefix="course-slim-") as tmp:
            slim = Path(tmp) / "slim.db"
            slim_gradebook(self.db, slim)
            data = slim.read_bytes()
        return {a: pack_course(self.root, a, self.course_id, t, data)
                for a, t in self.trusted.items()}



def _sandbox_choice(sandbox: bool | None, *, remote: bool) -> bool:
    """Whether gradings require bubblewrap. Locally: if it works here (a warning and flagged
    grades otherwise); on a cluster: always, unless ``sandbox`` is False."""
    from course import sandbox as sb

    if sandbox is False:
        return False
    if remote:
        return True
    if sb.bwrap_path() is not None:
        return True
    if sandbox:
        raise GradeError("bubblewrap (bwrap) is not available: install `bubblewrap`")
    log.warning(
        "\n" + "!" * 78 + "\n!! bubblewrap (bwrap) is not available: student code runs "
        "UNSANDBOXED,\n!! with your rights. Install the `bubblewrap` package. Every "
        "grade is flagged.\n" + "!" * 78
    )
    return False


INFRA_ATTEMPTS = 3  # gradings of one submission before an infrastructure failure is reported


def pack(root: Path, student: str, assignment: str):
    """The SubmissionPack of ``submitted/<student>/<assignment>/``, or a Result saying why
    there is nothing to grade."""
    from course.jobs import pack_submission

    folder = root / "submitted" / student / assignment
    if not folder.is_dir() or folder.is_symlink():
        return Result(student, assignment,
                      error=f"no submission folder {folder.relative_to(root)}")
    return pack_submission(folder, student, assignment)


def run_one(workers, bundle, sub, options) -> cf.Future:
    """Hand one grading to ``workers``; a submit that fails is a failed future."""
    try:
        return workers.submit(bundle, sub, **options)
    except Exception as err:  # a dead scheduler, a broken pool
        future: cf.Future = cf.Future()
        future.set_exception(err)
        return future


def outcome(future: cf.Future, student: str, assignment: str) -> Result:
    """The Result of a finished grading future (an infrastructure failure if it raised)."""
    try:
        return future.result()
    except Exception as err:  # the worker itself died (out of memory, killed, lost)
        return Result(student, assignment, infra=True,
                      error=f"grading worker died ({type(err).__name__}: {err})")


def _run_jobs(tasks, bundles, workers, course, progress, options) -> list[Result]:
    from nbgrader.api import Gradebook
    from tqdm import tqdm

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
                    _record(gb, logf, root, sub)
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
                _record(gb, logf, root, result)
                results.append(result)
                bar.update()
            pending, attempt = retry, attempt + 1
    bar.close()
    return results


def _record(gb, logf, root, result, *, install: bool = True) -> None:
    """Commit one result to the gradebook, install its files, log it."""
    if result.error:
        unchanged = "; its grades are unchanged, rerun `course grade`" if result.infra else ""
        result.flags.insert(0, f"not graded: {result.error}{unchanged}")
    commit(gb, result)
    if install:
        install_files(root, result)
    log_result(logf, result)


def install_files(root: Path, result: Result) -> None:
    """``autograded/`` and ``feedback/`` of the result's student and assignment (an
    infrastructure failure leaves both as they were)."""
    if result.infra:
        return
    dest = root / "autograded" / result.student / result.assignment
    fb_dest = root / "feedback" / result.student / result.assignment
    for files, target in ((result.files.get("autograded"), dest),
                          (result.files.get("feedback"), fb_dest)):
        if files:
            _install_files(files, target)
        else:
            _remove_dir(target)


def log_result(logf, result: Result, note: str = "") -> None:
    where = f" on {result.worker}" if result.worker else ""
    logf.write(
        f"=== {datetime.now().isoformat(timespec='seconds')} {result.student} "
        f"{result.assignment} ({result.seconds:.1f} s{where}){note}\n"
    )
    logf.write(f"flags: {'; '.join(result.flags) or '-'}\n{result.log}\n")
    logf.flush()
    if result.flags:
        log.warning("%s/%s: %s", result.student, result.assignment, "; ".join(result.flags))


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
    parser.add_argument("--jobs", type=int, default=2,
                        help="submissions graded in parallel on this machine (default 2)")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="grade on the workers of a Dask distributed scheduler (tcp://host:8786, or "
             "tls://...); each worker needs this package and bubblewrap")
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
            scheduler=args.scheduler,
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
