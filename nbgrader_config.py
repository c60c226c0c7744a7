# nbgrader configuration of the course (instructors edit this file).
#
# It is read by nbgrader itself (formgrader, `nbgrader validate`, `nbgrader autograde`, ...)
# and by the `course` command (`course release`, `course grade`, `course check`), which
# load exactly this file and nothing else, so the same settings hold everywhere.
# See docs/instructor-guide.md for the workflow.

import os

import course.nbgrader_ext.feedback  # the course's nbgrader plugins (installed with the venv)
import course.nbgrader_ext.pipeline

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

# --- The course -----------------------------------------------------------------------------

c.CourseDirectory.course_id = "ml2-sgd-softmax-mlp"

# The course root is the folder of this file, wherever nbgrader is started from. The course
# tooling copies this file into scratch course roots (`course check`, `make demo`), which
# then become their own roots.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))

# nbgrader's default layout: source/<id>/<id>.ipynb -> release/<id>/<id>.ipynb;
# submissions in submitted/<student>/<id>/.
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# The assignments in course order. The order matters: the student edition of `lib` released
# with an assignment contains the reference answers of the assignments *before* it only
# (see StudentLib below). `course release/grade/check` without ids use all of them.
ASSIGNMENTS = [
    "01_gradient_descent",
    "02_minibatch_sgd",
    "03_regularization",
    "04_momentum",
    "05_softmax",
    "06_mlp_backprop",
]

# --- Release (nbgrader generate_assignment) -------------------------------------------------

# What a student finds in place of a solution. Keep it an exception: an unanswered exercise
# must fail its tests, and the message says what to do.
c.ClearSolutions.code_stub = {
    "python": (
        "# YOUR CODE HERE\n"
        'raise NotImplementedError("Replace this line with your code: implement the function '
        'as its docstring says, then run the test cell below.")'
    ),
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE (a few sentences)"

# Hidden tests (### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS) are removed from the
# release. These are nbgrader's defaults, spelled out because the leak check relies on them.
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"

# Drop the output of the solution run from the release (nbgrader's default, made explicit).
c.ClearOutput.enabled = True

# --- Student edition of lib -------------------------------------------------------------------
#
# release/<id>/lib/ is a copy of lib/ (its .py files and lib/datasets/) in which every region
#     ### BEGIN REFERENCE <tag>
#     ...
#     ### END REFERENCE
# whose <tag> is withheld is replaced by `raise NotImplementedError(...)`. By default the
# release of <id> reveals the tags that come before <id> in `order` and withholds <id> and
# every later one. Overrides, per released assignment id (or "*" for every release):
#   reveal   = {"05_softmax": ["05_softmax"]}     ship this answer anyway (e.g. a bonus)
#   withhold = {"*": ["03_regularization"]}       never ship this one (e.g. reused exam)
# `withhold` wins over `reveal`. Unknown ids or tags are an error. Revealing <id> itself or a
# later tag is allowed but `course release` warns, and the leak test then accepts it.
c.StudentLib.order = ASSIGNMENTS
c.StudentLib.reveal = {}
c.StudentLib.withhold = {}

# --- Grading (nbgrader autograde / validate, used by `course grade` and `course check`) -----

# Seconds per cell (nbgrader validate). A correct solution runs each cell in well under 2 s;
# 60 s leaves room for slow machines and stops infinite loops. Autograding: TrustedExecute below.
c.Execute.timeout = 60
c.ExecutePreprocessor.timeout = 60

# A student who deletes a test cell gets it back (it then fails on their code) instead of
# silently losing those points from the total.
c.OverwriteCells.add_missing_cells = True

# Feedback shows the failing tests' messages but not the hidden tests' source: nbgrader 0.9.6
# has no switch for this (jupyter/nbgrader#1363). course.nbgrader_ext.feedback clears the
# hidden-test regions with nbgrader's own ClearHiddenTests and cuts test tracebacks (which
# quote the failing line of a hidden test) to their message. Configured here, it applies to
# formgrader's Generate Feedback, `nbgrader generate_feedback` and `course grade` alike.
# GetGrades, DropBlankComments, ClearHiddenTests, HideTestTracebacks, MathToMathML,
# CSSHTMLHeaderPreprocessor
c.GenerateFeedback.preprocessors = course.nbgrader_ext.feedback.PREPROCESSORS
# The page: tests named with their points, wrapped messages, math as MathML (no MathJax, no
# network). Formgrader's own pages get MathJax from the jupyter-server-mathjax extension.
c.GenerateFeedback.exporter_class = "course.nbgrader_ext.feedback.FeedbackExporter"

# Formgrader's grading page loads MathJax from the server (jupyter-server-mathjax), not from
# a CDN: nbgrader's page with that one change (course/nbgrader_ext/templates/course_formgrade).
c.HTMLExporter.template_name = course.nbgrader_ext.feedback.FORMGRADE_TEMPLATE
c.HTMLExporter.extra_template_basedirs = course.nbgrader_ext.feedback.TEMPLATE_BASEDIRS

# --- Autograde: the trusted grading path (docs/threat-model.md) -------------------------------
#
# nbgrader's own Execute is replaced by course.nbgrader_ext.execute.TrustedExecute, here, so
# that `nbgrader autograde`, formgrader's Autograde button and `course grade` all grade the same
# way: the student's notebook runs in a sandboxed kernel (bubblewrap, a user of its own, a
# throwaway folder), each autograded test cell runs in a separate trusted process that reaches
# the student's functions over plain data, and only that process's verdict is scored.
# Both lists are nbgrader 0.9.6's defaults with the course's steps: SanitizeSubmission first
# (refuses linked notebooks, repairs metadata, records flags), TrustedExecute in place of
# Execute, SaveFlags after it (course/nbgrader_ext/).
c.Autograde.sanitize_preprocessors = course.nbgrader_ext.pipeline.SANITIZE_PREPROCESSORS
c.Autograde.autograde_preprocessors = course.nbgrader_ext.pipeline.AUTOGRADE_PREPROCESSORS
# "auto": sandbox with bubblewrap where it works, else grade unsandboxed and flag every grade;
# "bwrap": refuse to grade without it (recommended for a real course).
c.TrustedExecute.sandbox = "auto"
c.TrustedExecute.memory = 2 * 1024**3          # address space of each process, bytes
c.TrustedExecute.timeout = 60                  # seconds per cell
c.TrustedExecute.notebook_timeout = 600        # seconds per notebook

# `nbgrader export` (and course grade's grades.csv): nbgrader's CSV columns plus `flags`.
c.ExportApp.plugin_class = "course.nbgrader_ext.export.CsvExportWithFlags"
