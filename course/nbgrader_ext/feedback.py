"""Feedback a student wants to read: nbgrader's GenerateFeedback, made safe and legible.

* **No hidden tests.** nbgrader 0.9.6 has no switch for this (jupyter/nbgrader#1363): the
  hidden-test regions are cleared from the feedback copy by nbgrader's own
  ``ClearHiddenTests``, and the tracebacks of test cells, which quote the failing line of a
  (hidden) test, are cut to their message (:class:`HideTestTracebacks`).
* **Legible.** The page (``course/nbgrader_ext/templates/course_feedback``, which extends
  nbgrader's ``feedback`` page and overrides only what it changes) names each test by its grade
  id with its points, and wraps long failure messages instead of scrolling them sideways.
  Blank comments are dropped (:class:`DropBlankComments`), the others' entries name their
  answer. File names of the grading machine never reach it: TrustedExecute rewrote them in
  the graded notebook (:mod:`course.nbgrader_ext.paths`).
* **Offline math.** The page loads nothing: :class:`MathToMathML` turns the Markdown's
  ``$...$`` and ``$$...$$`` into MathML, which browsers typeset natively, so feedback opened
  from disk or in JupyterLab shows formulas without MathJax or a network, headings included.

Configured in ``nbgrader_config.py`` (``GenerateFeedback.preprocessors`` and
``exporter_class``), so formgrader's *Generate Feedback*, ``nbgrader generate_feedback`` and
``course grade`` produce the same pages.
"""

from __future__ import annotations

import html
import os
import re

import jinja2
import nbgrader
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader import preprocessors as nbgrader_steps
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, default, validate

PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "course.nbgrader_ext.feedback.DropBlankComments",
    "course.nbgrader_ext.feedback.ClearHiddenTests",
    "course.nbgrader_ext.feedback.HideTestTracebacks",
    "course.nbgrader_ext.feedback.MathToMathML",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
TEMPLATE = "course_feedback"
FORMGRADE_TEMPLATE = "course_formgrade"  # formgrader's page (c.HTMLExporter.template_name)
# nbgrader's formgrader templates: a base directory (its ``feedback`` and ``formgrade``
# templates are the bases of the course's) and a search path, where the course's feedback
# page finds the page it extends by the name ``feedback/index.html.j2``
_FORMGRADER = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")
NBGRADER_TEMPLATES = os.path.join(_FORMGRADER, "templates")
# the stylesheet nbgrader's feedback page inlines (GenerateFeedback adds it to the search path)
_BOOTSTRAP_CSS = os.path.join(_FORMGRADER, "static", "node_modules", "bootstrap", "dist", "css")
TEMPLATE_BASEDIRS = [
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates"),
    NBGRADER_TEMPLATES,
]


class _TemplateCache(jinja2.BytecodeCache):
    """Compiled templates kept in this process: GenerateFeedback makes a new exporter, and so
    a new Jinja environment, for every submission, which parsed and compiled the page's ten
    templates again each time. Jinja checks each entry against the template's source."""

    def __init__(self):
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket):
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _TemplateCache()
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\salt=)(?=[\s>/])", re.I)
NO_ALT = "No description has been provided for this image"  # nbconvert's words


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter with the course's feedback page.

    GenerateFeedback configures every HTMLExporter with nbgrader's own ``feedback``
    template (and re-applies that config later); this exporter uses the course's page where
    nbgrader's is asked for, and any other template configured by name.

    It converts as HTMLExporter does (nbconvert >=7.17,<7.18, pyproject.toml) without its
    BeautifulSoup pass, which parsed and re-serialised the whole page, half the time of a
    feedback page, to give images without one nbconvert's alternative text (done here on the
    markup) and to make ``.jp-Notebook`` cells focusable (the course's page is nbgrader's
    classic-based one, which has none); compiled templates are kept per process.
    """

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _TEMPLATES
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter.from_notebook_node of nbconvert 7.17 up to its BeautifulSoup pass
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources)
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return _IMG_WITHOUT_ALT.sub(f'<img alt="{NO_ALT}"', page), resources

    @default("template_name")
    def _template_name_default(self):
        return TEMPLATE

    # the same name as TemplateExporter's validator, which it replaces (one per trait)
    @validate("template_name")
    def _template_name_validate(self, proposal):
        value = super()._template_name_validate(proposal)
        # nbgrader's feedback page, or the HTMLExporter default of nbgrader_config.py (which
        # is formgrader's page): this exporter writes feedback
        return TEMPLATE if value in ("feedback", "", FORMGRADE_TEMPLATE) else value

    @default("extra_template_basedirs")
    def _basedirs_default(self):
        return list(TEMPLATE_BASEDIRS)

    @validate("extra_template_basedirs")
    def _course_basedirs(self, proposal):
        return [*TEMPLATE_BASEDIRS, *(d for d in proposal["value"] if d not in TEMPLATE_BASEDIRS)]

    @default("extra_template_paths")
    def _paths_default(self):
        return [_BOOTSTRAP_CSS, NBGRADER_TEMPLATES]

    @validate("extra_template_paths")
    def _course_paths(self, proposal):
        return [*(d for d in proposal["value"] if d != NBGRADER_TEMPLATES), NBGRADER_TEMPLATES]


# code spans and fences are left alone; then display math, then inline math
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_MATH = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$"  # $$display$$
    r"|\\\[(.+?)\\\]"  # \[display\]
    r"|(?<![\\$])\$(?!\s)((?:[^$\n]|\n(?![ \t]*\n))+?)(?<![\s\\])\$"  # $inline$ (a line
    # break inside is a Markdown soft break, as in JupyterLab; a blank line ends the paragraph)
    r"|\\\((.+?)\\\)",  # \(inline\)
    re.S,
)


MATHML_NS = "http://www.w3.org/1998/Math/MathML"
_CARET_ACCENT, _HAT_ACCENT = "<mo>&#x0005E;</mo></mover>", "<mo>&#x002C6;</mo></mover>"


def math_to_mathml(text: str) -> str:
    """Markdown ``text`` with its TeX math replaced by MathML (what fails to convert stays)."""
    from latex2mathml.converter import convert

    def replace(match):
        display_tex = match.group(1) or match.group(2)
        tex = display_tex if display_tex is not None else (match.group(3) or match.group(4))
        try:
            mathml = convert(tex.strip(), display="block" if display_tex is not None else "inline")
        except Exception:  # unsupported TeX: keep the source, readable as is
            return match.group(0)
        # no xmlns: the page is HTML, whose parser puts <math> in MathML's namespace itself.
        # With it, nbconvert's heading anchors (ElementTree) rewrite a heading's math as
        # <ns0:math xmlns:ns0=...>, which browsers show as plain text (issue 21)
        mathml = mathml.replace(f' xmlns="{MATHML_NS}"', "", 1)
        # \hat as latex2mathml writes it, "^" (U+005E) over the letter, is drawn by browsers as
        # a tall caret floating above it; U+02C6, the circumflex accent, sits on the letter
        mathml = mathml.replace(_CARET_ACCENT, _HAT_ACCENT)
        return f'<span class="math" title="{html.escape(tex.strip())}">{mathml}</span>'

    parts = _CODE.split(text)
    return "".join(part if i % 2 else _MATH.sub(replace, part) for i, part in enumerate(parts))


class _FeedbackStep(NbGraderPreprocessor):
    """A step of GenerateFeedback that accepts the exporter's ``display_data_priority``.

    GenerateFeedback's HTMLExporter sets ``NbConvertBase.display_data_priority``, which
    every preprocessor reads as its own; nbgrader's base class has that trait without
    ``config=True``, so traitlets logs "Config option `display_data_priority` not recognized"
    for each such step on every Generate Feedback (issue 21). nbgrader's own GetGrades
    declares it configurable; so do the course's steps (the value is not used)."""

    display_data_priority = List(NbGraderPreprocessor.display_data_priority.default_value,
                                 config=True)


class ClearHiddenTests(_FeedbackStep, nbgrader_steps.ClearHiddenTests):
    """nbgrader's ClearHiddenTests (configured as ``c.ClearHiddenTests``), without the log
    line of :class:`_FeedbackStep`."""


class DropBlankComments(_FeedbackStep):
    """A comment that is empty or only blanks (formgrader saves what its box held) is no
    comment: without it nbgrader's page lists no bare "Comment" entry leading to an empty
    box. Runs after GetGrades, which puts the gradebook's comments in the cells."""

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        comment = meta.get("comment")
        if "comment" in meta and (comment is None or not str(comment).strip()):
            del meta["comment"]
        return cell, resources


class MathToMathML(_FeedbackStep):
    """Turn the math of Markdown cells into MathML (see the module docstring)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown" and ("$" in cell.source or "\\(" in cell.source
                                             or "\\[" in cell.source):
            cell.source = math_to_mathml(cell.source)
        return cell, resources


class HideTestTracebacks(_FeedbackStep):
    """Keep only ``Error: message`` of a test cell's traceback: the frames quote the
    test's source, hidden tests included."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
