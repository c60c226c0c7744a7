"""A tiny synthetic course root for the tests of ``course release`` and ``course check``.

Two assignments (the first two ids of the course, so the repository's nbgrader_config.py
applies unchanged), each one notebook with two exercises, visible and hidden tests and a
written answer, plus a small ``lib`` with reference regions of both. The notebooks import
only numpy, so they grade the same whichever ``lib`` the kernel sees.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
TOY_IDS = ["01_gradient_descent", "02_minibatch_sgd"]

TOY_LIB = {
    "__init__.py": '"""Toy lib."""\n',
    "steps.py": '''"""Toy reference module."""

import numpy as np


def gd_step(w, grad, lr):
    """One gradient-descent step."""
    w = np.asarray(w, dtype=np.float64)
    ### BEGIN REFERENCE 01_gradient_descent
    updated_weights = w - lr * np.asarray(grad)
    return updated_weights
    ### END REFERENCE


class Batches:
    def split_evenly(self, n, size):
        """Batch boundaries."""
        out = []
        for start in range(0, n, size):
            ### BEGIN REFERENCE 02_minibatch_sgd
            boundary_pair = (start, min(start + size, n))
            out.append(boundary_pair)
            ### END REFERENCE
        return out
''',
    "datasets/tiny.csv": "x,y\n1,2\n",
}


def _cell(kind: str, source: str, cid: str, **nbgrader) -> nbformat.NotebookNode:
    new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = new(source)
    cell["id"] = cid  # fixed ids: the release must be reproducible
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, "locked": not nbgrader.get("solution")}
        cell.metadata["nbgrader"].update(nbgrader)
        cell.metadata["nbgrader"].setdefault("grade", False)
        cell.metadata["nbgrader"].setdefault("solution", False)
    return cell


def toy_notebook(k: int) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        _cell("markdown", f"# Toy assignment {k}\n\nStep against the gradient.", "intro"),
        _cell("code", "import numpy as np", "setup", grade_id="setup"),
        _cell(
            "code",
            'def step(w, grad, lr):\n    """One gradient step."""\n'
            "    ### BEGIN SOLUTION\n"
            f"    moved_weight_{k} = w - lr * grad\n"
            f"    return moved_weight_{k}\n"
            "    ### END SOLUTION",
            "step",
            grade_id="step_solution",
            solution=True,
        ),
        _cell(
            "code",
            "assert np.isclose(step(12.0, 6.0, 0.1), 11.4)\n"
            "### BEGIN HIDDEN TESTS\n"
            f"assert np.isclose(step(1.0, -2.0, 0.5), 2.0), 'hidden check {k}'\n"
            "### END HIDDEN TESTS",
            "test-step",
            grade_id="test_step",
            grade=True,
            points=2,
        ),
        _cell(
            "code",
            'def twice(x):\n    """2 x."""\n'
            "    ### BEGIN SOLUTION\n"
            f"    doubled_value_{k} = 2 * x\n"
            f"    return doubled_value_{k}\n"
            "    ### END SOLUTION",
            "twice",
            grade_id="twice_solution",
            solution=True,
        ),
        _cell(
            "code",
            "assert twice(3) == 6\n"
            "### BEGIN HIDDEN TESTS\n"
            f"assert twice(-1.5) == -3.0, 'hidden twice {k}'\n"
            "### END HIDDEN TESTS",
            "test-twice",
            grade_id="test_twice",
            grade=True,
            points=1,
        ),
        _cell("markdown", "Why does a too large step diverge?", "question", grade_id="q_prompt"),
        _cell(
            "markdown",
            f"The update overshoots the minimum further each step ({k}).",
            "answer",
            grade_id="q_answer",
            grade=True,
            solution=True,
            points=1,
        ),
    ]
    return nb


WRONG = """
[[wrong]]
name = "sign error"
cell = "step_solution"
replace = "w - lr * grad"
with = "w + lr * grad"

[[wrong]]
name = "twice is thrice"
cell = "twice_solution"
replace = "2 * x"
with = "3 * x"
fails = ["test_twice"]
"""


def make_toy_course(dest: Path, *, catalogue: str = WRONG) -> Path:
    """Write the toy course root into dest (config copied from the repository)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    for rel, text in TOY_LIB.items():
        path = dest / "lib" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for k, aid in enumerate(TOY_IDS, start=1):
        path = dest / "source" / aid / f"{aid}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(toy_notebook(k), path)
        (dest / "catalogue").mkdir(exist_ok=True)
        (dest / "catalogue" / f"{aid}.toml").write_text(catalogue, encoding="utf-8")
    return dest
