"""``course release [ID ...]``: regenerate ``release/<id>/`` for students
(:mod:`course.author.release`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from course.author.release import release
from course.errors import ReleaseError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="assignment ids (default: all)")
    parser.add_argument(
        "--no-gradebook",
        action="store_true",
        help="do not record the assignments in <root>/gradebook.db (course grade needs them "
        "there; `make release` uses this to keep the repository free of a gradebook)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    root = Path(args.root).resolve()
    try:
        folders = release(
            root, args.ids or None, gradebook=not args.no_gradebook, progress=not args.quiet
        )
    except (ReleaseError, ValueError, FileNotFoundError) as exc:
        print(f"course release: error: {exc}", file=sys.stderr)
        return 1
    for folder in folders:
        files = sum(1 for p in folder.rglob("*") if p.is_file())
        print(
            f"{folder.relative_to(root) if folder.is_relative_to(root) else folder}: "
            f"{files} files, no leaks"
        )
    return 0
