"""Cheat resistance of ``course grade``: the adversarial catalogue, graded in one run.

Each catalogue entry (tests/adversarial/catalogue.py) must score 0 on the tests it attacks
and carry its flag; the honest student graded in the same run keeps full marks.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from adversarial import catalogue, toy
from nbgrader.api import MissingEntry

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
# Submissions plain `nbgrader autograde` must refuse: SanitizeSubmission raises on a notebook
# that is a symbolic link, so nbgrader stops that submission (its grades stay empty, worth 0)
# and exits with 1, naming it in its log.
NBGRADER_REFUSES = {e.name for e in NBGRADER_ENTRIES if e.name == "symlink_notebook"}
ERROR_LINE = re.compile(r"There was an error processing assignment: \S*/submitted/([^/\s]+)/toy")


def _gradebook_scores(root) -> dict[str, dict[str, tuple[float, float | None]]]:
    """student -> {test id: (score nbgrader counts, auto_score)} of every grade in the
    gradebook, graded or not: a grade that no grader wrote has auto_score None (score 0)."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "toy") as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission("toy", student.id)
            except MissingEntry:
                continue
            scores[student.id] = {g.name: (float(g.score), g.auto_score)
                                  for nb in sub.notebooks for g in nb.grades}
    return scores


def _scores_of(scores: dict, name: str, tests) -> dict[str, tuple[float, float | None]]:
    """The grades of ``name`` for ``tests``; fails clearly on a never-graded submission or an
    unknown test id (a test of the toy course renamed without the catalogue)."""
    assert name in scores, f"{name}: no submission in the gradebook (never graded)"
    unknown = [t for t in tests if t not in scores[name]]
    assert not unknown, (f"{name}: no grade {unknown} in the gradebook (the toy course's "
                         f"tests are {sorted(scores[name])}): a renamed test id?")
    return {t: scores[name][t] for t in tests}


@pytest.fixture(scope="module")
def graded_by_nbgrader(tmp_path_factory):
    """The same catalogue through plain `nbgrader autograde`: nbgrader_config.py configures
    the trusted path, so nbgrader's own command must give the same verdicts."""
    import subprocess
    import sys

    root = toy.build_course(tmp_path_factory.mktemp("nbgrader"))
    _submit_catalogue(root, NBGRADER_ENTRIES)
    jupyter = [sys.executable, "-m", "nbgrader", "autograde", "toy", "--force"]
    out = subprocess.run(jupyter, cwd=root, env=toy.venv_env(), capture_output=True,
                         timeout=1200, text=True)
    log = out.stdout + out.stderr
    (root / "nbgrader-autograde.log").write_text(log)
    return out.returncode, log, _gradebook_scores(root), root


def test_nbgrader_autograde_fails_only_on_the_submissions_it_must_refuse(graded_by_nbgrader):
    returncode, log, _, _ = graded_by_nbgrader
    refused = set(ERROR_LINE.findall(log))
    assert refused == NBGRADER_REFUSES, (
        f"nbgrader autograde stopped on {sorted(refused)}, expected {sorted(NBGRADER_REFUSES)}:"
        f"\n{log[-3000:]}")
    assert returncode == (1 if NBGRADER_REFUSES else 0), (
        f"nbgrader autograde exited {returncode}:\n{log[-3000:]}")


@pytest.mark.parametrize("entry", NBGRADER_ENTRIES, ids=lambda e: e.name)
def test_nbgrader_autograde_gives_no_point_to_the_catalogue(graded_by_nbgrader, entry):
    _, _, scores, _ = graded_by_nbgrader
    for test, (score, _) in _scores_of(scores, entry.name, entry.zero).items():
        assert score == 0.0, (entry.name, test, scores[entry.name])


def test_nbgrader_autograde_gives_correct_work_every_point(graded_by_nbgrader):
    _, _, scores, _ = graded_by_nbgrader
    for name in ["honest"] + [e.name for e in catalogue.HONEST]:
        got = _scores_of(scores, name, ["test_double", "test_total"])
        assert {t: score for t, (score, _) in got.items()} == {
            "test_double": 2.0, "test_total": 2.0}, (name, got)


CHECKED = [e for e in ENTRIES if e.check]


def _autograded(root, student):
    import nbformat

    return nbformat.read(root / "autograded" / student / "toy" / "toy.ipynb", as_version=4)


@pytest.mark.parametrize("entry", CHECKED, ids=lambda e: e.name)
def test_what_the_entry_did_in_its_sandbox_was_contained(graded, entry):
    entry.check(_autograded(graded[0], entry.name))


@pytest.mark.parametrize("entry", [e for e in CHECKED if not e.course_grade_only],
                         ids=lambda e: e.name)
def test_what_the_entry_did_under_nbgrader_autograde_was_contained(graded_by_nbgrader, entry):
    entry.check(_autograded(graded_by_nbgrader[3], entry.name))


def test_the_honest_student_gets_every_autograded_point(graded):
    _, rows, _ = graded
    honest = rows["honest"]
    assert honest["tests"] == {"test_double": (2.0, 2.0), "test_total": (2.0, 2.0)}
    assert honest["flags"] == ("" if SANDBOX else NOT_SANDBOXED)


@pytest.fixture(scope="module")
def graded_scores(graded):
    root, _, _ = graded
    return _gradebook_scores(root)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_catalogue_entry_scores_zero_on_what_it_attacks_and_is_flagged(graded, graded_scores,
                                                                       entry):
    _, rows, _ = graded
    assert entry.name in rows, f"{entry.name}: course grade returned no row for it"
    row = rows[entry.name]
    # from the gradebook, not the row: the row leaves out grades no grader wrote
    for test, (score, _) in _scores_of(graded_scores, entry.name, entry.zero).items():
        assert score == 0.0, (entry.name, test, row)
        if test in row["tests"]:
            assert row["tests"][test][0] == 0.0, (entry.name, test, row)
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


# -- issue 19, hole 4: making grading fail must not keep an earlier grade ---------------------

def _resubmit_failures(root) -> None:
    """Each GRADING_FAILURES entry's submission, over the same student's honest one."""
    release = toy.release_notebook(root)
    for entry in catalogue.GRADING_FAILURES:
        nb, files = catalogue.build(entry, release, root)
        toy.submit(root, entry.name, nb, files=files)


@pytest.fixture(scope="module")
def regraded(tmp_path_factory):
    """``course grade`` of an honest full-marks submission per entry, then of the entry's
    submission in its place: {student: (first row, second row)} and the gradebook."""
    root = toy.build_course(tmp_path_factory.mktemp("regrade"))
    for entry in catalogue.GRADING_FAILURES:
        toy.submit(root, entry.name, toy.solved(root))
    first = {r["student"]: r for r in grading_run.grade(root, ["toy"], jobs=2, progress=False)}
    _resubmit_failures(root)
    second = {r["student"]: r for r in grading_run.grade(root, ["toy"], jobs=2, progress=False)}
    return {s: (first[s], second[s]) for s in first}, _gradebook_scores(root)


@pytest.fixture(scope="module")
def regraded_by_nbgrader(tmp_path_factory):
    """The same through plain ``nbgrader autograde`` (twice, with --force)."""
    import subprocess
    import sys

    root = toy.build_course(tmp_path_factory.mktemp("regrade-nbgrader"))
    for entry in catalogue.GRADING_FAILURES:
        toy.submit(root, entry.name, toy.solved(root))

    def autograde():
        out = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "toy", "--force"],
                             cwd=root, env=toy.venv_env(), capture_output=True, timeout=600,
                             text=True)
        return out.returncode, out.stdout + out.stderr

    first = autograde()
    honest = _gradebook_scores(root)
    _resubmit_failures(root)
    second = autograde()
    return first, honest, second, _gradebook_scores(root)


@pytest.mark.parametrize("entry", catalogue.GRADING_FAILURES, ids=lambda e: e.name)
def test_a_resubmission_that_breaks_grading_replaces_the_earlier_grade(regraded, entry):
    rows, scores = regraded
    first, second = rows[entry.name]
    assert first["score"] == 4.0 and not first["error"], first
    assert not second["error"], f"{entry.name}: not graded ({second['flags']})"
    assert "not graded" not in second["flags"], second["flags"]
    for test, (score, auto) in _scores_of(scores, entry.name, entry.zero).items():
        assert score == 0.0 and auto == 0.0, (entry.name, test, scores[entry.name])
    if entry.flag:
        assert entry.flag in second["flags"], second["flags"]


@pytest.mark.parametrize("entry", catalogue.GRADING_FAILURES, ids=lambda e: e.name)
def test_nbgrader_autograde_records_a_resubmission_that_breaks_grading(regraded_by_nbgrader,
                                                                       entry):
    (code1, log1), honest, (code2, log2), scores = regraded_by_nbgrader
    assert code1 == 0, log1[-3000:]
    got = _scores_of(honest, entry.name, ["test_double", "test_total"])
    assert {t: s for t, (s, _) in got.items()} == {"test_double": 2.0, "test_total": 2.0}
    assert code2 == 0, f"nbgrader autograde refused a resubmission:\n{log2[-3000:]}"
    for test, (score, auto) in _scores_of(scores, entry.name, entry.zero).items():
        assert score == 0.0 and auto == 0.0, (entry.name, test, scores[entry.name])
