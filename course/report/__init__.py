"""Class statistics for ``course report``: what the class got wrong, per assignment.

Reads only a snapshot of the gradebook (:mod:`course.report.gather`) and the autograded
notebooks' test outputs (:mod:`course.report.failures`); never runs student code. The
numbers (:mod:`course.report.stats`) are written as JSON and as an offline HTML page with
matplotlib figures (:mod:`course.report.figures`, :mod:`course.report.page`).
"""
