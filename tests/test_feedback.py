"""nbgrader's own commands give what `course grade` gives: feedback without hidden tests,
readable and offline, and an export with the flags column (issue 10, "one pipeline")."""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import pytest
from adversarial import catalogue, toy

from course.isolation import sandbox
from course.nbgrader_ext.execute import NOT_SANDBOXED
from course.nbgrader_ext.feedback import math_to_mathml

SANDBOX = sandbox.bwrap_path() is not None

pytestmark = pytest.mark.slow

HIDDEN = ["np.arange(3.0)", "np.ones(4)", "BEGIN HIDDEN", "[0.5]"]


def _nbgrader(root, *args):
    out = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root,
                         env=toy.venv_env(), capture_output=True, text=True, timeout=600)
    return out


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    root = toy.build_course(tmp_path_factory.mktemp("feedback"))
    release = toy.release_notebook(root)
    toy.submit(root, "honest", toy.solved(root))
    wrong = toy.solved(root)
    toy.cell(wrong, "double").source = catalogue.WRONG_DOUBLE
    toy.submit(root, "wrong", wrong)
    patched = catalogue.build(catalogue.ENTRIES[0], release, root)[0]  # patch_allclose
    toy.submit(root, "patcher", patched)
    steps = {}
    for step in (["autograde", "toy", "--force"], ["generate_feedback", "toy", "--force"],
                 ["export"]):
        steps[step[0]] = _nbgrader(root, *step)
    return root, steps


def test_nbgrader_commands_succeed(term):
    _, steps = term
    for name, out in steps.items():
        assert out.returncode == 0, (name, out.stdout[-2000:], out.stderr[-2000:])


def test_feedback_of_nbgrader_itself_shows_no_hidden_test(term):
    root, _ = term
    pages = list((root / "feedback").rglob("*.html"))
    assert len(pages) == 3
    for page in pages:
        text = page.read_text()
        for line in HIDDEN:
            assert line not in text, (page, line)


def test_feedback_names_each_test_with_its_points_and_wraps_messages(term):
    root, _ = term
    text = (root / "feedback" / "wrong" / "toy" / "toy.html").read_text()
    assert "Test <code>test_double</code>" in text and "(Score: 0.0 / 2.0)" in text
    assert "Test <code>test_total</code>" in text and "(Score: 2.0 / 2.0)" in text
    assert "AssertionError" in text and "expected [2. 4.]" in text  # the message is kept
    assert "white-space: pre-wrap" in text


def test_feedback_loads_nothing_and_its_math_is_mathml(term):
    root, _ = term
    text = (root / "feedback" / "honest" / "toy" / "toy.html").read_text()
    assert "<math" in text and "∅" in text  # the ∅ of the written question
    assert not re.search(r"""<script[^>]+src=["']?https?:""", text)
    assert "cdnjs" not in text and not re.search(r"<script[^>]*mathjax", text, re.I)


def test_nbgrader_export_has_the_flags_column(term):
    root, _ = term
    with open(root / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert "flags" in rows["honest"]
    assert rows["honest"]["flags"] == ("" if SANDBOX else NOT_SANDBOXED)
    assert "assigns to module attribute numpy.allclose" in rows["patcher"]["flags"]
    assert float(rows["patcher"]["score"]) == 0.0  # the patch did not help
    assert float(rows["honest"]["score"]) == 4.0


def test_math_conversion_leaves_code_escapes_and_unknown_tex_alone():
    for markdown in ["price `$5` and \\$3", "$$\\begin{unknowncommand}$$"]:
        assert math_to_mathml(markdown) == markdown
    assert "<math" in math_to_mathml("a $x^2$ b")
