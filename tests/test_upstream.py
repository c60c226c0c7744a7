"""The upstream internals the course overrides keep the shape the course relies on.

``course`` subclasses nbclient's executor (through nbgrader's ``Execute``), nbconvert's HTML
exporter, jupyter_client's provisioner and kernel manager, and writes nbgrader's gradebook
tables with its own SQL. Those are internals: pyproject.toml bounds each package below the
next minor version not tested, and these tests check the upstream libraries themselves (not
the course), so that a release that changes one of them fails here, naming the change,
instead of grading quietly wrong. When one fails: read the upstream change, adapt the course
code named in the message, then raise the bound in pyproject.toml and refresh the lock
(``make lock``).
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points


def _params(func) -> list[str]:
    return list(inspect.signature(func).parameters)


def _upstream(what: str, course: str) -> str:
    return f"upstream changed {what}: check {course}"


# -- nbclient (course/nbgrader_ext/execute.py: TrustedExecute) -------------------------------------


def test_nbclient_async_execute_cell_keeps_its_signature():
    from nbclient import NotebookClient

    func = NotebookClient.async_execute_cell
    assert inspect.iscoroutinefunction(func), _upstream(
        "NotebookClient.async_execute_cell is no coroutine function",
        "TrustedExecute.async_execute_cell, which awaits super().async_execute_cell")
    assert _params(func) == ["self", "cell", "cell_index", "execution_count",
                             "store_history"], _upstream(
        f"NotebookClient.async_execute_cell's parameters to {_params(func)}",
        "TrustedExecute.async_execute_cell, which overrides it")


def test_nbclient_execute_cell_is_run_sync_of_its_own_coroutine():
    """nbclient binds ``execute_cell = run_sync(async_execute_cell)`` to its own function,
    so a subclass's async_execute_cell is not reached through it: TrustedExecute rebinds
    execute_cell to its override with nbclient.util.run_sync."""
    from nbclient import NotebookClient
    from nbclient.util import run_sync

    assert callable(run_sync), _upstream("nbclient.util.run_sync", "TrustedExecute.execute_cell")
    bound = inspect.getclosurevars(NotebookClient.execute_cell).nonlocals.get("coro")
    assert bound is NotebookClient.async_execute_cell, _upstream(
        "how NotebookClient.execute_cell reaches async_execute_cell (no longer "
        "run_sync(async_execute_cell))", "TrustedExecute's `execute_cell = run_sync(...)`")


def test_nbconvert_execute_preprocessor_runs_each_cell_through_execute_cell():
    from nbconvert.preprocessors import ExecutePreprocessor

    source = inspect.getsource(ExecutePreprocessor.preprocess_cell)
    assert "self.execute_cell(" in source, _upstream(
        "ExecutePreprocessor.preprocess_cell no longer calls self.execute_cell",
        "TrustedExecute.preprocess_cell and its execute_cell binding")


def test_nbclient_output_hook_keeps_its_signature_and_is_called_per_message():
    from nbclient import NotebookClient

    assert _params(NotebookClient.output) == ["self", "outs", "msg", "display_id",
                                              "cell_index"], _upstream(
        f"NotebookClient.output's parameters to {_params(NotebookClient.output)}",
        "TrustedExecute.output (the output limit)")
    assert "self.output(" in inspect.getsource(NotebookClient.process_message), _upstream(
        "NotebookClient.process_message no longer calls self.output",
        "TrustedExecute.output: the output limit would be skipped")


def test_nbclient_kernel_hooks_the_course_overrides_exist():
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    assert issubclass(CellTimeoutError, Exception) and issubclass(DeadKernelError, Exception)
    assert _params(NotebookClient.create_kernel_manager) == ["self"], _upstream(
        "NotebookClient.create_kernel_manager's parameters",
        "TrustedExecute.create_kernel_manager")
    assert inspect.iscoroutinefunction(NotebookClient.async_start_new_kernel), _upstream(
        "NotebookClient.async_start_new_kernel", "TrustedExecute.async_start_new_kernel")
    assert "kwargs" in _params(NotebookClient.async_start_new_kernel)
    for trait in ("kernel_manager_class", "kernel_name", "timeout"):
        assert trait in NotebookClient.class_trait_names(), _upstream(
            f"NotebookClient's trait {trait!r}", "TrustedExecute")


def test_nbgrader_execute_is_nbconvert_execute_preprocessor():
    from nbconvert.preprocessors import ExecutePreprocessor
    from nbgrader.preprocessors import Execute

    assert issubclass(Execute, ExecutePreprocessor), _upstream(
        "nbgrader's Execute no longer extends ExecutePreprocessor", "TrustedExecute")
    assert _params(Execute.preprocess) == ["self", "nb", "resources", "km"], _upstream(
        f"Execute.preprocess's parameters to {_params(Execute.preprocess)}",
        "TrustedExecute.preprocess")


# -- nbconvert (course/nbgrader_ext/feedback.py: FeedbackExporter) ---------------------------------


def test_nbconvert_validates_template_name_in_template_exporter_validate():
    """FeedbackExporter replaces the validator by defining one of the same name and calls
    it with super(): the validator must stay TemplateExporter._template_name_validate."""
    from nbconvert.exporters import HTMLExporter, TemplateExporter
    from traitlets.traitlets import ValidateHandler

    handler = TemplateExporter.__dict__.get("_template_name_validate")
    assert isinstance(handler, ValidateHandler), _upstream(
        "TemplateExporter._template_name_validate is gone or no traitlets validator",
        "FeedbackExporter._template_name_validate in course/nbgrader_ext/feedback.py")
    assert handler.trait_names == ("template_name",)
    assert _params(handler.func) == ["self", "change"]
    others = [(cls.__name__, name) for cls in HTMLExporter.__mro__
              for name, obj in vars(cls).items()
              if isinstance(obj, ValidateHandler) and "template_name" in obj.trait_names
              and name != "_template_name_validate"]
    assert not others, _upstream(f"template_name has another validator {others}",
                                 "FeedbackExporter._template_name_validate")
    assert "extra_template_basedirs" in HTMLExporter.class_trait_names(), _upstream(
        "HTMLExporter's extra_template_basedirs", "FeedbackExporter._course_basedirs")


def test_a_subclass_validator_of_the_same_name_runs_and_reaches_nbconverts():
    from nbconvert.exporters import HTMLExporter
    from traitlets import validate

    seen = []

    class Probe(HTMLExporter):
        @validate("template_name")
        def _template_name_validate(self, proposal):
            value = super()._template_name_validate(proposal)
            seen.append(value)
            return "lab" if value == "feedback" else value

    assert Probe(template_name="feedback").template_name == "lab", _upstream(
        "traitlets/nbconvert: a subclass's validator of the same name no longer replaces "
        "TemplateExporter's", "FeedbackExporter._template_name_validate")
    assert "feedback" in seen


# -- jupyter_client (course/isolation/sandbox.py: SandboxProvisioner, SandboxedKernelManager) ------


def test_jupyter_client_local_provisioner_launch_kernel_keeps_its_signature():
    from jupyter_client.provisioning import LocalProvisioner

    func = LocalProvisioner.launch_kernel
    assert inspect.iscoroutinefunction(func), _upstream(
        "LocalProvisioner.launch_kernel is no coroutine function",
        "SandboxProvisioner.launch_kernel")
    params = inspect.signature(func).parameters
    assert list(params)[:2] == ["self", "cmd"] and any(
        p.kind is p.VAR_KEYWORD for p in params.values()), _upstream(
        f"LocalProvisioner.launch_kernel's parameters to {list(params)}",
        "SandboxProvisioner.launch_kernel (it rewrites cmd, env, cwd, stdout, stderr)")
    assert "parent" in LocalProvisioner.class_trait_names(), _upstream(
        "a provisioner's parent (its kernel manager)", "SandboxProvisioner reads "
        "parent.sandbox_spec and parent.connection_file")


def test_jupyter_client_kernel_manager_hooks_the_course_overrides():
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    assert issubclass(AsyncKernelManager, KernelManager)
    assert isinstance(inspect.getattr_static(AsyncKernelManager, "kernel_spec"),
                      property), _upstream("KernelManager.kernel_spec is no property",
                                           "SandboxedKernelManager.kernel_spec")
    assert _params(KernelManager.format_kernel_cmd) == ["self", "extra_arguments"], _upstream(
        "KernelManager.format_kernel_cmd's parameters", "SandboxedKernelManager")
    for trait in ("connection_file", "transport", "ip", "kernel_name"):
        assert trait in KernelManager.class_trait_names(), _upstream(
            f"KernelManager's trait {trait!r}", "SandboxedKernelManager.__init__")


def test_jupyter_client_picks_the_provisioner_named_in_the_kernel_spec():
    """SandboxedKernelManager selects its provisioner by the kernel spec's
    ``metadata["kernel_provisioner"]`` stanza, registered under an entry point group."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.provisioning import KernelProvisionerFactory, LocalProvisioner

    assert KernelProvisionerFactory.GROUP_NAME == "jupyter_client.kernel_provisioners", _upstream(
        "the provisioners' entry point group",
        "[project.entry-points] in pyproject.toml (course-sandbox)")
    names = {ep.name for ep in entry_points(group=KernelProvisionerFactory.GROUP_NAME)}
    assert {"local-provisioner", "course-sandbox"} <= names, names
    spec = KernelSpec(argv=["python", "-c", "pass"], display_name="probe", language="python",
                      metadata={"kernel_provisioner": {"provisioner_name": "local-provisioner",
                                                       "config": {}}})
    assert "interrupt_mode" in KernelSpec.class_trait_names()
    provisioner = KernelProvisionerFactory.instance().create_provisioner_instance(
        "probe", spec, parent=None)
    assert type(provisioner) is LocalProvisioner, _upstream(
        "how a kernel spec names its provisioner", "SandboxedKernelManager.kernel_spec")


# -- nbgrader's gradebook (course/grading/gradebook.py, course/grading/bundle.py, course/service/que

# nbgrader 0.9.6's tables and columns. The course's SQL reads assignment(name, duedate) and
# student(id), and course.grading.bundle.slim_gradebook empties the tables about students
# (below):
# a new table could hold student data that a slim gradebook would then carry to a worker.
NBGRADER_TABLES = {
    "assignment": {"id", "name", "duedate", "course_id"},
    "base_cell": {"id", "name", "notebook_id", "type"},
    "comment": {"id", "notebook_id", "cell_id", "auto_comment", "manual_comment"},
    "course": {"id"},
    "grade": {"id", "notebook_id", "cell_id", "auto_score", "manual_score", "extra_credit",
              "needs_manual_grade"},
    "grade_cells": {"id", "max_score", "cell_type"},
    "notebook": {"id", "name", "assignment_id", "kernelspec"},
    "solution_cells": {"id"},
    "source_cell": {"id", "name", "cell_type", "locked", "source", "checksum", "notebook_id"},
    "student": {"id", "first_name", "last_name", "email", "lms_user_id"},
    "submitted_assignment": {"id", "assignment_id", "student_id", "timestamp", "extension"},
    "submitted_notebook": {"id", "assignment_id", "notebook_id", "flagged",
                           "late_submission_penalty"},
    "task_cells": {"id", "max_score", "cell_type"},
}
STUDENT_TABLES = {"comment", "grade", "submitted_notebook", "submitted_assignment", "student"}


def test_nbgrader_gradebook_has_the_tables_and_columns_the_course_reads_and_slims():
    from nbgrader.api import Base

    tables = {name: {c.name for c in table.columns} for name, table in
              Base.metadata.tables.items()}
    assert set(tables) == set(NBGRADER_TABLES), _upstream(
        f"nbgrader's gradebook tables: new {sorted(set(tables) - set(NBGRADER_TABLES))}, gone "
        f"{sorted(set(NBGRADER_TABLES) - set(tables))}",
        "course/grading/bundle.py slim_gradebook (does a new table hold student data?), "
        "course/grading/gradebook.py check_gradebook")
    changed = {name: sorted(cols ^ NBGRADER_TABLES[name]) for name, cols in tables.items()
               if cols != NBGRADER_TABLES[name]}
    assert not changed, _upstream(f"columns of nbgrader's tables {changed}",
                                  "the course's SQL on them (course/grading/gradebook.py, "
                                  "course/grading/bundle.py, course/service/loop.py)")


def test_every_table_that_points_at_a_student_or_a_submission_is_slimmed():
    """Derived from the foreign keys: what references a student, a submission or a submitted
    notebook (directly or through another such table) is student data."""
    from nbgrader.api import Base

    tables = Base.metadata.tables
    student_data = {"student"}
    grew = True
    while grew:
        new = {name for name, table in tables.items() if name not in student_data and any(
            fk.column.table.name in student_data for fk in table.foreign_keys)}
        student_data |= new
        grew = bool(new)
    assert student_data == STUDENT_TABLES, _upstream(
        f"nbgrader's tables with student data are now {sorted(student_data)}",
        "course/grading/bundle.py slim_gradebook, which empties "
        f"{sorted(STUDENT_TABLES)}")


def test_nbgrader_gradebook_api_the_course_calls():
    from nbgrader import api

    calls = {
        "find_notebook": ["self", "name", "assignment"],
        "find_submission": ["self", "assignment", "student"],
        "find_submission_notebook": ["self", "notebook", "assignment", "student"],
        "update_or_create_submission": ["self", "assignment", "student", "kwargs"],
        "find_student": ["self", "student_id"],
        "add_student": ["self", "student_id", "kwargs"],
    }
    for name, params in calls.items():
        assert _params(getattr(api.Gradebook, name)) == params, _upstream(
            f"Gradebook.{name}'s parameters",
            "course/grading/gradebook.py and course/nbgrader_ext/execute.py")
    attributes = {
        api.Notebook: ["solution_cells", "grade_cells", "source_cells"],
        api.SourceCell: ["cell_type", "name", "locked", "source"],
        api.Grade: ["name", "auto_score", "manual_score", "needs_manual_grade", "score",
                    "max_score"],
        api.Comment: ["name", "auto_comment"],
        api.SubmittedNotebook: ["name", "flagged", "late_submission_penalty", "grades",
                                "comments"],
        api.SubmittedAssignment: ["notebooks", "score", "max_score"],
    }
    missing = [f"{cls.__name__}.{a}" for cls, attrs in attributes.items() for a in attrs
               if not hasattr(cls, a)]
    assert not missing, _upstream(f"nbgrader's models lost {missing}",
                                  "course/grading/gradebook.py commit, "
                                  "course/nbgrader_ext/execute.py")
    assert issubclass(api.MissingEntry, Exception)


# -- pytest-xdist (tests/conftest.py: CourseScheduling) ------------------------------------------


def test_xdist_load_scope_scheduling_splits_work_by_split_scope():
    """The test suite's scheduler overrides LoadScopeScheduling._split_scope (the work unit
    of a test id) and turns off its reordering through ``loadscopereorder``."""
    from xdist.scheduler import LoadScopeScheduling

    assert _params(LoadScopeScheduling._split_scope) == ["self", "nodeid"], _upstream(
        "LoadScopeScheduling._split_scope's parameters", "tests/conftest.py CourseScheduling")
    source = inspect.getsource(LoadScopeScheduling)
    assert "self._split_scope(" in source, _upstream(
        "LoadScopeScheduling no longer calls _split_scope", "tests/conftest.py CourseScheduling")
    assert "loadscopereorder" in source, _upstream(
        "LoadScopeScheduling's loadscopereorder option", "tests/conftest.py CourseScheduling")


# -- ipykernel (course/nbgrader_ext/paths.py: cell files named in outputs) -------------------------


def test_ipykernel_names_a_cell_s_file_by_the_murmur2_hash_of_its_source():
    """paths.py turns ``/tmp/ipykernel_<pid>/<hash>.py`` into ``Cell In[n]`` by hashing each
    executed cell's source as ipykernel does."""
    import os

    from ipykernel import compiler

    code = "x = 1\nprint(x)\n"
    name = compiler.get_file_name(code) if "IPYKERNEL_CELL_NAME" not in os.environ else None
    if name is not None:
        digest = compiler.murmur2_x86(code, compiler.get_tmp_hash_seed())
        expected = f"ipykernel_{os.getpid()}{os.sep}{digest}.py"
        assert name.endswith(expected), _upstream(
            f"ipykernel's cell file names ({name})", "course/nbgrader_ext/paths.py")
    assert _params(compiler.XCachingCompiler.get_code_name) == ["self", "raw_code", "code",
                                                                "number"], _upstream(
        "XCachingCompiler.get_code_name", "course/nbgrader_ext/paths.py")
