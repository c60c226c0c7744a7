"""What the trusted runner shows for a failed test cell (course/isolation/runner.py): the
message first, then the test cell's line, never the frames of the runner, the wire or
lib.grading's helpers (issue 17: the failing message first)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from course.isolation.runner_process import runner_source

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runner():
    """The runner's namespace: its source (wire + runner) run as a module, not started."""
    ns = {"__name__": "course_runner_under_test"}
    exec(compile(runner_source(), "<string>", "exec"), ns)
    return ns




def test_a_failed_assertion_shows_its_message_first_and_no_helper_frames(runner):
    sys.path.insert(0, str(REPO))
    try:
        from lib import grading
        source = "grading.assert_close(2.0, 1.0, 'mse of ŷ = 2, y = 1')\n"
        ns = {"grading": grading}
        [out] = [o for o in runner["run_source"](ns, "test_mse", source)
                 if o.get("output_type") == "error"]
    finally:
        sys.path.remove(str(REPO))
    lines = out["traceback"]
    assert lines[0].startswith("AssertionError: ") and "mse of ŷ = 2, y = 1" in lines[0]
    assert any("<test_mse>" in line for line in lines), lines
    assert not any("grading.py" in line for line in lines), lines
    assert not any('File "<string>"' in line for line in lines), lines
    assert out["ename"] == "AssertionError" and "mse of" in out["evalue"]


def test_an_error_in_the_test_cell_itself_keeps_its_line(runner):
    [out] = [o for o in runner["run_source"]({}, "test_x", "x = 1\nundefined_name\n")
             if o.get("output_type") == "error"]
    assert out["traceback"][0] == "NameError: name 'undefined_name' is not defined"
    assert any("line 2" in line for line in out["traceback"]), out["traceback"]
