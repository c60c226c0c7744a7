"""A course set up before the layering keeps working: the dotted names its
``nbgrader_config.py`` holds (``course.execute.TrustedExecute``, ``course.feedback.*``,
``course.export.CsvExportWithFlags``, ...) and the ``course-sandbox`` provisioner entry point
resolve to the course's classes, and such a course grades as the course does."""

from __future__ import annotations

import io
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from toy_course import TOY_IDS, make_toy_course
from traitlets.utils.importstring import import_item

from course.author.release import release
from course.commands.check import check
from course.errors import GradeError
from course.grading.one import require_trusted_execute
from course.isolation.sandbox import SandboxProvisioner
from course.nbgrader_ext import execute, export, feedback, pipeline, sanitize

# what the second edition's nbgrader_config.py (and the guide) named, and what it is now
OLD_NAMES = {
    "course.execute.TrustedExecute": execute.TrustedExecute,
    "course.execute.SanitizeSubmission": sanitize.SanitizeSubmission,
    "course.execute.SaveFlags": sanitize.SaveFlags,
    "course.execute.SANITIZE_PREPROCESSORS": pipeline.SANITIZE_PREPROCESSORS,
    "course.execute.AUTOGRADE_PREPROCESSORS": pipeline.AUTOGRADE_PREPROCESSORS,
    "course.execute.NOT_SANDBOXED": execute.NOT_SANDBOXED,
    "course.feedback.PREPROCESSORS": feedback.PREPROCESSORS,
    "course.feedback.FeedbackExporter": feedback.FeedbackExporter,
    "course.feedback.HideTestTracebacks": feedback.HideTestTracebacks,
    "course.feedback.MathToMathML": feedback.MathToMathML,
    "course.feedback.FORMGRADE_TEMPLATE": feedback.FORMGRADE_TEMPLATE,
    "course.feedback.TEMPLATE_BASEDIRS": feedback.TEMPLATE_BASEDIRS,
    "course.export.CsvExportWithFlags": export.CsvExportWithFlags,
    "course.sandbox.SandboxProvisioner": SandboxProvisioner,
}

# the second edition's nbgrader_config.py lines that name the course's plugins
SECOND_EDITION = {
    "import course.nbgrader_ext.feedback": "import course.feedback",
    "import course.nbgrader_ext.pipeline": "import course.execute",
    "course.nbgrader_ext.pipeline.": "course.execute.",
    "course.nbgrader_ext.feedback.": "course.feedback.",
    "course.nbgrader_ext.export.": "course.export.",
}


@pytest.mark.parametrize("name", sorted(OLD_NAMES))
def test_an_old_dotted_name_is_the_course_s_object(name):
    assert import_item(name) is OLD_NAMES[name]


def test_the_step_lists_name_importable_steps():
    for step in pipeline.SANITIZE_PREPROCESSORS + pipeline.AUTOGRADE_PREPROCESSORS + \
            feedback.PREPROCESSORS:
        assert isinstance(import_item(step), type), step


def test_the_provisioner_entry_point_is_the_sandbox():
    (point,) = entry_points(group="jupyter_client.kernel_provisioners", name="course-sandbox")
    assert point.load() is SandboxProvisioner
    assert import_item("course.sandbox.SandboxProvisioner") is SandboxProvisioner


def old_config(root: Path) -> None:
    """Rewrite the course root's nbgrader_config.py with the second edition's names."""
    path = root / "nbgrader_config.py"
    text = path.read_text()
    for new, old in SECOND_EDITION.items():
        assert new in text, f"nbgrader_config.py no longer names {new!r}"
        text = text.replace(new, old)
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "nbgrader_ext" in line], "a new name is left"
    path.write_text(text)


def test_a_config_naming_trusted_execute_either_way_is_accepted(tmp_path):
    from traitlets.config import Config

    for steps in (["course.execute.TrustedExecute"],
                  ["course.nbgrader_ext.execute.TrustedExecute"], [execute.TrustedExecute]):
        config = Config()
        config.Autograde.autograde_preprocessors = steps
        assert require_trusted_execute(config) is execute.TrustedExecute
    config = Config()
    config.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.Execute"]
    with pytest.raises(GradeError, match="TrustedExecute"):
        require_trusted_execute(config)


@pytest.mark.slow
def test_a_course_with_the_second_edition_s_config_grades_as_the_course_does(tmp_path):
    root = make_toy_course(tmp_path / "course")
    old_config(root)
    release(root, TOY_IDS, progress=False)
    out = io.StringIO()
    [report] = check(root, ["01_gradient_descent"], out=out, jobs=2)
    # the toy's catalogue is shorter than a course's minimum: that is its only problem
    problems = [p for p in report.problems if "are required" not in p]
    assert not problems, out.getvalue()
    assert report.solution[0] == report.solution[1] > 0
    assert report.release[0] == 0
    assert report.caught == report.wrong > 0
    assert report.validate_source == "passes" and report.validate_release == "all fail"
