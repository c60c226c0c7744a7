"""``nbgrader export`` with a ``flags`` column: nbgrader's CSV export plugin, extended.

Configured as ``c.ExportApp.plugin_class`` in ``nbgrader_config.py``, so that
``nbgrader export``, formgrader and ``course grade`` (its ``grades.csv``) write the same file:
nbgrader's columns, then ``flags``, the reasons a submission needs a look (empty when fine),
from the gradebook's ``course_flags`` table (course.nbgrader_ext.flags).
"""

from __future__ import annotations

import csv
import os

from nbgrader.plugins import CsvExportPlugin

from course.nbgrader_ext.flags import read_flags


class CsvExportWithFlags(CsvExportPlugin):
    """nbgrader's CSV export plus a last column ``flags``."""

    def export(self, gradebook):

        super().export(gradebook)
        target = self.to or "grades.csv"
        flags = read_flags(gradebook)
        gradebook.db.commit()
        with open(target, newline="") as f:
            rows = list(csv.DictReader(f))
        fields = [*(rows[0].keys() if rows else ["assignment", "student_id"]), "flags"]
        tmp = f"{target}.flags.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            for row in rows:
                row["flags"] = flags.get((row["student_id"], row["assignment"]), "")
                writer.writerow(row)
        os.replace(tmp, target)
