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
