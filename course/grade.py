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
import csv
import functools
import io
import logging
import multiprocessing
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

log = logging.getLogger("course.grade")

NOT_SANDBOXED = "not sandboxed"
BACKUPS_KEPT = 20
DEFAULT_NOTEBOOK_TIMEOUT = 600
DEFAULT_MAX_OUTPUT = 1_000_000  # characters of output kept per notebook while executing
FLAGS_TABLE = "course_flags"
# files next to the notebook that could shadow a module for the tests
_SHADOWING = re.compile(r"(\.py|\.pth|\.so|\.pyc)$|^(lib|numpy|sitecustomize|usercustomize)$")


class GradeError(Exception):
    """A problem that stops grading before anything is written."""


# ---------------------------------------------------------------------------------------
# results


@dataclass
class Result:
    student: str
    assignment: str
    flags: list[str] = field(default_factory=list)
    error: str | None = None  # why nothing could be graded
    # the error is the grader's, not the submission's (a kernel that would not start, a
    # worker that died): retried, then reported, never recorded as the student's 0
    infra: bool = False
    timestamp: str | None = None
    late_penalty: dict[str, float | None] = field(default_factory=dict)  # notebook -> penalty
    grades: dict[str, tuple[float | None, bool]] = field(default_factory=dict)
    comments: dict[str, str | None] = field(default_factory=dict)
    autograded_dir: str | None = None  # scratch dir with the autograded notebook
    feedback_dir: str | None = None
    log: str = ""
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------
# the execute preprocessor: time limits, dead kernels, output budget


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


def _feedback_preprocessors():
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader import utils
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor

    class HideTestTracebacks(NbGraderPreprocessor):
        """Keep only ``Error: message`` of a test cell's traceback: the frames quote the
        test's source, hidden tests included."""

        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
            return cell, resources

    return [GetGrades, ClearHiddenTests, HideTestTracebacks, CSSHTMLHeaderPreprocessor]


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
# the gradebook: checks, backup, committing one submission


def check_gradebook(db: Path) -> None:
    """Raise GradeError unless ``db`` is a readable, unlocked nbgrader gradebook."""
    if not db.exists():
        raise GradeError(f"no gradebook at {db}: run `course release` first")
    try:
        con = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=2)
        try:
            status = con.execute("PRAGMA quick_check").fetchone()[0]
            if status != "ok":
                raise GradeError(f"{db} is corrupt ({status}); restore a gradebook.db.bak-*")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            if not {"assignment", "grade", "submitted_assignment"} <= tables:
                raise GradeError(f"{db} is not an nbgrader gradebook (tables: {sorted(tables)})")
            con.execute("BEGIN IMMEDIATE")
            con.rollback()
        finally:
            con.close()
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise GradeError(
                f"{db} is locked by another process (formgrader? another `course grade`?): "
                "close it and retry"
            ) from err
        raise GradeError(f"cannot open {db}: {err}") from err
    except sqlite3.DatabaseError as err:
        raise GradeError(f"{db} is corrupt ({err}); restore a gradebook.db.bak-*") from err


def backup_gradebook(db: Path) -> Path:
    """Copy ``db`` to ``gradebook.db.bak-<timestamp>`` with sqlite's backup API."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = db.with_name(f"{db.name}.bak-{stamp}")
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    old = sorted(db.parent.glob(f"{db.name}.bak-*"))
    for stale in old[:-BACKUPS_KEPT]:
        stale.unlink()
    return target


def _snapshot(db: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _ensure_flags_table(gb) -> None:
    from sqlalchemy import text

    gb.db.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {FLAGS_TABLE} (student_id TEXT NOT NULL, "
            "assignment_id TEXT NOT NULL, flags TEXT NOT NULL, "
            "PRIMARY KEY (student_id, assignment_id))"
        )
    )


def _commit(gb, result: Result) -> None:
    """Write one submission's autograde results into the real gradebook."""
    with warnings.catch_warnings():
        # nbgrader's own update_or_create_submission trips SQLAlchemy's autoflush warnings
        warnings.simplefilter("ignore")
        _commit_inner(gb, result)


def _commit_inner(gb, result: Result) -> None:
    from nbgrader.api import MissingEntry
    from sqlalchemy import text

    try:
        gb.find_student(result.student)
    except MissingEntry:
        gb.add_student(result.student)
    kwargs = {"timestamp": result.timestamp} if result.timestamp else {}
    submission = gb.update_or_create_submission(result.assignment, result.student, **kwargs)
    flags = "; ".join(result.flags)
    for notebook in submission.notebooks:
        if result.infra:  # keep whatever the gradebook had: a rerun will grade it
            notebook.flagged = True
            continue
        for grade in notebook.grades:
            if result.error is not None:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            elif grade.name in result.grades:
                grade.auto_score, grade.needs_manual_grade = result.grades[grade.name]
        for comment in notebook.comments:
            if result.error is not None:
                comment.auto_comment = f"Not graded: {result.error}"
            elif comment.name in result.comments:
                comment.auto_comment = result.comments[comment.name]
        if result.error is None and notebook.name in result.late_penalty:
            notebook.late_submission_penalty = result.late_penalty[notebook.name]
        notebook.flagged = bool(flags)
    _ensure_flags_table(gb)
    gb.db.execute(
        text(f"INSERT OR REPLACE INTO {FLAGS_TABLE} VALUES (:s, :a, :f)"),
        {"s": result.student, "a": result.assignment, "f": flags},
    )
    gb.db.commit()


def _read_flags(gb) -> dict[tuple[str, str], str]:
    from sqlalchemy import text

    _ensure_flags_table(gb)
    rows = gb.db.execute(text(f"SELECT student_id, assignment_id, flags FROM {FLAGS_TABLE}"))
    return {(s, a): f for s, a, f in rows}


def export_csv(root: Path, db_url: str, course_id: str) -> Path:
    """``grades.csv``: nbgrader's CSV export plus a ``flags`` column."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    target = root / "grades.csv"
    tmp = root / ".grades.csv.tmp"
    with Gradebook(db_url, course_id) as gb:
        CsvExportPlugin(to=str(tmp)).export(gb)
        flags = _read_flags(gb)
        gb.db.commit()
    with open(tmp, newline="") as f:
        rows = list(csv.DictReader(f))
    fields = [*(rows[0].keys() if rows else ["assignment", "student_id"]), "flags"]
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            row["flags"] = flags.get((row["student_id"], row["assignment"]), "")
            writer.writerow(row)
    os.replace(tmp, target)
    return target


# ---------------------------------------------------------------------------------------
# preparing a submission: checks, metadata repair, static scan


def _load_gradebook_cells(root: Path, db_url: str, course_id: str, assignment: str) -> dict:
    """The trusted cells of each notebook of ``assignment``: the gradebook's, in the order of
    the released notebook."""
    import nbformat
    from nbgrader.api import Gradebook

    notebooks = {}
    with Gradebook(db_url, course_id) as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            grade = {c.name: c.max_score for c in nb.grade_cells}
            solution = {c.name for c in nb.solution_cells}
            task = {c.name: c.max_score for c in nb.task_cells}
            released = nbformat.read(
                root / "release" / assignment / f"{nb.name}.ipynb", as_version=4
            )
            ids = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in released.cells}
            ids.pop(None, None)
            notebooks[nb.name] = {
                "order": list(ids),
                "released": {g: c.source for g, c in ids.items()},
                # checksums of the released cells: the gradebook's include hidden tests
                "source": {c.name: (c.cell_type, c.locked, _checksum(ids.get(c.name)))
                           for c in nb.source_cells},
                "grade": grade,
                "solution": solution,
                "task": task,
            }
    return notebooks


def _checksum(cell) -> str | None:
    from nbgrader.utils import compute_checksum

    return None if cell is None else compute_checksum(cell)


def restore_metadata(nb, trusted: dict) -> list[str]:
    """Repair nbgrader metadata from the gradebook; return what was wrong.

    Unknown or duplicate grade ids lose their nbgrader metadata (they claim to be tests but
    are not); known cells get the gradebook's type, flags and points back. nbgrader itself
    then restores the source of locked cells and re-adds deleted ones.
    """
    from nbgrader.utils import compute_checksum

    flags: list[str] = []
    seen: list[str] = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        grade_id = meta.get("grade_id")
        if grade_id not in trusted["source"] or grade_id in seen:
            what = "duplicate" if grade_id in seen else "unknown"
            flags.append(f"extra cell claims nbgrader id {grade_id!r} ({what}); ignored")
            del cell.metadata["nbgrader"]
            continue
        seen.append(grade_id)
        cell_type, locked, checksum = trusted["source"][grade_id]
        want = {
            "grade": grade_id in trusted["grade"],
            "solution": grade_id in trusted["solution"],
            "locked": bool(locked),
            "task": grade_id in trusted["task"],
        }
        changed = [k for k, v in want.items() if bool(meta.get(k, False)) != v]
        if want["grade"] or want["task"]:
            points = trusted["grade"].get(grade_id, trusted["task"].get(grade_id))
            if float(meta.get("points", -1)) != float(points):
                changed.append("points")
            meta["points"] = points
        if changed:
            flags.append(f"nbgrader metadata of {grade_id!r} changed ({', '.join(changed)})")
        for key, value in want.items():
            meta[key] = value
        if cell.cell_type != cell_type:
            flags.append(f"cell type of {grade_id!r} changed")
        if locked and compute_checksum(cell) != checksum:
            kind = "test cell" if want["grade"] else "locked cell"
            flags.append(f"{kind} {grade_id!r} edited (restored from the gradebook)")
    missing = [g for g in trusted["order"] if g not in seen]
    for grade_id in missing:
        kind = "test cell" if grade_id in trusted["grade"] else "cell"
        flags.append(f"{kind} {grade_id!r} deleted (restored from the gradebook)")
    order = [g for g in seen if g in trusted["order"]]
    if order != [g for g in trusted["order"] if g in order]:
        flags.append("nbgrader cells moved out of order")
    return flags


def _split_sources(nb, trusted: dict) -> tuple[list[str], list[str]]:
    """(student code, trusted code): student code runs as written; locked cells are
    restored by nbgrader, so the released version of them is what runs."""
    student, locked = [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in trusted["source"] and trusted["source"][grade_id][1]:
            locked.append(trusted["released"].get(grade_id, ""))
        else:
            student.append(cell.source)
    return student, locked


def _prepare(job: Job, result: Result) -> Path | None:
    """Check the submission and write the sanitized notebook into the scratch course.

    Returns the scratch notebook, or None (``result.error`` says why).
    """
    import nbformat

    from course.scan import scan_code, withheld_references

    subdir = job.root / "submitted" / job.student / job.assignment
    notebooks = job.trusted  # notebook name -> trusted cells
    if not subdir.is_dir():
        result.error = f"no submission folder {subdir.relative_to(job.root)}"
        return None
    extras = sorted(
        p.name
        for p in subdir.iterdir()
        if _SHADOWING.search(p.name) and p.name not in {"timestamp.txt"}
        and not (p.name == "lib" and _same_tree(p, job.lib))
    )
    if extras:
        result.flags.append(f"submitted files ignored: {', '.join(extras)}")
    found = sorted(p.name for p in subdir.glob("*.ipynb"))
    dest_dir = job.scratch / "course" / "submitted" / job.student / job.assignment
    dest_dir.mkdir(parents=True)
    written = None
    for name, trusted in notebooks.items():
        path = subdir / f"{name}.ipynb"
        if not path.exists():
            others = [f for f in found if f[:-6] not in notebooks]
            hint = f" (found {', '.join(others)}: renamed?)" if others else ""
            result.error = f"notebook {name}.ipynb missing{hint}"
            return None
        try:
            text = _read_regular(path, MAX_NOTEBOOK_BYTES)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nb = nbformat.reads(text.decode("utf-8"), as_version=4)
            nbformat.validate(nb)
        except Exception as err:  # invalid JSON, not a notebook, wrong schema
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            result.error = f"notebook {name}.ipynb unreadable ({type(err).__name__}: {first})"
            return None
        result.flags += restore_metadata(nb, trusted)
        withheld = withheld_references(job.lib)
        student, locked = _split_sources(nb, trusted)
        result.flags += scan_code(student, withheld, trusted=locked)
        nbformat.write(nb, dest_dir / f"{name}.ipynb")
        written = dest_dir / f"{name}.ipynb"
    stamp = subdir / "timestamp.txt"
    if stamp.exists() or stamp.is_symlink():
        try:
            (dest_dir / "timestamp.txt").write_bytes(_read_regular(stamp, 1000))
        except (OSError, ValueError) as err:
            result.flags.append(f"timestamp.txt ignored ({err})")
    return written


MAX_NOTEBOOK_BYTES = 64 * 1024**2


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, which must be a regular file (not a symlink, FIFO or device)
    of at most ``limit`` bytes; OSError or ValueError naming what is wrong otherwise."""
    import errno
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ValueError(f"{path.name} is a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{path.name} is larger than {limit} bytes")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError(f"{path.name} is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _same_tree(submitted: Path, released: Path) -> bool:
    """True iff the submitted folder holds the released edition's files, byte for byte
    (caches aside), and nothing else: no extra file, no symlink, no special file."""
    def files(root: Path) -> dict[str, Path] | None:
        found = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in dirnames + filenames:
                if os.path.islink(os.path.join(dirpath, name)):
                    return None
            for name in filenames:
                if name.endswith(".pyc"):
                    continue
                full = Path(dirpath) / name
                found[str(full.relative_to(root))] = full
        return found

    if submitted.is_symlink() or not submitted.is_dir():
        return False
    ours, theirs = files(released), files(submitted)
    if theirs is None or ours is None or set(ours) != set(theirs):
        return False
    try:
        return all(_read_regular(theirs[k], 64 * 1024**2) == ours[k].read_bytes() for k in ours)
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------------------
# one submission (runs in a worker process)


@dataclass
class Job:
    root: Path
    student: str
    assignment: str
    scratch: Path
    lib: Path  # trusted student edition: release/<id>/lib
    snapshot: Path  # gradebook snapshot to copy
    trusted: dict
    course_id: str
    sandbox: bool
    memory: int
    bwrap: str | None


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
    notebook = _prepare(job, result)
    if notebook is None:
        return
    # the trusted lib reaches the autograded folder through nbgrader's own copying of
    # source/<id>/ (notebooks excluded); in the sandbox it is also mounted read-only
    shutil.copytree(
        job.lib,
        course / "source" / job.assignment / "lib",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    db = course / "gradebook.db"
    shutil.copy(job.snapshot, db)
    db_url = f"sqlite:///{db}"

    config = _load_config(job.root)
    execute = _trusted_execute(config)
    execute.problems = []
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
    result.flags += execute.problems

    with Gradebook(db_url, job.course_id) as gb:
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
    feedback.preprocessors = _feedback_preprocessors()
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
            trusted_by_assignment[assignment] = _load_gradebook_cells(
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
        snapshot = scratch_root / "snapshot.db"
        _snapshot(db, snapshot)
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
                        snapshot=snapshot,
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
    _commit(gb, result)
    dest = root / "autograded" / job.student / job.assignment
    fb_dest = root / "feedback" / job.student / job.assignment
    if not result.infra:
        if result.autograded_dir:
            _install_dir(Path(result.autograded_dir), dest,
                         keep=lambda p: p.suffix == ".ipynb" or p.name == "timestamp.txt")
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
