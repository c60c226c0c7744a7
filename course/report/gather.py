"""What ``course report`` reads from the gradebook, as plain records.

The gradebook is read from a consistent copy (sqlite's backup API, the way
:func:`course.grading.gradebook.snapshot` backs it up): formgrader or ``course serve`` may
have it open, and nbgrader's :class:`~nbgrader.api.Gradebook` writes on opening (it creates
missing tables and the course row), which must not touch the real one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nbgrader.api import Gradebook

from course.config import assignments as course_order
from course.config import course_id_of, load_config
from course.grading.gradebook import snapshot
from course.nbgrader_ext.flags import FLAGS_TABLE

TEST, ANSWER, TASK = "test", "answer", "task"  # the kinds of graded cell

# course grade's record of a student it was asked to grade who handed nothing in
# (course.grading.batch.pack): a missing submission, not a graded one
NO_FOLDER = "not graded: no submission folder"


@dataclass(frozen=True)
class Cell:
    """A graded cell of an assignment: an autograded test, a written (or hand-graded code)
    answer, or a task."""

    notebook: str
    name: str
    kind: str
    points: float


@dataclass
class GradeRecord:
    cell: Cell
    auto: float | None
    manual: float | None
    score: float
    needs_manual: bool


@dataclass
class Submission:
    student: str
    timestamp: datetime | None
    seconds_late: float
    penalty: float
    score: float
    max_score: float
    needs_manual: bool
    flagged: bool  # nbgrader's mark on a notebook (course grade sets it with flags)
    flags: list[str]  # the course's flags (course_flags table), one reason each
    grades: list[GradeRecord] = field(default_factory=list)


@dataclass
class AssignmentData:
    id: str
    duedate: datetime | None
    max_score: float
    cells: list[Cell]
    notebooks: list[str]
    submissions: dict[str, Submission]  # student id -> submission
    enrolled: list[str]  # every student of the gradebook
    pending: list[str]  # in submitted/, not in the gradebook yet (not graded)


@dataclass
class Term:
    course_id: str
    root: Path
    names: dict[str, str]  # student id -> "First Last" (or the id)
    assignments: list[AssignmentData]


def read_term(root: Path, ids: list[str] | None = None) -> Term:
    """The gradebook's view of the assignments ``ids`` (default: every assignment with a
    submission), in course order. ValueError names an unknown id or a missing gradebook."""
    root = Path(root).resolve()
    config = load_config(root)
    course_id = course_id_of(config)
    db = root / "gradebook.db"
    if not db.is_file():
        raise ValueError(f"no gradebook at {db}: run `course release` and `course grade` first")
    with tempfile.TemporaryDirectory(prefix="course-report-") as tmp:
        copy = Path(tmp) / "gradebook.db"
        snapshot(db, copy)
        with Gradebook(f"sqlite:///{copy}", course_id=course_id) as gb:
            chosen = _choose(gb, ids, course_order(root, config))
            names = {s.id: _name(s) for s in gb.students}
            flags = _flags(gb)
            data = [_assignment(gb, root, aid, sorted(names), flags) for aid in chosen]
    return Term(course_id, root, names, data)


def _choose(gb, ids, order) -> list[str]:
    known = [a.name for a in gb.assignments]
    if ids:
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ValueError(f"assignment(s) not in the gradebook: {', '.join(unknown)}; "
                             f"it has: {', '.join(known) or 'none'}")
        chosen = list(dict.fromkeys(ids))
    else:
        chosen = [a.name for a in gb.assignments if a.submissions]
    rank = {a: k for k, a in enumerate(order)}
    return sorted(chosen, key=lambda a: (rank.get(a, len(rank)), a))


def _name(student) -> str:
    full = " ".join(p for p in (student.first_name, student.last_name) if p)
    return full or student.id


def _flags(gb) -> dict[tuple[str, str], list[str]]:
    from sqlalchemy import inspect, text

    if FLAGS_TABLE not in inspect(gb.engine).get_table_names():
        return {}  # a course graded by plain nbgrader only
    rows = gb.db.execute(text(f"SELECT student_id, assignment_id, flags FROM {FLAGS_TABLE}"))
    return {(s, a): [f for f in str(f).split("; ") if f] for s, a, f in rows}


def _cells(assignment) -> tuple[list[Cell], list[str]]:
    cells, notebooks = [], []
    for nb in sorted(assignment.notebooks, key=lambda n: n.name):
        notebooks.append(nb.name)
        answers = {c.name for c in nb.solution_cells}
        for c in nb.grade_cells:
            kind = ANSWER if c.name in answers or c.cell_type != "code" else TEST
            cells.append(Cell(nb.name, c.name, kind, float(c.max_score)))
        cells += [Cell(nb.name, c.name, TASK, float(c.max_score)) for c in nb.task_cells]
    return cells, notebooks


def _assignment(gb, root: Path, aid: str, enrolled: list[str], flags) -> AssignmentData:
    assignment = gb.find_assignment(aid)
    cells, notebooks = _cells(assignment)
    by_name = {(c.notebook, c.name): c for c in cells}
    subs = {}
    for sub in assignment.submissions:
        sid = sub.student.id
        if (any(f.startswith(NO_FOLDER) for f in flags.get((sid, aid), []))
                and not (root / "submitted" / sid / aid).is_dir()):
            continue  # missing
        record = Submission(
            student=sid, timestamp=sub.timestamp, seconds_late=float(sub.total_seconds_late),
            penalty=float(sub.late_submission_penalty or 0.0), score=float(sub.score),
            max_score=float(sub.max_score), needs_manual=bool(sub.needs_manual_grade),
            flagged=any(nb.flagged for nb in sub.notebooks), flags=flags.get((sid, aid), []))
        for nb in sub.notebooks:
            for g in nb.grades:
                cell = by_name.get((nb.name, g.name))
                if cell is not None:
                    record.grades.append(GradeRecord(
                        cell, g.auto_score, g.manual_score, float(g.score),
                        bool(g.needs_manual_grade)))
        subs[sid] = record
    return AssignmentData(
        id=aid, duedate=assignment.duedate, max_score=float(assignment.max_score),
        cells=cells, notebooks=notebooks, submissions=subs, enrolled=enrolled,
        pending=_pending(root, aid, set(subs)))


def _pending(root: Path, aid: str, graded: set[str]) -> list[str]:
    """Students with a folder ``submitted/<student>/<aid>/`` (its name only is read) and no
    submission in the gradebook: collected, not graded yet."""
    base = root / "submitted"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir()
                  if p.name not in graded and (p / aid).is_dir() and not p.is_symlink())

