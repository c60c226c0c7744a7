"""The dotted names of the course's Autograde steps before the layering (kept working).

An instructor's ``nbgrader_config.py`` written for the second edition names
``course.execute.TrustedExecute``, ``course.execute.SANITIZE_PREPROCESSORS`` and
``course.execute.AUTOGRADE_PREPROCESSORS``: they are :mod:`course.nbgrader_ext`'s.
"""

from course.nbgrader_ext.execute import NOT_SANDBOXED, TrustedExecute
from course.nbgrader_ext.pipeline import AUTOGRADE_PREPROCESSORS, SANITIZE_PREPROCESSORS
from course.nbgrader_ext.sanitize import SanitizeSubmission, SaveFlags

__all__ = ["AUTOGRADE_PREPROCESSORS", "NOT_SANDBOXED", "SANITIZE_PREPROCESSORS",
           "SanitizeSubmission", "SaveFlags", "TrustedExecute"]
