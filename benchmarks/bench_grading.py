"""Cost of the trusted grading path, against plain nbgrader, and its parallel speed-up.

For each assignment, the solved notebook is autograded through nbgrader's API twice per
run, alternating: once with nbgrader's own ``Execute`` (tests in the student's kernel,
unsandboxed: plain nbgrader) and once with the course's configured pipeline
(``TrustedExecute``: sandboxed kernel, tests in the trusted runner). Then ``course grade``
grades N copies of one assignment with ``--jobs 1`` and ``--jobs 2``. Medians of several
runs; the machine is shared, so read the spread too.

    python benchmarks/bench_grading.py                       # all six, 3 runs
    python benchmarks/bench_grading.py --ids 05_softmax --runs 5 --copies 6

Targets: per notebook at most 1.1x plain nbgrader (issue 19) and 1.0x (issue 22, target 2);
at least 1.7x with 2 jobs (the throughput target against plain nbgrader, 0.9 * N, is
bench_serve.py's).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]



def _nbgrader_default(trait) -> list[str]:
    """nbgrader's own default list of Autograde preprocessors, as dotted names."""
    from nbgrader.converters import Autograde

    return [f"{p.__module__}.{p.__name__}"
            for p in getattr(Autograde, trait).default()]


# plain nbgrader: its own steps (tests in the student's kernel, unsandboxed)
PLAIN = _nbgrader_default("autograde_preprocessors")
PLAIN_SANITIZE = _nbgrader_default("sanitize_preprocessors")


def _course(work: Path, ids: list[str], copies: int) -> Path:
    from course.author.catalogue import solved_release, write_notebook
    from course.author.release import record_in_gradebook
    from course.config import make_course_root

    make_course_root(work, ids, src=ROOT)
    record_in_gradebook(work, ids)
    for aid in ids:
        src = json.loads((ROOT / "source" / aid / f"{aid}.ipynb").read_text())
        rel = json.loads((ROOT / "release" / aid / f"{aid}.ipynb").read_text())
        solved = solved_release(src, rel)
        for k in range(copies):
            write_notebook(solved, work / "submitted" / f"s{k}" / aid / f"{aid}.ipynb")
    return work


def _autograde(root: Path, aid: str, plain: bool) -> tuple[float, float]:
    """Seconds and score of nbgrader's autograde of s0's notebook."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    from course.config import load_config

    config = load_config(root)
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    if plain:
        config.Autograde.autograde_preprocessors = PLAIN
        config.Autograde.sanitize_preprocessors = PLAIN_SANITIZE
        config.Execute.timeout = 60
    cwd = os.getcwd()
    os.chdir(root)
    try:
        start = time.perf_counter()
        out = NbGraderAPI(config=config).autograde(aid, "s0", force=True, create=True)
        seconds = time.perf_counter() - start
    finally:
        os.chdir(cwd)
    if not out["success"]:
        raise RuntimeError(out["log"][-2000:])
    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        score = gb.find_submission(aid, "s0").code_score
    return seconds, score


def main(argv: list[str] | None = None) -> int:
    from course.config import ASSIGNMENTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="*", default=list(ASSIGNMENTS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--copies", type=int, default=6, help="submissions for the jobs test")
    parser.add_argument("--jobs-id", default="06_mlp_backprop")
    args = parser.parse_args(argv)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    logging.basicConfig(level=logging.ERROR)
    # NbGraderAPI sets the "traitlets" logger to INFO and captures it itself (the "log" of its
    # result): nothing of it reaches the terminal
    logging.getLogger("traitlets").propagate = False
    warnings.filterwarnings("ignore")

    from course.grading import batch as grade
    from course.isolation import sandbox

    if sandbox.bwrap_path() is None:
        print("note: bubblewrap is not available; the trusted path runs unsandboxed")
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        ids = list(args.ids)
        root = _course(tmp / "course", sorted(set(ids) | {args.jobs_id}), args.copies)
        print(f"seconds per notebook, median of {args.runs} (autograde of one solved notebook)")
        print(f"{'notebook':<22} {'plain nbgrader':>15} {'trusted path':>13} {'ratio':>6}  "
              "scores")
        ratios = []
        for aid in ids:
            plain, trusted, scores = [], [], set()
            for _ in range(args.runs):
                for is_plain, bucket in ((True, plain), (False, trusted)):
                    seconds, score = _autograde(root, aid, is_plain)
                    bucket.append(seconds)
                    scores.add(score)
            p, t = statistics.median(plain), statistics.median(trusted)
            ratios.append(t / p)
            print(f"{aid:<22} {p:13.2f} s {t:11.2f} s {t / p:5.2f}x  "
                  f"{sorted(scores)}  plain {[round(x, 2) for x in plain]} "
                  f"trusted {[round(x, 2) for x in trusted]}")
        median = statistics.median(ratios)
        print(f"median ratio {median:.2f}x, largest {max(ratios):.2f}x (targets: <= 1.1x, issue "
              f"19: {'ok' if max(ratios) <= 1.1 else 'MISS'}; <= 1.0x, issue 22: "
              f"{'ok' if max(ratios) <= 1.0 else 'MISS'})")

        print(f"\ncourse grade of {args.copies} submissions of {args.jobs_id}, seconds "
              f"(median of {args.runs})")
        walls: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.runs):
            for jobs in (1, 2):
                start = time.perf_counter()
                rows = grade.grade(root, [args.jobs_id], jobs=jobs, progress=False)
                walls[jobs].append(time.perf_counter() - start)
                assert all(not r["error"] for r in rows), rows
        one, two = statistics.median(walls[1]), statistics.median(walls[2])
        print(f"  --jobs 1  {one:6.1f} s  {[round(x, 1) for x in walls[1]]}")
        print(f"  --jobs 2  {two:6.1f} s  {[round(x, 1) for x in walls[2]]}")
        print(f"  speed-up  {one / two:.2f}x (target >= 1.7x on 2 idle cores)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
