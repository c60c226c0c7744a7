"""nbgrader's own commands give what `course grade` gives: feedback without hidden tests,
readable and offline, and an export with the flags column (issue 10, "one pipeline")."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import nbformat
import pytest
from adversarial import catalogue, toy
from bs4 import BeautifulSoup

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
    wrong.cells += _student_cells()
    toy.submit(root, "wrong", wrong)
    patched = catalogue.build(catalogue.ENTRIES[0], release, root)[0]  # patch_allclose
    toy.submit(root, "patcher", patched)
    steps = {"autograde": _nbgrader(root, "autograde", "toy", "--force")}
    _comment(root, "wrong", {"double": " \n", "total": "Check the empty sum."})
    for step in (["generate_feedback", "toy", "--force"], ["export"]):
        steps[step[0]] = _nbgrader(root, *step)
    return root, steps


def _student_cells():
    """What a student adds (issue 21): a heading with math, a function whose arithmetic
    overflows (a warning naming ipykernel's file of its cell), numpy's own warning (a file
    of the Python installation), a call of lib's withheld reference (a traceback into the
    scratch folder's lib/toy.py)."""
    return [nbformat.v4.new_markdown_cell("## My check of $\\hat y = 2x$"),
            nbformat.v4.new_code_cell("def blow_up(x):\n    return np.float64(x) * 1e308"),
            nbformat.v4.new_code_cell("blow_up(10.0)\nnp.mean(np.array([]))"),
            nbformat.v4.new_code_cell("toy.twice(np.ones(2))")]


def _comment(root, student, comments):
    """The comments formgrader would save: a grader's text, or what a cleared box held."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for grade_id, text in comments.items():
            gb.find_comment(grade_id, "toy", "toy", student).manual_comment = text
        gb.db.commit()


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


# site-packages only as <python>/site-packages (in HTML, &lt;python&gt;/site-packages)
RAW_PATHS = re.compile(r"course-nb-|/tmp/|ipykernel_|\.venv"
                       r"|(?<!<python>)(?<!&lt;python&gt;)/(site|dist)-packages")


def test_generate_feedback_logs_no_unrecognized_option(term):
    _, steps = term
    assert "not recognized" not in steps["generate_feedback"].stderr


def test_feedback_and_graded_notebook_name_no_file_of_the_grading_machine(term):
    root, _ = term
    page = (root / "feedback" / "wrong" / "toy" / "toy.html").read_text()
    graded = (root / "autograded" / "wrong" / "toy" / "toy.ipynb").read_text()
    for text in (page, graded):
        found = RAW_PATHS.search(text)
        assert not found, text[found.start() - 200:found.end() + 100]
    nb = nbformat.reads(graded, as_version=4)
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells[-3:]])
    # the student's own cell and line (the In[] of the cell that defined blow_up), the
    # Python installation, and the student edition of lib by its path in the notebook folder
    count = nb.cells[-3].execution_count
    assert f"Cell In[{count}], line 2: RuntimeWarning: overflow" in outputs
    assert "<python>/site-packages/numpy/" in outputs and "lib/toy.py:" in outputs


def test_feedback_heading_math_is_mathml(term):
    root, _ = term
    soup = BeautifulSoup((root / "feedback" / "wrong" / "toy" / "toy.html").read_text(),
                         "html.parser")
    (heading,) = [h for h in soup.find_all("h2") if "My check" in h.get_text()]
    assert heading.find("math") is not None and not heading.find_all("ns0:math")
    outside = "".join(s for s in heading.find_all(string=True) if s.find_parent("math") is None)
    assert "$" not in outside and "\\hat" not in outside


def test_feedback_lists_only_comments_that_say_something(term):
    root, _ = term
    soup = BeautifulSoup((root / "feedback" / "wrong" / "toy" / "toy.html").read_text(),
                         "html.parser")
    entries = [a.get_text(" ", strip=True) for a in soup.select('#toc a[href^="#comment-"]')]
    assert entries == ["Comment on total"]
    assert [b.get_text(" ", strip=True) for b in soup.select("div.panel-footer")] == \
        ["Comments: Check the empty sum."]


def test_failing_test_shows_its_message_first(term):
    """The feedback's error output of a failed test is its message alone; in the graded
    notebook (formgrader) the message is the first line, before the traceback."""
    root, _ = term
    soup = BeautifulSoup((root / "feedback" / "wrong" / "toy" / "toy.html").read_text(),
                         "html.parser")
    anchor = soup.find("a", attrs={"name": "test_double"})
    error = anchor.find_next("div", class_="output_error")
    lines = error.get_text().strip().splitlines()
    assert lines[0].startswith("AssertionError: ") and "expected [2. 4.]" in lines[0], lines
    nb = nbformat.read(root / "autograded" / "wrong" / "toy" / "toy.ipynb", as_version=4)
    (out,) = [o for o in toy.cell(nb, "test_double").outputs if o.output_type == "error"]
    assert out.traceback[0] == f"AssertionError: {out.evalue}"
