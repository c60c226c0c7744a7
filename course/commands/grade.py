"""``course grade [ID ...]``: autograde ``submitted/<student>/<id>/`` in a sandbox and write
``grades.csv`` (:mod:`course.grading.batch`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from course.commands.options import parse_size
from course.errors import GradeError
from course.grading.batch import grade, summary_table
from course.grading.course import default_assignments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="assignments (default: all assignments with submissions)",
    )
    parser.add_argument("--student", action="append", help="only this student (repeatable)")
    parser.add_argument(
        "--no-sandbox", action="store_true", help="run student code without bubblewrap (flagged)"
    )
    parser.add_argument("--jobs", type=int, default=2,
                        help="submissions graded in parallel on this machine (default 2)")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="grade on the workers of a Dask distributed scheduler (tcp://host:8786, or "
             "tls://...); each worker needs this package and bubblewrap")
    parser.add_argument(
        "--memory",
        type=parse_size,
        default="2G",
        help="address-space limit of a kernel (default 2G)",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    root = Path(getattr(args, "root", ".")).resolve()
    assignments = args.ids or default_assignments(root)
    if not assignments:
        print(f"nothing to grade: no submissions under {root / 'submitted'}", file=sys.stderr)
        return 1
    try:
        rows = grade(
            root,
            assignments,
            args.student,
            sandbox=False if args.no_sandbox else None,
            jobs=args.jobs,
            memory=args.memory,
            scheduler=args.scheduler,
        )
    except GradeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary_table(rows))
    print(
        f"\ngrades: {root / 'grades.csv'}\nfeedback: {root / 'feedback'}/<student>/<id>/"
        f"\nlog: {root / 'grade.log'}"
    )
    attention = [r for r in rows if r["flags"]]
    if attention:
        print(f"\n{len(attention)} submission(s) need attention (see flags)", file=sys.stderr)
    return 1 if attention else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course grade")
    parser.add_argument("--root", default=".")
    add_arguments(parser)
    return run(parser.parse_args(argv))
