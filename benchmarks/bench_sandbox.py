"""Time overhead of the bubblewrap sandbox per graded notebook.

Grades the same submission with and without the sandbox, alternating, several times, and
reports the median wall-clock time of one submission (kernel start to feedback) each way.

    python benchmarks/bench_sandbox.py            # the toy course of the tests
    python benchmarks/bench_sandbox.py --root COURSE --assignment 05_softmax --student S
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the toy course builder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="a course root with a graded-ready submission")
    parser.add_argument("--assignment", default="toy")
    parser.add_argument("--student", default="honest")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    logging.basicConfig(level=logging.WARNING)

    from course import grade, sandbox

    if sandbox.bwrap_path() is None:
        print("bubblewrap not available: nothing to compare", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        if args.root is None:
            from adversarial import toy

            root = toy.build_course(Path(tmp) / "course")
            toy.submit(root, args.student, toy.solved(root))
        else:
            root = args.root.resolve()
        times: dict[bool, list[float]] = {True: [], False: []}
        scores = set()
        for _ in range(args.runs):
            for sandboxed in (True, False):
                (row,) = grade.grade(root, [args.assignment], [args.student],
                                     sandbox=sandboxed, jobs=1, progress=False)
                times[sandboxed].append(row["seconds"])
                scores.add((sandboxed, row["score"]))
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"sandbox overhead per notebook ({args.assignment}, median of {args.runs} runs):")
    print(f"  sandboxed   {on:6.2f} s   {[round(t, 2) for t in times[True]]}")
    print(f"  unsandboxed {off:6.2f} s   {[round(t, 2) for t in times[False]]}")
    print(f"  overhead    {on - off:+6.2f} s ({(on - off) / off:+.0%})")
    if len({score for _, score in scores}) != 1:
        print(f"  GRADES DIFFER with and without the sandbox: {sorted(scores)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
