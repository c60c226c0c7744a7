"""``TrustedExecute``: nbgrader's Execute preprocessor, with test cells run outside the student.

Configured in ``nbgrader_config.py`` in place of nbgrader's ``Execute``, so that
``nbgrader autograde``, formgrader's *Autograde* button and ``course grade`` all grade this way:

* every cell that is not an autograded test cell runs in the student's kernel, sandboxed
  (:mod:`course.sandbox`) in a throwaway working folder that holds nothing but the trusted
  student edition of ``lib`` (read-only) and is never read back;
* every autograded test cell runs in the trusted runner (:mod:`course.runner`), another
  sandboxed process that runs no student code; meanwhile the student's kernel runs the
  grading agent (:mod:`course.agent`), which serves the runner's calls on the student's
  names over plain data (:mod:`course.wire`). The test's source never reaches the student's
  kernel, and the cell's outputs (what nbgrader scores) are the runner's: what the student's
  code printed meanwhile is kept as plain text and can neither fail nor pass a test;
* a per-cell and a per-notebook time limit; a kernel that dies or hangs fails the pending
  test and the rest of that notebook, never the run; a kernel that dies at start is retried.

Which cells are tests, their source, the student's answer names and the trusted imports come
from the gradebook, never from the submission.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Enum, Integer, Unicode

from course import sandbox

HERE = Path(__file__).resolve().parent
DEFAULT_NOTEBOOK_TIMEOUT = 600
DEFAULT_MAX_OUTPUT = 1_000_000
NOT_SANDBOXED = "not sandboxed"
START_ATTEMPTS = 3  # a kernel or runner that dies at start is an infrastructure failure

# nbgrader's Autograde pipeline with the course's steps (nbgrader_config.py sets these):
# nbgrader 0.9.6's defaults, with SanitizeSubmission first, TrustedExecute in place of Execute
# and SaveFlags after it.
SANITIZE_PREPROCESSORS = [
    "course.execute.SanitizeSubmission",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
AUTOGRADE_PREPROCESSORS = [
    "course.execute.TrustedExecute",
    "course.execute.SaveFlags",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


@functools.cache
def _wire_source() -> str:
    return (HERE / "wire.py").read_text()


@functools.cache
def agent_source() -> str:
    """Source run by the agent cell: course/wire.py followed by course/agent.py."""
    return _wire_source() + "\n" + (HERE / "agent.py").read_text()


@functools.cache
def runner_source() -> str:
    """Source of the trusted runner: course/wire.py followed by course/runner.py."""
    return _wire_source() + "\n" + (HERE / "runner.py").read_text()


def agent_cell_code(address: str, token: str) -> str:
    """The one statement the student's kernel runs while a test cell is graded."""
    return (
        f"exec(compile({agent_source()!r}, '<course grading agent>', 'exec'), "
        f"{{'__name__': '_course_agent', '_ADDRESS': {address!r}, '_TOKEN': {token!r}, "
        "'_USER_NS': globals()})"
    )


# ---------------------------------------------------------------------------------------
# what the gradebook says about a notebook


def _python(source: str) -> ast.Module | None:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return None


def bound_names(source: str) -> set[str]:
    """Top-level names a cell binds (def, class, assignment, import, for, with)."""
    tree = _python(source)
    names: set[str] = set()
    if tree is None:
        return names
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.add((alias.asname or alias.name).split(".")[0])
        else:
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
                targets = [node.target]
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                targets = [i.optional_vars for i in node.items if i.optional_vars]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
    return names


def imported_names(source: str) -> dict[str, tuple[str, str | None]]:
    """Top-level imports of a cell: name -> (module, attribute) for runner._import."""
    tree = _python(source)
    found: dict[str, tuple[str, str | None]] = {}
    if tree is None:
        return found
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = (alias.name, "")
                else:
                    found[alias.name.split(".")[0]] = (alias.name, None)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    found[alias.asname or alias.name] = (node.module, alias.name)
    return found


def trusted_cells(db_url: str, course_id: str, assignment: str, notebook: str) -> dict:
    """From the gradebook: ``tests`` {grade_id: source} of the autograded test cells,
    ``student_names`` bound by solution cells, ``imports`` of the locked read-only cells."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        nb = gb.find_notebook(notebook, assignment)
        solution = {c.name for c in nb.solution_cells}
        graded = {c.name for c in nb.grade_cells}
        tests, names, imports = {}, set(), {}
        for cell in nb.source_cells:
            if cell.cell_type != "code":
                continue
            if cell.name in graded and cell.name not in solution:
                tests[cell.name] = cell.source
            elif cell.name in solution:
                names |= bound_names(cell.source)
            elif cell.locked:
                imports.update(imported_names(cell.source))
    return {"tests": tests, "student_names": sorted(names), "imports": imports}


# ---------------------------------------------------------------------------------------
# the trusted runner process


class RunnerError(RuntimeError):
    pass


class RunnerProcess:
    """One trusted runner: started sandboxed (or not), fed one test cell at a time."""

    def __init__(self, *, scratch: Path, lib: Path, setup: dict, bwrap: str | None,
                 uid: int | None, memory: int):
        self.chan = scratch / "chan"
        self.chan.mkdir()
        self.address = str(self.chan / "agent.sock")
        home = scratch / "runner"
        home.mkdir()
        trusted = scratch / "trusted"
        (trusted / "lib").mkdir(parents=True)
        self.log_path = scratch / "runner.log"
        cmd = [sys.executable, "-I", "-c", runner_source()]
        if bwrap:
            if uid is not None:
                for path in (self.chan, home):
                    os.chown(path, uid, uid)
            os.chmod(self.chan, 0o755)
            spec = sandbox.SandboxSpec(
                workdir=home, lib=None, runtime_dir=self.chan, bwrap=bwrap, uid=uid,
                limits=sandbox.Limits(memory=memory),
                ro_binds=[(str(lib), str(trusted / "lib"))],
            )
            cmd = sandbox.build_command(spec, cmd)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            shutil.copytree(lib, trusted / "lib", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                cwd=str(home),
            )
        self._buffer = b""
        self.send({"path": [str(trusted)], "address": self.address, **setup,
                   "preload": ["numpy", "lib.grading"]})

    def _write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as err:
            raise RunnerError(f"the trusted runner is gone ({self._tail()})") from err

    def send(self, obj: dict) -> None:
        self._write(json.dumps(obj).encode() + b"\n")

    def read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunnerError("the trusted runner did not answer in time")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RunnerError(f"the trusted runner died ({self._tail()})")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return text[-1][:300] if text else "no output"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send({"cmd": "quit"})
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------
# the preprocessor


def _student_outputs(outputs: list) -> list:
    """What the student's kernel printed during a test, as outputs nbgrader cannot score:
    text becomes stdout, results become display data, errors become a line of text."""
    text: list[str] = []
    kept: list = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            text.append(str(out.get("text", "")))
        elif kind == "error":
            text.append(f"[your kernel: {out.get('ename', 'Error')}: {out.get('evalue', '')}]\n")
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in out.get("data", {}).items()
                    if k in ("image/png", "text/plain")}
            if data:
                kept.append(NotebookNode(output_type="display_data", data=data, metadata={}))
    if text:
        kept.insert(0, NotebookNode(output_type="stream", name="stdout", text="".join(text)))
    return kept


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
    def _lib(self, assignment: str) -> Path:
        lib = _trusted_lib(self.config, assignment)
        if not (lib / "__init__.py").is_file():
            raise RuntimeError(f"no trusted student edition of lib at {lib}: run `course "
                               f"release {assignment}`")
        return lib

    def _bwrap(self) -> str | None:
        if self.sandbox == "none":
            return None
        path = sandbox.bwrap_path()
        if path is None and self.sandbox == "bwrap":
            raise RuntimeError("bubblewrap (bwrap) does not work here: install `bubblewrap`")
        return path

    def preprocess(self, nb, resources=None, km=None):
        info = (resources or {}).get("nbgrader", {})
        assignment, notebook = info["assignment"], info["notebook"]
        from nbgrader.coursedir import CourseDirectory

        course_id = CourseDirectory(config=self.config).course_id
        self._trusted = trusted_cells(info["db_url"], course_id, assignment, notebook)
        lib = self._lib(assignment)
        self._bwrap_path = self._bwrap()
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
            self._runner_ready = False
            self._runner_failed: str | None = None
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
            self._not_run(cell, self._stopped)
            return cell, resources
        remaining = self._deadline - time.monotonic()
        if self._cell_timeout is not None:
            self.timeout = max(1, int(min(self._cell_timeout, remaining)))
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stop("the kernel died")
            self._not_run(cell, "the kernel died while running this cell")
            return cell, resources
        except CellTimeoutError:
            self._stop("the kernel stopped responding after a cell timed out")
            self._not_run(cell, "the kernel stopped responding")
            return cell, resources
        name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") == "CellTimeoutError":
                self._problem(f"{name} timed out ({self.timeout} s)")
            elif out.get("ename") == "MemoryError":
                self._problem(f"{name} ran out of memory")
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
        runner = self.runner
        if self._runner_failed:
            cell.outputs = [NotebookNode(output_type="error", ename="GradingError",
                                         evalue=self._runner_failed,
                                         traceback=[f"GradingError: {self._runner_failed}"])]
            return cell
        if not self._runner_ready:
            await asyncio.to_thread(runner.read, self.runner_timeout)
            self._runner_ready = True
        token = secrets.token_hex(16)
        started = time.monotonic()
        runner.send({"cmd": "cell", "name": grade_id, "source": source, "token": token,
                     "timeout": self.timeout})
        agent = NotebookNode(cell_type="code", source=agent_cell_code(runner.address, token),
                             metadata={}, outputs=[], id=cell.get("id", "agent"))
        verdict = asyncio.ensure_future(asyncio.to_thread(runner.read, self.timeout + 15))
        student = asyncio.ensure_future(
            super().async_execute_cell(agent, cell_index, store_history=False))
        failure = None
        done, _ = await asyncio.wait({verdict, student}, return_when=asyncio.FIRST_COMPLETED)
        if student in done and not verdict.done():
            # the agent returned before the runner finished: it never connected, or it died
            exc = student.exception()
            why = ("the student's kernel died" if isinstance(exc, DeadKernelError) else
                   "the student's kernel did not run the test (its cell ended early)")
            with contextlib.suppress(Exception):
                runner.send({"cmd": "abort", "why": why, "token": token})
        try:
            result = await verdict
        except Exception as err:  # the runner died or hung: the test fails, visibly
            result = {"outputs": [{"output_type": "error", "ename": "GradingError",
                                   "evalue": str(err), "traceback": [f"GradingError: {err}"]}]}
            self._problem(f"{grade_id}: {err}")
            self._runner_failed = f"the trusted runner failed at {grade_id}: {err}"
            runner.proc.kill()
        try:
            await asyncio.wait_for(asyncio.shield(student), timeout=10)
        except TimeoutError:
            student.cancel()
            failure = CellTimeoutError("the student's kernel did not finish the test")
        except (DeadKernelError, CellTimeoutError) as err:
            failure = err
        if student.done() and not student.cancelled() and student.exception() is not None:
            failure = student.exception()
        outputs = _student_outputs(agent.outputs)
        outputs += [NotebookNode(out) for out in result.get("outputs", [])]
        cell.outputs = outputs
        cell.execution_count = None
        self.nb.cells[cell_index] = cell  # nbclient put the agent's cell there
        self.log.info("test %s graded in the trusted runner in %.2f s", grade_id,
                      time.monotonic() - started)
        if failure is not None:
            raise failure
        return cell

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in content.get("data", {}).values()
        )
        self._output_chars += size
        if self._output_chars > self.max_output and msg["msg_type"] != "error":
            if not self._output_cut:
                self._output_cut = True
                self._problem(f"output over {self.max_output} characters was dropped")
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _problem(self, text: str) -> None:
        notebook = getattr(self, "_notebook_problems", None)
        if notebook is not None and text not in notebook:
            notebook.append(text)

    def _stop(self, reason: str) -> None:
        from jupyter_core.utils import run_sync

        self._stopped = reason
        self._problem(reason)
        with contextlib.suppress(Exception):
            if self.km is not None:
                run_sync(self.km.shutdown_kernel)(now=True)

    def _not_run(self, cell, reason: str) -> None:
        cell.outputs = [
            *cell.get("outputs", []),
            NotebookNode(output_type="error", ename="NotExecuted", evalue=reason,
                         traceback=[f"NotExecuted: {reason}"]),
        ]


FLAGS_KEY = "course_grading"  # notebook metadata that carries flags from sanitize to SaveFlags


def _trusted_lib(config, assignment: str) -> Path:
    """TrustedExecute.lib_dir if configured, else <course root>/release/<id>/lib."""
    from nbgrader.coursedir import CourseDirectory

    configured = config.TrustedExecute.get("lib_dir", "") if "TrustedExecute" in config else ""
    if configured:
        return Path(configured)
    return Path(CourseDirectory(config=config).root) / "release" / assignment / "lib"


class SanitizeSubmission(NbGraderPreprocessor):
    """First sanitize step: refuse what cannot be graded, repair what claims to be a test, and
    note what a reviewer should look at.

    * a submitted notebook that is a symbolic link or not a regular file is refused (a link
      to another student's notebook would otherwise be graded as this one's); nbgrader has
      read it already, so the submission fails loudly instead;
    * nbgrader metadata is repaired from the gradebook: cells that claim an unknown or a
      repeated test id lose it (nbgrader itself would stop the whole run on some of them),
      known cells get their type, points and locks back (course.submission.review);
    * the flags (those repairs, the static scan's advice, files beside the notebook that
      could shadow modules) go into the notebook's metadata, for :class:`SaveFlags`.
    """

    def preprocess(self, nb, resources):
        import stat

        from nbgrader.coursedir import CourseDirectory

        from course import submission

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
        lib = _trusted_lib(self.config, assignment)
        flags = submission.review(nb, trusted, lib) + submission.folder_flags(folder, lib)
        nb.metadata[FLAGS_KEY] = {"flags": flags}  # replaces whatever the student put there
        return nb, resources


class SaveFlags(NbGraderPreprocessor):
    """Autograde step after TrustedExecute: record the notebook's flags (sanitize's and the
    execution's) in the gradebook's ``course_flags`` table and nbgrader's ``flagged`` mark,
    where ``nbgrader export`` (course.export) and formgrader find them."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook
        from nbgrader.coursedir import CourseDirectory

        from course.gradebook import write_flags

        flags = list(nb.metadata.get(FLAGS_KEY, {}).get("flags", []))
        grading = resources["nbgrader"]
        with Gradebook(grading["db_url"], CourseDirectory(config=self.config).course_id) as gb:
            write_flags(gb, grading["student"], grading["assignment"], flags)
            submitted = gb.find_submission_notebook(grading["notebook"], grading["assignment"],
                                                    grading["student"])
            submitted.flagged = bool(flags)
            gb.db.commit()
        return nb, resources
