"""Recording results in the course root: the gradebook, ``autograded/`` and ``feedback/``
(each folder replaced whole, so that a kill leaves the old or the new one), ``grade.log``.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from course.grading.gradebook import commit, unchanged_answers
from course.intake.job import Result

log = logging.getLogger("course.grade")

INFRA_ATTEMPTS = 3  # gradings of one submission before an infrastructure failure is reported


def replace_tree(dest: Path, fill: Callable[[Path], None]) -> None:
    """Replace the folder ``dest`` with what ``fill(tmp)`` writes into an empty folder,
    atomically enough that a kill leaves either the old or the new folder plus a leftover
    that the next run removes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.new")
    old = dest.with_name(f".{dest.name}.old")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    tmp.mkdir()
    fill(tmp)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    if old.exists():
        shutil.rmtree(old)


def replace_dir(files: dict[str, bytes], dest: Path) -> None:
    """Replace the folder ``dest`` with the flat ``files`` (name -> bytes): replace_tree."""

    def fill(tmp: Path) -> None:
        for name, data in files.items():
            (tmp / Path(name).name).write_bytes(data)

    replace_tree(dest, fill)


def remove_dir(dest: Path) -> None:
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        if old.exists():
            shutil.rmtree(old)
        dest.rename(old)
        shutil.rmtree(old)


def run_one(workers, bundle, sub, options) -> cf.Future:
    """Hand one grading to ``workers``; a submit that fails is a failed future."""
    try:
        return workers.submit(bundle, sub, **options)
    except Exception as err:  # a dead scheduler, a broken pool
        future: cf.Future = cf.Future()
        future.set_exception(err)
        return future


def outcome(future: cf.Future, student: str, assignment: str) -> Result:
    """The Result of a finished grading future (an infrastructure failure if it raised)."""
    try:
        return future.result()
    except Exception as err:  # the worker itself died (out of memory, killed, lost)
        return Result(student, assignment, infra=True,
                      error=f"grading worker died ({type(err).__name__}: {err})")


def record(gb, logf, root, result, *, install: bool = True) -> None:
    """Commit one result to the gradebook, install its files, log it."""
    if result.error:
        unchanged = "; its grades are unchanged, rerun `course grade`" if result.infra else ""
        result.flags.insert(0, f"not graded: {result.error}{unchanged}")
    commit(gb, result, keep_manual=unchanged_answers(root, result))
    if install:
        install_files(root, result)
    log_result(logf, result)


def install_files(root: Path, result: Result) -> None:
    """``autograded/`` and ``feedback/`` of the result's student and assignment (an
    infrastructure failure leaves both as they were)."""
    if result.infra:
        return
    dest = root / "autograded" / result.student / result.assignment
    fb_dest = root / "feedback" / result.student / result.assignment
    for files, target in ((result.files.get("autograded"), dest),
                          (result.files.get("feedback"), fb_dest)):
        if files:
            replace_dir(files, target)
        else:
            remove_dir(target)


def log_result(logf, result: Result, note: str = "") -> None:
    where = f" on {result.worker}" if result.worker else ""
    logf.write(
        f"=== {datetime.now().isoformat(timespec='seconds')} {result.student} "
        f"{result.assignment} ({result.seconds:.1f} s{where}){note}\n"
    )
    logf.write(f"flags: {'; '.join(result.flags) or '-'}\n{result.log}\n")
    logf.flush()
    if result.flags:
        log.warning("%s/%s: %s", result.student, result.assignment, "; ".join(result.flags))
