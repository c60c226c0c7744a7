"""Lateness (issue 21): nbgrader's formgrader has no late column and its LateSubmissionPlugin
applies no penalty by default, so formgrader's grading page gets a label saying how late (the
course's formgrade template, late_label.js; tests/test_lab.py reads it in chromium on a term
graded by `course grade`). Lateness is no flag: an honest late submission gets neither a
course flag nor formgrader's, and the gradebook keeps its time stamp for the report and the
export."""

from __future__ import annotations

import datetime as dt

import pytest

DUE = dt.datetime(2026, 10, 12, 12, 0)


@pytest.mark.slow
def test_plain_nbgrader_autograde_records_lateness_and_flags_nothing(tmp_path):
    """Through nbgrader's own `nbgrader autograde` (SaveFlags, in the course's pipeline): the
    time stamp the submission carries makes it late in the gradebook, and neither an on-time
    nor a late honest submission is flagged."""
    import subprocess
    import sys

    from adversarial import toy
    from nbgrader.api import Gradebook

    from course.nbgrader_ext.flags import read_flags

    root = toy.build_course(tmp_path / "course")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id="toy") as gb:
        gb.update_or_create_assignment("toy", duedate=DUE)
    for student, stamp in (("late", "2026-10-12 13:30:00"), ("early", "2026-10-12 11:00:00")):
        folder = toy.submit(root, student, toy.solved(root))
        (folder / "timestamp.txt").write_text(f"{stamp}.000000 UTC")
    out = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "toy", "--force"],
                         cwd=root, env=toy.venv_env(), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id="toy") as gb:
        flags = read_flags(gb)
        flagged = {s: gb.find_submission("toy", s).notebooks[0].flagged
                   for s in ("late", "early")}
        late = {s: gb.find_submission("toy", s).total_seconds_late for s in ("late", "early")}
    assert flags == {("late", "toy"): "", ("early", "toy"): ""}  # honest: no course flag
    assert flagged == {"late": False, "early": False}  # no formgrader flag either
    assert late == {"late": 90 * 60, "early": 0}
