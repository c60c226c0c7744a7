"""The late mark (issue 21): nbgrader's formgrader has no late column and its
LateSubmissionPlugin applies no penalty by default, so a late notebook gets formgrader's flag
and its grading page a label saying how late (course.nbgrader_ext.flags.late_flag's text);
the course's integrity flags stay empty. tests/test_lab.py checks it on a term graded by
`course grade`, read back from formgrader's API and page."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from course.nbgrader_ext.flags import late_flag

DUE = dt.datetime(2026, 10, 12, 12, 0)


def submission(seconds_late, duedate=DUE):
    return SimpleNamespace(total_seconds_late=seconds_late, duedate=duedate)


@pytest.mark.parametrize("seconds, text", [
    (5 * 3600, "5.0 h"),       # 17:00 for a noon deadline
    (90 * 60, "1.5 h"),
    (360, "0.1 h"),
    (5 * 60, "5 min"),         # under 6 minutes: minutes, not "0.1 h"
])
def test_a_late_submission_says_how_late(seconds, text):
    assert late_flag(submission(seconds)) == (
        f"late: submitted {text} after the due date (2026-10-12 12:00 UTC)")


@pytest.mark.parametrize("seconds", [0, 0.0, None])
def test_an_on_time_submission_has_no_late_flag(seconds):
    # nbgrader's total_seconds_late is 0 on time and without a due date
    assert late_flag(submission(seconds, None)) is None


@pytest.mark.slow
def test_plain_nbgrader_autograde_flags_a_late_submission_too(tmp_path):
    """The same mark through nbgrader's own `nbgrader autograde` (SaveFlags, in the course's
    pipeline): flagged when late by the time stamp the submission carries, not when on time."""
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
    assert flags == {("late", "toy"): "", ("early", "toy"): ""}  # honest: no course flag
    assert flagged == {"late": True, "early": False}  # formgrader's mark
