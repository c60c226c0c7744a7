"""No file name of the grading machine in a graded notebook's outputs (issue 21): the scratch
folder, ipykernel's cell files and the Python installation become neutral names
(course/nbgrader_ext/paths.py), the student's line numbers stay."""

from __future__ import annotations

import json
import os
import re
import sys

import nbformat
import pytest
from nbformat.notebooknode import NotebookNode

from course.nbgrader_ext.paths import neutral_paths

RAW = ["course-nb-", "/tmp/", "ipykernel_", ".venv"]
INSTALLED = re.compile(r"(?<!<python>)/(site|dist)-packages")  # only as <python>/site-packages
SCRATCH = "course-nb-k3j9x_a1"


def stream(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stderr", text=text)


def rewritten(*outputs, cells=()) -> list:
    nb = NotebookNode(cells=[*cells, NotebookNode(cell_type="code", source="", metadata={},
                                                  execution_count=None, outputs=list(outputs))])
    neutral_paths(nb, f"/tmp/{SCRATCH}")
    return nb.cells[-1].outputs


@pytest.mark.parametrize(("raw", "neutral"), [
    # IPython's traceback: ANSI colours around the file, the home shortened to ~ (the sandbox's
    # HOME is /tmp, where the scratch folder is)
    (f"\x1b[36mFile \x1b[32m~/{SCRATCH}/work/lib/explorers.py:65\x1b[39m, in explore",
     "\x1b[36mFile \x1b[32mlib/explorers.py:65\x1b[39m, in explore"),
    (f"/tmp/{SCRATCH}/work/lib/explorers.py:12: UserWarning: careful",
     "lib/explorers.py:12: UserWarning: careful"),
    (f"FileNotFoundError: '/tmp/{SCRATCH}/work/data.csv'", "FileNotFoundError: 'data.csv'"),
    (f"/tmp/{SCRATCH}/run/kernel.log", "<grading folder>/run/kernel.log"),
    ("/home/ta/ml2/.venv/lib/python3.11/site-packages/numpy/_core/fromnumeric.py:3860: "
     "RuntimeWarning: Mean of empty slice.",
     "<python>/site-packages/numpy/_core/fromnumeric.py:3860: RuntimeWarning: Mean of empty "
     "slice."),
    ("/usr/lib/python3.11/dist-packages/x.py:3", "<python>/site-packages/x.py:3"),
    ("/usr/local/lib/python3.11/warnings.py:112", "<python>/lib/warnings.py:112"),
    # a cell file no executed cell has: still no temporary path, the line stays
    ("/tmp/ipykernel_2/12345.py:4: RuntimeWarning: overflow",
     "a cell, line 4: RuntimeWarning: overflow"),
    ('  File "/tmp/ipykernel_2/12345.py", line 4, in step', "  a cell, line 4, in step"),
    # what is no grading machine's file stays
    ("/data/course/readme.txt and lib/plots.py:3", "/data/course/readme.txt and lib/plots.py:3"),
    ("no path here: 3/4 of 1e308", "no path here: 3/4 of 1e308"),
])
def test_a_text_is_rewritten_to_neutral_names(raw, neutral):
    (out,) = rewritten(stream(raw))
    assert out.text == neutral


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not in a virtual environment")
def test_the_rest_of_the_grader_s_virtual_environment_is_python():
    (out,) = rewritten(stream(f"{sys.prefix}/bin/jupyter-execute: not found"))
    assert out.text == "<python>/bin/jupyter-execute: not found"


def test_every_shown_text_of_every_output_kind_is_rewritten():
    path = f"/tmp/{SCRATCH}/work/lib/toy.py:7"
    outs = rewritten(
        NotebookNode(output_type="error", ename="ValueError", evalue=path, traceback=[path, path]),
        NotebookNode(output_type="execute_result", execution_count=1, metadata={},
                     data={"text/plain": path, "text/html": f"<b>{path}</b>", "image/png": "iVBO"}),
        NotebookNode(output_type="display_data", metadata={}, data={"text/markdown": path}))
    assert outs[0].evalue == "lib/toy.py:7" and outs[0].traceback == ["lib/toy.py:7"] * 2
    assert outs[1].data == {"text/plain": "lib/toy.py:7", "text/html": "<b>lib/toy.py:7</b>",
                            "image/png": "iVBO"}
    assert outs[2].data["text/markdown"] == "lib/toy.py:7"


@pytest.mark.slow
def test_a_real_kernel_s_warnings_and_tracebacks_get_neutral_names(tmp_path):
    """A notebook executed in a real kernel in a scratch folder like TrustedExecute's: its
    warnings name ipykernel's cell files, numpy's installed files and the folder's lib."""
    from nbclient import NotebookClient

    work = tmp_path / SCRATCH / "work"
    (work / "lib").mkdir(parents=True)
    (work / "lib" / "__init__.py").write_text("")
    (work / "lib" / "helper.py").write_text(
        "import warnings\n\n\ndef fail():\n    warnings.warn('careful')\n"
        "    raise ValueError('the helper failed')\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np\n\n\ndef overflow(x):\n"
                                  "    return np.float64(x) * 1e308\n"),  # line 5 of In[1]
        nbformat.v4.new_code_cell("overflow(10.0)"),
        nbformat.v4.new_code_cell("np.mean(np.array([]))"),
        nbformat.v4.new_code_cell("from lib import helper\nhelper.fail()"),
    ]
    env = dict(os.environ, HOME=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)  # the folder's lib, not the repository's
    NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(work)}}).execute(env=env)
    before = json.dumps([c.outputs for c in nb.cells])
    assert "ipykernel_" in before and str(work) in before  # what the kernel really named
    neutral_paths(nb, tmp_path / SCRATCH)
    texts = ["".join(str(o.get("text", "")) for o in c.outputs) for c in nb.cells]
    assert "Cell In[1], line 5: RuntimeWarning: overflow" in texts[1], texts[1]
    assert "<python>/site-packages/numpy/" in texts[2] and "Mean of empty slice" in texts[2]
    assert "lib/helper.py:5: UserWarning: careful" in texts[3], texts[3]
    (error,) = [o for o in nb.cells[3].outputs if o.output_type == "error"]
    trace = "\n".join(error.traceback)
    assert "lib/helper.py:6" in trace and "ValueError" in trace
    after = json.dumps([c.outputs for c in nb.cells])
    for raw in [*RAW, str(tmp_path), os.path.dirname(sys.executable)]:
        assert raw not in after, raw
    assert not INSTALLED.search(after)
