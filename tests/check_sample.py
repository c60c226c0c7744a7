"""What ``make test`` grades of the catalogue: the sample of ``course check`` and every first
isolated entry, written as a catalogue folder (used by tests/conftest.py's ``checked`` and by
tests/test_check.py, tests/test_one_bug.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from course.author.catalogue import Wrong, load_catalogue
from course.commands.check import sample

# Each catalogue entry costs one execution of its notebook. `make test` grades an evenly spread
# sample per notebook (all entries are still applied, in test_catalogue_applies_...) to stay
# within its time budget, plus, for every solution cell that has one, its first
# `isolated = true` entry (one bug costs one exercise: tests/test_one_bug.py), in the same
# run; `make check` (course check) grades every entry.
MAX_WRONG = int(os.environ.get("COURSE_CHECK_MAX_WRONG", "2")) or None


def _toml_entry(kind: str, entry: Wrong) -> str:
    """A catalogue entry as TOML (JSON string literals are TOML basic strings)."""

    def string(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    edits = ", ".join(
        f"{{cell = {string(e.cell)}, replace = {string(e.replace)}, "
        f"with = {string(e.with_)}, all = {str(e.all).lower()}}}"
        for e in entry.edits
    )
    lines = [f"[[{kind}]]", f"name = {string(entry.name)}", f"edits = [{edits}]"]
    if kind == "wrong":
        lines.append(f"fails = {json.dumps(list(entry.fails))}")
        lines.append(f"isolated = {str(entry.isolated).lower()}")
    return "\n".join(lines) + "\n"


def graded_selection(catalogue: Path, max_wrong: int | None) -> tuple[list[Wrong], list[Wrong]]:
    """The [[wrong]] and [[correct]] entries of a catalogue file that `make test` grades:
    course check's even sample of max_wrong entries, and besides, for each solution cell,
    the first isolated entry that edits it."""
    wrong, correct = load_catalogue(catalogue), load_catalogue(catalogue, "correct")
    chosen = set(sample(len(wrong), max_wrong))
    chosen |= set(first_isolated(wrong).values())
    return (
        [wrong[k - 1] for k in sorted(chosen)],
        [correct[k - 1] for k in sample(len(correct), max_wrong)],
    )


def first_isolated(wrong: list[Wrong]) -> dict[str, int]:
    """{solution cell: number of the first isolated entry that edits it}."""
    first: dict[str, int] = {}
    for k, entry in enumerate(wrong, start=1):
        if entry.isolated:
            for edit in entry.edits:
                first.setdefault(edit.cell, k)
    return first


def graded_catalogue(src: Path, dest: Path, ids: list[str], max_wrong: int | None) -> Path:
    """A catalogue folder in dest holding, per id, only the entries of graded_selection."""
    dest.mkdir(parents=True, exist_ok=True)
    for aid in ids:
        wrong, correct = graded_selection(src / f"{aid}.toml", max_wrong)
        text = "\n".join(
            [_toml_entry("wrong", e) for e in wrong] + [_toml_entry("correct", e) for e in correct]
        )
        (dest / f"{aid}.toml").write_text(text, encoding="utf-8")
    return dest
