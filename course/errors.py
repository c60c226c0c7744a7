"""The errors that stop a ``course`` command before it writes anything."""


class GradeError(Exception):
    """A problem that stops grading before anything is written."""


class ReleaseError(Exception):
    """A release that cannot be made (missing files, bad regions, a leak)."""
