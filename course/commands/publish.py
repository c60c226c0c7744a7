"""``course publish DEST [ID ...]``: what students get, and nothing else
(:mod:`course.author.publish`).
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from course.author.publish import publish
from course.errors import ReleaseError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dest", metavar="DEST", help="folder of the publication")
    parser.add_argument("ids", nargs="*", metavar="ID", help="assignment ids (default: all)")
    parser.add_argument("--closed", action="append", default=[], metavar="ID",
                        help="an assignment whose deadline has passed: later assignments "
                        "may reveal its answers (repeatable)")
    parser.add_argument("--git", action="store_true",
                        help="commit the publication in DEST as a git repository")
    parser.add_argument("--zip", action="store_true", help="also write DEST.zip")
    parser.add_argument("--exchange", action="store_true",
                        help="also nbgrader release_assignment each id into the exchange")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        done = publish(Path(args.root), Path(args.dest), args.ids or None, closed=args.closed,
                       git=args.git, zip_=args.zip, exchange=args.exchange)
    except (ReleaseError, ValueError, FileNotFoundError, subprocess.CalledProcessError) as exc:
        print(f"course publish: error: {exc}", file=sys.stderr)
        return 1
    print(f"published {', '.join(done['ids'])} to {done['dest']}: no leaks")
    if "commit" in done:
        print(f"git: commit {done['commit'][:12]}; students run: git clone {done['dest']}")
    if "zip" in done:
        print(f"zip: {done['zip']}")
    if "exchange" in done:
        print(f"exchange: released into {done['exchange']} (nbgrader release_assignment)")
    return 0
