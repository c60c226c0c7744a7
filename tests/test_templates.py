"""The course's HTML templates extend nbgrader's instead of copying them (issue 18, item 4):
formgrader's page is nbgrader's with MathJax from the server, the feedback page nbgrader's
with tests named by their grade id, wrapped output and no MathJax."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter

from course.nbgrader_ext import feedback

OURS = Path(feedback.TEMPLATE_BASEDIRS[0])
NBGRADER = Path(feedback.NBGRADER_TEMPLATES)
# template folder -> the nbgrader template it builds on
BASES = {feedback.TEMPLATE: "feedback", feedback.FORMGRADE_TEMPLATE: "formgrade"}
MAX_LINES = 60
NBCONVERT_BASE = next(Path(p) for p in HTMLExporter(template_name="classic").template_paths
                      if Path(p).parts[-3:] == ("nbconvert", "templates", "base"))


def _lines(path: Path) -> set[str]:
    """The lines of a template worth comparing: long enough not to be shared by chance."""
    return {line.strip() for line in path.read_text().splitlines() if len(line.strip()) >= 30}


@pytest.mark.parametrize("name", sorted(BASES))
def test_each_template_builds_on_nbgrader_and_copies_none_of_it(name):
    folder = OURS / name
    assert json.loads((folder / "conf.json").read_text())["base_template"] == BASES[name]
    base = NBGRADER / BASES[name]
    upstream = set().union(*(_lines(p) for p in base.glob("*.j2")))
    assert upstream, f"nbgrader's {base} has no templates: has nbgrader moved them?"
    for path in folder.glob("*.j2"):
        text = path.read_text()
        assert len(text.splitlines()) <= MAX_LINES, f"{path} is long: is it a copy?"
        copied = _lines(path) & upstream
        assert len(copied) <= 2, f"{path} copies nbgrader's {base}: {sorted(copied)[:5]}"
        if path.name == "index.html.j2":  # the page itself: nbgrader's, extended
            assert re.match(rf"{{%-? extends '{BASES[name]}/index.html.j2' -?%}}", text), path
        else:  # a partial of nbconvert's that this folder replaces, by the same name
            assert (NBCONVERT_BASE / path.name).exists(), path


def _notebook():
    nb = nbformat.v4.new_notebook()
    question = nbformat.v4.new_markdown_cell("What is $\\emptyset \\cup A$?")
    answer = nbformat.v4.new_code_cell("def double(x):\n    return 2 * x")
    test = nbformat.v4.new_code_cell("assert double(1) == 2")
    written = nbformat.v4.new_markdown_cell("$A$, always.")
    meta = [(answer, dict(solution=True, grade=True, grade_id="answer_double", points=1.0)),
            (test, dict(solution=False, grade=True, grade_id="test_double", points=2.0)),
            (written, dict(solution=True, grade=True, grade_id="union", points=1.0))]
    for cell, nbgrader in meta:
        cell.metadata["nbgrader"] = dict(nbgrader, score=nbgrader["points"] / 2,
                                         locked=False, schema_version=3)
    nb.cells = [question, answer, test, written]
    return nb


def test_feedback_page_is_nbgraders_with_the_course_changes():
    resources = {"nbgrader": {"notebook": "toy", "score": 2.0, "max_score": 4.0,
                              "late_penalty": 0.0}}
    page, _ = feedback.FeedbackExporter().from_notebook_node(
        feedback.MathToMathML().preprocess(_notebook(), {})[0], resources=resources)
    # nbgrader's page: its summary and its cell panels
    assert "toy (Score: 2.0 / 4.0)" in page and 'class="panel panel-primary nbgrader_cell"' in page
    # the course's names, in the summary and the headings, never nbgrader's generic ones
    assert '<a href="#test_double">Test <code>test_double</code></a> (Score: 1.0 / 2.0)' in page
    assert '<a href="#answer_double">Your code <code>answer_double</code></a>' in page
    assert '<a href="#union">Written answer <code>union</code></a>' in page
    assert '<span class="nbgrader-label">Test <code>test_double</code></span>' in page
    for generic in (">Test cell<", "Coding free-response", "Written response", "Grade cell:"):
        assert generic not in page
    assert "white-space: pre-wrap" in page.split("</head>")[0]
    # nothing loaded: math is MathML
    assert "<math" in page and "cdnjs" not in page and not re.search(r"<script[^>]+src=", page)


def _formgrade_page(base_url: str) -> str:
    exporter = HTMLExporter(template_name=feedback.FORMGRADE_TEMPLATE,
                            extra_template_basedirs=feedback.TEMPLATE_BASEDIRS)
    resources = {"base_url": base_url, "notebook_id": "toy", "submission_id": "s1",
                 "assignment_id": "toy", "index": 0, "total": 1, "student": "ada",
                 "last_name": "L", "first_name": "A", "notebook_path": "/notebooks/toy.ipynb"}
    return exporter.from_notebook_node(_notebook(), resources=resources)[0]


def test_formgrade_page_is_nbgraders_with_mathjax_from_the_server():
    page = _formgrade_page("/user/ada")
    # nbgrader's page: its scripts and its stylesheet
    assert '<script src="/user/ada/formgrader/static/js/formgrade.js">' in page
    assert 'href="/user/ada/formgrader/static/css/formgrade.css"' in page
    # MathJax's configuration is nbconvert's; MathJax itself is not from a CDN
    assert page.count('<script type="text/x-mathjax-config">') == 1
    assert "/static/jupyter_server_mathjax/MathJax.js" in page
    assert "cdnjs" not in page and 'src=""' not in page
    assert not re.search(r"""<script[^>]+src=["']?https?:""", page)


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the page's script")
@pytest.mark.parametrize(("base_url", "expected"), [
    ("/user/ada", "/user/ada/static/jupyter_server_mathjax/MathJax.js"),
    ("", "/static/jupyter_server_mathjax/MathJax.js"),
])
def test_formgrade_page_loads_mathjax_from_its_own_server(base_url, expected):
    """The script that loads MathJax, run as the browser would (node with a stand-in
    ``document``), asks the page's own server for it, under the server's base URL."""
    page = _formgrade_page(base_url)
    loader = re.search(r"<script type=\"text/javascript\">\s*(\(function \(\) \{.*?"
                       r"jupyter_server_mathjax.*?\}\)\(\);)\s*</script>", page, re.S)
    assert loader, "the MathJax loader is missing"
    declared = re.search(r'var base_url = "[^"]*";', page).group(0)  # nbgrader's header
    script = ("var written = []; var document = {write: function (s) { written.push(s); }};"
              "var window = {location: {pathname: '/nowhere/'}};"
              f"{declared}\n{loader.group(1)}\nconsole.log(written.join(''));")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    src = re.search(r'src="([^"]*)"', out.stdout).group(1)
    assert src == f"{expected}?config=TeX-AMS-MML_HTMLorMML-full,Safe"
