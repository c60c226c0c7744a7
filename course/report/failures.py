"""Why tests failed: the error outputs of the test cells in ``autograded/<student>/<id>/``.

Only read (JSON), never run. A failure is grouped with the same failure of other students
by its test, its exception and its message with the numbers taken out (:func:`normalise`):
``result = [1. 2.], expected [2. 4.]`` and ``result = [0. 0.], expected [2. 4.]`` are one
failure. A bare ``assert`` (no message) is named by the line of the test that failed, which
also tells whether it failed in the visible tests (the student could see it with
*Validate*) or only in the hidden ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

MAX_NOTEBOOK_BYTES = 64 * 2**20  # a larger autograded notebook is skipped, not read
MAX_MESSAGE = 240  # characters of a message kept
HIDDEN_MARK = "### BEGIN HIDDEN TESTS"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])|(?<![\w])(?:nan|inf)(?![\w])")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_ARRAY = re.compile(r"\[[#\s,.\[\]…]*#[#\s,.\[\]…]*\]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Failure:
    student: str
    notebook: str
    cell: str
    error: str  # the exception's name
    message: str  # its message, as written (cut to MAX_MESSAGE)
    key: str  # the message normalised: what groups failures
    part: str  # "visible", "hidden" or "unknown": where in the test cell it failed


def normalise(message: str) -> str:
    """``message`` with numbers as ``#``, arrays of numbers as ``[…]``, addresses as ``0x…``
    and runs of white space as one space."""
    text = _HEX.sub("0x…", _ANSI.sub("", message))
    text = _NUMBER.sub("#", text)
    text = _ARRAY.sub("[…]", text)
    return _clip(_SPACE.sub(" ", text).strip())


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def read_notebook(path: Path) -> dict | None:
    """The JSON of an autograded notebook, or None (absent, a link, too big, unreadable)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None
        nb = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None
    return nb if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else None


def grade_cells_of(nb: dict, names: set[str]) -> dict[str, dict]:
    """grade id -> the first code cell of ``nb`` with that id, for the ids in ``names``."""
    found: dict[str, dict] = {}
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata")
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(gid, str) and gid in names and gid not in found:
            found[gid] = cell
    return found


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


def _failed_line(traceback: str, cell: str) -> int | None:
    """The line of the test cell at which the error was raised (the cell's own frame)."""
    for pattern in (rf'File "<{re.escape(cell)}>", line (\d+)', r"Cell In\[\d+\], line (\d+)",
                    r'File "<ipython-input-[^"]*>", line (\d+)'):
        match = re.search(pattern, traceback)
        if match:
            return int(match.group(1))
    return None


def cell_failure(student: str, notebook: str, name: str, cell: dict | None) -> Failure:
    """The failure of one test cell, from its first error output."""
    if cell is None:
        return Failure(student, notebook, name, "", "", "(test cell not in the autograded "
                       "notebook)", "unknown")
    errors = [o for o in cell.get("outputs") or [] if isinstance(o, dict)
              and o.get("output_type") == "error"]
    if not errors:
        return Failure(student, notebook, name, "", "", "(no error output: see the grade "
                       "log)", "unknown")
    out = errors[0]
    error = _clip(_ANSI.sub("", _text(out.get("ename"))).strip()) or "Error"
    message = _clip(_SPACE.sub(" ", _ANSI.sub("", _text(out.get("evalue")))).strip())
    source = _text(cell.get("source")).splitlines()
    line = _failed_line(_ANSI.sub("", "\n".join(_text(t) for t in out.get("traceback") or [])),
                        name)
    part = "unknown"
    if line is not None and 0 < line <= len(source):
        mark = next((k + 1 for k, text in enumerate(source) if HIDDEN_MARK in text), None)
        part = "hidden" if mark is not None and line > mark else "visible"
    if message:
        key = f"{error}: {normalise(message)}"
    elif part != "unknown":
        key = f"{error} at: {_clip(source[line - 1].strip())}"
    else:
        key = error
    return Failure(student, notebook, name, error, message, key, part)


def read_failures(root: Path, aid: str, failed: dict[str, set[tuple[str, str]]]
                  ) -> list[Failure]:
    """The failures of ``failed`` (student -> {(notebook, test)} the gradebook says failed),
    from ``autograded/<student>/<aid>/<notebook>.ipynb``."""
    out = []
    for student, tests in sorted(failed.items()):
        for notebook in sorted({nb for nb, _ in tests}):
            names = {t for nb, t in tests if nb == notebook}
            path = Path(root) / "autograded" / student / aid / f"{notebook}.ipynb"
            inside = ".." not in Path(student, notebook).parts and "/" not in student
            nb = read_notebook(path) if inside else None  # never a path out of autograded/
            cells = grade_cells_of(nb, names) if nb else {}
            out += [cell_failure(student, notebook, n, cells.get(n)) for n in sorted(names)]
    return out
