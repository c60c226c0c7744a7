"""``course report [ID ...]``: class statistics after a deadline (:mod:`course.report`).

Writes ``report.html`` (figures embedded, offline) and ``report.json`` into ``--out``
(default ``<root>/reports/``) from the gradebook and the autograded notebooks; runs no
student code and names no student unless ``--names``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course.report.build import build, write


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID",
                        help="assignments (default: every assignment with a submission)")
    parser.add_argument("--out", metavar="DIR",
                        help="folder for report.html and report.json (default <root>/reports)")
    parser.add_argument("--names", action="store_true",
                        help="show who: student ids and names (left out by default)")


def run(args: argparse.Namespace) -> int:
    root = Path(getattr(args, "root", ".")).resolve()
    try:
        report = build(root, args.ids or None, names=args.names)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve() if args.out else root / "reports"
    html, data = write(report, out)
    for a in report["assignments"]:
        s, worst = a["scores"], (a["tests"] or [None])[0]
        mean = "-" if s["mean"] is None else f"{s['mean']:.2f}"
        print(f"{a['id']}: {a['submitted']}/{a['enrolled']} submitted, mean {mean}/"
              f"{a['max_score']:g}, "
              + (f"worst test {worst['test']} ({worst['passed']}/{worst['graded']} passed), "
                 if worst else "")
              + f"{a['to_grade']['count']} to grade by hand, {a['late']['count']} late, "
              f"{a['missing']['count']} missing, {a['flags']['count']} flagged")
    if not report["assignments"]:
        print("no assignment has a submission in the gradebook yet")
    print(f"\nreport: {html}\njson:   {data}")
    return 0
