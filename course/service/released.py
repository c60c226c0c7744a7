"""What ``course serve`` knows of the course: the released assignments, their due dates and
the bundles that carry them to the workers, rebuilt when an assignment is released, changed
or given a new due date."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from sqlalchemy import text

from course.errors import GradeError
from course.grading.course import OpenCourse

log = logging.getLogger("course.serve")


class Released:
    """The released assignments of the course root ``root``."""

    def __init__(self, root: Path):
        self.root = root
        self.course = OpenCourse(root, [])
        self.bundles: dict = {}  # assignment -> course.grading.bundle.CourseBundle
        self.duedates: dict[str, dt.datetime | None] = {}
        self._signature = None

    def refresh(self, db) -> bool:
        """Rebuild if anything changed (``db``: the gradebook's session); whether it did."""
        signature = self._signature_now(db)
        if signature == self._signature:
            return False
        try:
            self.course = OpenCourse(self.root, [a for a, _ in signature[0]])
            self.bundles = self.course.bundles()
        except GradeError as err:
            log.error("cannot grade: %s", err)
            return False
        self.duedates = {a: (dt.datetime.fromisoformat(d) if d else None)
                         for a, d in signature[0]}
        self._signature = signature
        log.info("assignments: %s", ", ".join(
            f"{a} (due {d or 'any time'})" for a, d in signature[0]) or "none released")
        return True

    def _signature_now(self, db):
        rows = db.execute(text("SELECT name, duedate FROM assignment ORDER BY name")).fetchall()
        db.commit()
        released = [(name, str(due) if due else None) for name, due in rows
                    if (self.root / "release" / name / "lib").is_dir()]
        mtimes = []
        for name, _ in released:
            for dirpath, _dirs, files in os.walk(self.root / "release" / name):
                mtimes += [os.stat(os.path.join(dirpath, f)).st_mtime_ns for f in files]
        config = (self.root / "nbgrader_config.py").stat().st_mtime_ns
        return (tuple(released), max(mtimes, default=0), config)
