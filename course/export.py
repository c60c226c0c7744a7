"""The dotted name of the export plugin before the layering (kept working):
``course.export.CsvExportWithFlags`` is :mod:`course.nbgrader_ext.export`'s."""

from course.nbgrader_ext.export import CsvExportWithFlags

__all__ = ["CsvExportWithFlags"]
