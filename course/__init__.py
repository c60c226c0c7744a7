"""Instructor tooling behind the ``course`` command (thin layer over nbgrader)."""
