"""The dotted names of the course's feedback steps before the layering (kept working):
``course.feedback.*`` are :mod:`course.nbgrader_ext.feedback`'s."""

from course.nbgrader_ext.feedback import (
    FORMGRADE_TEMPLATE,
    PREPROCESSORS,
    TEMPLATE,
    TEMPLATE_BASEDIRS,
    FeedbackExporter,
    HideTestTracebacks,
    MathToMathML,
    math_to_mathml,
)

__all__ = ["FORMGRADE_TEMPLATE", "PREPROCESSORS", "TEMPLATE", "TEMPLATE_BASEDIRS",
           "FeedbackExporter", "HideTestTracebacks", "MathToMathML", "math_to_mathml"]
