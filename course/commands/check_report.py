"""What ``course check`` concludes from the grades of its submissions: a :class:`Report`
per notebook (solution, stubs, wrong and correct submissions, nbgrader validate) and the
table it prints."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from course.author.catalogue import CatalogueError, Wrong, autograded_tests

MIN_WRONG = 5  # wrong submissions each notebook's catalogue must hold (issue 5)

SOLUTION_STUDENT = "check-solution"

CORRECT_PREFIX = "check-correct-"

RELEASE_STUDENT = "check-release"

WRONG_PREFIX = "check-wrong-"


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


@dataclass
class Selection:
    """A notebook's catalogue and the (1-based) numbers of the entries graded this time."""

    entries: list[Wrong]
    chosen: list[int]
    correct: list[Wrong] = field(default_factory=list)  # [[correct]] entries graded this time
    correct_numbers: list[int] = field(default_factory=list)  # their 1-based numbers


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
    by_student = {r["student"]: r for r in rows if r["assignment"] == aid}
    if not tests:
        report.problems.append("the source notebook has no autograded test cell")
    _solution_and_release(report, by_student, tests)
    report.wrong = len(entries.chosen)
    report.catalogue = len(entries.entries)
    if len(entries.entries) < MIN_WRONG:
        report.problems.append(
            f"catalogue/{aid}.toml has {len(entries.entries)} wrong submissions; "
            f"at least {MIN_WRONG} are required"
        )
    for k in entries.chosen:
        _wrong(report, entries.entries[k - 1], by_student.get(f"{WRONG_PREFIX}{k:02d}"), tests)
    report.correct = len(entries.correct)
    numbers = entries.correct_numbers or list(range(1, len(entries.correct) + 1))
    for k, entry in zip(numbers, entries.correct, strict=True):
        _correct(report, entry, by_student.get(f"{CORRECT_PREFIX}{k:02d}"), tests)
    _validation(report, aid, validation)
    return report


def _solution_and_release(report: Report, by_student: dict, tests: dict[str, float]) -> None:
    """The source earns every autograded point; the untouched release earns none."""
    total = sum(tests.values())
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


def _wrong(report: Report, entry: Wrong, row: dict | None, tests: dict[str, float]) -> None:
    """A wrong submission loses points: in every test its ``fails`` lists, and (isolated)
    in no other."""
    if row is None:
        report.problems.append(f"wrong {entry.name!r} was not graded")
        return
    if row.get("error"):  # a submission that could not be graded proves nothing
        report.problems.append(f"wrong {entry.name!r} was not graded: {row['error']}")
        return
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


def _correct(report: Report, entry: Wrong, row: dict | None, tests: dict[str, float]) -> None:
    """Correct work in another style earns every autograded point."""
    if row is None or row.get("error"):
        why = f": {row['error']}" if row else ""
        report.problems.append(f"correct {entry.name!r} was not graded{why}")
        return
    _, got = _points(row, tests)
    short = [t for t in tests if t not in got or float(got[t][0] or 0) < tests[t]]
    if short:
        report.problems.append(
            f"correct {entry.name!r} loses points in {', '.join(short)} "
            "(correct work in another style must earn full marks)"
        )
    else:
        report.correct_full += 1


def _validation(report: Report, aid: str, validation: dict[str, dict]) -> None:
    src_v, rel_v = validation.get(f"source/{aid}"), validation.get(f"release/{aid}")
    if src_v is not None:
        report.validate_source = "fails" if src_v else "passes"
        if src_v:
            report.problems.append(f"nbgrader validate source/{aid}: {summary(src_v)}")
    if rel_v is not None:
        report.validate_release = "some pass" if rel_v else "all fail"
        if rel_v:
            report.problems.append(f"nbgrader validate --invert release/{aid}: {summary(rel_v)}")


def summary(results: dict) -> str:
    parts = []
    for kind, items in results.items():
        first = items[0].strip().splitlines()[-1:] if items else []
        parts.append(
            f"{len(items)} cell(s) {kind}" + (f" (e.g. {first[0][:200]!r})" if first else "")
        )
    return "; ".join(parts)


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
