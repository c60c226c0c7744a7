"""The late mark (issue 21): a late submission carries the flag ``late: submitted ... after the
due date``, formgrader's only mark it shows (nbgrader's own formgrader has no late column and
its LateSubmissionPlugin applies no penalty by default). tests/test_lab.py checks it on a
term graded by `course grade` and read back from formgrader."""

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
