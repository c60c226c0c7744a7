"""``course status``: the queue of ``course serve`` (course.serve.status)."""

from course.serve import status_arguments as add_arguments
from course.serve import status_run as run

__all__ = ["add_arguments", "run"]
