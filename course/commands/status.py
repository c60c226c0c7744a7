"""``course status [--json]``: the queue of ``course serve`` (:mod:`course.service.status`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from course.service.status import format_status, status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable")


def run(args: argparse.Namespace) -> int:
    root = Path(getattr(args, "root", ".")).resolve()
    info = status(root)
    if getattr(args, "json", False):
        out = dict(info, entries=[e.__dict__ for e in info["entries"]])
        print(json.dumps(out, indent=1))
    else:
        print(format_status(info))
    # 1 when a submission failed for good (one waiting for its automatic retry does not)
    return 1 if any(e.state == "failed" and not e.retry_at for e in info["entries"]) else 0
