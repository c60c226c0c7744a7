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
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nbgrader.validator import Validator

from course.author.catalogue import (
    CatalogueError,
    apply_wrong,
    load_catalogue,
    solved_release,
    write_notebook,
)
from course.author.release import record_in_gradebook
from course.commands.check_report import (
    CORRECT_PREFIX,
    RELEASE_STUDENT,
    SOLUTION_STUDENT,
    WRONG_PREFIX,
    Report,
    Selection,
    evaluate,
    print_table,
)
from course.config import assignments, check_ids, load_config, make_course_root
from course.grading import batch as grading


def _validate(root: str, path: str, invert: bool) -> dict:
    """nbgrader's Validator (what `nbgrader validate [--invert]` runs) on one notebook."""
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
    except Exception as exc:  # reported as a failed validation
        return {"error": [f"{type(exc).__name__}: {exc}"]}


def sample(n: int, most: int | None) -> list[int]:
    """1-based indices of at most ``most`` of n entries, spread evenly, first and last kept."""
    if most is None or most >= n:
        return list(range(1, n + 1))
    if most <= 1:
        return [1][:most]
    return sorted({1 + round(i * (n - 1) / (most - 1)) for i in range(most)})


def prepare(
    root: Path, work: Path, ids: list[str], catalogue_dir: Path, max_wrong: int | None = None
) -> dict[str, Selection | CatalogueError]:
    """Lay out the submissions of the check in the scratch course root ``work``.

    Every catalogue entry is applied (so a stale entry is always an error), but only
    ``max_wrong`` of each notebook (default: all) are submitted. Returns each id's Selection,
    or the CatalogueError that prevented using its catalogue (the solution and release of
    that id are graded all the same).
    """

    make_course_root(work, ids, src=root)
    record_in_gradebook(work, ids)  # course grade reads the trusted tests from the gradebook
    catalogues: dict[str, Selection | CatalogueError] = {}
    for aid in ids:
        src = json.loads((root / "source" / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))
        rel = json.loads((root / "release" / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))
        sub = work / "submitted"
        solved = solved_release(src, rel)
        write_notebook(solved, sub / SOLUTION_STUDENT / aid / f"{aid}.ipynb")
        write_notebook(rel, sub / RELEASE_STUDENT / aid / f"{aid}.ipynb")
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
            write_notebook(wrongs[k - 1], sub / f"{WRONG_PREFIX}{k:02d}" / aid / f"{aid}.ipynb")
        right = sample(len(correct), max_wrong)  # the same budget as the wrong entries
        for k in right:
            write_notebook(rights[k - 1], sub / f"{CORRECT_PREFIX}{k:02d}" / aid / f"{aid}.ipynb")
        catalogues[aid] = Selection(entries, chosen, [correct[k - 1] for k in right], right)
    return catalogues


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
        rows = grading.grade(tmp / "grading", ids, None, sandbox=sandbox, jobs=jobs)
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
