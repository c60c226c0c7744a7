"""Benchmark: wall time of each solved source notebook, top to bottom (median of runs).

The issue's budget is 20 s per notebook on 2 cores (aim: 10 s). Run with ``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from course.config import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]


def run_once(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("ids", nargs="*", default=list(ASSIGNMENTS))
    args = parser.parse_args()
    print(f"{'notebook (solved source)':<28} {'median s':>9} {'min':>7} {'max':>7}")
    for name in args.ids:
        times = [run_once(ROOT / "source" / name / f"{name}.ipynb") for _ in range(args.repeat)]
        print(f"{name:<28} {statistics.median(times):9.2f} {min(times):7.2f} {max(times):7.2f}")


if __name__ == "__main__":
    main()
