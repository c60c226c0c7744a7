"""Checking one submission before grading.

:func:`prepare` reads a submitted folder as untrusted input: notebooks only if they are
regular files (never through a symlink, never a FIFO), nbgrader metadata repaired from the
gradebook (and what was wrong with it flagged), the static scan's advice added to the flags,
and a submitted ``lib/`` flagged only if it differs from the released edition.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.utils import compute_checksum

from course.intake.files import MAX_NOTEBOOK_BYTES, read_regular, same_tree
from course.intake.job import Job, Result
from course.intake.scan import scan_code, withheld_references

# files next to the notebook that could shadow a module for the tests
_SHADOWING = re.compile(r"(\.py|\.pth|\.so|\.pyc)$|^(lib|numpy|sitecustomize|usercustomize)$")


def load_gradebook_cells(root: Path, db_url: str, course_id: str, assignment: str) -> dict:
    """The trusted cells of each notebook of ``assignment``: the gradebook's, in the order of
    the released notebook."""
    notebooks = {}
    with Gradebook(db_url, course_id) as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            grade = {c.name: c.max_score for c in nb.grade_cells}
            solution = {c.name for c in nb.solution_cells}
            task = {c.name: c.max_score for c in nb.task_cells}
            released = nbformat.read(
                root / "release" / assignment / f"{nb.name}.ipynb", as_version=4
            )
            ids = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in released.cells}
            ids.pop(None, None)
            notebooks[nb.name] = {
                "order": list(ids),
                "released": {g: c.source for g, c in ids.items()},
                # checksums of the released cells: the gradebook's include hidden tests
                "source": {c.name: (c.cell_type, c.locked, _checksum(ids.get(c.name)))
                           for c in nb.source_cells},
                "grade": grade,
                "solution": solution,
                "task": task,
            }
    return notebooks


def _checksum(cell) -> str | None:
    return None if cell is None else compute_checksum(cell)


def restore_metadata(nb, trusted: dict) -> list[str]:
    """Repair nbgrader metadata from the gradebook; return what was wrong.

    Unknown or duplicate grade ids lose their nbgrader metadata (they claim to be tests but
    are not); known cells get the gradebook's type, flags and points back. nbgrader itself
    then restores the source of locked cells and re-adds deleted ones.
    """
    flags: list[str] = []
    seen: list[str] = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        grade_id = meta.get("grade_id")
        if grade_id not in trusted["source"] or grade_id in seen:
            what = "duplicate" if grade_id in seen else "unknown"
            flags.append(f"extra cell claims nbgrader id {grade_id!r} ({what}); ignored")
            del cell.metadata["nbgrader"]
            continue
        seen.append(grade_id)
        cell_type, locked, checksum = trusted["source"][grade_id]
        want = {
            "grade": grade_id in trusted["grade"],
            "solution": grade_id in trusted["solution"],
            "locked": bool(locked),
            "task": grade_id in trusted["task"],
        }
        changed = [k for k, v in want.items() if bool(meta.get(k, False)) != v]
        if want["grade"] or want["task"]:
            points = trusted["grade"].get(grade_id, trusted["task"].get(grade_id))
            if float(meta.get("points", -1)) != float(points):
                changed.append("points")
            meta["points"] = points
        if changed:
            flags.append(f"nbgrader metadata of {grade_id!r} changed ({', '.join(changed)})")
        for key, value in want.items():
            meta[key] = value
        if cell.cell_type != cell_type:
            flags.append(f"cell type of {grade_id!r} changed")
        if locked and compute_checksum(cell) != checksum:
            kind = "test cell" if want["grade"] else "locked cell"
            flags.append(f"{kind} {grade_id!r} edited (restored from the gradebook)")
    missing = [g for g in trusted["order"] if g not in seen]
    for grade_id in missing:
        kind = "test cell" if grade_id in trusted["grade"] else "cell"
        flags.append(f"{kind} {grade_id!r} deleted (restored from the gradebook)")
    order = [g for g in seen if g in trusted["order"]]
    if order != [g for g in trusted["order"] if g in order]:
        flags.append("nbgrader cells moved out of order")
    return flags


def _split_sources(nb, trusted: dict) -> tuple[list[str], list[str]]:
    """(student code, trusted code): student code runs as written; locked cells are
    restored by nbgrader, so the released version of them is what runs."""
    student, locked = [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in trusted["source"] and trusted["source"][grade_id][1]:
            locked.append(trusted["released"].get(grade_id, ""))
        else:
            student.append(cell.source)
    return student, locked


def prepare(job: Job, result: Result) -> Path | None:
    """Check the submission and write the sanitized notebook into the scratch course.

    Returns the scratch notebook, or None (``result.error`` says why).
    """
    subdir = job.root / "submitted" / job.student / job.assignment
    notebooks = job.trusted  # notebook name -> trusted cells
    if not subdir.is_dir():
        result.error = f"no submission folder {subdir.relative_to(job.root)}"
        return None
    result.flags += folder_flags(subdir, job.lib)
    found = sorted(p.name for p in subdir.glob("*.ipynb"))
    dest_dir = job.scratch / "course" / "submitted" / job.student / job.assignment
    dest_dir.mkdir(parents=True)
    written = None
    for name in notebooks:
        path = subdir / f"{name}.ipynb"
        if not path.exists():
            others = [f for f in found if f[:-6] not in notebooks]
            hint = f" (found {', '.join(others)}: renamed?)" if others else ""
            result.error = f"notebook {name}.ipynb missing{hint}"
            return None
        try:
            text = read_regular(path, MAX_NOTEBOOK_BYTES)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nb = nbformat.reads(text.decode("utf-8"), as_version=4)
            nbformat.validate(nb)
        except Exception as err:  # invalid JSON, not a notebook, wrong schema
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            result.error = f"notebook {name}.ipynb unreadable ({type(err).__name__}: {first})"
            return None
        # the metadata repair and the static scan are nbgrader's sanitize step
        # (course.execute.SanitizeSubmission), as in plain `nbgrader autograde`
        nbformat.write(nb, dest_dir / f"{name}.ipynb")
        written = dest_dir / f"{name}.ipynb"
    # the time stamp, and the secret by which nbgrader's release_feedback / fetch_feedback
    # find this submission's feedback (written by `nbgrader submit`)
    for name in ("timestamp.txt", "submission_secret.txt"):
        small = subdir / name
        if small.exists() or small.is_symlink():
            try:
                (dest_dir / name).write_bytes(read_regular(small, 1000))
            except (OSError, ValueError) as err:
                result.flags.append(f"{name} ignored ({err})")
    return written


def review(nb, trusted: dict, lib: Path) -> list[str]:
    """Repair ``nb``'s nbgrader metadata from the gradebook and scan the student's code;
    return the flags (what was wrong, and the scan's advice for the person reviewing)."""

    flags = restore_metadata(nb, trusted)
    student, locked = _split_sources(nb, trusted)
    return flags + scan_code(student, withheld_references(lib), trusted=locked)


def folder_flags(subdir: Path, lib: Path) -> list[str]:
    """Flags about the files beside the notebook: any that could shadow a module (a ``lib/``
    identical to the released edition, which ``nbgrader submit`` hands in, is fine)."""
    extras = sorted(
        p.name
        for p in subdir.iterdir()
        if _SHADOWING.search(p.name) and p.name not in {"timestamp.txt"}
        and not (p.name == "lib" and same_tree(p, lib))
    )
    return [f"submitted files ignored: {', '.join(extras)}"] if extras else []
