"""The gradebook of a course root: checks, backups, one submission's results, the export.

``course grade`` grades each submission against a snapshot of the gradebook in a scratch
course and commits the results here, from one process, one submission at a time: parallel
workers never write it, and a kill at any moment leaves it consistent. Integrity flags live
in a table of their own (:mod:`course.nbgrader_ext.flags`) and in nbgrader's ``flagged`` mark.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from datetime import datetime
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from course.errors import GradeError
from course.intake.job import Result
from course.nbgrader_ext.export import CsvExportWithFlags
from course.nbgrader_ext.flags import write_flags

BACKUPS_KEPT = 20

QUEUE_TABLE = "course_queue"  # course serve's queue (course.service.queue)


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
    snapshot(db, target)
    old = sorted(db.parent.glob(f"{db.name}.bak-*"))
    for stale in old[:-BACKUPS_KEPT]:
        stale.unlink()
    return target


def snapshot(db: Path, target: Path) -> None:
    """A consistent copy of ``db`` at ``target`` (sqlite's backup API; readers may be open)."""
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def commit(gb, result: Result, also=None, keep_manual: frozenset | set = frozenset()) -> None:
    """Write one submission's autograde results into the real gradebook.

    ``also(gb)``, if given, runs in the transaction that writes the grades (course serve
    records there that the submission is graded: both are written, or neither).
    ``keep_manual``: grade ids of written answers unchanged since the graded submission
    (:func:`unchanged_answers`): one graded by hand stays graded.
    """
    with warnings.catch_warnings():
        # nbgrader's own update_or_create_submission trips SQLAlchemy's autoflush warnings
        warnings.simplefilter("ignore")
        _commit_inner(gb, result, also, keep_manual)


def unchanged_answers(root: Path, result: Result) -> set[str]:
    """The grade ids of the written answers (manually graded solution cells) whose text in
    ``result``'s autograded notebooks is that of the submission in ``autograded/`` now (the
    one whose grades the gradebook holds)."""
    import nbformat

    old_dir = Path(root) / "autograded" / result.student / result.assignment
    same: set[str] = set()
    for name, data in (result.files.get("autograded") or {}).items():
        old = old_dir / Path(name).name
        if not name.endswith(".ipynb") or not old.is_file():
            continue
        try:
            new_nb = nbformat.reads(data.decode(), as_version=4)
            old_nb = nbformat.read(old, as_version=4)
        except Exception:  # unreadable: treated as changed
            continue

        def answers(nb) -> dict[str, str]:
            out = {}
            for cell in nb.cells:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                if meta.get("solution") and meta.get("grade") and meta.get("grade_id"):
                    out[meta["grade_id"]] = cell.source
            return out

        before = answers(old_nb)
        same |= {gid for gid, text in answers(new_nb).items() if before.get(gid) == text}
    return same


def _commit_inner(gb, result: Result, also, keep_manual) -> None:
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
                graded_by_hand = grade.manual_score is not None and not grade.needs_manual_grade
                grade.auto_score, grade.needs_manual_grade = result.grades[grade.name]
                if graded_by_hand and grade.name in keep_manual:  # the same written answer
                    grade.needs_manual_grade = False
        for comment in notebook.comments:
            if result.error is not None:
                comment.auto_comment = f"Not graded: {result.error}"
            elif comment.name in result.comments:
                comment.auto_comment = result.comments[comment.name]
        if result.error is None and notebook.name in result.late_penalty:
            notebook.late_submission_penalty = result.late_penalty[notebook.name]
        notebook.flagged = bool(flags)
    write_flags(gb, result.student, result.assignment, result.flags)
    if also is not None:
        also(gb)
    gb.db.commit()


def export_csv(root: Path, db_url: str, course_id: str) -> Path:
    """``grades.csv``: nbgrader's CSV export plus a ``flags`` column
    (:mod:`course.nbgrader_ext.export`), the plugin that ``nbgrader export`` uses too
    (``ExportApp.plugin_class``)."""

    target = root / "grades.csv"
    tmp = root / ".grades.csv.tmp"
    with Gradebook(db_url, course_id) as gb:
        CsvExportWithFlags(to=str(tmp)).export(gb)
    os.replace(tmp, target)
    return target
