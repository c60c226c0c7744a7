"""What the feedback page shows (issue 21): math in headings as MathML like the body, no blank
comment, no log line about ``display_data_priority``, and the failing check's message alone.

The pages are parsed as HTML (``html.parser``): a heading's math must be an element named
``math`` (which an HTML parser puts in MathML's namespace), never ``ns0:math`` (an unknown
element, shown as its text), and no text outside ``<math>`` may be TeX."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from course.nbgrader_ext import feedback

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "release").iterdir() if p.is_dir())
HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
# TeX as a reader would see it unrendered: a dollar, a backslash command, ^ or _ next to a
# letter or brace, y^=wx+b (what the browser showed of ns0:math)
RAW_TEX = re.compile(r"\$|\\[A-Za-z]+|[\w}]\^|\^[\w{=]|[\w}]_\{")
RESOURCES = {"nbgrader": {"notebook": "nb", "score": 1.0, "max_score": 2.0, "late_penalty": 0.0}}


def render(nb) -> str:
    """The feedback page of ``nb`` (its Markdown through MathToMathML, as GenerateFeedback)."""
    nb = feedback.MathToMathML().preprocess(nb, {})[0]
    return feedback.FeedbackExporter().from_notebook_node(nb, resources=RESOURCES)[0]


def text_outside_math(element) -> str:
    return "".join(s for s in element.find_all(string=True)
                   if s.find_parent("math") is None and s.parent.name not in ("style", "script"))


def check_math(page: str) -> int:
    """Assert that the page's headings and body show no raw TeX and that every formula is a
    ``math`` element; return the number of headings with math."""
    soup = BeautifulSoup(page, "html.parser")
    prefixed = [t.name for t in soup.find_all(True) if ":" in t.name]
    assert not prefixed, f"namespace-prefixed elements (shown as text): {sorted(set(prefixed))}"
    with_math = 0
    for heading in soup.find_all(HEADINGS):
        assert not RAW_TEX.search(text_outside_math(heading)), heading
        with_math += bool(heading.find("math"))
    for cell in soup.select("div.text_cell_render"):
        text = text_outside_math(cell)
        # code spans may show TeX on purpose (e.g. a docstring); the prose may not
        for code in cell.find_all(["code", "pre"]):
            text = text.replace(text_outside_math(code), "")
        assert not RAW_TEX.search(text), RAW_TEX.search(text).group(0) + ": " + text[:300]
    return with_math


def test_a_heading_with_math_shows_mathml_like_the_body():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Part 2 — Linear regression $\\hat y = wx + b$"),
                nbformat.v4.new_markdown_cell("The model $\\hat y_i = w x_i + b$ and $$L(w)$$.")]
    page = render(nb)
    assert check_math(page) == 1
    heading = BeautifulSoup(page, "html.parser").find("h2")
    assert heading.find("math").get("display") == "inline"
    assert heading["id"] and heading.find("a", class_="anchor-link")  # nbconvert's anchor kept
    # the hat is the circumflex accent U+02C6 on the letter, not "^" (U+005E) floating above
    hat = heading.find("mover").find("mo").get_text()
    assert hat == "\u02c6", repr(hat)


@pytest.mark.slow  # 3 to 6 s each
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_released_notebook_renders_its_math(assignment):
    """The course's own Markdown (issue 21 counted 3 headings with math in 01, 2 in 02, 1 in
    04, 2 in 05, shown raw): every heading and paragraph is MathML or plain text."""
    nb = nbformat.read(ROOT / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:  # what GetGrades adds from the gradebook
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata.nbgrader.score = 0.0
    headings = sum(1 for c in nb.cells if c.cell_type == "markdown"
                   for line in c.source.splitlines() if line.startswith("#") and "$" in line)
    assert check_math(render(nb)) == headings


def test_blank_comments_have_no_entry_and_no_box():
    nb = nbformat.v4.new_notebook()
    comments = {"blank": "", "space": "  ", "newline": "\n", "none": None,
                "auto": "No response.", "manual": "Check the sign of the step."}
    for grade_id, comment in comments.items():
        cell = nbformat.v4.new_code_cell(f"def {grade_id}(): pass")
        cell.metadata["nbgrader"] = dict(solution=True, grade=True, grade_id=grade_id,
                                         points=1.0, score=1.0, locked=False, schema_version=3,
                                         comment=comment)
        nb.cells.append(cell)
    nb = feedback.DropBlankComments().preprocess(nb, {})[0]
    soup = BeautifulSoup(feedback.FeedbackExporter().from_notebook_node(
        nb, resources=RESOURCES)[0], "html.parser")
    entries = [a.get_text(" ", strip=True) for a in soup.select('#toc a[href^="#comment-"]')]
    assert entries == ["Comment on auto", "Comment on manual"]
    boxes = [box.get_text(" ", strip=True) for box in soup.select("div.panel-footer")]
    assert boxes == ["Comments: No response.", "Comments: Check the sign of the step."]


def test_no_feedback_step_logs_an_unrecognized_option(caplog):
    """GenerateFeedback's exporter sets NbConvertBase.display_data_priority; nbgrader's base
    class does not accept it as config, and traitlets said so once per step."""
    config = Config(HTMLExporter().default_config)
    assert "display_data_priority" in config.NbConvertBase  # what the steps are given
    with caplog.at_level(logging.WARNING):
        for step in feedback.PREPROCESSORS:
            import_item(step)(config=config)
    assert not [r.getMessage() for r in caplog.records if "not recognized" in r.getMessage()]


def test_clear_hidden_tests_keeps_its_configuration():
    config = Config()
    config.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET"
    assert feedback.ClearHiddenTests(config=config).begin_test_delimeter == "BEGIN SECRET"


def _page_with_images():
    """A notebook whose page has images with and without alternative text: a plot (PNG), an
    HTML output with its own ``alt``, one without, and a Markdown image."""
    nb = nbformat.v4.new_notebook()
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
           "AAAABJRU5ErkJggg==")
    nb.cells = [
        nbformat.v4.new_markdown_cell('An image: ![a dot](dot.png) <img src="raw.png">'),
        nbformat.v4.new_code_cell("plot()", outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "x"}),
            nbformat.v4.new_output("display_data", data={
                "text/html": '<img alt="given" src="a.png"><IMG\nsrc="b.png"/><imgx>'}),
            nbformat.v4.new_output("stream", text="<img src=c.png> printed, not markup\n"),
        ]),
    ]
    return nb


def test_the_page_is_nbconvert_s_without_its_reparse():
    """FeedbackExporter converts as nbconvert's HTMLExporter does but leaves out its
    BeautifulSoup pass (half the time of a page): the same document once both are parsed,
    every image with alternative text, as nbconvert gives it."""
    nb = _page_with_images()
    exporter = feedback.FeedbackExporter()
    ours = exporter.from_notebook_node(nbformat.from_dict(nb), resources=RESOURCES)[0]
    nbconvert_s = HTMLExporter.from_notebook_node(exporter, nbformat.from_dict(nb),
                                                  resources=RESOURCES)[0]
    assert "No description has been provided" in nbconvert_s  # nbconvert's pass did add it
    assert (str(BeautifulSoup(ours, "html.parser"))
            == str(BeautifulSoup(nbconvert_s, "html.parser")))
    images = BeautifulSoup(ours, "html.parser").find_all("img")
    assert len(images) == 5 and all(img.get("alt") for img in images)
    assert [img["alt"] for img in images if img["alt"] != feedback.NO_ALT] == ["a dot", "given"]
    assert "&lt;img src=c.png&gt; printed" in ours  # text that shows "<img" is left alone


def test_a_second_page_reuses_the_compiled_templates(monkeypatch):
    """GenerateFeedback makes a new exporter per submission; the templates are compiled once
    per process (and a changed template source is compiled again: Jinja's checksum)."""
    feedback.FeedbackExporter().from_notebook_node(_page_with_images(), resources=RESOURCES)
    compiled = []
    original = feedback.jinja2.Environment.compile
    monkeypatch.setattr(feedback.jinja2.Environment, "compile",
                        lambda self, *a, **k: compiled.append(a) or original(self, *a, **k))
    page = feedback.FeedbackExporter().from_notebook_node(_page_with_images(),
                                                          resources=RESOURCES)[0]
    assert compiled == [] and "Comments" not in page and "<html" in page
