"""The static scan reads cells as IPython runs them (issue 18, item 5): magics and shell
escapes anywhere in a line, the Python a magic runs, and a cell that does not parse is
flagged, never skipped."""

from __future__ import annotations

import pytest

from course.intake.ipython import NOT_PARSED, parse_cell
from course.intake.scan import TOO_DEEP, scan_code
from course.nbgrader_ext import cells

EXIT = "exits the process (os._exit)"
SHELL = "runs a shell command"


@pytest.mark.parametrize(("code", "reasons"), [
    # the example: a shell escape inside an assignment used to hide the whole cell
    ("_ = !true\nimport os\nos._exit(0)", [SHELL, EXIT]),
    ("!ls", [SHELL]),
    ("files = !ls -la\nprint(files)", [SHELL]),
    ("!!ls", [SHELL]),
    ("x = %env", ["uses the magic %env"]),
    ("%env NBGRADER_X=1", ["uses the magic %env"]),
    ("y = 1\n%cd /tmp", ["uses the magic %cd"]),
    ("%%bash\necho hi\n", [SHELL]),
    ("%%script python3\nimport os\n", [SHELL]),
    ("%%writefile lib/losses.py\ndef softmax(z): return z\n", ["uses the magic %writefile"]),
    ("get_ipython().system('ls')", [SHELL]),
    ("get_ipython().run_cell('import os; os._exit(0)')", ["runs dynamic code"]),
    ("name = 'bash'\nget_ipython().run_line_magic(name, 'ls')", ["computed name"]),
    # the Python a magic runs is scanned like a cell
    ("import os\n%time os._exit(0)", [EXIT]),
    ("%timeit -n 1 -r1 __import__('os')._exit(0)", ["imports dynamically"]),
    ("%%time\nimport os\nos._exit(0)\n", [EXIT]),
    ("%%capture out\nimport subprocess\n", ["uses subprocess"]),
    ("%%timeit import os\nos.kill(1, 9)\n", ["kills a process"]),
    ("%%capture\n!ls\n", [SHELL]),
    # what does not parse is flagged, and so is what nests too deeply to walk
    ("def f(:\n    pass\nimport os\nos._exit(0)", [NOT_PARSED]),
    ("%time def f(:", [NOT_PARSED]),
    ("x = " + "1 + " * 2000 + "1\nimport os\nos._exit(0)", [TOO_DEEP, EXIT]),
    ("x = " + "1 + " * 100_000 + "1\nimport os\nos._exit(0)", [NOT_PARSED]),
])
def test_scan_reads_cells_as_ipython_runs_them(code, reasons):
    flags = scan_code([code], {}, trusted=["import numpy as np"])
    for reason in reasons:
        assert any(reason in f for f in flags), (reason, flags)


@pytest.mark.parametrize("code", [
    "%matplotlib inline\nimport numpy as np\nprint(np.ones(2))",
    "%time x = sum(range(10))",
    "%%timeit\nsorted([3, 1, 2])\n",
    "%%capture\nprint('quiet')\n",
    "x = 2\nx?",
    "# %bash and !ls in a comment\nprint('100% done!')",
])
def test_scan_leaves_harmless_magics_alone(code):
    assert scan_code([code], {}, trusted=["import numpy as np"]) == []


def test_a_cell_that_does_not_parse_is_flagged_not_skipped():
    assert scan_code(["def f(:"]) == [NOT_PARSED]
    assert scan_code(["x = 1", "def f(:"]) == [NOT_PARSED]
    assert scan_code(["x = 1"]) == []


def test_the_gradebook_reader_uses_the_same_parser():
    assert cells.parse_cell is parse_cell
    assert cells.bound_names("out = !ls\n%time y = 2\ndef f(): pass") == {"out", "f"}
    assert parse_cell("def f(:") is None
    assert parse_cell("a\x00b") is None
