"""Neutral file names in a graded notebook's outputs (issue 21).

What the student's kernel prints while it is graded names files of the grading machine: the
notebook's scratch folder (``/tmp/course-nb-k3j/work/lib/explorers.py:65``, or
``~/course-nb-k3j/...`` where IPython shortens the kernel's home), ipykernel's temporary cell
files (``/tmp/ipykernel_2/3597919175.py:12: RuntimeWarning``) and the instructor's Python
installation (``/home/ta/course/.venv/lib/python3.11/site-packages/numpy/...``). None of them
means anything to the student, and the last tells them about the instructor's machine. After
a notebook is executed (:class:`course.nbgrader_ext.execute.TrustedExecute`, the one place
that knows the scratch folder), every output is rewritten once, so that the autograded
notebook, formgrader and the feedback all say:

* ``lib/explorers.py:65`` for a file in the notebook's working folder (the scratch prefix goes;
  the file's own line number stays);
* ``Cell In[12], line 4`` for a cell file, as IPython's own tracebacks name cells: ``12`` is
  the execution count of the cell whose source has that file's name (ipykernel names a cell's
  file by the murmur2 hash of its source), ``a cell`` when no executed cell matches;
* ``<python>/site-packages/numpy/...`` and ``<python>/lib/warnings.py`` for the Python
  installation (any ``lib/python3.X/site-packages/`` and ``lib/python3.X/``), and
  ``<python>/bin/...`` for the rest of the grader's virtual environment.

Only text that is shown is rewritten: stream text, error values and tracebacks, and the text
forms (``text/plain``, ``text/html``, ``text/markdown``) of results and displays.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ipykernel.compiler import get_tmp_hash_seed, murmur2_x86

# an absolute path's folders, or the home's ("~/...", as IPython shortens it): "/" or "~/",
# then segments (never an ANSI escape or a quote before it)
_FOLDERS = r"~?(?:/[\w.+-]{1,255})*/"
_CELL_FILE = re.compile(
    r'(?P<file>File ")?' + _FOLDERS + r'ipykernel_\d+/(?P<hash>\d+)\.py'
    r'(?(file)"(?:, line (?P<tbline>\d+))?|(?::(?P<line>\d+))?)')
_INSTALL = [
    (re.compile(_FOLDERS + r"lib/python3\.\d+/(?:site|dist)-packages/"), "<python>/site-packages/"),
    (re.compile(_FOLDERS + r"lib/python3\.\d+/"), "<python>/lib/"),
]
if sys.prefix != sys.base_prefix:  # a virtual environment (the kernel's is the grader's):
    # its other files (bin/, share/) by the same name; a system prefix (/usr) stays
    _INSTALL.append((re.compile(re.escape(sys.prefix.rstrip("/")) + "/"), "<python>/"))
_TEXT_KINDS = ("text/plain", "text/html", "text/markdown")


def _cell_counts(nb) -> dict[str, int]:
    """ipykernel's file name (the hash of the source) of each executed cell -> its count."""
    seed = get_tmp_hash_seed()
    counts = {}
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and isinstance(cell.get("execution_count"), int):
            counts[str(murmur2_x86(str(cell.get("source", "")), seed))] = cell.execution_count
    return counts


class PathRewriter:
    """Rewrites the text of outputs of a notebook executed in ``scratch`` (its kernel's
    working folder is ``scratch/work``)."""

    def __init__(self, nb, scratch: Path | str | None = None):
        self.counts = _cell_counts(nb)
        name = Path(scratch).name if scratch else None
        self.scratch = [] if not name else [
            (re.compile(_FOLDERS + re.escape(name) + "/work/"), ""),
            (re.compile(_FOLDERS + re.escape(name) + "/"), "<grading folder>/"),
        ]

    def _cell(self, match: re.Match) -> str:
        count = self.counts.get(match["hash"])
        where = f"Cell In[{count}]" if count is not None else "a cell"
        line = match["tbline"] or match["line"]
        return f"{where}, line {line}" if line else where

    def text(self, text: str) -> str:
        if not isinstance(text, str) or "/" not in text:
            return text
        text = _CELL_FILE.sub(self._cell, text)
        for pattern, replacement in (*self.scratch, *_INSTALL):
            text = pattern.sub(replacement, text)
        return text

    def output(self, out) -> None:
        kind = out.get("output_type")
        if kind == "stream":
            out["text"] = self.text(out.get("text", ""))
        elif kind == "error":
            out["evalue"] = self.text(out.get("evalue", ""))
            out["traceback"] = [self.text(line) for line in out.get("traceback", [])]
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            for mime in _TEXT_KINDS:
                if isinstance(data.get(mime), str):
                    data[mime] = self.text(data[mime])

    def notebook(self, nb) -> None:
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                self.output(out)


def neutral_paths(nb, scratch: Path | str | None = None) -> None:
    """Rewrite, in place, the file names in the outputs of ``nb`` (see the module docstring)."""
    PathRewriter(nb, scratch).notebook(nb)
