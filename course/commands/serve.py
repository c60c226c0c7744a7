"""``course serve``: grade submissions as they reach nbgrader's exchange and release their
feedback (:mod:`course.service.loop`); the log is ``serve.log`` in the course root.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from course.commands.options import parse_size
from course.errors import GradeError
from course.grading.course import sandbox_choice
from course.grading.lock import hold_service_lock
from course.grading.workers import make_workers
from course.service.loop import Service
from course.service.upkeep import KEEP_SPOOL

log = logging.getLogger("course.serve")

LOG_FILE = "serve.log"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=2,
                        help="submissions graded at once on this machine (default 2)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on a Dask distributed cluster (tcp://host:8786 or tls://...)")
    parser.add_argument("--poll", type=float, default=2.0,
                        help="seconds between rounds of the service (default 2); a submission "
                             "is seen within 0.2 s of its arrival whatever the value")
    parser.add_argument("--once", action="store_true",
                        help="grade what has arrived (and is still arriving), release its "
                             "feedback, and exit")
    parser.add_argument("--retry-failed", action="store_true",
                        help="queue again the submissions whose grading failed")
    parser.add_argument("--skip-existing", action="store_true",
                        help="do not grade what is in the exchange now (already collected and "
                             "graded with course grade); grade only what arrives from now on")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code without bubblewrap (flagged)")
    parser.add_argument("--memory", default="2G",
                        help="address-space limit of a kernel (default 2G)")
    parser.add_argument("--min-free", default="64M",
                        help="free space the course root needs for grading to go on; below "
                             "it the service pauses until there is room (default 64M)")
    parser.add_argument("--keep-spool", type=float, default=KEEP_SPOOL / 86400, metavar="DAYS",
                        help="days a submission's copy in serve/ is kept after its feedback "
                             f"was released (default {KEEP_SPOOL / 86400:g}; 0: at once)")


class _LogFile(logging.FileHandler):
    """serve.log, which a full disk does not turn into a traceback per line (the terminal
    and the journal still get every line)."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def run(args: argparse.Namespace) -> int:
    root = Path(getattr(args, "root", ".")).resolve()
    if not (root / "nbgrader_config.py").is_file():
        print(f"error: {root} is not a course root (no nbgrader_config.py): run course serve "
              "where course release ran, or pass --root", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    handler = _LogFile(root / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name in ("course.serve", "course.grade", "course.workers"):
        logging.getLogger(name).addHandler(handler)

    lock = hold_service_lock(root)
    if lock is None:
        print(f"error: a course serve already runs on {root} (see `course status`)",
              file=sys.stderr)
        return 2
    try:
        sandbox = sandbox_choice(False if args.no_sandbox else None,
                                  remote=args.scheduler is not None)
        workers = make_workers(args.jobs, args.scheduler)
    except GradeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot reach the Dask scheduler {args.scheduler}: {err}",
              file=sys.stderr)
        return 2
    try:
        service = Service(root, workers, poll=args.poll, sandbox=sandbox,
                          memory=parse_size(args.memory), once=args.once,
                          min_free=parse_size(args.min_free),
                          keep_spool=args.keep_spool * 86400)
    except GradeError as err:
        workers.close()
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.retry_failed:
        log.info("%d failed submission(s) queued again", service.retry_failed())
    if args.skip_existing:
        skipped = service.collector.skip_existing()
        log.info("%d submission(s) already in the exchange skipped", skipped)
    signal.signal(signal.SIGTERM, service.stop)
    signal.signal(signal.SIGINT, service.stop)
    try:
        return service.run()
    finally:
        service.close()
        workers.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course serve")
    parser.add_argument("--root", default=".")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
