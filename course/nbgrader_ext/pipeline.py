"""The course's steps of nbgrader's Autograde, as ``nbgrader_config.py`` names them.

nbgrader 0.9.6's default sanitize and autograde preprocessors, with SanitizeSubmission first,
TrustedExecute in place of Execute and SaveFlags after it. ``c.Autograde.sanitize_preprocessors``
and ``c.Autograde.autograde_preprocessors`` set to these two lists switch any nbgrader course
to the trusted path.
"""

# nbgrader's Autograde pipeline with the course's steps (nbgrader_config.py sets these):
# nbgrader 0.9.6's defaults, with SanitizeSubmission first, TrustedExecute in place of Execute
# and SaveFlags after it.
SANITIZE_PREPROCESSORS = [
    "course.nbgrader_ext.sanitize.SanitizeSubmission",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

AUTOGRADE_PREPROCESSORS = [
    "course.nbgrader_ext.execute.TrustedExecute",
    "course.nbgrader_ext.sanitize.SaveFlags",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
