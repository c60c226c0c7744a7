"""Feedback a student may read: nbgrader's GenerateFeedback without the hidden tests.

nbgrader 0.9.6 has no switch for this (jupyter/nbgrader#1363): the hidden-test regions are
cleared from the feedback copy by nbgrader's own ``ClearHiddenTests``, and the tracebacks of
test cells, which quote the failing line of a (hidden) test, are cut to their last line.
Configured in ``nbgrader_config.py`` (``GenerateFeedback.preprocessors``), so formgrader's
*Generate Feedback*, ``nbgrader generate_feedback`` and ``course grade`` all use it.
"""

from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "course.feedback.HideTestTracebacks",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


class HideTestTracebacks(NbGraderPreprocessor):
    """Keep only ``Error: message`` of a test cell's traceback: the frames quote the
    test's source, hidden tests included."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
