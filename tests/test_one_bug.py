"""One bug costs one exercise (issue 17, item 2).

For every notebook, every *graded* solution cell (a solution code cell defining a function,
class or value that an autograded test cell uses) has at least one ``[[wrong]]`` entry in
``catalogue/<id>.toml`` with ``isolated = true`` that edits only that cell: a typical bug in
that exercise, with ``fails`` naming the test(s) of that exercise. ``course check`` then
requires that the entry loses points in those tests and earns full points in every other
autograded test (catalogue/README.md). The grading itself happens once, in
``tests/test_check.py::test_course_check_passes_for_every_notebook``, which grades every
isolated entry besides its sample of the catalogue; here it is checked that the entries exist,
name real tests, and are in what that run grades.

A notebook whose section of docs/exercises.md has no rows yet (its third edition is not done)
has its per-notebook test here marked ``xfail(strict=False)``, as in tests/test_exercises.py.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from check_sample import MAX_WRONG, graded_selection
from test_exercises import DOC, row_count
from toy_course import toy_notebook

from course.author.catalogue import autograded_tests, load_catalogue, parse_catalogue
from course.config import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tree(text: str) -> ast.Module | None:
    # IPython magics and shell lines are no Python; they define nothing a test could use
    text = "\n".join("" if re.match(r"\s*[%!]", line) else line for line in text.splitlines())
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def defined_names(text: str) -> set[str]:
    """Top-level functions, classes and assigned names of a cell."""
    tree = _tree(text)
    if tree is None:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def used_names(text: str) -> set[str]:
    """Every name a cell reads (falls back to identifiers when it is not Python)."""
    tree = _tree(text)
    if tree is None:
        return set(re.findall(r"[A-Za-z_]\w*", text))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def graded_solution_cells(nb: dict) -> dict[str, list[str]]:
    """{grade_id of a solution code cell: [autograded tests that use what it defines]},
    for the solution cells some autograded test uses."""
    cells = {
        c["metadata"]["nbgrader"]["grade_id"]: c
        for c in nb["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    }
    tests = {t: used_names(_source(cells[t])) for t in autograded_tests(nb)}
    graded = {}
    for gid, cell in cells.items():
        if cell["cell_type"] != "code" or not cell["metadata"]["nbgrader"].get("solution"):
            continue
        names = defined_names(_source(cell))
        users = [t for t, used in tests.items() if names & used]
        if users:
            graded[gid] = users
    return graded


def _notebook(aid: str) -> dict:
    return json.loads((ROOT / "source" / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))


def _catalogue(aid: str) -> Path:
    return ROOT / "catalogue" / f"{aid}.toml"


def _params() -> list:
    text = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    undone = pytest.mark.xfail(
        strict=False, reason="docs/exercises.md has no rows for this notebook yet"
    )
    return [
        pytest.param(aid, marks=undone) if row_count(text, aid) == 0 else aid for aid in ASSIGNMENTS
    ]


def isolated_problems(aid: str, nb: dict, entries: list) -> list[str]:
    """Graded solution cells without an isolated entry of their own (empty: none)."""
    covered = {
        e.edits[0].cell for e in entries if e.isolated and len({edit.cell for edit in e.edits}) == 1
    }
    return [
        f"{aid}: solution cell {gid} (graded by {', '.join(users)}) has no [[wrong]] entry "
        "with isolated = true that edits only it"
        for gid, users in graded_solution_cells(nb).items()
        if gid not in covered
    ]


@pytest.mark.parametrize("aid", _params())
def test_every_graded_exercise_has_an_isolated_bug(aid):
    problems = isolated_problems(aid, _notebook(aid), load_catalogue(_catalogue(aid)))
    assert not problems, f"catalogue/{aid}.toml:\n" + "\n".join(problems)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_isolated_entries_name_tests_of_their_exercise(aid):
    nb = _notebook(aid)
    tests, graded = autograded_tests(nb), graded_solution_cells(nb)
    problems = []
    for e in load_catalogue(_catalogue(aid)):
        if not e.isolated:
            continue
        unknown = [t for t in e.fails if t not in tests]
        if unknown:
            problems.append(f"{e.name!r}: {', '.join(unknown)} are no autograded tests")
        cells = {edit.cell for edit in e.edits}
        users = {t for c in cells for t in graded.get(c, [])}
        if not users:
            problems.append(f"{e.name!r}: edits {', '.join(sorted(cells))}, which no test uses")
        elif not set(e.fails) & users:
            problems.append(
                f"{e.name!r}: fails {', '.join(e.fails)}, none of which uses the edited "
                f"cell(s) (its tests: {', '.join(sorted(users))})"
            )
    assert not problems, f"catalogue/{aid}.toml:\n" + "\n".join(problems)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_make_test_grades_an_isolated_entry_of_every_graded_solution_cell(aid):
    """make test puts one bug into each exercise in turn (course check grades the rest)."""
    source = json.loads((ROOT / "source" / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))
    graded, _ = graded_selection(_catalogue(aid), MAX_WRONG)
    covered = {edit.cell for e in graded if e.isolated for edit in e.edits}
    missing = sorted(set(graded_solution_cells(source)) - covered)
    assert not missing, f"course check in make test grades no isolated entry of {missing}"


# --- The checks on synthetic input ----------------------------------------------------------


def toy() -> dict:
    return json.loads(json.dumps(toy_notebook(1)))


def test_graded_solution_cells_are_those_a_test_uses():
    nb = toy()
    assert graded_solution_cells(nb) == {
        "step_solution": ["test_step"],
        "twice_solution": ["test_twice"],
    }
    for cell in nb["cells"]:  # a test that no longer calls twice() leaves it ungraded
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test_twice":
            cell["source"] = "assert 6 == 6"
    assert graded_solution_cells(nb) == {"step_solution": ["test_step"]}


def test_names_are_read_from_the_cells():
    text = "%matplotlib inline\nimport numpy as np\nA = 1\nB: int = 2\ndef f(x):\n    y = 3\n"
    assert defined_names(text) == {"A", "B", "f"}
    assert used_names("assert f(A) == np.sum([B])  # C") == {"f", "A", "np", "B"}
    assert used_names("assert f(") >= {"assert", "f"}  # not Python: identifiers


def test_a_graded_cell_without_an_isolated_entry_is_reported():
    step = 'cell = "step_solution"\nreplace = "w - lr"\nwith = "w + lr"\nfails = ["test_step"]\n'
    twice = 'cell = "twice_solution"\nreplace = "2 * x"\nwith = "3 * x"\nfails = ["test_twice"]\n'
    both = parse_catalogue(
        f'[[wrong]]\nname = "a"\n{step}isolated = true\n'
        f'[[wrong]]\nname = "b"\n{twice}isolated = true\n'
    )
    assert isolated_problems("toy", toy(), both) == []
    one = parse_catalogue(
        f'[[wrong]]\nname = "a"\n{step}isolated = true\n[[wrong]]\nname = "b"\n{twice}'
    )
    assert isolated_problems("toy", toy(), one) == [
        "toy: solution cell twice_solution (graded by test_twice) has no [[wrong]] entry "
        "with isolated = true that edits only it"
    ]
    mixed = parse_catalogue(
        '[[wrong]]\nname = "m"\nfails = ["test_step"]\nisolated = true\nedits = [\n'
        '{cell = "step_solution", replace = "w - lr", with = "w + lr"},\n'
        '{cell = "twice_solution", replace = "2 * x", with = "3 * x"}]\n'
    )
    assert len(isolated_problems("toy", toy(), mixed)) == 2  # it edits two cells
