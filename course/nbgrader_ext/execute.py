"""``TrustedExecute``: nbgrader's Execute preprocessor, with test cells run outside the student.

Configured in ``nbgrader_config.py`` in place of nbgrader's ``Execute``, so that
``nbgrader autograde``, formgrader's *Autograde* button and ``course grade`` all grade this way:

* every cell that is not an autograded test cell runs in the student's kernel, sandboxed
  (:mod:`course.isolation.sandbox`) in a throwaway working folder that holds nothing but the
  trusted student edition of ``lib`` (read-only; none in a course without one) and is never
  read back;
* every autograded test cell runs in the trusted runner (:mod:`course.isolation.runner`),
  another sandboxed process that runs no student code; meanwhile the student's kernel runs
  the grading agent (:mod:`course.isolation.agent`), which serves the runner's calls on the
  student's names over plain data (:mod:`course.isolation.wire`). The test's source never
  reaches the student's kernel, and the cell's outputs (what nbgrader scores) are the
  runner's: what the student's code printed meanwhile is kept as plain text and can neither
  fail nor pass a test;
* a per-cell and a per-notebook time limit; a kernel that dies or hangs fails the pending
  test and the rest of that notebook, never the run, and so does any other exception that
  executing a cell raises (it is the submission's result); only the machinery (a kernel or
  runner that does not start) is retried and, failing, fails the grading.

Which cells are tests, their source, the student's answer names and the trusted imports come
from the gradebook, never from the submission.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from jupyter_core.utils import run_sync as run_blocking
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from nbformat.v4.rwbase import rejoin_lines
from nbformat.validator import isvalid
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets import Enum, Integer, Unicode

from course.isolation import sandbox
from course.isolation.runner_process import RunnerProcess
from course.nbgrader_ext.cells import lib_required, trusted_cells, trusted_lib
from course.nbgrader_ext.flags import FLAGS_KEY
from course.nbgrader_ext.paths import neutral_paths
from course.nbgrader_ext.testcell import run_test_cell

DEFAULT_NOTEBOOK_TIMEOUT = 600

DEFAULT_MAX_OUTPUT = 1_000_000

NOT_SANDBOXED = "not sandboxed"

NO_LIMIT = 365 * 24 * 3600  # seconds a test may run when neither limit is set

START_ATTEMPTS = 3  # a kernel or runner that dies at start is an infrastructure failure


def _checked_lib(config, assignment: str) -> Path | None:
    """The trusted student edition of ``lib`` for ``assignment``, or None: the course has
    none (an nbgrader course that neither names one nor has ``c.StudentLib``). A course
    that has one is refused while it is missing, rather than graded without it."""
    lib = trusted_lib(config, assignment)
    if (lib / "__init__.py").is_file():
        return lib
    if lib_required(config):
        raise RuntimeError(f"no trusted student edition of lib at {lib}: run `course "
                           f"release {assignment}`")
    return None


class GraderFailure(RuntimeError):
    """The grading machinery failed (the trusted runner did not start): retried, and never
    the submission's result. Anything else raised while a cell executes is the submission's
    result: that cell and the rest of the notebook fail (:meth:`TrustedExecute.preprocess_cell`).
    """


def _limit(seconds: int | None) -> int | None:
    """A configured time limit, None for none: nbclient's reading of ``timeout`` (None, 0 or
    negative means no limit)."""
    return None if not seconds or seconds < 0 else seconds


def _bwrap(mode: str) -> str | None:
    """bubblewrap's path for TrustedExecute.sandbox ``mode``, or None: unsandboxed."""
    if mode == "none":
        return None
    path = sandbox.bwrap_path()
    if path is None and mode == "bwrap":
        raise RuntimeError("bubblewrap (bwrap) does not work here: install `bubblewrap`")
    return path


def _not_run(cell, reason: str) -> None:
    cell.outputs = [
        *cell.get("outputs", []),
        NotebookNode(output_type="error", ename="NotExecuted", evalue=reason,
                     traceback=[f"NotExecuted: {reason}"]),
    ]


def _valid_outputs(ex, cell, name: str) -> None:
    """Replace what the student's kernel sent that is not valid nbformat (data that is no
    mime bundle, an execution count that is no number, ...) and join text sent as a list of
    lines, so that nbgrader's later steps (LimitOutput, SaveAutoGrades, writing the notebook)
    cannot fail on it: an invalid error output stays an error, anything else becomes a line."""
    if not isinstance(cell.get("execution_count"), int | None):
        cell.execution_count = None
    minor = ex.nb.get("nbformat_minor")
    for i, out in enumerate(cell.get("outputs", [])):
        if isvalid(out, ref="output", version=4, version_minor=minor):
            continue
        ex.problem(f"{name}: an output that is not valid nbformat was replaced")
        if isinstance(out, dict) and out.get("output_type") == "error":
            cell.outputs[i] = NotebookNode(output_type="error", ename="InvalidOutput",
                                           evalue="", traceback=["InvalidOutput"])
        else:
            cell.outputs[i] = NotebookNode(output_type="stream", name="stdout",
                                           text="[an invalid output was dropped]\n")
    rejoin_lines(NotebookNode(cells=[cell]))  # text as lists of lines: the strings nbgrader reads


class _Guards:
    """TrustedExecute's limits and failure handling: what the student's kernel sends is
    counted and cut (``max_output``), and an exception it causes fails the notebook."""

    def _start_limits(self) -> None:
        """The notebook's deadline, the per-cell limit and the output budget. nbclient's
        reading of a limit: None, 0 or negative is none; ``timeout`` None leaves each cell
        the rest of the notebook's time (and no limit when that is None too)."""
        notebook_limit = _limit(self.notebook_timeout)
        self._deadline = None if notebook_limit is None else time.monotonic() + notebook_limit
        self._stopped: str | None = None
        self._configured_timeout = self.timeout
        self._cell_timeout = _limit(self.timeout)
        self._output_chars = 0
        self._output_cut = False
        if self.execute_retries:
            self.log.warning("Execute.execute_retries is ignored (nbgrader 0.9.6 ignores it "
                             "too): a kernel or runner that fails to start is retried %d "
                             "times, a notebook is never re-executed", START_ATTEMPTS - 1)

    def _note_errors(self, cell, name: str) -> None:
        _valid_outputs(self, cell, name)
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") == "CellTimeoutError":
                self.problem(f"{name} timed out ({self.timeout} s)")
            elif out.get("ename") == "MemoryError":
                self.problem(f"{name} ran out of memory")

    def set_widgets_metadata(self):
        try:  # widget state is what the student's kernel sent: keep it only if it is sane
            super().set_widgets_metadata()
        except Exception as err:  # noqa: BLE001
            self.nb.metadata.pop("widgets", None)
            self.problem(f"widget state dropped ({type(err).__name__})")

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in content.get("data", {}).values()
        )
        self._output_chars += size
        if self._output_chars > self.max_output and msg["msg_type"] != "error":
            if not self._output_cut:
                self._output_cut = True
                self.problem(f"output over {self.max_output} characters was dropped")
            return None
        return super().output(outs, msg, display_id, cell_index)

    def problem(self, text: str) -> None:
        notebook = getattr(self, "_notebook_problems", None)
        if notebook is not None and text not in notebook:
            notebook.append(text)

    def _stop(self, reason: str) -> None:
        self._stopped = reason
        self.problem(reason)
        with contextlib.suppress(Exception):
            if self.km is not None:
                run_blocking(self.km.shutdown_kernel)(now=True)

    def _cell_failed(self, cell, index: int, name: str, err: Exception) -> None:
        """Executing ``cell`` raised ``err`` outside the machinery: the submission's result,
        never an infrastructure failure. The kernel died or hung, or its messages (a display
        update nbclient cannot apply, a malformed output) broke the executor: this cell and
        the rest of the notebook fail, and the grade is recorded."""
        self.nb.cells[index] = cell  # a test cell: nbclient may have left the agent's there
        if isinstance(err, DeadKernelError):
            self._stop("the kernel died")
            _not_run(cell, "the kernel died while running this cell")
            return
        if isinstance(err, CellTimeoutError):
            self._stop("the kernel stopped responding after a cell timed out")
            _not_run(cell, "the kernel stopped responding")
            return
        self.log.warning("executing %s failed", name, exc_info=True)
        why = f"{type(err).__name__}: {err}"[:300]
        self._stop(f"grading stopped at {name} ({why})")
        _not_run(cell, f"this cell could not be executed ({why})")


class TrustedExecute(_Guards, Execute):
    """nbgrader's ``Execute``: the notebook in a sandboxed kernel, its tests in a trusted one."""

    sandbox = Enum(
        ["auto", "bwrap", "none"], "auto",
        help="'bwrap': sandbox every kernel (error if bubblewrap is missing); 'auto': sandbox "
        "if bubblewrap works, else run unsandboxed and flag it; 'none': never (flagged)",
    ).tag(config=True)
    memory = Integer(2 * 1024**3, help="address-space limit of each process, bytes").tag(
        config=True)
    lib_dir = Unicode(
        "", help="trusted student edition of lib; default <course root>/release/<id>/lib"
    ).tag(config=True)
    notebook_timeout = Integer(
        DEFAULT_NOTEBOOK_TIMEOUT, allow_none=True,
        help="seconds for a notebook; None (or 0, or negative) for no limit",
    ).tag(config=True)
    max_output = Integer(DEFAULT_MAX_OUTPUT, help="characters of output kept per notebook").tag(
        config=True)
    runner_timeout = Integer(60, help="seconds for the trusted runner to start").tag(config=True)


    # -- set-up -----------------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        info = (resources or {}).get("nbgrader", {})
        assignment, notebook = info["assignment"], info["notebook"]

        course_id = CourseDirectory(config=self.config).course_id
        self._trusted = trusted_cells(info["db_url"], course_id, assignment, notebook)
        lib = _checked_lib(self.config, assignment)
        self._bwrap_path = _bwrap(self.sandbox)
        self._start_limits()
        self._notebook_problems: list[str] = [NOT_SANDBOXED] if self._bwrap_path is None else []
        for attempt in range(START_ATTEMPTS):
            with self._session(lib):
                self._seen_tests: set[str] = set()
                self._ran_cells = False
                try:
                    nb, resources = super().preprocess(nb, resources, km)
                    neutral_paths(nb, self._scratch)  # no grading machine's file names
                    record = nb.metadata.setdefault(FLAGS_KEY, {}).setdefault("flags", [])
                    record += [p for p in self._notebook_problems if p not in record]
                    return nb, resources
                except RuntimeError as err:
                    retry = not self._ran_cells or isinstance(err, GraderFailure)
                    if retry and attempt + 1 < START_ATTEMPTS:
                        self.log.warning("kernel or runner did not start (%s); retrying", err)
                        time.sleep(1 + attempt)
                        continue
                    raise
                finally:
                    self.timeout = self._configured_timeout
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _session(self, lib: Path | None):
        """Scratch folders, uids and the runner for one attempt at one notebook (``lib``
        None: no ``lib`` in the kernel, an empty folder in the runner's)."""
        self._scratch = Path(tempfile.mkdtemp(prefix="course-nb-"))
        uids = sandbox.UidLease(2) if self._bwrap_path and os.geteuid() == 0 else None
        self.km = None
        try:
            workdir = self._scratch / "work"
            workdir.mkdir()
            self._workdir = workdir
            self._kernel_uid = uids.uids[0] if uids else None
            if lib is None:
                (self._scratch / "no-lib").mkdir()
            self.runner = RunnerProcess(
                scratch=self._scratch, lib=lib or self._scratch / "no-lib",
                bwrap=self._bwrap_path,
                uid=uids.uids[1] if uids else None, memory=self.memory,
                setup={"student_names": self._trusted["student_names"],
                       "imports": self._trusted["imports"]},
            )
            self._lib_path = lib
            self.runner_ready = False
            self.runner_failed: str | None = None
            self.agent_loaded = False  # the agent's source has run in this kernel
            yield
        finally:
            runner = getattr(self, "runner", None)
            if runner is not None:
                runner.close()
            self.runner = None
            if uids:
                uids.release()
            shutil.rmtree(self._scratch, ignore_errors=True)

    def create_kernel_manager(self):
        if self._bwrap_path:
            runtime = self._scratch / "run"
            runtime.mkdir(exist_ok=True)
            spec = sandbox.SandboxSpec(
                workdir=self._workdir, lib=self._lib_path, runtime_dir=runtime,
                bwrap=self._bwrap_path, uid=self._kernel_uid,
                limits=sandbox.Limits(memory=self.memory),
                log_path=self._scratch / "kernel.log",
                ro_binds=[(str(self.runner.chan), str(self.runner.chan))],
            )
            self.kernel_manager_class = sandbox.SandboxedKernelManager
            name = (self.kernel_name or self.nb.metadata.get("kernelspec", {}).get("name")
                    or "python3")
            self.km = sandbox.SandboxedKernelManager(kernel_name=name, config=self.config,
                                                     sandbox_spec=spec)
            return self.km
        if self._lib_path is not None:
            shutil.copytree(self._lib_path, self._workdir / "lib", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        return super().create_kernel_manager()

    async def async_start_new_kernel(self, **kwargs):
        kwargs["cwd"] = str(self._workdir)
        if not self._bwrap_path:
            env = dict(os.environ)
            env.update(NBGRADER_EXECUTION="autograde", COURSE_STATIC_PLOTS="1",
                       PYTHONDONTWRITEBYTECODE="1")
            kwargs["env"] = env
        await super().async_start_new_kernel(**kwargs)

    # -- cells ------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        self._ran_cells = True
        remaining = None if self._deadline is None else self._deadline - time.monotonic()
        if self._stopped is None and remaining is not None and remaining < 1:
            self._stop(f"notebook time limit ({self.notebook_timeout} s) reached")
        if self._stopped is not None:
            _not_run(cell, self._stopped)
            return cell, resources
        limits = [t for t in (self._cell_timeout, remaining) if t is not None]
        self.timeout = max(1, int(min(limits))) if limits else None
        name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except GraderFailure:
            raise
        except Exception as err:  # noqa: BLE001 (the kernel died, hung or broke the executor)
            self._cell_failed(cell, index, name, err)
        self._note_errors(cell, name)
        return cell, resources

    def _test_source(self, cell) -> tuple[str, str] | None:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in self._trusted["tests"] and grade_id not in self._seen_tests:
            return grade_id, self._trusted["tests"][grade_id]
        return None

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        test = self._test_source(cell) if cell.cell_type == "code" else None
        if test is None:
            return await super().async_execute_cell(cell, cell_index, execution_count,
                                                    store_history)
        grade_id, source = test
        self._seen_tests.add(grade_id)
        return await self._execute_test(cell, cell_index, grade_id, source)

    # nbclient binds execute_cell = run_sync(async_execute_cell) to its own coroutine
    execute_cell = run_sync(async_execute_cell)

    async def _execute_test(self, cell, cell_index, grade_id, source):
        if self.timeout is None:  # no cell and no notebook limit: the runner needs a number
            self.timeout = NO_LIMIT
        if not self.runner_ready and not self.runner_failed:
            try:  # the machinery: a runner that does not start is retried, not a 0
                await asyncio.to_thread(self.runner.read, self.runner_timeout)
            except Exception as err:
                raise GraderFailure(f"the trusted runner did not start ({err})") from err
            self.runner_ready = True

        async def in_kernel(agent):
            # nbclient applies display updates to self.nb.cells[cell_index]: the agent's
            # cell while it runs (run_test_cell puts the test cell back)
            self.nb.cells[cell_index] = agent
            return await super(TrustedExecute, self).async_execute_cell(
                agent, cell_index, store_history=False)

        try:
            return await run_test_cell(self, cell, cell_index, grade_id, source, in_kernel)
        finally:
            # what the student's code displayed during the test is now plain text among the
            # runner's outputs: a later update of its display id must not reach them
            self.clear_display_id_mapping(cell_index)
