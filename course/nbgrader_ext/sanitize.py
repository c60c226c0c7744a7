"""The course's sanitize and save steps of nbgrader's Autograde (:data:`SANITIZE_PREPROCESSORS`,
:data:`AUTOGRADE_PREPROCESSORS`): refuse what cannot be graded, repair what claims to be a
test, and record the flags.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from course.intake import submission
from course.nbgrader_ext.cells import trusted_lib
from course.nbgrader_ext.flags import FLAGS_KEY, write_flags


class SanitizeSubmission(NbGraderPreprocessor):
    """First sanitize step: refuse what cannot be graded, repair what claims to be a test, and
    note what a reviewer should look at.

    * a submitted notebook that is a symbolic link or not a regular file is refused (a link
      to another student's notebook would otherwise be graded as this one's); nbgrader has
      read it already, so the submission fails loudly instead;
    * nbgrader metadata is repaired from the gradebook: cells that claim an unknown or a
      repeated test id lose it (nbgrader itself would stop the whole run on some of them),
      known cells get their type, points and locks back (course.intake.submission.review);
    * the flags (those repairs, the static scan's advice, files beside the notebook that
      could shadow modules) go into the notebook's metadata, for :class:`SaveFlags`.
    """

    def preprocess(self, nb, resources):



        meta = resources.get("metadata", {})
        folder = Path(meta.get("path", "."))
        path = folder / f"{meta.get('name', '')}.ipynb"
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            raise ValueError(f"{path.name} is a symbolic link: not graded")
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path.name} is not a regular file: not graded")
        grading = resources["nbgrader"]
        assignment, notebook = grading["assignment"], grading["notebook"]
        coursedir = CourseDirectory(config=self.config)
        trusted = submission.load_gradebook_cells(
            Path(coursedir.root), grading["db_url"], coursedir.course_id, assignment)[notebook]
        lib = trusted_lib(self.config, assignment)
        flags = submission.review(nb, trusted, lib) + submission.folder_flags(folder, lib)
        nb.metadata[FLAGS_KEY] = {"flags": flags}  # replaces whatever the student put there
        return nb, resources


class SaveFlags(NbGraderPreprocessor):
    """Autograde step after TrustedExecute: record the notebook's flags (sanitize's and the
    execution's) in the gradebook's ``course_flags`` table and nbgrader's ``flagged`` mark,
    where ``nbgrader export`` (course.nbgrader_ext.export) and formgrader find them."""

    def preprocess(self, nb, resources):

        flags = list(nb.metadata.get(FLAGS_KEY, {}).get("flags", []))
        grading = resources["nbgrader"]
        with Gradebook(grading["db_url"], CourseDirectory(config=self.config).course_id) as gb:
            write_flags(gb, grading["student"], grading["assignment"], flags)
            submitted = gb.find_submission_notebook(grading["notebook"], grading["assignment"],
                                                    grading["student"])
            submitted.flagged = bool(flags)
            gb.db.commit()
        return nb, resources
