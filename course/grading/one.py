"""Grading one submission in its scratch course: nbgrader's Autograde with TrustedExecute, then
GenerateFeedback, in the process of a worker (:mod:`course.grading.bundle`).
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import time
import warnings

from nbgrader.api import Gradebook
from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from traitlets.utils.importstring import import_item

from course.config import load_course_config
from course.errors import GradeError
from course.intake.job import Job, Result
from course.intake.submission import prepare
from course.nbgrader_ext.execute import TrustedExecute
from course.nbgrader_ext.feedback import PREPROCESSORS as FEEDBACK
from course.nbgrader_ext.feedback import FeedbackExporter
from course.nbgrader_ext.flags import read_flags


def require_trusted_execute(config):
    """The TrustedExecute class, after checking that the course's configuration uses it.

    ``course grade`` grades through the configured nbgrader pipeline (so that it and
    ``nbgrader autograde`` agree); a configuration that still names nbgrader's own Execute
    would run the tests in the student's kernel, and is refused.
    """

    steps = config.Autograde.get("autograde_preprocessors", [])
    if not any(_is_trusted_execute(step) for step in steps):
        raise GradeError(
            "nbgrader_config.py must set c.Autograde.autograde_preprocessors with "
            "course.execute.TrustedExecute in place of nbgrader's Execute (see the course's "
            "nbgrader_config.py)"
        )
    return TrustedExecute


def _is_trusted_execute(step) -> bool:
    """Whether an Autograde step (a class or its dotted name, the course's spelling or the
    old ``course.execute.TrustedExecute``) is TrustedExecute or a subclass of it."""
    if isinstance(step, str):
        try:
            step = import_item(step)
        except Exception:  # a name nbgrader itself will fail to load
            return False
    return isinstance(step, type) and issubclass(step, TrustedExecute)


def without_session_noise(fn):
    """Silence SQLAlchemy's "not in session" autoflush warnings while ``fn`` runs.

    nbgrader's gradebook API trips them on every submission: noise that buries the progress
    bar, not a lost write (tests/test_grade.py compares the gradebook with an uninterrupted
    run). Applied in the main process and in each grading worker.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not in session.*")
            return fn(*args, **kwargs)

    return wrapper


@without_session_noise
def grade_one(job: Job) -> Result:
    """Autograde one submission in its scratch course; never raises."""
    start = time.monotonic()
    result = Result(job.student, job.assignment)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(name)s %(levelname)s] %(message)s"))
    root_logger = logging.getLogger()
    root_logger.addHandler(handler)
    try:
        _grade_one_inner(job, result)
    except Exception as err:  # a bug or an environment problem: report, don't stop others
        logging.getLogger("course.grade").exception("grading failed")
        result.error = result.error or f"grading failed ({type(err).__name__}: {err})"
        result.infra = True
    finally:
        root_logger.removeHandler(handler)
    result.log = stream.getvalue()
    result.seconds = time.monotonic() - start
    return result


def _grade_one_inner(job: Job, result: Result) -> None:
    course = job.scratch / "course"
    notebook = prepare(job, result)
    if notebook is None:
        return
    # the released notebooks: SanitizeSubmission compares locked cells with them
    released = course / "release" / job.assignment
    released.mkdir(parents=True)
    for name in job.trusted:
        shutil.copy(job.root / "release" / job.assignment / f"{name}.ipynb", released)
    (course / "source" / job.assignment).mkdir(parents=True)
    db = course / "gradebook.db"
    shutil.copy(job.snapshot, db)
    db_url = f"sqlite:///{db}"

    config = load_course_config(job.root)
    require_trusted_execute(config)
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = db_url
    config.CourseDirectory.course_id = job.course_id
    config.CourseDirectory.assignment_id = job.assignment
    config.CourseDirectory.student_id = job.student
    config.Autograde.force = True
    config.Autograde.create_student = True
    config.OverwriteCells.add_missing_cells = True
    config.TrustedExecute.lib_dir = str(job.lib)
    config.TrustedExecute.sandbox = "bwrap" if job.sandbox else "none"
    config.TrustedExecute.memory = job.memory
    config.GenerateFeedback.exporter_class = FeedbackExporter
    workdir = course / "autograded" / job.student / job.assignment

    coursedir = CourseDirectory(config=config)
    autograde = Autograde(coursedir=coursedir, config=config)
    autograde.log = logging.getLogger("nbgrader.autograde")
    autograde.log.setLevel(logging.INFO)
    try:
        autograde.start()
    except Exception as err:
        # the machinery's failure: TrustedExecute raises only when a kernel or the runner
        # does not start; what the submission's cells cause (errors, a dead kernel, messages
        # that break the executor) is graded as its result (docs/threat-model.md, 8.)
        result.error = f"nbgrader could not autograde it ({type(err).__name__}: {err})"
        result.infra = True
        return

    with Gradebook(db_url, job.course_id) as gb:
        pipeline = read_flags(gb).get((job.student, job.assignment), "")
        result.flags += [f for f in pipeline.split("; ") if f and f not in result.flags]
        submission = gb.find_submission(job.assignment, job.student)
        result.timestamp = submission.timestamp.isoformat() if submission.timestamp else None
        for nb in submission.notebooks:
            result.late_penalty[nb.name] = nb.late_submission_penalty
            for grade in nb.grades:
                result.grades[grade.name] = (grade.auto_score, bool(grade.needs_manual_grade))
            for comment in nb.comments:
                result.comments[comment.name] = comment.auto_comment
    result.autograded_dir = str(workdir)

    feedback = GenerateFeedback(coursedir=coursedir, config=config)
    feedback.preprocessors = list(FEEDBACK)
    feedback.force = True
    feedback.log = logging.getLogger("nbgrader.feedback")
    try:
        feedback.start()
        result.feedback_dir = str(course / "feedback" / job.student / job.assignment)
    except Exception as err:
        result.flags.append(f"feedback not generated ({type(err).__name__})")
