"""A submitted folder as plain data (:class:`SubmissionPack`), so that any worker can grade it.

Regular files are carried as bytes; a symlink, FIFO or device is carried as what it is and
recreated on the worker, so the worker's checks (:func:`course.intake.submission.prepare`)
see exactly what was submitted and refuse it the same way, without the instructor's machine
ever following a link or blocking on a FIFO.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from course.intake.files import MAX_NOTEBOOK_BYTES, read_regular

# What one submission may bring: more than this (in all) is carried as sizes only, and the
# files it concerns are refused by the worker's checks as too large.
MAX_SUBMISSION_BYTES = 256 * 1024**2

MAX_ENTRIES = 10_000


@dataclass
class SubmissionPack:
    """The entries of one submitted folder: path -> ("file", bytes) | ("link", target) |
    ("fifo", "") | ("special", kind) | ("big", size) | ("dir", "")."""

    student: str
    assignment: str
    entries: dict[str, tuple[str, object]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what could not be carried


def pack_submission(folder: Path, student: str, assignment: str) -> SubmissionPack:
    """Read ``folder`` as untrusted input: never follow a link, never open a FIFO or device,
    never read more than MAX_SUBMISSION_BYTES."""
    pack = SubmissionPack(student, assignment)
    budget = MAX_SUBMISSION_BYTES
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            names = sorted(os.listdir(folder / rel_dir if rel_dir else folder))
        except OSError as err:
            pack.problems.append(f"folder {rel_dir or '.'} unreadable ({err.strerror})")
            continue
        for name in names:
            if len(pack.entries) >= MAX_ENTRIES:
                pack.problems.append(f"more than {MAX_ENTRIES} files submitted; the rest ignored")
                return pack
            rel = f"{rel_dir}/{name}" if rel_dir else name
            path = folder / rel
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                pack.entries[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                pack.entries[rel] = ("dir", "")
                stack.append(rel)
            elif stat.S_ISFIFO(info.st_mode):
                pack.entries[rel] = ("fifo", "")
            elif not stat.S_ISREG(info.st_mode):
                pack.entries[rel] = ("special", stat.filemode(info.st_mode)[0])
            elif info.st_size > min(budget, MAX_NOTEBOOK_BYTES):
                pack.entries[rel] = ("big", info.st_size)
            else:
                try:
                    data = read_regular(path, min(budget, MAX_NOTEBOOK_BYTES))
                except ValueError:  # replaced by a link or grown since the lstat
                    pack.entries[rel] = ("big", info.st_size)
                    continue
                except OSError as err:
                    pack.problems.append(f"{rel} unreadable ({err.strerror})")
                    continue
                budget -= len(data)
                pack.entries[rel] = ("file", data)
    return pack


def unpack_submission(pack: SubmissionPack, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for rel, (kind, value) in sorted(pack.entries.items()):
        path = dest / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "file":
            path.write_bytes(value)
        elif kind == "link":
            os.symlink(str(value), path)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "big":  # sparse: the worker's size checks refuse it, no disk is used
            with open(path, "wb") as fh:
                fh.truncate(int(value))
