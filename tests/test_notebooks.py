"""Every source notebook runs top to bottom, quietly, and shows its plots; its graded cells
carry sound nbgrader metadata.

The executed notebook is the one the course check grades (conftest's ``checked``: the source's
solutions in the release, submitted and autograded in the sandbox, as a student's work is),
so make test executes each notebook once for the check and these tests; ``nbgrader validate``
(part of the check) executes the source notebook itself. The tests add what the check does not
look at: an error in any cell, graded or not; output on stderr (nbgrader scores a test cell
with stderr output as failed, and warnings in a solved notebook mean something is wrong); the
number of plots. The metadata is read from the source. Execution time is measured by
``make bench`` (benchmarks/bench_notebooks.py), not by a timed test.
"""

import re
from pathlib import Path

import nbformat
import pytest

from course.commands.check_report import SOLUTION_STUDENT
from course.config import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]

SOURCE = ROOT / "source"
PRESENT = [a for a in ASSIGNMENTS if (SOURCE / a / f"{a}.ipynb").exists()]


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.fixture
def executed(checked):
    """(id, the solved notebook as the course check autograded it: every cell executed)."""
    return checked.aid, checked.graded(SOLUTION_STUDENT)


def _source(aid: str):
    return nbformat.read(SOURCE / aid / f"{aid}.ipynb", as_version=4)


def test_every_assignment_has_a_source_notebook():
    assert PRESENT == list(ASSIGNMENTS)


@pytest.mark.slow  # the course check of the notebook (once, for these and the check)
def test_solved_notebook_runs_without_an_error(executed):
    _, nb = executed
    # the student's kernel ran every cell but the tests (which the trusted runner runs, and
    # the check scores)
    kernel = [c for c in nb.cells if c.cell_type == "code"
              and not (_nbgrader(c).get("grade") and not _nbgrader(c).get("solution"))]
    assert kernel and all(c.get("execution_count") for c in kernel), "a cell did not run"
    errors = [(i, f"{o.ename}: {o.evalue}"[:300]) for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []


@pytest.mark.slow  # the course check of the notebook (once, for these and the check)
def test_solved_notebook_writes_nothing_to_stderr(executed):
    _, nb = executed
    stderr = [(i, o.get("text", "")[:300]) for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr"]
    assert stderr == []


@pytest.mark.slow  # the course check of the notebook (once, for these and the check)
def test_solved_notebook_shows_at_least_two_plots(executed):
    _, nb = executed
    images = sum("image/png" in o.get("data", {}) for c in nb.cells
                 if c.cell_type == "code" for o in c.outputs)
    assert images >= 2


@pytest.mark.parametrize("aid", PRESENT)
def test_graded_cells_have_unique_ids_and_locked_tests(aid):
    nb = _source(aid)
    meta = [_nbgrader(c) for c in nb.cells if _nbgrader(c)]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids)), "duplicate grade_id"
    assert all(m.get("schema_version") == 3 for m in meta)
    tests = [m for m in meta if m.get("grade") and not m.get("solution")]
    assert tests and all(m.get("locked") and m.get("points", 0) > 0 for m in tests)


@pytest.mark.parametrize("aid", PRESENT)
def test_points_are_about_ten_with_written_answers(aid):
    nb = _source(aid)
    graded = [(c.cell_type, _nbgrader(c)) for c in nb.cells if _nbgrader(c).get("grade")]
    auto = sum(m["points"] for t, m in graded if not m.get("solution"))
    manual = sum(m["points"] for t, m in graded if m.get("solution"))
    assert 8 <= auto + manual <= 12
    assert manual >= 1, "at least one written question graded by hand"


@pytest.mark.parametrize("aid", PRESENT)
def test_every_exercise_has_visible_and_hidden_tests(aid):
    nb = _source(aid)
    for cell in nb.cells:
        m = _nbgrader(cell)
        if m.get("grade") and not m.get("solution"):
            src = cell.source
            assert "### BEGIN HIDDEN TESTS" in src, m["grade_id"]
            # the visible part is everything outside the hidden regions (a cell may have
            # several, e.g. trusted helpers defined in a hidden region at its top)
            visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", src,
                             flags=re.S)
            assert "grading." in visible, f"{m['grade_id']} has no visible test"


# -- test cells run in the trusted runner (docs/threat-model.md) ----------------------------


def _load_names(node) -> set[str]:
    import ast

    loads, stores = set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (loads if isinstance(sub.ctx, ast.Load) else stores).add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stores.add(sub.name)
        elif isinstance(sub, ast.arg):
            stores.add(sub.arg)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            stores |= {(a.asname or a.name).split(".")[0] for a in sub.names}
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            stores.add(sub.name)
    return loads - stores


@pytest.mark.parametrize("aid", PRESENT)
def test_test_cells_use_only_trusted_names_and_the_students_answers(aid):
    """A test cell may use builtins, what test cells define, what locked cells import and
    what solution cells define, and no other cell depends on a name only a test defines:
    in grading, test cells run in the trusted runner, not in the student's kernel."""
    import builtins

    from course.nbgrader_ext.cells import bound_names, imported_names
    from course.nbgrader_ext.cells import parse_cell as _python

    nb = nbformat.read(SOURCE / aid / f"{aid}.ipynb", as_version=4)
    code = [(c, _nbgrader(c)) for c in nb.cells if c.cell_type == "code"]
    tests = [(c, m) for c, m in code if m.get("grade") and not m.get("solution")]
    answers = set().union(*(bound_names(c.source) for c, m in code if m.get("solution")))
    imports = set().union(*(set(imported_names(c.source)) for c, m in code
                            if m.get("locked") and not m.get("grade")))
    others = set().union(*(bound_names(c.source) for c, m in code if (c, m) not in tests))
    only_tests = set().union(*(bound_names(c.source) for c, _ in tests)) - others
    problems, defined = [], set()
    for c, m in code:
        tree = _python(c.source)
        used = _load_names(tree) if tree is not None else set()
        if (c, m) in tests:
            bad = used - defined - imports - answers - set(dir(builtins))
            if bad:
                problems.append(f"{m['grade_id']} uses {sorted(bad)} (not its own data)")
            defined |= bound_names(c.source)
        elif used & only_tests:
            problems.append(f"{m.get('grade_id', 'a cell')} uses {sorted(used & only_tests)}, "
                            "defined only in test cells")
    assert not problems, "\n".join(problems)
