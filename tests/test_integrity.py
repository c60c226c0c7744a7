"""Cheat resistance of ``course grade``: the adversarial catalogue, graded in one run.

Each catalogue entry (tests/adversarial/catalogue.py) must score 0 on the tests it attacks
and carry its flag; the honest student graded in the same run keeps full marks.
"""

from __future__ import annotations

import sqlite3

import pytest
from adversarial import catalogue, toy

from course.grading import batch as grading_run
from course.isolation import sandbox
from course.nbgrader_ext.execute import NOT_SANDBOXED

pytestmark = pytest.mark.slow

SANDBOX = sandbox.bwrap_path() is not None
ENTRIES = [e for e in catalogue.ENTRIES if SANDBOX or not e.needs_sandbox]


def _submit_catalogue(root, entries):
    release = toy.release_notebook(root)
    toy.submit(root, "honest", toy.solved(root))
    for entry in entries + catalogue.HONEST:
        nb, files = catalogue.build(entry, release, root)
        folder = toy.submit(root, entry.name, nb, files=files)
        if entry.post:
            entry.post(folder, root)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = toy.build_course(tmp_path_factory.mktemp("course"))
    _submit_catalogue(root, ENTRIES)
    # robustness: what cannot be graded gives 0 and a flag, the others go on
    (root / "submitted" / "missing" / "toy").mkdir(parents=True)
    toy.submit(root, "invalid_json", raw='{"cells": [')
    toy.submit(root, "renamed", toy.solved(root), name="toy (1)")
    db_before = (root / "gradebook.db").stat().st_size
    rows = grading_run.grade(root, ["toy"], jobs=2, progress=False)
    return root, {r["student"]: r for r in rows}, db_before


NBGRADER_ENTRIES = [e for e in ENTRIES if not e.course_grade_only]


@pytest.fixture(scope="module")
def graded_by_nbgrader(tmp_path_factory):
    """The same catalogue through plain `nbgrader autograde`: nbgrader_config.py configures
    the trusted path, so nbgrader's own command must give the same verdicts."""
    import subprocess
    import sys

    from nbgrader.api import Gradebook

    root = toy.build_course(tmp_path_factory.mktemp("nbgrader"))
    _submit_catalogue(root, NBGRADER_ENTRIES)
    jupyter = [sys.executable, "-m", "nbgrader", "autograde", "toy", "--force"]
    out = subprocess.run(jupyter, cwd=root, env=toy.venv_env(), capture_output=True,
                         timeout=1200, text=True)
    (root / "nbgrader-autograde.log").write_text(out.stdout + out.stderr)
    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "toy") as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission("toy", student.id)
            except Exception:
                continue
            scores[student.id] = {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
    return scores


@pytest.mark.parametrize("entry", NBGRADER_ENTRIES, ids=lambda e: e.name)
def test_nbgrader_autograde_gives_no_point_to_the_catalogue(graded_by_nbgrader, entry):
    scores = graded_by_nbgrader.get(entry.name, {})
    for test in entry.zero:
        assert not scores.get(test), (test, scores)


def test_nbgrader_autograde_gives_correct_work_every_point(graded_by_nbgrader):
    for name in ["honest"] + [e.name for e in catalogue.HONEST]:
        scores = graded_by_nbgrader[name]
        assert scores["test_double"] == 2.0 and scores["test_total"] == 2.0, (name, scores)


def test_the_honest_student_gets_every_autograded_point(graded):
    _, rows, _ = graded
    honest = rows["honest"]
    assert honest["tests"] == {"test_double": (2.0, 2.0), "test_total": (2.0, 2.0)}
    assert honest["flags"] == ("" if SANDBOX else NOT_SANDBOXED)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_catalogue_entry_scores_zero_on_what_it_attacks_and_is_flagged(graded, entry):
    _, rows, _ = graded
    row = rows[entry.name]
    for test in entry.zero:
        assert row["tests"].get(test, (0.0, 0.0))[0] == 0.0, (test, row)
    if entry.flag:
        assert entry.flag in row["flags"], row["flags"]
    assert entry.zero or entry.flag, "an entry must be stopped or flagged"


@pytest.mark.parametrize("entry", catalogue.HONEST, ids=lambda e: e.name)
def test_correct_work_in_any_style_keeps_every_point_and_no_flag(graded, entry):
    _, rows, _ = graded
    row = rows[entry.name]
    autograded = {k: v for k, v in row["tests"].items() if k.startswith("test_")}
    assert autograded == {"test_double": (2.0, 2.0), "test_total": (2.0, 2.0)}, row
    assert row["flags"] == ("" if SANDBOX else NOT_SANDBOXED)


def test_no_submission_gets_more_than_the_maximum(graded):
    _, rows, _ = graded
    for row in rows.values():
        assert row["max_score"] == 5.0
        assert row["score"] <= row["max_score"]


@pytest.mark.parametrize(
    ("student", "reason"),
    [("missing", "toy.ipynb missing"), ("invalid_json", "unreadable"),
     ("renamed", "found toy (1).ipynb: renamed?")],
)
def test_an_ungradable_submission_gets_zero_and_the_reason(graded, student, reason):
    _, rows, _ = graded
    assert rows[student]["score"] == 0.0
    assert "not graded" in rows[student]["flags"]
    assert reason in rows[student]["flags"]


def test_the_gradebook_survives_the_catalogue(graded):
    root, rows, _ = graded
    con = sqlite3.connect(root / "gradebook.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    students = {s for (s,) in con.execute("SELECT id FROM student")}
    assert set(rows) <= students


def test_source_is_untouched(graded):
    root, _, _ = graded
    fixture = toy.FIXTURE / "source" / "toy" / "toy.ipynb"
    assert (root / "source" / "toy" / "toy.ipynb").read_bytes() == fixture.read_bytes()


def test_grades_csv_has_a_flags_column(graded):
    root, rows, _ = graded
    import csv

    with open(root / "grades.csv", newline="") as f:
        table = {r["student_id"]: r for r in csv.DictReader(f)}
    assert table["honest"]["flags"] == rows["honest"]["flags"]
    assert "defines __eq__" in table["fake_eq"]["flags"]


def test_feedback_shows_messages_but_not_hidden_tests(graded):
    root, _, _ = graded
    html = (root / "feedback" / "edit_test" / "toy" / "toy.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in html
    assert "np.ones(4)" not in html and "np.arange(3.0)" not in html
    assert "AssertionError" in html
