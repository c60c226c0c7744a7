"""``TrustedExecute``: nbgrader's Execute preprocessor, with test cells run outside the student.

Configured in ``nbgrader_config.py`` in place of nbgrader's ``Execute``, so that
``nbgrader autograde``, formgrader's *Autograde* button and ``course grade`` all grade this way:

* every cell that is not an autograded test cell runs in the student's kernel, sandboxed
  (:mod:`course.isolation.sandbox`) in a throwaway working folder that holds nothing but the
  trusted student edition of ``lib`` (read-only) and is never read back;
* every autograded test cell runs in the trusted runner (:mod:`course.isolation.runner`),
  another sandboxed process that runs no student code; meanwhile the student's kernel runs
  the grading agent (:mod:`course.isolation.agent`), which serves the runner's calls on the
  student's names over plain data (:mod:`course.isolation.wire`). The test's source never
  reaches the student's kernel, and the cell's outputs (what nbgrader scores) are the
  runner's: what the student's code printed meanwhile is kept as plain text and can neither
  fail nor pass a test;
* a per-cell and a per-notebook time limit; a kernel that dies or hangs fails the pending
  test and the rest of that notebook, never the run; a kernel that dies at start is retried.

Which cells are tests, their source, the student's answer names and the trusted imports come
from the gradebook, never from the submission.
"""

from __future__ import annotations

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
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets import Enum, Integer, Unicode

from course.isolation import sandbox
from course.isolation.runner_process import RunnerProcess
from course.nbgrader_ext.cells import trusted_cells, trusted_lib
from course.nbgrader_ext.flags import FLAGS_KEY
from course.nbgrader_ext.testcell import run_test_cell

DEFAULT_NOTEBOOK_TIMEOUT = 600

DEFAULT_MAX_OUTPUT = 1_000_000

NOT_SANDBOXED = "not sandboxed"

START_ATTEMPTS = 3  # a kernel or runner that dies at start is an infrastructure failure


def _checked_lib(config, assignment: str) -> Path:
    lib = trusted_lib(config, assignment)
    if not (lib / "__init__.py").is_file():
        raise RuntimeError(f"no trusted student edition of lib at {lib}: run `course "
                           f"release {assignment}`")
    return lib


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


class TrustedExecute(Execute):
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
    notebook_timeout = Integer(DEFAULT_NOTEBOOK_TIMEOUT, help="seconds for a notebook").tag(
        config=True)
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
        self._deadline = time.monotonic() + self.notebook_timeout
        self._stopped: str | None = None
        self._cell_timeout = self.timeout
        self._output_chars = 0
        self._output_cut = False
        self._notebook_problems: list[str] = [NOT_SANDBOXED] if self._bwrap_path is None else []
        for attempt in range(START_ATTEMPTS):
            with self._session(lib):
                self._seen_tests: set[str] = set()
                self._ran_cells = False
                try:
                    nb, resources = super().preprocess(nb, resources, km)
                    record = nb.metadata.setdefault(FLAGS_KEY, {}).setdefault("flags", [])
                    record += [p for p in self._notebook_problems if p not in record]
                    return nb, resources
                except RuntimeError as err:
                    if not self._ran_cells and attempt + 1 < START_ATTEMPTS:
                        self.log.warning("kernel did not start (%s); retrying", err)
                        time.sleep(1 + attempt)
                        continue
                    raise
                finally:
                    self.timeout = self._cell_timeout
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _session(self, lib: Path):
        """Scratch folders, uids and the runner for one attempt at one notebook."""
        self._scratch = Path(tempfile.mkdtemp(prefix="course-nb-"))
        uids = sandbox.UidLease(2) if self._bwrap_path and os.geteuid() == 0 else None
        self.km = None
        try:
            workdir = self._scratch / "work"
            workdir.mkdir()
            self._workdir = workdir
            self._kernel_uid = uids.uids[0] if uids else None
            self.runner = RunnerProcess(
                scratch=self._scratch, lib=lib, bwrap=self._bwrap_path,
                uid=uids.uids[1] if uids else None, memory=self.memory,
                setup={"student_names": self._trusted["student_names"],
                       "imports": self._trusted["imports"]},
            )
            self._lib_path = lib
            self.runner_ready = False
            self.runner_failed: str | None = None
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
        if self._stopped is None and self._deadline - time.monotonic() < 1:
            self._stop(f"notebook time limit ({self.notebook_timeout} s) reached")
        if self._stopped is not None:
            _not_run(cell, self._stopped)
            return cell, resources
        remaining = self._deadline - time.monotonic()
        if self._cell_timeout is not None:
            self.timeout = max(1, int(min(self._cell_timeout, remaining)))
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stop("the kernel died")
            _not_run(cell, "the kernel died while running this cell")
            return cell, resources
        except CellTimeoutError:
            self._stop("the kernel stopped responding after a cell timed out")
            _not_run(cell, "the kernel stopped responding")
            return cell, resources
        name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") == "CellTimeoutError":
                self.problem(f"{name} timed out ({self.timeout} s)")
            elif out.get("ename") == "MemoryError":
                self.problem(f"{name} ran out of memory")
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
        async def in_kernel(agent):
            return await super(TrustedExecute, self).async_execute_cell(
                agent, cell_index, store_history=False)

        return await run_test_cell(self, cell, cell_index, grade_id, source, in_kernel)

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
