"""Through `course grade` and plain `nbgrader autograde` (toy course +
tests/adversarial/hidden_helpers.py): a hidden test's helpers never reach the student's
feedback, whatever the student's code does with them (issue 19, hole 3); a test cell that
rebinds or deletes a student's name acts on the student's namespace for that cell, as in
plain nbgrader."""

from __future__ import annotations

import nbformat
import pytest
from adversarial import hidden_helpers, toy

from course.grading import batch as grading_run
from course.isolation import sandbox
from course.nbgrader_ext.execute import NOT_SANDBOXED
from course.nbgrader_ext.testcell import HIDDEN_NOTE

pytestmark = pytest.mark.slow

SANDBOX = sandbox.bwrap_path() is not None
FULL = {"test_double": (2.0, 2.0), "test_total": (2.0, 2.0), "test_grads": (2.0, 2.0),
        "test_rebind": (1.0, 1.0), "test_restored": (1.0, 1.0)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = toy.build_course(tmp_path_factory.mktemp("hidden"), hidden_helpers.extra_cells())
    toy.submit(root, "honest", toy.solved(root))
    toy.submit(root, "spy", hidden_helpers.spy_submission(toy.solved(root)))
    rows = grading_run.grade(root, ["toy"], jobs=2, progress=False)
    return root, {r["student"]: r for r in rows}


def _outputs_text(root, student):
    nb = nbformat.read(root / "autograded" / student / "toy" / "toy.ipynb", as_version=4)
    texts = []
    for c in nb.cells:
        for out in c.get("outputs", []):
            texts += [str(out.get("text", "")), str(out.get("evalue", "")),
                      "\n".join(out.get("traceback", [])), str(out.get("data", ""))]
    return "\n".join(texts)


def _test_cell_outputs(root, student, grade_id):
    nb = nbformat.read(root / "autograded" / student / "toy" / "toy.ipynb", as_version=4)
    return toy.cell(nb, grade_id).outputs


def test_the_honest_student_gets_every_point_and_no_flag(graded):
    _, rows = graded
    row = rows["honest"]
    assert {k: v for k, v in row["tests"].items() if k.startswith("test_")} == FULL, row
    assert row["flags"] == ("" if SANDBOX else NOT_SANDBOXED)


def test_rebinding_and_deleting_a_student_name_act_on_the_students_namespace(graded):
    root, rows = graded
    # the fake was called by sum_of_squares, `del squares` made it raise NameError, and the
    # next test sees the student's squares again
    assert rows["honest"]["tests"]["test_rebind"] == (1.0, 1.0)
    assert rows["honest"]["tests"]["test_restored"] == (1.0, 1.0)
    assert rows["spy"]["tests"]["test_restored"] == (1.0, 1.0)


def test_prints_are_kept_in_visible_tests_and_replaced_by_a_note_in_hidden_ones(graded):
    root, _ = graded
    visible = _test_cell_outputs(root, "honest", "test_rebind")
    assert any("summing the squares up to 3" in o.get("text", "") for o in visible), visible
    hidden = _test_cell_outputs(root, "spy", "test_grads")
    assert any(o.get("text") == HIDDEN_NOTE for o in hidden), hidden


def test_a_spying_student_learns_nothing_of_the_hidden_helpers(graded):
    root, rows = graded
    assert rows["spy"]["tests"]["test_grads"] == (0.0, 2.0)  # it raised its log
    outputs = _outputs_text(root, "spy")
    feedback = (root / "feedback" / "spy" / "toy" / "toy.html").read_text()
    assert "test function" in outputs  # what it printed in the later cell: opaque names
    for secret in hidden_helpers.SECRETS:
        assert secret not in outputs, (secret, outputs[:3000])
        assert secret not in feedback, secret


@pytest.fixture(scope="module")
def graded_by_nbgrader(tmp_path_factory):
    """The same two submissions through plain ``nbgrader autograde`` and ``nbgrader
    generate_feedback`` (the course's nbgrader_config.py: the trusted path)."""
    import subprocess
    import sys

    root = toy.build_course(tmp_path_factory.mktemp("hidden-nbgrader"),
                            hidden_helpers.extra_cells())
    toy.submit(root, "honest", toy.solved(root))
    toy.submit(root, "spy", hidden_helpers.spy_submission(toy.solved(root)))
    for command in ("autograde", "generate_feedback"):
        out = subprocess.run([sys.executable, "-m", "nbgrader", command, "toy"], cwd=root,
                             env=toy.venv_env(), capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stdout + out.stderr
    return root


def test_plain_nbgrader_autograde_keeps_the_hidden_helpers_from_the_spy_too(graded_by_nbgrader):
    from nbgrader.api import Gradebook

    root = graded_by_nbgrader
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "toy") as gb:
        scores = {s: gb.find_submission("toy", s).score for s in ("honest", "spy")}
    assert scores["honest"] == sum(earned for earned, _ in FULL.values()), scores
    assert scores["spy"] < scores["honest"], scores  # its test_grads raised its log
    outputs = _outputs_text(root, "spy")
    feedback = (root / "feedback" / "spy" / "toy" / "toy.html").read_text()
    for secret in hidden_helpers.SECRETS:
        assert secret not in outputs, (secret, outputs[:3000])
        assert secret not in feedback, secret
