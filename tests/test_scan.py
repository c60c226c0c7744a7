"""The static scan reads cells as IPython runs them (issue 18, item 5): magics and shell
escapes anywhere in a line, the Python a magic runs, and a cell that does not parse is
flagged, never skipped."""

from __future__ import annotations

from pathlib import Path

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
    ("x = " + "1 + " * 10_000 + "1\nimport os\nos._exit(0)", [NOT_PARSED]),
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


# -- a function that reaches data it was not given (issue 17, item 8) ----------------------

REVIEWED = "a choice made on data a function loads itself is reviewed by hand"
SETUP_06 = ("import numpy as np\nfrom lib.data import load_digits, train_val_test_split\n"
            "from lib.optim import train")
HONEST_FIT = '''
def fit_digits(X_train, y_train, X_val, y_val, *, seed=0):
    best = None
    for lam in (0.0, 1e-4, 1e-3):
        net = MLP([64, 32, 10], activation="sigmoid", seed=seed)
        history = train(net, X_train, y_train, epochs=30, batch_size=32, lr=0.5,
                        weight_decay=lam, X_val=X_val, y_val=y_val, seed=seed)
        if best is None or history["val_acc"][-1] > best[1]["val_acc"][-1]:
            best = (net, history)
    return best
'''
INNER_SPLIT = '''
def fit_digits(X_train, y_train, X_val, y_val, *, seed=0):
    Xa, ya, Xb, yb, X_test, y_test = train_val_test_split(X_train, y_train, rng=seed)
    net = MLP([64, 32, 10], activation="sigmoid", seed=seed)
    return net, train(net, Xa, ya, X_val=X_test, y_val=y_test, seed=seed)
'''
RELOADS = '''
def fit_digits(X_train, y_train, X_val, y_val, *, seed=0):
    X, y = load_digits()
    *_, X_te, y_te = train_val_test_split(X, y, rng=0)
    return min(candidates(X_train, y_train), key=lambda m: error(m, X_te, y_te))
'''


@pytest.mark.parametrize(("code", "reached"), [
    (RELOADS, "calls load_digits"),
    ("from lib import data\ndef pick(X, y):\n    Xa, ya = data.load_iris()\n    return Xa",
     "calls load_iris"),
    ("def pick(X, y):\n    return np.loadtxt('lib/datasets/iris.csv', delimiter=',')",
     "opens 'lib/datasets/iris.csv'"),
    ("from sklearn.datasets import load_digits as ld\ndef f(X):\n    return ld()", "calls ld"),
    # the notebook's test split, read from the globals a locked cell set
    ("def fit_digits(X_train, y_train, X_val, y_val, *, seed=0):\n"
     "    return choose(X_train, y_train, X_test, y_test)", "reads X_test, not an argument"),
    ("def fit_digits(X_train, y_train, X_val, y_val):\n    global X_test\n"
     "    X_test = X_test[:10]\n    return X_test", "reads X_test"),
    ("class Model:\n    def fit(self, X, y):\n        return self.tune(Xd_test, yd_test)",
     "reads Xd_test"),
])
def test_scan_flags_a_function_that_loads_data_itself(code, reached):
    flags = [f for f in scan_code([code], {}, trusted=[SETUP_06]) if REVIEWED in f]
    assert len(flags) == 1 and reached in flags[0], flags


@pytest.mark.parametrize("code", [
    HONEST_FIT,
    INNER_SPLIT,  # splitting the training data it was given is fine
    # the notebook's own cells: loading and splitting at the top level, not in a function
    "X_all, y_all = load_digits()\nX_train, y_train, X_val, y_val, X_test, y_test = "
    "train_val_test_split(X_all, y_all, rng=0)\nprint(np.mean(model.predict(X_test) == y_test))",
    "def accuracy(model, X_test, y_test):\n    return np.mean(model.predict(X_test) == y_test)",
])
def test_scan_leaves_functions_alone_that_use_only_their_arguments(code):
    assert scan_code([code], {}, trusted=[SETUP_06]) == []


def test_no_cell_of_the_course_notebooks_is_flagged_for_loading_data():
    """The reference solutions (06's fit_digits among them), and every other code cell of
    the instructor's notebooks, use only the data they are given."""
    import nbformat

    notebooks = sorted((Path(__file__).parents[1] / "source").glob("*/*.ipynb"))
    assert len(notebooks) == 6
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert not [f for f in scan_code(code, {}) if REVIEWED in f], path
