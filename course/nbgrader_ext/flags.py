"""Integrity flags: what a submission did that a reviewer should look at.

They travel in the notebook's metadata (:data:`FLAGS_KEY`) from SanitizeSubmission to
SaveFlags, and live in the gradebook's ``course_flags`` table, where ``nbgrader export``
(:mod:`course.nbgrader_ext.export`) and ``course grade`` read them.
"""

from __future__ import annotations

from sqlalchemy import text

FLAGS_KEY = "course_grading"  # notebook metadata that carries flags from sanitize to SaveFlags

FLAGS_TABLE = "course_flags"


def ensure_flags_table(gb) -> None:
    gb.db.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {FLAGS_TABLE} (student_id TEXT NOT NULL, "
            "assignment_id TEXT NOT NULL, flags TEXT NOT NULL, "
            "PRIMARY KEY (student_id, assignment_id))"
        )
    )


def read_flags(gb) -> dict[tuple[str, str], str]:
    """(student, assignment) -> flags ("; "-separated) of every graded submission."""
    ensure_flags_table(gb)
    rows = gb.db.execute(text(f"SELECT student_id, assignment_id, flags FROM {FLAGS_TABLE}"))
    return {(s, a): f for s, a, f in rows}


def write_flags(gb, student: str, assignment: str, flags: list[str]) -> None:
    """Replace the flags of one submission (not committed: the caller commits)."""
    ensure_flags_table(gb)
    gb.db.execute(
        text(f"INSERT OR REPLACE INTO {FLAGS_TABLE} VALUES (:s, :a, :f)"),
        {"s": student, "a": assignment, "f": "; ".join(flags)},
    )


def late_flag(submission) -> str | None:
    """How late a submission (an nbgrader SubmittedAssignment) is, as text, by the gradebook's
    time stamp and due date (with the student's extension), as nbgrader's
    ``total_seconds_late`` computes it; None when on time or without a due date.

    Formgrader has no late mark of its own (nbgrader's LateSubmissionPlugin applies a penalty,
    'none' by default, and formgrader shows neither): a late notebook gets formgrader's flag
    (SaveFlags, course grade's commit) and its grading page says how late (the course's
    formgrade template). Lateness is not an integrity flag: the course's flags (``grades.csv``)
    leave it out, as an honest submission has none; the export has the time stamp and due date.
    """
    seconds = submission.total_seconds_late or 0
    if seconds <= 0:
        return None
    how = f"{seconds / 3600:.1f} h" if seconds >= 360 else f"{seconds / 60:.0f} min"
    due = submission.duedate
    return f"late: submitted {how} after the due date ({due:%Y-%m-%d %H:%M} UTC)"
