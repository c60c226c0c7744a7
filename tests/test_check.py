"""``course check``: the self-test of the grading, and the catalogue of wrong submissions.

``test_course_check_passes_for_every_notebook`` is the check itself (run by ``make test``):
each source notebook earns every autograded point, each release earns none, each catalogue
entry loses points, ``nbgrader validate`` passes on source and fails every test of the
release. The toy-course test shows that the check fails when a wrong submission is not
caught; the others test the catalogue format on synthetic input.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from check_sample import MAX_WRONG, first_isolated, graded_catalogue
from toy_course import TOY_IDS, make_toy_course, toy_notebook

from course.author.catalogue import (
    CatalogueError,
    apply_wrong,
    autograded_tests,
    load_catalogue,
    parse_catalogue,
)
from course.author.release import release
from course.commands.check import check, sample
from course.commands.check_report import MIN_WRONG, evaluate
from course.config import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]


def toy_nb() -> dict:
    return json.loads(json.dumps(toy_notebook(1)))  # plain JSON dict, as read from disk


# --- Catalogue format --------------------------------------------------------------------


def test_an_entry_replaces_text_in_its_solution_cell():
    [entry] = parse_catalogue(
        '[[wrong]]\nname = "sign"\ncell = "step_solution"\nreplace = "w - lr"\nwith = "w + lr"\n'
    )
    nb = apply_wrong(toy_nb(), entry)
    cell = next(
        c
        for c in nb["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") == "step_solution"
    )
    assert "w + lr * grad" in cell["source"] and "w - lr" not in cell["source"]


def test_an_entry_may_edit_several_cells():
    [entry] = parse_catalogue("""
[[wrong]]
name = "two mistakes"
edits = [
  {cell = "step_solution", replace = "w - lr", with = "w + lr"},
  {cell = "twice_solution", replace = "2 * x", with = "x + x + 1"},
]
fails = ["test_step", "test_twice"]
""")
    assert len(entry.edits) == 2 and entry.fails == ("test_step", "test_twice")
    text = json.dumps(apply_wrong(toy_nb(), entry))
    assert "w + lr" in text and "x + x + 1" in text


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[wrong]]\ncell = "a"\nreplace = "x"\nwith = "y"\n', "'name' .* is required"),
        ('[[wrong]]\nname = "n"\ncell = "a"\nwith = "y"\n', "'replace' .* is required"),
        (
            '[[wrong]]\nname = "n"\ncell = "a"\nreplace = "x"\nwith = "y"\nwhy = "?"\n',
            "unknown key",
        ),
        ('[[wrong]]\nname = "n"\ncell = "a"\nreplace = "x"\nwith = "x"\n', "the same text"),
        ('[[wrong]]\nname = "n"\ncell = "a"\nreplace = "x"\nwith = "y"\n' * 2, "duplicate name"),
        ('[wrong]\nname = "n"\n', "double brackets"),
        ('[[wrong]\nname = "n"\n', "not valid TOML"),
        ('[[mistake]]\nname = "n"\n', "unknown table"),
        (
            '[[wrong]]\nname = "n"\ncell = "a"\nreplace = "x"\nwith = "y"\nisolated = true\n',
            "'isolated = true' needs 'fails'",
        ),
        (
            '[[wrong]]\nname = "n"\ncell = "a"\nreplace = "x"\nwith = "y"\nisolated = "yes"\n',
            "'isolated' must be true or false",
        ),
    ],
)
def test_a_malformed_catalogue_gives_a_clear_error(toml, message):
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(toml, "cat.toml")


@pytest.mark.parametrize(
    ("cell", "replace", "message"),
    [
        ("step_solution", "w * lr", r"text to replace not found: 'w \* lr'"),
        ("nope", "w", "no cell has this grade_id"),
        ("test_step", "11.4", "not a solution cell"),
        ("step_solution", "w", "occurs .* times"),
    ],
)
def test_an_entry_that_does_not_apply_gives_a_clear_error(cell, replace, message):
    [entry] = parse_catalogue(
        f'[[wrong]]\nname = "n"\ncell = "{cell}"\nreplace = "{replace}"\nwith = "zzz"\n'
    )
    with pytest.raises(CatalogueError, match=message):
        apply_wrong(toy_nb(), entry, "cat.toml: ")


def test_autograded_tests_are_the_locked_code_grade_cells():
    assert autograded_tests(toy_nb()) == {"test_step": 2.0, "test_twice": 1.0}


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_catalogue_applies_to_its_source_notebook(aid):
    source = ROOT / "source" / aid / f"{aid}.ipynb"
    if not source.is_file():
        pytest.fail(f"source/{aid}/{aid}.ipynb is missing")
    entries = load_catalogue(ROOT / "catalogue" / f"{aid}.toml")
    assert len(entries) >= MIN_WRONG, f"catalogue/{aid}.toml needs {MIN_WRONG} entries"
    nb = json.loads(source.read_text(encoding="utf-8"))
    for entry in entries + load_catalogue(ROOT / "catalogue" / f"{aid}.toml", "correct"):
        apply_wrong(nb, entry, f"catalogue/{aid}.toml: ")


def test_correct_entries_are_parsed_without_fails():
    [entry] = parse_catalogue(
        '[[correct]]\nname = "n"\ncell = "c"\nreplace = "a"\nwith = "b"\n', kind="correct"
    )
    assert entry.name == "n" and entry.fails == ()
    assert parse_catalogue('[[correct]]\nname = "n"\ncell = "c"\nreplace = "a"\nwith = "b"\n') == []
    with pytest.raises(CatalogueError, match="unknown key"):
        parse_catalogue(
            '[[correct]]\nname = "n"\ncell = "c"\nreplace = "a"\nwith = "b"\nfails = []\n',
            kind="correct",
        )
    with pytest.raises(CatalogueError, match="unknown key.*isolated"):
        parse_catalogue(
            '[[correct]]\nname = "n"\ncell = "c"\nreplace = "a"\nwith = "b"\nisolated = true\n',
            kind="correct",
        )


# --- Judging grades (synthetic grade rows, no grading) ------------------------------------


def row(student: str, step: float, twice: float, error: str | None = None) -> dict:
    tests = {"test_step": (step, 2.0), "test_twice": (twice, 1.0)}
    return {
        "student": student,
        "assignment": "01_gradient_descent",
        "flags": "",
        "score": step + twice,
        "max_score": 3.0,
        "tests": tests,
        "error": error,
    }


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    return make_toy_course(tmp_path_factory.mktemp("toy"))


def judge(root: Path, rows: list[dict], n_wrong: int = 5, **validation):
    entries = parse_catalogue(
        "".join(
            f'[[wrong]]\nname = "w{k}"\ncell = "step_solution"\nreplace = "w"\nwith = "v"\n'
            for k in range(1, n_wrong + 1)
        )
    )
    return evaluate(root, "01_gradient_descent", rows, entries, validation)


def good_rows(n_wrong: int = 5) -> list[dict]:
    return [row("check-solution", 2, 1), row("check-release", 0, 0)] + [
        row(f"check-wrong-{k:02d}", 0, 1) for k in range(1, n_wrong + 1)
    ]


def test_expected_grades_pass_the_check(toy_root):
    report = judge(
        toy_root,
        good_rows(),
        **{"source/01_gradient_descent": {}, "release/01_gradient_descent": {}},
    )
    assert report.ok, report.problems
    assert (report.solution, report.release, report.caught) == ((3.0, 3.0), (0.0, 3.0), 5)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda rows: rows[0]["tests"].update(test_twice=(0.5, 1.0)), "source: test test_twice"),
        (lambda rows: rows[0].update(flags="unsandboxed"), "source: flagged"),
        (lambda rows: rows[1]["tests"].update(test_step=(2.0, 2.0)), "release: test test_step"),
        (lambda rows: rows[2]["tests"].update(test_step=(2.0, 2.0)), "'w1' passes every test"),
        (lambda rows: rows[3].update(error="notebook missing"), "'w2' was not graded"),
        (lambda rows: rows.pop(1), "the release notebook was not graded"),
    ],
)
def test_wrong_grades_fail_the_check(toy_root, change, problem):
    rows = good_rows()
    change(rows)
    report = judge(toy_root, rows)
    assert not report.ok and any(problem in p for p in report.problems), report.problems


def test_fails_lists_tests_that_must_fail(toy_root):
    entries = parse_catalogue(
        '[[wrong]]\nname = "w"\ncell = "step_solution"\n'
        'replace = "w"\nwith = "v"\nfails = ["test_step"]\n'
    )
    rows = [
        row("check-solution", 2, 1),
        row("check-release", 0, 0),
        row("check-wrong-01", 2, 0),
    ]  # test_twice fails, test_step does not
    report = evaluate(toy_root, "01_gradient_descent", rows, entries, {})
    assert any("test_step pass although `fails` lists them" in p for p in report.problems)


ISOLATED = (
    '[[wrong]]\nname = "w"\ncell = "step_solution"\n'
    'replace = "w"\nwith = "v"\nfails = ["test_step"]\nisolated = true\n'
)


def test_an_isolated_entry_that_costs_another_test_fails_the_check(toy_root):
    [entry] = parse_catalogue(ISOLATED)
    assert entry.isolated and entry.fails == ("test_step",)
    both = [row("check-solution", 2, 1), row("check-release", 0, 0), row("check-wrong-01", 0, 0.5)]
    report = evaluate(toy_root, "01_gradient_descent", both, [entry], {})
    assert report.caught == 0
    assert any(
        "'w' (isolated): test(s) test_twice lose points too" in p for p in report.problems
    ), report.problems


def test_an_isolated_entry_that_costs_only_its_tests_is_caught(toy_root):
    [entry] = parse_catalogue(ISOLATED)
    [plain] = parse_catalogue(ISOLATED.replace("isolated = true\n", ""))
    rows = [row("check-solution", 2, 1), row("check-release", 0, 0), row("check-wrong-01", 0, 1)]
    report = evaluate(toy_root, "01_gradient_descent", rows, [entry], {})
    assert report.caught == 1 and not any("isolated" in p for p in report.problems)
    rows[2] = row("check-wrong-01", 0, 0)  # without the key, costing more tests is fine
    report = evaluate(toy_root, "01_gradient_descent", rows, [plain], {})
    assert report.caught == 1


def test_failed_validation_fails_the_check(toy_root):
    report = judge(
        toy_root,
        good_rows(),
        **{
            "source/01_gradient_descent": {"failed": ["E"]},
            "release/01_gradient_descent": {"passed": ["x"]},
        },
    )
    assert (report.validate_source, report.validate_release) == ("fails", "some pass")
    assert len([p for p in report.problems if "nbgrader validate" in p]) == 2


# --- The check, end to end ------------------------------------------------------------------


@pytest.mark.slow
def test_check_reports_a_wrong_submission_that_is_not_caught(tmp_path):
    harmless = (
        '[[wrong]]\nname = "renamed variable"\ncell = "step_solution"\n'
        'replace = "moved_weight_1"\nwith = "new_w"\nall = true\n'
        # one bug that breaks both exercises, declared as costing only test_step
        '[[wrong]]\nname = "leaks into twice"\nfails = ["test_step"]\nisolated = true\n'
        'edits = [{cell = "step_solution", replace = "w - lr", with = "w + lr"},\n'
        '  {cell = "twice_solution", replace = "2 * x", with = "2 * x + 1"}]\n'
    )
    root = make_toy_course(tmp_path / "course")
    (root / "catalogue" / "01_gradient_descent.toml").write_text(
        (root / "catalogue" / "01_gradient_descent.toml").read_text() + harmless
    )
    release(root, TOY_IDS, progress=False)
    out = io.StringIO()
    [report] = check(root, ["01_gradient_descent"], out=out)
    assert report.solution == (3.0, 3.0), out.getvalue()
    assert report.release == (0.0, 3.0), out.getvalue()
    assert report.validate_source == "passes" and report.validate_release == "all fail"
    assert (report.caught, report.wrong) == (2, 4)
    assert not report.ok
    assert any("'renamed variable' passes every test" in p for p in report.problems)
    assert any(
        "'leaks into twice' (isolated): test(s) test_twice lose points too" in p
        for p in report.problems
    ), report.problems
    assert any("at least 5" in p for p in report.problems)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_the_graded_catalogue_holds_the_sample_and_every_isolated_entry(aid, tmp_path):
    wrong = load_catalogue(ROOT / "catalogue" / f"{aid}.toml")
    correct = load_catalogue(ROOT / "catalogue" / f"{aid}.toml", "correct")
    folder = graded_catalogue(ROOT / "catalogue", tmp_path, [aid], MAX_WRONG)
    graded = load_catalogue(folder / f"{aid}.toml")
    sampled = [wrong[k - 1] for k in sample(len(wrong), MAX_WRONG)]
    isolated = [wrong[k - 1] for k in first_isolated(wrong).values()]
    assert set(graded) == set(sampled) | set(isolated)  # the same entries, edits and keys
    # every solution cell with an isolated entry is graded with one
    cells = {edit.cell for e in wrong if e.isolated for edit in e.edits}
    assert cells <= {edit.cell for e in graded if e.isolated for edit in e.edits}
    assert len(graded) == len(set(graded))  # none twice
    assert set(load_catalogue(folder / f"{aid}.toml", "correct")) == {
        correct[k - 1] for k in sample(len(correct), MAX_WRONG)
    }


def test_the_graded_catalogue_keeps_isolated_entries_beyond_the_sample(tmp_path):
    # w2 and w3 are isolated entries of two cells, w4 a second one of w3's cell
    entries = "".join(
        f'[[wrong]]\nname = "w{k}"\ncell = "{"d" if k in (3, 4) else "c"}"\n'
        'replace = "a\\n\\"q\\""\nwith = "b"\n'
        + ('fails = ["t"]\nisolated = true\n' if k in (2, 3, 4) else "")
        for k in range(1, 8)
    )
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "x.toml").write_text(entries, encoding="utf-8")
    folder = graded_catalogue(tmp_path / "cat", tmp_path / "out", ["x"], 2)
    graded = load_catalogue(folder / "x.toml")
    assert [e.name for e in graded] == ["w1", "w2", "w3", "w7"]  # sample(7, 2) = 1, 7
    assert graded[1].isolated and graded[1].fails == ("t",) and not graded[0].isolated
    assert graded[0].edits[0].replace == 'a\n"q"'


# One check per notebook (what `course check ID` does for each ID; a check of several ids
# grades each one's submissions on their own): the longest test of make test in six pieces,
# which its two workers share. The check is the `checked` fixture (tests/conftest.py), whose
# graded solution tests/test_notebooks.py reads too: each notebook is executed once for both.
@pytest.mark.slow
def test_course_check_passes_for_every_notebook(checked):
    print(checked.table)
    assert [r.aid for r in checked.reports] == [checked.aid], checked.table
    assert all(r.ok for r in checked.reports), checked.table
