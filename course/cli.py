"""The ``course`` console script: instructor jobs that nbgrader lacks.

Each subcommand lives in its own module and is imported only when used, so that
``course --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> help; each lives in course.commands.<subcommand>
COMMANDS = {
    "release": "regenerate release/<id>/ with the student edition of lib",
    "grade": "autograde submitted/<student>/<id>/ in a sandbox; write grades.csv",
    "publish": "write what students get (release/<id>/, README) to DEST; --git, --zip, "
               "--exchange",
    "serve": "grade submissions as they reach the nbgrader exchange and release their "
             "feedback; --scheduler for a Dask cluster",
    "status": "the queue of course serve: what is queued, grading, done",
    "report": "class statistics: scores, failing tests, answers to grade, late, missing, "
              "flags; HTML and JSON",
    "check": "self-test of the grading: solutions, stubs, wrong submissions",
    "demo": "the instructor's job end to end in a scratch workspace",
}


def command_module(name: str):
    """The module of sub-command ``name`` (imported only when used: ``course --help`` stays
    fast)."""
    return importlib.import_module(f"course.commands.{name}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(prog="course", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="course root (holds nbgrader_config.py)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_ in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == command:
            command_module(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(command).parse_args(argv)
    return int(command_module(args.command).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
