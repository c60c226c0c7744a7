"""The numbers of ``course report``, as JSON-ready dicts (the JSON file is these).

Without ``names`` no student id or name is in the result: lists of who are left out and
every free text (flags, failure messages) has the gradebook's ids and names replaced by
``‹student›``. A test *passed* when its autograded score is its points, *failed* at 0,
*partial* in between; a hand-changed score does not change what the test said.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime

from course.report.failures import Failure, read_failures
from course.report.gather import TEST, AssignmentData, Term

EPS = 1e-9
HIDDEN_NAME = "‹student›"
NOT_ATTEMPTED = "NotImplementedError"  # what nbgrader's stub raises: the exercise not done


class Redactor:
    """Replaces the students' ids and names, as whole words, in texts (when names are off)."""

    def __init__(self, names: dict[str, str], active: bool):
        words = {w for sid, full in names.items() for w in (sid, full, *full.split())
                 if len(w) >= 2}
        words = sorted(words, key=len, reverse=True)
        self.pattern = (re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)",
                                   re.IGNORECASE) if active and words else None)

    def __call__(self, text: str) -> str:
        return self.pattern.sub(HIDDEN_NAME, text) if self.pattern else text


def term_stats(term: Term, *, names: bool = False) -> dict:
    redact = Redactor(term.names, active=not names)
    who = (lambda sids: [{"id": s, "name": term.names.get(s, s)} for s in sorted(sids)]
           ) if names else None
    out = []
    for a in term.assignments:
        failures = read_failures(term.root, a.id, failed_tests(a))
        out.append(assignment_stats(a, failures, redact, who))
    return {"course_id": term.course_id,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "names": names, "assignments": out}


def failed_tests(a: AssignmentData) -> dict[str, set[tuple[str, str]]]:
    """student -> {(notebook, test)} of the tests that did not get all their points."""
    failed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for sid, sub in a.submissions.items():
        for g in sub.grades:
            if g.cell.kind == TEST and (g.auto or 0.0) < g.cell.points - EPS:
                failed[sid].add((g.cell.notebook, g.cell.name))
    return dict(failed)


def _summary(values: list[float]) -> dict:
    if not values:
        return {"count": 0, "mean": None, "median": None, "min": None, "max": None}
    return {"count": len(values), "mean": statistics.fmean(values),
            "median": statistics.median(values), "min": min(values), "max": max(values)}


def assignment_stats(a: AssignmentData, failures: list[Failure], redact, who) -> dict:
    subs = a.submissions
    scores = sorted(s.score for s in subs.values())
    missing = sorted(set(a.enrolled) - set(subs) - set(a.pending))
    out = {
        "id": a.id,
        "duedate": a.duedate.isoformat() if a.duedate else None,
        "max_score": a.max_score,
        "notebooks": a.notebooks,
        "enrolled": len(a.enrolled),
        "submitted": len(subs),
        "scores": dict(_summary(scores), values=scores,
                       provisional=sum(s.needs_manual for s in subs.values())),
        "tests": test_stats(a, failures, who),
        "failures": failure_groups(failures, redact, who),
        "to_grade": to_grade(a, who),
        "late": late(a, who),
        "missing": {"count": len(missing)},
        "pending": {"count": len(a.pending)},
        "flags": flag_stats(a, redact, who),
    }
    if who:
        out["scores"]["by_student"] = {s: subs[s].score for s in sorted(subs)}
        out["missing"]["students"] = who(missing)
        out["pending"]["students"] = who(a.pending)
        out["students"] = roster(a, who)
    return out


def roster(a: AssignmentData, who) -> list[dict]:
    """Every student of the gradebook with this assignment's outcome (only with names)."""
    rows = []
    for person in who(a.enrolled):
        sub = a.submissions.get(person["id"])
        if sub is None:
            status = "not graded yet" if person["id"] in a.pending else "missing"
            rows.append(dict(person, status=status, score=None, hours_late=None,
                             to_grade=0, flags=[]))
            continue
        rows.append(dict(person, status="graded", score=sub.score,
                         hours_late=sub.seconds_late / 3600,
                         to_grade=sum(g.needs_manual for g in sub.grades), flags=sub.flags))
    return rows


def test_stats(a: AssignmentData, failures: list[Failure], who) -> list[dict]:
    """One entry per autograded test, the worst first (lowest pass rate, then mean score)."""
    parts, stubs = defaultdict(Counter), Counter()
    for f in failures:
        parts[(f.notebook, f.cell)][f.part] += 1
        stubs[(f.notebook, f.cell)] += f.error == NOT_ATTEMPTED
    rows = []
    for cell in (c for c in a.cells if c.kind == TEST):
        autos = [(sid, g.auto or 0.0) for sid, s in a.submissions.items() for g in s.grades
                 if g.cell == cell]
        passed = [sid for sid, x in autos if x >= cell.points - EPS]
        failed = [sid for sid, x in autos if x <= EPS and cell.points > EPS]
        row = {
            "notebook": cell.notebook, "test": cell.name, "points": cell.points,
            "graded": len(autos), "passed": len(passed), "failed": len(failed),
            "partial": len(autos) - len(passed) - len(failed),
            "pass_rate": len(passed) / len(autos) if autos else None,
            "mean_points": statistics.fmean(x for _, x in autos) if autos else None,
            "not_attempted": stubs[(cell.notebook, cell.name)],
            "failed_where": {k: parts[(cell.notebook, cell.name)].get(k, 0)
                             for k in ("visible", "hidden", "unknown")},
        }
        if who:
            row["students_not_passed"] = who(s for s, _ in autos if s not in passed)
        rows.append(row)
    return sorted(rows, key=lambda r: (1.0 if r["pass_rate"] is None else r["pass_rate"],
                                       (r["mean_points"] or 0.0) / (r["points"] or 1.0),
                                       r["notebook"], r["test"]))


def failure_groups(failures: list[Failure], redact, who) -> list[dict]:
    """The failures grouped by normalised message (across tests: an untouched stub fails
    every test with one message), the one most students share first."""
    groups: dict[str, list[Failure]] = defaultdict(list)
    for f in failures:
        groups[f.key].append(f)
    rows = []
    for key, members in groups.items():
        first = min(members, key=lambda f: (f.student, f.notebook, f.cell))
        tests = Counter((f.notebook, f.cell) for f in members)
        row = {"message": redact(key), "error": redact(first.error),
               "example": redact(first.message), "count": len(members),
               "students_count": len({f.student for f in members}),
               "tests": [{"notebook": nb, "test": t, "count": n} for (nb, t), n in
                         sorted(tests.items(), key=lambda kv: (-kv[1], kv[0]))],
               "where": dict(Counter(f.part for f in members))}
        if who:
            row["students"] = who({f.student for f in members})
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["students_count"], -r["count"], r["message"]))


def to_grade(a: AssignmentData, who) -> dict:
    """Cells still to grade by hand (nbgrader's needs_manual_grade), per cell."""
    per_cell = defaultdict(list)
    for sid, s in a.submissions.items():
        for g in s.grades:
            if g.needs_manual:
                per_cell[g.cell].append(sid)
    cells = []
    for cell in a.cells:
        if cell in per_cell or cell.kind != TEST:
            row = {"notebook": cell.notebook, "cell": cell.name, "kind": cell.kind,
                   "points": cell.points, "count": len(per_cell.get(cell, []))}
            if who:
                row["students"] = who(per_cell.get(cell, []))
            cells.append(row)
    return {"count": sum(len(v) for v in per_cell.values()),
            "submissions": sum(s.needs_manual for s in a.submissions.values()),
            "cells": cells}


def late(a: AssignmentData, who) -> dict:
    rows = sorted(((s.seconds_late / 3600, s.penalty, sid) for sid, s in a.submissions.items()
                   if s.seconds_late > 0), reverse=True)
    out = {"count": len(rows), "hours": [h for h, _, _ in rows],
           "penalty": sum(p for _, p, _ in rows)}
    if who:
        out["students"] = [dict(who([sid])[0], hours=h, penalty=p) for h, p, sid in rows]
    return out


def flag_stats(a: AssignmentData, redact, who) -> dict:
    """Flagged submissions: the course's reasons (course_flags), and nbgrader's mark set by
    hand in formgrader without a reason."""
    reasons: Counter = Counter()
    flagged = []
    for sid, s in sorted(a.submissions.items()):
        why = s.flags or (["flagged in formgrader (no reason recorded)"] if s.flagged else [])
        if why:
            flagged.append((sid, why))
            reasons.update(redact(w) for w in dict.fromkeys(why))
    out = {"count": len(flagged),
           "reasons": [{"flag": r, "count": n} for r, n in
                       sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]}
    if who:
        out["students"] = [dict(who([sid])[0], flags=why) for sid, why in flagged]
    return out
