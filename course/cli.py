"""The ``course`` console script: instructor jobs that nbgrader lacks.

Each subcommand lives in its own module and is imported only when used, so that
``course --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

ASSIGNMENTS = (
    "01_gradient_descent",
    "02_minibatch_sgd",
    "03_regularization",
    "04_momentum",
    "05_softmax",
    "06_mlp_backprop",
)

# subcommand -> (module, help)
COMMANDS = {
    "release": ("course.release", "regenerate release/<id>/ with the student edition of lib"),
    "grade": ("course.grade", "autograde submitted/<student>/<id>/ in a sandbox; write grades.csv"),
    "publish": ("course.publish", "write what students get (release/<id>/, README) to DEST; "
                "--git, --zip, --exchange"),
    "serve": ("course.serve", "grade submissions as they reach the nbgrader exchange and "
              "release their feedback; --scheduler for a Dask cluster"),
    "status": ("course.status", "the queue of course serve: what is queued, grading, done"),
    "check": ("course.check", "self-test of the grading: solutions, stubs, wrong submissions"),
    "demo": ("course.demo", "the instructor's job end to end in a scratch workspace"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(prog="course", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="course root (holds nbgrader_config.py)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(command).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
