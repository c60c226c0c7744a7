"""Every source notebook runs top to bottom quickly, quietly, and shows its plots.

nbval (``make test`` runs ``pytest --nbval-lax source``) fails a notebook on any error; these
tests add what nbval does not look at: output on stderr (nbgrader scores a test cell with
stderr output as failed, and warnings in a solved notebook mean something is wrong), the
number of plots, and the nbgrader metadata of every graded cell. Execution time is measured
by ``make bench`` (benchmarks/bench_notebooks.py), not by a timed test.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course.cli import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]

SOURCE = ROOT / "source"
PRESENT = [a for a in ASSIGNMENTS if (SOURCE / a / f"{a}.ipynb").exists()]


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.fixture(scope="module", params=PRESENT)
def executed(request):
    path = SOURCE / request.param / f"{request.param}.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return request.param, nb


def test_every_assignment_has_a_source_notebook():
    assert PRESENT == list(ASSIGNMENTS)


def test_solved_notebook_writes_nothing_to_stderr(executed):
    _, nb = executed
    stderr = [(i, o.get("text", "")[:300]) for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr"]
    assert stderr == []


def test_solved_notebook_shows_at_least_two_plots(executed):
    _, nb = executed
    images = sum("image/png" in o.get("data", {}) for c in nb.cells
                 if c.cell_type == "code" for o in c.outputs)
    assert images >= 2


def test_graded_cells_have_unique_ids_and_locked_tests(executed):
    _, nb = executed
    meta = [_nbgrader(c) for c in nb.cells if _nbgrader(c)]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids)), "duplicate grade_id"
    assert all(m.get("schema_version") == 3 for m in meta)
    tests = [m for m in meta if m.get("grade") and not m.get("solution")]
    assert tests and all(m.get("locked") and m.get("points", 0) > 0 for m in tests)


def test_points_are_about_ten_with_written_answers(executed):
    _, nb = executed
    graded = [(c.cell_type, _nbgrader(c)) for c in nb.cells if _nbgrader(c).get("grade")]
    auto = sum(m["points"] for t, m in graded if not m.get("solution"))
    manual = sum(m["points"] for t, m in graded if m.get("solution"))
    assert 8 <= auto + manual <= 12
    assert manual >= 1, "at least one written question graded by hand"


def test_every_exercise_has_visible_and_hidden_tests(executed):
    _, nb = executed
    for cell in nb.cells:
        m = _nbgrader(cell)
        if m.get("grade") and not m.get("solution"):
            src = cell.source
            assert "### BEGIN HIDDEN TESTS" in src, m["grade_id"]
            visible = src.split("### BEGIN HIDDEN TESTS")[0]
            assert "grading." in visible, f"{m['grade_id']} has no visible test"
