"""The swap-during-read race on ``course serve`` (issue 19, hole 1: "another folder graded
as mine").

A student submits with ``nbgrader submit``, then adds to their own inbound folder a large
file whose name sorts before everything else. The service checks the folder (a real
directory, theirs), lists it and starts reading the large file; at that moment the student
renames their folder and puts a symbolic link in its place: to the instructor's
``<course>/source/<assignment>`` (the solutions) or to another student's inbound folder. A
service that reads the rest of the folder by its path (``inbound/<name>/<file>``) then reads
the files the link leads to and grades them under the attacker's name.

In a real exchange the student wins the race by retrying; here the moment is made exact by
``hook_reads``, which wraps the function the service reads submitted files with and lets the
attacker act as it opens their large file. What the attacker does is real: a rename and a
symlink in the inbound folder. tests/test_serve.py runs the races through ``course serve``'s
service, in its own process (so the hook sees its reads), and judges them with ``check``.

The attackers submit wrong work (2 of 4 points): an attack that worked shows up as full
marks, as the instructor's solutions in what the attacker is given back, or as another's
grade changed.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .exchange import rows_of, score_of

FULL = 4.0
BIG = 4 * 1024**2  # the large file: big enough to be slow to read on a busy disk


@dataclass
class Race:
    name: str
    student: str
    target: object  # (term) -> Path: what the link put in place of the folder leads to
    check: object  # (term, race) -> list[str]: what went wrong
    honest: bool = False  # the control: same folder, same hook, nobody swaps anything


def big_file(student: str) -> str:
    """The attacker's large file: it sorts before lib/, timestamp.txt and the notebook."""
    return f"aaa_{student}.bin"


def _inbound(term) -> Path:
    return term.exchange / "toy" / "inbound"


def _folder(term, student: str) -> Path:
    (folder,) = [p for p in _inbound(term).iterdir() if p.name.startswith(f"{student}+")]
    return folder


def submit(term, race: Race, nb) -> None:
    """nbgrader submit, then the large file added to the inbound folder it wrote."""
    term.submit(race.student, nb)
    with open(_folder(term, race.student) / big_file(race.student), "wb") as fh:
        fh.write(b"\0" * BIG)


def swap(term, race: Race) -> None:
    """The attacker's move, while the service reads their large file: rename the folder away
    and put a link to ``race.target`` in its place."""
    folder = _folder(term, race.student)
    os.rename(folder, _inbound(term) / f"{race.student}-moved")
    os.symlink(race.target(term), folder)


def hook_reads(monkeypatch, term, races: list[Race]) -> list[str]:
    """Let each racer ``swap`` while the service reads its large file (the first time), before
    it goes on to the next file; returns the names of the races that swapped, as they do."""
    from course.intake import pack

    real, swapped = pack.read_regular, []
    by_file = {big_file(r.student): r for r in races if not r.honest}

    def read_regular(path, *args, **kwargs):
        data = real(path, *args, **kwargs)
        race = by_file.pop(Path(path).name, None)
        if race is not None:  # the service is busy with the large file: now
            swap(term, race)
            swapped.append(race.name)
        return data

    monkeypatch.setattr(pack, "read_regular", read_regular)
    return swapped


# -- what the attacker may get back ----------------------------------------------------------


def solution(term) -> str:
    """The instructor's solution of ``total`` (source/toy/toy.ipynb): the attacker's wrong
    work (``return 1.0``) does not have it."""
    from adversarial import toy

    source = toy.cell(toy.source_notebook(term.root), "total").source
    return source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0].strip()


def _given_back(term, student: str) -> list[Path]:
    """Every file the service made of ``student``'s submissions: its copies, the graded
    notebook and feedback in the course root, and the feedback pages of the exchange that
    ``nbgrader fetch_feedback`` gives them (named by their submissions' secrets)."""
    from nbgrader.utils import notebook_hash

    roots = [term.root / "serve" / e.key for e in rows_of(term, student)]
    roots += [term.root / kind / student for kind in ("submitted", "autograded", "feedback")]
    found = [p for root in roots if root.is_dir() for p in root.rglob("*")
             if p.is_file() and not p.is_symlink()]
    for secret in (p for p in found if p.name == "submission_secret.txt"):
        page = notebook_hash(secret=secret.read_text(), notebook_id="toy")
        found.append(term.exchange / "toy" / "feedback" / f"{page}.html")
    return sorted({p for p in found if p.is_file()})


def page_text(path: Path) -> str:
    """A file's text; a page's as it reads (tags and the highlighter's spans removed)."""
    text = path.read_text(errors="replace")
    return html.unescape(re.sub(r"<[^>]*>", "", text)) if path.suffix == ".html" else text


def _no_solutions(term, student: str) -> list[str]:
    answer = solution(term)
    return [f"the solution of total (the instructor's or the victim's) is in "
            f"{p.relative_to(term.base)}"
            for p in _given_back(term, student) if answer in page_text(p)]


def _own_work_or_nothing(term, race: Race) -> list[str]:
    """The swapped submission is graded as what was submitted (2 of 4), flagged, or
    rejected; nothing of the attacker's scores full marks."""
    problems = []
    rows = rows_of(term, race.student)
    swapped = [e for e in rows if e.key.startswith(f"{race.student}+")]
    if not swapped:
        problems.append("the swapped submission was never collected")
    for entry in swapped:
        if entry.state == "rejected":
            continue
        if entry.state != "done" or entry.score != FULL - 2:
            problems.append(f"graded as something else than what was submitted: "
                            f"{entry.state} {entry.score} {entry.note}")
        if "replaced" not in entry.flags:
            problems.append(f"the swap was not reported: flags {entry.flags!r}")
    if any(e.score == FULL for e in rows) or score_of(term, race.student) == FULL:
        problems.append(f"full marks for wrong work: {[(e.key, e.score) for e in rows]}")
    return problems


def link_to_source_check(term, race: Race) -> list[str]:
    return _own_work_or_nothing(term, race) + _no_solutions(term, race.student)


def link_to_victim_check(term, race: Race) -> list[str]:
    problems = _own_work_or_nothing(term, race) + _no_solutions(term, race.student)
    if score_of(term, "vic") != FULL:
        problems.append(f"the victim's grade is {score_of(term, 'vic')}, not {FULL}")
    (vic,) = rows_of(term, "vic")
    if vic.state != "done" or vic.score != FULL or vic.flags:
        problems.append(f"the victim's submission changed: {vic.state} {vic.score} "
                        f"{vic.flags!r}")
    if len(term.fetch_feedback("vic")) != 1:
        problems.append("the victim's feedback is missing or doubled")
    return problems


def control_check(term, race: Race) -> list[str]:
    (entry,) = rows_of(term, race.student)
    problems = []
    if entry.state != "done" or entry.score != FULL or entry.flags:
        problems.append(f"an honest submission with a large file: {entry.state} "
                        f"{entry.score} {entry.flags!r} {entry.note}")
    if len(term.fetch_feedback(race.student)) != 1:
        problems.append("the honest student found no feedback")
    return problems


def races() -> list[Race]:
    """The victim ``vic`` (honest, submitted first) is the caller's; attackers submit
    wrong work, the control honest work."""
    return [
        Race("link_to_source", "srcrace", lambda t: t.root / "source" / "toy",
             link_to_source_check),
        Race("link_to_victim", "cpyrace", lambda t: _folder(t, "vic"), link_to_victim_check),
        Race("honest_control", "ctlrace", lambda t: None, control_check, honest=True),
    ]
