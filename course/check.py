"""``course check [ID ...]``: the self-test of the grading.

For each assignment, in a scratch course root (:func:`course.workspace.make_course_root`):

1. ``nbgrader validate`` passes on the source notebook, and ``nbgrader validate --invert``
   finds no passing test in the release (every test fails on the untouched stubs);
2. the source notebook, submitted as a student, earns every autograded point;
3. the untouched release notebook earns 0 autograded points;
4. every wrong submission of ``catalogue/<id>.toml`` (the source with one small edit, the
   kind of mistake students make; format in catalogue/README.md) loses points: at least one
   test fails (and every test it lists in ``fails``; with ``isolated = true`` every other
   autograded test earns its full points: one bug costs one exercise);
5. every correct submission in another style (``[[correct]]`` entries of the same file)
   earns every autograded point.

Submissions are graded by ``course.grade`` (sandboxed, parallel), exactly as students' work
is. A table per notebook is printed at the end; the exit status is 1 if anything failed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from course.workspace import assignments, check_ids, load_config, make_course_root

MIN_WRONG = 5  # wrong submissions each notebook's catalogue must hold (issue 5)
SOLUTION_STUDENT = "check-solution"
CORRECT_PREFIX = "check-correct-"
RELEASE_STUDENT = "check-release"
WRONG_PREFIX = "check-wrong-"


class CatalogueError(ValueError):
    """A catalogue file or entry that cannot be applied."""


# --- Catalogue ----------------------------------------------------------------------------


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


def _cells_by_id(nb: dict) -> dict[str, dict]:
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
    cells = _cells_by_id(nb)
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
    return [k for k, c in _cells_by_id(nb).items() if c["metadata"]["nbgrader"].get("solution")]


def autograded_tests(nb: dict) -> dict[str, float]:
    """{grade_id: points} of the autograded test cells (locked code grade cells)."""
    return {
        k: float(c["metadata"]["nbgrader"].get("points", 0))
        for k, c in _cells_by_id(nb).items()
        if c["cell_type"] == "code"
        and c["metadata"]["nbgrader"].get("grade")
        and not c["metadata"]["nbgrader"].get("solution")
    }


# --- Validation (nbgrader validate) -------------------------------------------------------


def _validate(root: str, path: str, invert: bool) -> dict:
    """nbgrader's Validator (what `nbgrader validate [--invert]` runs) on one notebook."""
    import logging

    from nbgrader.validator import Validator

    cfg = load_config(root)
    cfg.Validator.invert = invert
    validator = Validator(config=cfg)
    validator.log.setLevel(logging.ERROR)
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    try:
        return {
            k: [c.get("raw_error", c.get("source", ""))[-2000:] for c in v]
            for k, v in validator.validate(path).items()
        }
    except Exception as exc:  # noqa: BLE001 - reported as a failed validation
        return {"error": [f"{type(exc).__name__}: {exc}"]}


# --- The check ----------------------------------------------------------------------------


@dataclass
class Report:
    aid: str
    problems: list[str] = field(default_factory=list)
    solution: tuple[float, float] = (0.0, 0.0)  # (earned, autograded max)
    release: tuple[float, float] = (0.0, 0.0)
    caught: int = 0
    wrong: int = 0  # catalogue entries graded
    catalogue: int = 0  # catalogue entries
    correct: int = 0  # [[correct]] entries graded
    correct_full: int = 0  # of which earned full marks
    validate_source: str = "-"
    validate_release: str = "-"

    @property
    def ok(self) -> bool:
        return not self.problems


def _points(row: dict | None, tests: dict[str, float]) -> tuple[float, dict[str, tuple]]:
    got = (row or {}).get("tests", {}) or {}
    earned = sum(float(got[t][0] or 0) for t in tests if t in got)
    return earned, got


def _write(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def solved_release(source: dict, release: dict) -> dict:
    """The release notebook with the source's solution cells: what a student who wrote the
    reference solutions submits (test cells as released, so nothing is flagged as edited)."""
    nb = copy.deepcopy(release)
    solutions = {
        k: _source(c)
        for k, c in _cells_by_id(source).items()
        if c["metadata"]["nbgrader"].get("solution")
    }
    cells = _cells_by_id(nb)
    missing = sorted(set(solutions) - set(cells))
    if missing:
        raise CatalogueError(
            f"the release lacks solution cell(s) {', '.join(missing)}: run `course release`"
        )
    for k, text in solutions.items():
        cells[k]["source"] = text
    return nb


def sample(n: int, most: int | None) -> list[int]:
    """1-based indices of at most ``most`` of n entries, spread evenly, first and last kept."""
    if most is None or most >= n:
        return list(range(1, n + 1))
    if most <= 1:
        return [1][:most]
    return sorted({1 + round(i * (n - 1) / (most - 1)) for i in range(most)})


@dataclass
class Selection:
    """A notebook's catalogue and the (1-based) numbers of the entries graded this time."""

    entries: list[Wrong]
    chosen: list[int]
    correct: list[Wrong] = field(default_factory=list)  # [[correct]] entries graded this time
    correct_numbers: list[int] = field(default_factory=list)  # their 1-based numbers


def prepare(
    root: Path, work: Path, ids: list[str], catalogue_dir: Path, max_wrong: int | None = None
) -> dict[str, Selection | CatalogueError]:
    """Lay out the submissions of the check in the scratch course root ``work``.

    Every catalogue entry is applied (so a stale entry is always an error), but only
    ``max_wrong`` of each notebook (default: all) are submitted. Returns each id's Selection,
    or the CatalogueError that prevented using its catalogue (the solution and release of
    that id are graded all the same).
    """
    from course.release import record_in_gradebook

    make_course_root(work, ids, src=root)
    record_in_gradebook(work, ids)  # course grade reads the trusted tests from the gradebook
    catalogues: dict[str, Selection | CatalogueError] = {}
    for aid in ids:
        src = json.loads((root / "source" / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))
        rel = json.loads((root / "release" / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))
        sub = work / "submitted"
        solved = solved_release(src, rel)
        _write(solved, sub / SOLUTION_STUDENT / aid / f"{aid}.ipynb")
        _write(rel, sub / RELEASE_STUDENT / aid / f"{aid}.ipynb")
        try:
            entries = load_catalogue(catalogue_dir / f"{aid}.toml")
            where = f"catalogue/{aid}.toml: "
            wrongs = [apply_wrong(solved, entry, where) for entry in entries]
            correct = load_catalogue(catalogue_dir / f"{aid}.toml", "correct")
            rights = [apply_wrong(solved, entry, where) for entry in correct]
        except CatalogueError as exc:
            catalogues[aid] = exc
            continue
        chosen = sample(len(entries), max_wrong)
        for k in chosen:
            _write(wrongs[k - 1], sub / f"{WRONG_PREFIX}{k:02d}" / aid / f"{aid}.ipynb")
        right = sample(len(correct), max_wrong)  # the same budget as the wrong entries
        for k in right:
            _write(rights[k - 1], sub / f"{CORRECT_PREFIX}{k:02d}" / aid / f"{aid}.ipynb")
        catalogues[aid] = Selection(entries, chosen, [correct[k - 1] for k in right], right)
    return catalogues


def evaluate(
    root: Path,
    aid: str,
    rows: list[dict],
    entries: Selection | list[Wrong] | CatalogueError,
    validation: dict[str, dict],
) -> Report:
    """Compare the grades of the check's submissions of ``aid`` with what they must be."""
    report = Report(aid)
    if isinstance(entries, CatalogueError):
        report.problems.append(str(entries))
        entries = []
    if not isinstance(entries, Selection):
        entries = Selection(list(entries), list(range(1, len(entries) + 1)))
    src = json.loads((root / "source" / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))
    tests = autograded_tests(src)
    total = sum(tests.values())
    by_student = {r["student"]: r for r in rows if r["assignment"] == aid}
    if not tests:
        report.problems.append("the source notebook has no autograded test cell")

    row = by_student.get(SOLUTION_STUDENT)
    earned, got = _points(row, tests)
    report.solution = (earned, total)
    if row is None or row.get("error"):
        why = f": {row['error']}" if row else ""
        report.problems.append(f"the source notebook was not graded{why}")
    else:
        for t, pts in tests.items():
            if t not in got:
                report.problems.append(f"source: test {t} has no grade")
            elif float(got[t][0] or 0) < pts:
                report.problems.append(f"source: test {t} earns {got[t][0]} of {pts} points")
        if row.get("flags"):
            report.problems.append(f"source: flagged: {row['flags']}")

    row = by_student.get(RELEASE_STUDENT)
    earned, got = _points(row, tests)
    report.release = (earned, total)
    if row is None or row.get("error"):
        why = f": {row['error']}" if row else ""
        report.problems.append(f"the release notebook was not graded{why}")
    else:
        for t in tests:
            if t in got and float(got[t][0] or 0) > 0:
                report.problems.append(f"release: test {t} earns {got[t][0]} points on the stubs")

    report.wrong = len(entries.chosen)
    report.catalogue = len(entries.entries)
    if len(entries.entries) < MIN_WRONG:
        report.problems.append(
            f"catalogue/{aid}.toml has {len(entries.entries)} wrong submissions; "
            f"at least {MIN_WRONG} are required"
        )
    for k in entries.chosen:
        entry = entries.entries[k - 1]
        row = by_student.get(f"{WRONG_PREFIX}{k:02d}")
        if row is None:
            report.problems.append(f"wrong {entry.name!r} was not graded")
            continue
        if row.get("error"):  # a submission that could not be graded proves nothing
            report.problems.append(f"wrong {entry.name!r} was not graded: {row['error']}")
            continue
        _, got = _points(row, tests)
        failing = {t for t in tests if t in got and float(got[t][0] or 0) < float(got[t][1])}
        failing |= {t for t in tests if t not in got}
        missed = [t for t in entry.fails if t not in failing]
        spill = sorted(failing - set(entry.fails)) if entry.isolated else []
        if not failing:
            report.problems.append(f"wrong {entry.name!r} passes every test (not caught)")
        elif missed:
            report.problems.append(
                f"wrong {entry.name!r}: test(s) {', '.join(missed)} "
                "pass although `fails` lists them"
            )
        elif spill:
            report.problems.append(
                f"wrong {entry.name!r} (isolated): test(s) {', '.join(spill)} lose points "
                f"too (one bug must cost only {', '.join(entry.fails)})"
            )
        else:
            report.caught += 1

    report.correct = len(entries.correct)
    numbers = entries.correct_numbers or list(range(1, len(entries.correct) + 1))
    for k, entry in zip(numbers, entries.correct, strict=True):
        row = by_student.get(f"{CORRECT_PREFIX}{k:02d}")
        if row is None or row.get("error"):
            why = f": {row['error']}" if row else ""
            report.problems.append(f"correct {entry.name!r} was not graded{why}")
            continue
        _, got = _points(row, tests)
        short = [t for t in tests if t not in got or float(got[t][0] or 0) < tests[t]]
        if short:
            report.problems.append(
                f"correct {entry.name!r} loses points in {', '.join(short)} "
                "(correct work in another style must earn full marks)"
            )
        else:
            report.correct_full += 1

    src_v, rel_v = validation.get(f"source/{aid}"), validation.get(f"release/{aid}")
    if src_v is not None:
        report.validate_source = "fails" if src_v else "passes"
        if src_v:
            report.problems.append(f"nbgrader validate source/{aid}: {_summary(src_v)}")
    if rel_v is not None:
        report.validate_release = "some pass" if rel_v else "all fail"
        if rel_v:
            report.problems.append(f"nbgrader validate --invert release/{aid}: {_summary(rel_v)}")
    return report


def _summary(results: dict) -> str:
    parts = []
    for kind, items in results.items():
        first = items[0].strip().splitlines()[-1:] if items else []
        parts.append(
            f"{len(items)} cell(s) {kind}" + (f" (e.g. {first[0][:200]!r})" if first else "")
        )
    return "; ".join(parts)


def validate_all(work: Path, ids: list[str], jobs: int) -> dict[str, dict]:
    """Run the validations of all ids in parallel; {"source/<id>" | "release/<id>": results}."""
    tasks = []
    for aid in ids:
        tasks.append((f"source/{aid}", str(work / "source" / aid / f"{aid}.ipynb"), False))
        tasks.append((f"release/{aid}", str(work / "release" / aid / f"{aid}.ipynb"), True))
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {key: pool.submit(_validate, str(work), path, inv) for key, path, inv in tasks}
        return {key: f.result() for key, f in futures.items()}


def check(
    root: Path,
    ids: list[str] | None = None,
    *,
    catalogue_dir: Path | None = None,
    jobs: int | None = None,
    keep: Path | None = None,
    validate: bool = True,
    sandbox: bool | None = None,
    max_wrong: int | None = None,
    out=sys.stdout,
) -> list[Report]:
    """Run the check (see the module docstring); returns one Report per assignment."""
    root = Path(root).resolve()
    cfg = load_config(root)
    ids = check_ids(ids, assignments(root, cfg))
    catalogue_dir = Path(catalogue_dir or root / "catalogue")
    jobs = jobs or os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="course-check-")) if keep is None else Path(keep)
    try:
        t0 = time.perf_counter()
        catalogues = prepare(root, tmp / "grading", ids, catalogue_dir, max_wrong)
        validation = {}
        if validate:
            make_course_root(tmp / "validation", ids, src=root)
            validation = validate_all(tmp / "validation", ids, jobs)
        t1 = time.perf_counter()
        import inspect

        from course import grade as grading

        extra = {"jobs": jobs} if "jobs" in inspect.signature(grading.grade).parameters else {}
        rows = grading.grade(tmp / "grading", ids, None, sandbox=sandbox, **extra)
        t2 = time.perf_counter()
        reports = [evaluate(root, aid, rows, catalogues[aid], validation) for aid in ids]
        print_table(reports, out=out)
        n = sum(
            2 + (len(c.chosen) + len(c.correct) if isinstance(c, Selection) else 0)
            for c in catalogues.values()
        )
        print(f"validate {t1 - t0:.0f} s, grade {t2 - t1:.0f} s ({n} submissions)", file=out)
        return reports
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def print_table(reports: list[Report], out=sys.stdout) -> None:
    head = (
        "assignment",
        "source pts",
        "release pts",
        "wrong caught",
        "correct full",
        "validate src",
        "validate --invert rel",
        "ok",
    )
    rows = [
        (
            r.aid,
            f"{r.solution[0]:g}/{r.solution[1]:g}",
            f"{r.release[0]:g}/{r.release[1]:g}",
            f"{r.caught}/{r.wrong}" + (f" (of {r.catalogue})" if r.catalogue > r.wrong else ""),
            f"{r.correct_full}/{r.correct}",
            r.validate_source,
            r.validate_release,
            "ok" if r.ok else "FAIL",
        )
        for r in reports
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    for line in (head, tuple("-" * w for w in widths), *rows):
        print("  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip(), file=out)
    for r in reports:
        for p in r.problems:
            print(f"{r.aid}: {p}", file=out)


# --- Command line -------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="assignment ids (default: all)")
    parser.add_argument("--catalogue", type=Path, help="catalogue folder (default: catalogue/)")
    parser.add_argument("--jobs", type=int, help="notebooks run in parallel (default: CPU count)")
    parser.add_argument("--keep", type=Path, help="use this folder as the scratch root and keep it")
    parser.add_argument("--no-validate", action="store_true", help="skip nbgrader validate")
    parser.add_argument(
        "--max-wrong",
        type=int,
        metavar="N",
        help="grade at most N catalogue entries per notebook, spread evenly (default: all; "
        "every entry is still checked to apply)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        reports = check(
            Path(args.root),
            args.ids or None,
            catalogue_dir=args.catalogue,
            jobs=args.jobs,
            keep=args.keep,
            validate=not args.no_validate,
            max_wrong=args.max_wrong,
        )
    except (CatalogueError, FileNotFoundError, ValueError) as exc:
        print(f"course check: error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r.ok for r in reports) else 1
