"""The adversarial catalogue: submissions that try to get points they have not earned.

Each entry edits the toy course's released notebook (or its folder) the way a cheating or
careless student might. ``zero`` lists the tests it attacks, which must score 0; ``flag`` is
a text that must appear in its flags. Entries covering issue 6's "Cheat resistance" list:

- numpy / numpy.testing / lib.grading patched or replaced: patch_allclose, setattr_numpy,
  patch_numpy_testing, patch_grading, rebind_grading, replace_sys_modules, reload_grading,
  patch_builtins
- fake equality: fake_eq, ndarray_subclass, array_impostor
- exception hooks: set_custom_exc, excepthook, showtraceback
- exits, kills, loops, bombs, outputs: sys_exit, os_exit, kill_kernel, infinite_loop,
  uninterruptible_loop, memory_bomb, fork_bomb, huge_output
- notebook structure: edit_test, delete_test, move_test, edit_points, edit_grade_id,
  unlock_test, fake_test_cell, duplicate_test_id
- lib: lib_copy, shadow_numpy, withheld_reference
- disk and environment: read_source, read_other_student, write_gradebook, sniff_nbgrader

Entries for the second design (issue 9: the verdict is computed in the trusted runner, so
what a submission does inside its own process can make a test fail, never pass). They are
graded with wrong answers, so any that worked would show up as points:

- IPython's hooks: input_transformers_cleanup, input_transformers_post, ast_transformer,
  post_run_cell_clears_error, pre_run_cell_result
- the kernel: wrap_do_execute, wrap_run_cell, kernel_aborting, session_send_rewrite
- the interpreter: settrace, settrace_imported, setprofile, gc_grading_refs,
  ctypes_immutable, vars_grading, code_swap, ex_base64, computed_setattr, rebind_grading
  (now 0 on both tests)
- other students and the grader's files: hold_process_budget, symlink_notebook,
  fifo_in_submission, symlinks_in_kernel_folder, lib_symlink
- the grader's disk and memory (issue 19, hole 2): fill_writable_places (walks every
  writable mount and folder it can reach and fills each; ``check`` asserts from its report
  that data landed only in size-limited tmpfs mounts)

Submissions that make grading fail (issue 19, hole 4: a student keeps an earlier grade by
making grading fail), in GRADING_FAILURES: graded after the same student's honest full-marks
submission (tests/test_integrity.py), they must replace its grade with their own:

- display_update: html-only displays with a display id, shown during a test and updated
  later (nbclient raised IndexError)
- malformed_display: a display message whose data is not a dict (the executor raised)
- malformed_stream: a stream message whose text is a list (nbgrader's LimitOutput raised)

HONEST lists correct submissions in styles that must keep every point and get no flag.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from nbformat.v4 import new_code_cell

from . import writable
from .toy import cell

WRONG_DOUBLE = "def double(x):\n    return np.asarray(x, dtype=np.float64)  # wrong: x, not 2x"
WRONG_TOTAL = "def total(x):\n    return 0.0"


@dataclass
class Entry:
    name: str
    build: Callable  # (release_nb, root) -> (nb, files) ; nb may be a str (raw file text)
    zero: tuple[str, ...] = ()
    flag: str | None = None
    needs_sandbox: bool = False  # only safe, or only meaningful, inside the sandbox
    notebook_name: str = "toy"
    post: Callable | None = None  # (submission folder, root) -> None, after it is written
    course_grade_only: bool = False  # plain `nbgrader autograde` reads submissions itself
    check: Callable | None = None  # (autograded notebook) -> None: asserts what it did held


def _solution(nb, grade_id: str, source: str):
    cell(nb, grade_id).source = source
    return nb


def _both(nb, double: str = WRONG_DOUBLE, total: str = WRONG_TOTAL):
    _solution(nb, "double", double)
    return _solution(nb, "total", total)


def _insert_after(nb, after: str, source: str, **metadata):
    new = new_code_cell(source)
    if metadata:
        new.metadata["nbgrader"] = metadata
    index = next(i for i, c in enumerate(nb.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == after)
    nb.cells.insert(index + 1, new)
    return nb


def _patch(prelude: str, zero=("test_double", "test_total"), flag=None, name="",
           needs_sandbox=False):
    def build(nb, root):
        _both(nb)
        return _insert_after(nb, "double", prelude), {}
    return Entry(name, build, zero, flag, needs_sandbox)


ENTRIES: list[Entry] = [
    # -- numpy, numpy.testing, lib.grading patched or replaced --------------------------
    _patch("np.allclose = lambda *a, **k: True\nnp.all = lambda *a, **k: True",
           flag="assigns to module attribute numpy.allclose", name="patch_allclose"),
    _patch("setattr(np, 'isfinite', lambda x: True)\nsetattr(np, 'abs', lambda x: 0 * x)",
           flag="setattr on module numpy", name="setattr_numpy"),
    _patch("import numpy.testing\nnp.testing.assert_allclose = lambda *a, **k: None",
           flag="assigns to module attribute numpy.testing.assert_allclose",
           name="patch_numpy_testing"),
    # not preventable in one process (the tests call the patched module): flagged
    _patch("grading.assert_close = lambda *a, **k: None",
           flag="assigns to module attribute lib.grading.assert_close", name="patch_grading"),
    _patch("import types\ngrading = types.SimpleNamespace(assert_close=lambda *a, **k: None,"
           " call=lambda f, *a: f(*a))",
           flag="rebinds the module name grading", name="rebind_grading"),
    _patch("import sys, types\nsys.modules['lib.grading'] = types.SimpleNamespace()\n"
           "sys.modules['numpy'] = types.SimpleNamespace(allclose=lambda *a: True)",
           flag="touches sys.modules", name="replace_sys_modules"),
    _patch("import importlib\nimportlib.reload(grading)", flag="reloads a module",
           name="reload_grading"),
    _patch("import builtins\nbuiltins.isinstance = lambda *a: True",
           flag="assigns to module attribute builtins.isinstance", name="patch_builtins"),
    # -- objects that fake equality -----------------------------------------------------
    Entry("fake_eq", lambda nb, root: (_solution(nb, "total", (
        "class Anything(float):\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = float.__hash__\n\ndef total(x):\n    return Anything(-1.0)")), {}),
        zero=("test_total",), flag="defines __eq__"),
    Entry("ndarray_subclass", lambda nb, root: (_solution(nb, "double", (
        "class Agreeable(np.ndarray):\n    def __sub__(self, other):\n"
        "        return np.zeros(self.shape)\n    __rsub__ = __sub__\n\n"
        "def double(x):\n    return np.asarray(x, dtype=float).view(Agreeable)")), {}),
        zero=("test_double",), flag="subclasses numpy.ndarray"),
    Entry("array_impostor", lambda nb, root: (_solution(nb, "double", (
        "class Impostor:\n    def __init__(self, x):\n        self.x = np.asarray(x, float)\n"
        "    def __array__(self, dtype=None, copy=None):\n        return 2 * self.x\n\n"
        "def double(x):\n    return Impostor(np.zeros(len(x)))")), {}),
        zero=("test_double",), flag="defines __array__"),
    # -- exception hooks -----------------------------------------------------------------
    _patch("get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
           flag="set_custom_exc", name="set_custom_exc"),
    _patch("import sys\nsys.excepthook = lambda *a: None", flag="sys.excepthook",
           name="excepthook"),
    _patch("ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
           "ip._showtraceback = lambda *a, **k: None", flag="showtraceback",
           name="showtraceback"),
    # -- exits, kills, loops, bombs, huge outputs ----------------------------------------
    _patch("import sys\nsys.exit(0)", flag="exits the kernel", name="sys_exit"),
    _patch("import os\nos._exit(0)", flag="os._exit", name="os_exit"),
    _patch("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", flag="os.kill",
           name="kill_kernel"),
    _patch("while True:\n    pass", flag="timed out", name="infinite_loop", needs_sandbox=True),
    _patch("while True:\n    try:\n        while True:\n            pass\n"
           "    except KeyboardInterrupt:\n        pass", flag="stopped responding",
           name="uninterruptible_loop", needs_sandbox=True),
    _patch("hog = []\nwhile True:\n    hog.append(bytes(2**29))", name="memory_bomb",
           flag="ran out of memory",
           needs_sandbox=True),
    _patch("import os, time\nchildren = []\ntry:\n    while True:\n        pid = os.fork()\n"
           "        if pid == 0:\n            time.sleep(30)\n            os._exit(0)\n"
           "        children.append(pid)\nexcept OSError:\n    pass",
           flag="forks (os.fork)", name="fork_bomb", needs_sandbox=True),
    _patch("for i in range(400_000):\n    print(i, 'spam' * 4)",
           flag="output over", name="huge_output"),
    # -- notebook structure and metadata --------------------------------------------------
    Entry("edit_test", lambda nb, root: (
        setattr(cell(_both(nb), "test_double"), "source", "pass") or nb, {}),
        zero=("test_double",), flag="test cell 'test_double' edited"),
    Entry("delete_test", lambda nb, root: (_delete(_both(nb), "test_double"), {}),
          zero=("test_double",), flag="test cell 'test_double' deleted"),
    Entry("move_test", lambda nb, root: (_move_to_end(_both(nb), "test_total"), {}),
          zero=("test_total",), flag="moved"),
    Entry("edit_points", lambda nb, root: (_meta(_both(nb), "test_double", points=100), {}),
          zero=("test_double",), flag="metadata of 'test_double' changed (points)"),
    Entry("edit_grade_id", lambda nb, root: (_meta(_both(nb), "test_double",
                                                   grade_id="test_mine"), {}),
          zero=("test_double",), flag="extra cell claims nbgrader id 'test_mine'"),
    Entry("unlock_test", lambda nb, root: (_unlock(_both(nb), "test_total"), {}),
          zero=("test_total",), flag="metadata of 'test_total' changed (locked)"),
    Entry("fake_test_cell", lambda nb, root: (_insert_after(
        _both(nb), "test_total", "pass", grade=True, grade_id="bonus", locked=True,
        points=10, solution=False, schema_version=3), {}),
        zero=("test_double", "test_total"), flag="extra cell claims nbgrader id 'bonus'"),
    Entry("duplicate_test_id", lambda nb, root: (_insert_after(
        _both(nb), "double", "pass", grade=True, grade_id="test_double", locked=True,
        points=2, solution=False, schema_version=3), {}),
        zero=("test_double",), flag="'test_double' (duplicate)"),
    # -- lib -------------------------------------------------------------------------------
    Entry("lib_copy", lambda nb, root: (_both(nb), {
        "lib/__init__.py": "",
        "lib/toy.py": "def twice(x):\n    return 2 * x\n",
        "lib/grading.py": "def assert_close(*a, **k):\n    pass\n\n"
                          "def call(f, *a, **k):\n    return f(*a, **k)\n"}),
        zero=("test_double", "test_total"), flag="submitted files ignored: lib"),
    Entry("shadow_numpy", lambda nb, root: (_both(nb), {
        "numpy.py": "allclose = lambda *a, **k: True\n"}),
        zero=("test_double", "test_total"), flag="submitted files ignored: numpy.py"),
    Entry("withheld_reference", lambda nb, root: (_solution(
        nb, "double", "def double(x):\n    return toy.twice(x)"), {}),
        zero=("test_double",), flag="uses withheld reference lib.toy.twice"),
    # -- disk and environment ----------------------------------------------------------------
    Entry("read_source", lambda nb, root: (_both(nb, double=(
        f"hidden = open({str(root) + '/source/toy/toy.ipynb'!r}).read()\n" + WRONG_DOUBLE)),
        {}), zero=("test_double",), flag="names the instructor's source/ folder"),
    Entry("read_other_student", lambda nb, root: (_both(nb, double=(
        f"other = open({str(root) + '/submitted/honest/toy/toy.ipynb'!r}).read()\n"
        + WRONG_DOUBLE)), {}), zero=("test_double",), flag="names other submissions"),
    Entry("write_gradebook", lambda nb, root: (_both(nb, double=(
        f"open({str(root) + '/gradebook.db'!r}, 'wb').write(b'gone')\n" + WRONG_DOUBLE)),
        {}), zero=("test_double",), flag="names the gradebook",
        needs_sandbox=True),  # unsandboxed, it really would destroy the gradebook
    Entry("sniff_nbgrader", lambda nb, root: (_both(nb, double=(
        "import os\nif 'NBGRADER_EXECUTION' in os.environ:\n"
        "    grading.assert_close = lambda *a, **k: None\n" + WRONG_DOUBLE)), {}),
        zero=("test_double",), flag="sniffs the grading environment", needs_sandbox=True),
    # == second design: the student's process cannot decide a verdict ===========================
    # -- IPython's own hooks ----------------------------------------------------------------
    _patch("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])",
           name="input_transformers_cleanup"),
    _patch("get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])",
           name="input_transformers_post"),
    _patch("import ast\nclass Swallow(ast.NodeTransformer):\n"
           "    def visit_Module(self, node):\n"
           "        handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()),"
           " name=None, body=[ast.Pass()])\n"
           "        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler],"
           " orelse=[], finalbody=[])]\n"
           "        return ast.fix_missing_locations(node)\n"
           "get_ipython().ast_transformers.append(Swallow())", name="ast_transformer"),
    _patch("def clear(result):\n    result.error_in_exec = None\n"
           "    result.error_before_exec = None\n"
           "get_ipython().events.register('post_run_cell', clear)",
           name="post_run_cell_clears_error"),
    _patch("from IPython.display import display\n"
           "def claim(info):\n    get_ipython().displayhook('full marks')\n"
           "    display({'text/plain': '2'}, raw=True)\n"
           "get_ipython().events.register('pre_run_cell', claim)", name="pre_run_cell_result"),
    # -- the kernel and its session ------------------------------------------------------------
    _patch("kernel = get_ipython().kernel\n"
           "async def do_execute(*args, **kwargs):\n"
           "    return {'status': 'ok', 'execution_count': 1, 'payload': [],"
           " 'user_expressions': {}}\n"
           "kernel.do_execute = do_execute", name="wrap_do_execute"),
    _patch("shell = get_ipython()\nfrom IPython.core.interactiveshell import ExecutionResult\n"
           "def run_cell(raw_cell, *a, **k):\n"
           "    return ExecutionResult(None)\n"
           "shell.run_cell = run_cell", name="wrap_run_cell"),
    _patch("get_ipython().kernel._aborting = True", name="kernel_aborting"),
    _patch("session = get_ipython().kernel.session\norig_send = session.send\n"
           "def send(stream, msg_or_type, content=None, *a, **k):\n"
           "    if isinstance(content, dict) and content.get('status') == 'error':\n"
           "        content = {'status': 'ok', 'execution_count': 1, 'payload': [],"
           " 'user_expressions': {}}\n"
           "    if msg_or_type == 'error':\n        return None\n"
           "    return orig_send(stream, msg_or_type, content, *a, **k)\n"
           "session.send = send", name="session_send_rewrite"),
    # -- the interpreter -------------------------------------------------------------------------
    _patch("import sys\ndef tracer(frame, event, arg):\n"
           "    if event == 'exception':\n        frame.f_locals.clear()\n"
           "    return tracer\nsys.settrace(tracer)", name="settrace"),
    _patch("from sys import settrace\nimport threading\n"
           "def tracer(frame, event, arg):\n    return tracer\n"
           "settrace(tracer)\nthreading.settrace(tracer)", name="settrace_imported"),
    _patch("import sys\nsys.setprofile(lambda frame, event, arg: None)", name="setprofile"),
    _patch("import gc, types\nfor obj in gc.get_objects():\n"
           "    if isinstance(obj, dict) and '_abs' in obj and '_logical_and' in obj:\n"
           "        obj['_abs'] = lambda x: 0 * x\n"
           "        obj['_logical_and'] = types.SimpleNamespace(reduce=lambda *a, **k: True)",
           name="gc_grading_refs"),
    # clear Py_TPFLAGS_IMMUTABLETYPE of float and numpy.ndarray (tp_flags is at offset 168
    # of a 64-bit CPython 3.11 type object), then patch their comparison and subtraction
    _patch("import ctypes\nfor t in (float, np.ndarray):\n"
           "    flags = ctypes.c_ulong.from_address(id(t) + 168)\n"
           "    flags.value &= ~(1 << 8)\n"
           "try:\n    float.__eq__ = lambda a, b: True\n"
           "    np.ndarray.__sub__ = lambda a, b: np.zeros(np.shape(a))\nexcept TypeError:\n"
           "    pass", name="ctypes_immutable"),
    _patch("vars(grading)['assert_close'] = lambda *a, **k: None\n"
           "vars(grading)['call'] = lambda f, *a, **k: None", name="vars_grading"),
    _patch("grading.assert_close.__code__ = (lambda *a, **k: None).__code__",
           name="code_swap"),
    _patch("import base64\nget_ipython().ex(base64.b64decode("
           + repr(__import__("base64").b64encode(
               b"import lib.grading as g\ng.assert_close = lambda *a, **k: None\n"
               b"g.call = lambda f, *a, **k: None").decode())
           + ").decode())", name="ex_base64"),
    _patch("setattr(grading, 'assert_' + 'close', lambda *a, **k: None)\n"
           "setattr(grading, ''.join(['ca', 'll']), lambda f, *a, **k: None)",
           name="computed_setattr"),
    # -- other students and the grader's files ------------------------------------------------
    _patch("import os, time\nfor _ in range(200):\n    try:\n        if os.fork() == 0:\n"
           "            time.sleep(60)\n            os._exit(0)\n    except OSError:\n"
           "        break", name="hold_process_budget", needs_sandbox=True),
    Entry("symlinks_in_kernel_folder", lambda nb, root: (_both(nb, double=(
        "import os\n"
        f"for name, target in [('toy.ipynb', {str(root / 'gradebook.db')!r}), "
        f"('timestamp.txt', '/etc/passwd'), ('toy.html', {str(root / 'source')!r})]:\n"
        "    try:\n        os.symlink(target, name)\n    except OSError:\n        pass\n"
        + WRONG_DOUBLE)), {}), zero=("test_double", "test_total"), needs_sandbox=True),
    # unsandboxed it would fill the grader's disk (it refuses where / is not a tmpfs)
    Entry("fill_writable_places", lambda nb, root: (_insert_after(
        _both(nb), "double", writable.walker_code(cap=16 * 2**20, total=96 * 2**20)), {}),
        zero=("test_double", "test_total"), needs_sandbox=True,
        check=writable.check_notebook),
]

def _symlink_notebook(folder, root):
    target = folder / "toy.ipynb"
    target.unlink()
    target.symlink_to(root / "submitted" / "honest" / "toy" / "toy.ipynb")


def _fifo_timestamp(folder, root):
    import os

    os.mkfifo(folder / "timestamp.txt")
    os.mkfifo(folder / "notes.txt")


def _lib_symlink(folder, root):
    (folder / "lib").symlink_to(root / "release" / "toy" / "lib")


ENTRIES += [
    # the honest student's notebook, linked: followed, it would copy their marks
    Entry("symlink_notebook", lambda nb, root: (_both(nb), {}), zero=("test_double",
          "test_total"), flag="symbolic link", post=_symlink_notebook),
    Entry("fifo_in_submission", lambda nb, root: (_both(nb), {}),
          zero=("test_double", "test_total"), flag="timestamp.txt ignored",
          post=_fifo_timestamp, course_grade_only=True),
    Entry("lib_symlink", lambda nb, root: (_both(nb), {}), zero=("test_double", "test_total"),
          flag="submitted files ignored: lib", post=_lib_symlink),
]

# Correct submissions in styles that must keep every autograded point and get no flag.
HONEST: list[Entry] = [
    # a student who prints, writes to stdout and to stderr (a tqdm bar does) inside the
    # functions the tests call
    Entry("honest_prints", lambda nb, root: (_both(
        nb,
        double="import sys\ndef double(x):\n    print('doubling', x)\n"
               "    sys.stdout.write('progress\\n')\n    sys.stderr.write('50%|#####\\r')\n"
               "    return 2.0 * np.asarray(x, dtype=np.float64)",
        total="def total(x):\n    _total = 0.0\n    for v in x:\n        _total += float(v)\n"
              "    print(f'total={_total}')\n    return _total"), {})),
    # a helper of the student's with the name a test cell uses for its own data (in one
    # process the test's `_expected = 4.0` replaced it, and total() failed with a TypeError)
    Entry("honest_helper_names", lambda nb, root: (_both(
        nb, double="def double(x):\n    return 2.0 * np.asarray(x, dtype=np.float64)",
        total="def _expected(x):\n    return float(np.sum(np.asarray(x, dtype=np.float64)))\n\n"
              "def total(x):\n    return _expected(x)"), {})),
    # the folder nbgrader submit hands in: the released edition of lib beside the notebook
    Entry("honest_with_lib", lambda nb, root: (_both(
        nb, double="def double(x):\n    return [2.0 * float(v) for v in x]",
        total="def total(x):\n    return float(np.sum(x))"), _released_lib(root))),
]


_DISPLAYS = ("from IPython.display import HTML, display, update_display\n"
             "def double(x):\n"
             "    display(HTML('<b>double</b>'), display_id='d')\n"
             "    display(HTML('<i>again</i>'), display_id='d')\n"
             "    return {double}\n")
_UPDATE = ("from IPython.display import HTML, update_display\n"
           "update_display(HTML('<b>updated</b>'), display_id='d')")


def _display_update(nb, double: str, total: str):
    nb = _both(nb, double=_DISPLAYS.format(double=double), total=total)
    return _insert_after(nb, "test_double", _UPDATE)


HONEST.append(Entry("honest_display_updates", lambda nb, root: (_display_update(
    nb, "2.0 * np.asarray(x, dtype=np.float64)",
    "def total(x):\n    return float(np.sum(x))"), {})))

GRADING_FAILURES: list[Entry] = [
    Entry("display_update", lambda nb, root: (_display_update(
        nb, "np.asarray(x, dtype=np.float64)", WRONG_TOTAL), {}),
        zero=("test_double", "test_total")),
    Entry("malformed_display", lambda nb, root: (_insert_after(
        _both(nb), "test_total",
        "pub = get_ipython().display_pub\n"
        "msg = pub.session.msg('display_data', {'data': ['not', 'a', 'dict'], 'metadata': {}},"
        " parent=pub.parent_header)\n"
        "pub.session.send(pub.pub_socket, msg, ident=pub.topic)"), {}),
        zero=("test_double", "test_total"), flag="grading stopped at"),
    Entry("malformed_stream", lambda nb, root: (_insert_after(
        _both(nb), "test_total",
        "pub = get_ipython().display_pub\n"
        "msg = pub.session.msg('stream', {'name': 'stdout', 'text': ['not', 'text']},"
        " parent=pub.parent_header)\n"
        "pub.session.send(pub.pub_socket, msg, ident=pub.topic)"), {}),
        zero=("test_double", "test_total")),
]


def _released_lib(root):
    lib = root / "release" / "toy" / "lib"
    return {str(p.relative_to(lib.parent)): p.read_text() for p in lib.rglob("*.py")}


def _delete(nb, grade_id):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def _move_to_end(nb, grade_id):
    moved = cell(nb, grade_id)
    nb.cells = [c for c in nb.cells if c is not moved]
    nb.cells.insert(1, moved)  # before the set-up cell's definitions it needs
    return nb


def _meta(nb, target, **changes):
    cell(nb, target).metadata["nbgrader"].update(changes)
    return nb


def _unlock(nb, grade_id):
    c = cell(nb, grade_id)
    c.metadata["nbgrader"]["locked"] = False
    c.metadata["editable"] = True
    c.source = "pass"
    return nb


def build(entry: Entry, release_nb, root):
    return entry.build(copy.deepcopy(release_nb), root)
