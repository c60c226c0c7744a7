"""The catalogue of submissions that ``course check`` grades (``catalogue/<id>.toml``, format in
catalogue/README.md): wrong ones, each the reference solution with a small edit, and correct
ones in another style; and the notebooks made from them.
"""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path


class CatalogueError(ValueError):
    """A catalogue file or entry that cannot be applied."""


@dataclass(frozen=True)
class Edit:
    cell: str  # grade_id of a solution cell
    replace: str  # text of that cell to replace (must occur, exactly once unless all=true)
    with_: str  # replacement
    all: bool = False  # replace every occurrence


@dataclass(frozen=True)
class Wrong:
    name: str
    edits: tuple[Edit, ...]
    fails: tuple[str, ...] = ()  # grade ids of tests that must fail (optional)
    isolated: bool = False  # every autograded test not in `fails` must earn full points

_ENTRY_KEYS = {"name", "cell", "replace", "with", "all", "edits", "fails", "isolated"}

_EDIT_KEYS = {"cell", "replace", "with", "all"}


def _edit(raw: dict, where: str) -> Edit:
    unknown = set(raw) - _EDIT_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("cell", "replace", "with"):
        if not isinstance(raw.get(key), str):
            raise CatalogueError(f"{where}: '{key}' (a string) is required")
    if not raw["replace"]:
        raise CatalogueError(f"{where}: 'replace' is empty")
    if raw["replace"] == raw["with"]:
        raise CatalogueError(f"{where}: 'replace' and 'with' are the same text")
    if not isinstance(raw.get("all", False), bool):
        raise CatalogueError(f"{where}: 'all' must be true or false")
    return Edit(raw["cell"], raw["replace"], raw["with"], raw.get("all", False))

KINDS = ("wrong", "correct")  # [[wrong]]: must lose points; [[correct]]: must earn full marks


def parse_catalogue(text: str, where: str = "<catalogue>", kind: str = "wrong") -> list[Wrong]:
    """The [[wrong]] (or, with kind="correct", [[correct]]) entries of a catalogue (TOML text).

    CatalogueError says what is wrong and where. [[correct]] entries have the keys of
    [[wrong]] ones except `fails`: they are correct work in another style.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{where}: not valid TOML: {exc}") from exc
    unknown = set(data) - set(KINDS)
    if unknown:
        raise CatalogueError(
            f"{where}: unknown table(s) {', '.join(sorted(unknown))}; entries are [[wrong]] "
            "or [[correct]] tables"
        )
    tables = data.get(kind, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise CatalogueError(f"{where}: entries are [[{kind}]] tables (double brackets)")
    allowed = _ENTRY_KEYS if kind == "wrong" else _ENTRY_KEYS - {"fails", "isolated"}
    entries, names = [], set()
    for i, raw in enumerate(tables, start=1):
        here = f"{where}: [[{kind}]] #{i}"
        if not isinstance(raw.get("name"), str) or not raw["name"].strip():
            raise CatalogueError(f"{here}: 'name' (a string) is required")
        here = f"{where}: [[{kind}]] {raw['name']!r}"
        if raw["name"] in names:
            raise CatalogueError(f"{here}: duplicate name")
        names.add(raw["name"])
        unknown = set(raw) - allowed
        if unknown:
            raise CatalogueError(f"{here}: unknown key(s) {', '.join(sorted(unknown))}")
        if "edits" in raw:
            if _EDIT_KEYS & set(raw):
                raise CatalogueError(f"{here}: give either cell/replace/with or edits, not both")
            if not isinstance(raw["edits"], list) or not raw["edits"]:
                raise CatalogueError(f"{here}: 'edits' must be a non-empty list of tables")
            edits = tuple(_edit(e, f"{here} edit {k}") for k, e in enumerate(raw["edits"], 1))
        else:
            edits = (_edit({k: v for k, v in raw.items() if k in _EDIT_KEYS}, here),)
        fails = raw.get("fails", [])
        if not isinstance(fails, list) or not all(isinstance(f, str) for f in fails):
            raise CatalogueError(f"{here}: 'fails' must be a list of grade ids")
        isolated = raw.get("isolated", False)
        if not isinstance(isolated, bool):
            raise CatalogueError(f"{here}: 'isolated' must be true or false")
        if isolated and not fails:
            raise CatalogueError(f"{here}: 'isolated = true' needs 'fails' (the tests it costs)")
        entries.append(Wrong(raw["name"], edits, tuple(fails), isolated))
    return entries


def parse_correct(text: str, where: str = "<catalogue>") -> list[Wrong]:
    """The [[correct]] entries of a catalogue: variants of the solution in another style
    that must earn every point (``parse_catalogue(..., kind="correct")``)."""
    return parse_catalogue(text, where, "correct")


def load_catalogue(path: Path, kind: str = "wrong") -> list[Wrong]:
    if not path.is_file():
        raise CatalogueError(f"{path} does not exist (format: catalogue/README.md)")
    return parse_catalogue(path.read_text(encoding="utf-8"), str(path), kind)


def cells_by_id(nb: dict) -> dict[str, dict]:
    return {
        cell["metadata"]["nbgrader"]["grade_id"]: cell
        for cell in nb["cells"]
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    }


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def apply_wrong(nb: dict, entry: Wrong, where: str = "") -> dict:
    """A copy of the notebook ``nb`` (JSON dict) with the entry's edits applied.

    Raises CatalogueError when a cell is not a solution cell of nb, or when ``replace`` is not
    in it (or is there more than once without ``all = true``).
    """
    nb = copy.deepcopy(nb)
    cells = cells_by_id(nb)
    for edit in entry.edits:
        here = f"{where}[[wrong]] {entry.name!r}: cell {edit.cell!r}"
        cell = cells.get(edit.cell)
        if cell is None:
            raise CatalogueError(
                f"{here}: no cell has this grade_id (solution cells: {', '.join(solution_ids(nb))})"
            )
        if not cell["metadata"]["nbgrader"].get("solution"):
            raise CatalogueError(
                f"{here}: not a solution cell (autograding restores every "
                "other cell, so an edit there would change nothing)"
            )
        src = _source(cell)
        n = src.count(edit.replace)
        if n == 0:
            raise CatalogueError(f"{here}: text to replace not found: {edit.replace!r}")
        if n > 1 and not edit.all:
            raise CatalogueError(
                f"{here}: {edit.replace!r} occurs {n} times; make it unique or set all = true"
            )
        cell["source"] = src.replace(edit.replace, edit.with_)
    return nb


def solution_ids(nb: dict) -> list[str]:
    return [k for k, c in cells_by_id(nb).items() if c["metadata"]["nbgrader"].get("solution")]


def autograded_tests(nb: dict) -> dict[str, float]:
    """{grade_id: points} of the autograded test cells (locked code grade cells)."""
    return {
        k: float(c["metadata"]["nbgrader"].get("points", 0))
        for k, c in cells_by_id(nb).items()
        if c["cell_type"] == "code"
        and c["metadata"]["nbgrader"].get("grade")
        and not c["metadata"]["nbgrader"].get("solution")
    }


def write_notebook(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def solved_release(source: dict, release: dict) -> dict:
    """The release notebook with the source's solution cells: what a student who wrote the
    reference solutions submits (test cells as released, so nothing is flagged as edited)."""
    nb = copy.deepcopy(release)
    solutions = {
        k: _source(c)
        for k, c in cells_by_id(source).items()
        if c["metadata"]["nbgrader"].get("solution")
    }
    cells = cells_by_id(nb)
    missing = sorted(set(solutions) - set(cells))
    if missing:
        raise CatalogueError(
            f"the release lacks solution cell(s) {', '.join(missing)}: run `course release`"
        )
    for k, text in solutions.items():
        cells[k]["source"] = text
    return nb
