"""Attacks on grading-on-submission (``course serve``) through nbgrader's exchange.

A student controls their own process, so everything ``nbgrader submit`` does on their
behalf: the inbound folder's name, its files, its time stamp, and what they do to that
folder and to the inbound directory later. Each attack below is set up by ``before`` (and
``after``, once the service has graded what came before) and judged by ``check``, which
returns a list of what went wrong (empty: the attack failed). tests/test_serve.py runs them
all in one term with ``course serve --once``.

The victim is ``vic``, an honest student; attackers submit wrong work (the wrong ``total``
scores 2 of 4), so an attack that worked would show up as points, as another's grade, as a
hang, or as a file of the instructor's read. (Submitting in another student's name is
tests/test_serve.py's check_owner test.)
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

FULL = 4.0


@dataclass
class Attack:
    name: str
    before: object  # (term) -> None
    check: object  # (term) -> list[str]: what went wrong
    after: object = None  # (term) -> None, between the two service runs


def _inbound(term) -> Path:
    return term.exchange / "toy" / "inbound"


def _folders(term, student: str) -> list[Path]:
    return sorted(p for p in _inbound(term).iterdir() if p.name.startswith(f"{student}+"))


def rows_of(term, student: str):
    """The service's queue entries of ``student``."""
    return [e for e in term.queue() if e.student_id == student]


def score_of(term, student: str) -> float | None:
    """The gradebook's autograded points of ``student``'s submission (None: none)."""
    try:
        return term.submission(student)["code_score"]
    except Exception:
        return None


def _victim_intact(term) -> list[str]:
    problems = []
    if score_of(term, "vic") != FULL:
        problems.append(f"the victim's grade is {score_of(term, 'vic')}, not {FULL}")
    if len(term.fetch_feedback("vic")) != 1:
        problems.append("the victim's feedback is missing or doubled")
    return problems


# -- the attacks ------------------------------------------------------------------------------


def symlinked_folder_before(term, wrong):
    """An inbound entry in the victim's name that is a link to the attacker's folder."""
    term.submit("lnk", wrong(term.root))
    (folder,) = _folders(term, "lnk")
    stamp = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)).strftime(
        "%Y-%m-%d %H:%M:%S.%f UTC")
    os.symlink(folder, _inbound(term) / f"vic+toy+{stamp}+forged")


def symlinked_folder_check(term):
    problems = _victim_intact(term)
    forged = [e for e in term.queue() if e.key.endswith("+forged")]
    if not forged or forged[0].state != "rejected":
        problems.append(f"a link in the inbound folder was not rejected: {forged}")
    return problems


def edit_after_collect_before(term, wrong):
    term.submit("ed", wrong(term.root))


def edit_after_collect_after(term, honest):
    """Once graded, replace the notebook in the inbound folder with correct work."""
    (folder,) = _folders(term, "ed")
    import nbformat

    target = folder / "toy.ipynb"
    target.chmod(0o644)
    nbformat.write(honest(term.root), target)


def edit_after_collect_check(term):
    problems = []
    if score_of(term, "ed") != FULL - 2:
        problems.append(f"editing the inbound folder changed the grade to {score_of(term, 'ed')}")
    if [e.commits for e in rows_of(term, "ed")] != [1]:
        problems.append("the edited submission was graded again")
    return problems


def link_to_source_before(term, wrong):
    """The submitted notebook is a link to the instructor's source notebook (solutions)."""
    term.submit("src", wrong(term.root))
    (folder,) = _folders(term, "src")
    (folder / "toy.ipynb").unlink()
    os.symlink(term.root / "source" / "toy" / "toy.ipynb", folder / "toy.ipynb")


def link_to_source_check(term):
    (entry,) = rows_of(term, "src")
    problems = []
    if entry.score:
        problems.append(f"a link to the source earned {entry.score} points")
    if "symbolic link" not in entry.flags:
        problems.append(f"the link was not reported: {entry.flags!r}")
    return problems


def fifo_and_huge_before(term, wrong):
    """A FIFO where the time stamp goes and a 4 GB (sparse) file beside the notebook: the
    service must neither block on the FIFO nor read the file."""
    term.submit("big", wrong(term.root))
    (folder,) = _folders(term, "big")
    (folder / "timestamp.txt").unlink()
    os.mkfifo(folder / "timestamp.txt")
    with open(folder / "blob.bin", "wb") as fh:
        fh.truncate(4 * 1024**3)


def fifo_and_huge_check(term):
    (entry,) = rows_of(term, "big")
    problems = []
    if entry.state != "done" or entry.score != FULL - 2:
        problems.append(f"not graded as its work deserves: {entry.state} {entry.score}")
    return problems


def flood_before(term, wrong):
    """Thirty resubmissions at once: one grading, the latest."""
    for _ in range(30):
        term.submit("fld", wrong(term.root))


def flood_check(term):
    rows = rows_of(term, "fld")
    graded = [e for e in rows if e.state == "done"]
    problems = []
    if len(graded) != 1 or graded[0].key != max(rows, key=lambda e: e.timestamp).key:
        problems.append(f"{len(graded)} of the flood's 30 submissions were graded")
    return problems


def junk_names_before(term, wrong):
    """Entries that are not submissions: a file, a name without a time stamp, a bad one."""
    inbound = _inbound(term)
    (inbound / "notes.txt").write_text("hello")
    (inbound / "nostamp").mkdir()
    (inbound / "x+toy+not a date+abc").mkdir()


def junk_names_check(term):
    states = {e.key: e.state for e in term.queue()}
    problems = [f"{k} was {states.get(k)}" for k in ("notes.txt", "nostamp",
                                                     "x+toy+not a date+abc")
                if states.get(k) != "rejected"]
    return problems + _victim_intact(term)


def other_course_before(term, wrong):
    """A submission of an assignment this course never released."""
    term.submit("oth", wrong(term.root))
    (folder,) = _folders(term, "oth")
    os.rename(folder, folder.with_name(folder.name.replace("+toy+", "+secret_exam+", 1)))


def other_course_check(term):
    (entry,) = rows_of(term, "oth")
    return [] if entry.state == "rejected" and "unknown assignment" in entry.note else [
        f"an unknown assignment was {entry.state}: {entry.note}"]


def _with(fn, kind):
    """Bind the submission maker ``kind`` (honest or wrong) to an attack step."""
    return lambda term: fn(term, kind)


def attacks(honest, wrong) -> list[Attack]:
    return [
        Attack("symlinked_folder", _with(symlinked_folder_before, wrong),
               symlinked_folder_check),
        Attack("edit_after_collect", _with(edit_after_collect_before, wrong),
               edit_after_collect_check, after=_with(edit_after_collect_after, honest)),
        Attack("link_to_source", _with(link_to_source_before, wrong), link_to_source_check),
        Attack("fifo_and_huge", _with(fifo_and_huge_before, wrong), fifo_and_huge_check),
        Attack("flood", _with(flood_before, wrong), flood_check),
        Attack("junk_names", _with(junk_names_before, wrong), junk_names_check),
        Attack("other_assignment", _with(other_course_before, wrong), other_course_check),
    ]

