"""A submitted folder as plain data (:class:`SubmissionPack`), so that any worker can grade it.

Regular files are carried as bytes; a symlink, FIFO or device is carried as what it is and
recreated on the worker, so the worker's checks (:func:`course.intake.submission.prepare`)
see exactly what was submitted and refuse it the same way, without the instructor's machine
ever following a link or blocking on a FIFO.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from course.intake.files import MAX_NOTEBOOK_BYTES, open_dir, read_regular

# What one submission may bring: more than this (in all) is carried as sizes only, and the
# files it concerns are refused by the worker's checks as too large.
MAX_SUBMISSION_BYTES = 256 * 1024**2

MAX_ENTRIES = 10_000
# How deep a submitted folder is read and how long a path in it may be (bytes, relative to
# the folder): what lies deeper or longer is not carried, so a pack always unpacks.
MAX_DEPTH = 32
MAX_PATH = 1024
# What is never part of a submission, in any folder of it: JupyterLab's autosaved copies
# (nbgrader submit leaves them out too, CourseDirectory.ignore; a folder handed in another
# way, by zip_collect or by hand, may still hold them). Not carried, not graded, not flagged.
NEVER_SUBMITTED = frozenset({".ipynb_checkpoints"})


@dataclass
class SubmissionPack:
    """The entries of one submitted folder: path -> ("file", bytes) | ("link", target) |
    ("fifo", "") | ("special", kind) | ("big", size) | ("dir", "")."""

    student: str
    assignment: str
    entries: dict[str, tuple[str, object]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what could not be carried


def pack_submission(folder: Path | int, student: str, assignment: str) -> SubmissionPack:
    """Read ``folder`` (a path, or a descriptor of the folder, which stays the caller's) as
    untrusted input: never follow a link, never open a FIFO or device, never read more than
    MAX_SUBMISSION_BYTES. Every name is looked up in a descriptor of the folder it is in,
    never by a path, so a folder that is swapped for a link while it is read is not followed
    either: what is read is the folder that was opened."""
    pack = SubmissionPack(student, assignment)
    if isinstance(folder, int):
        _Walk(pack).folder(folder, "", 0)
        return pack
    try:
        fd = open_dir(folder)
    except OSError as err:
        pack.problems.append(f"folder . unreadable ({err.strerror})")
        return pack
    try:
        _Walk(pack).folder(fd, "", 0)
    finally:
        os.close(fd)
    return pack


class _Walk:
    """One pass over a submitted folder, depth first, holding one descriptor per level."""

    def __init__(self, pack: SubmissionPack):
        self.pack, self.budget = pack, MAX_SUBMISSION_BYTES

    def problem(self, text: str) -> None:
        if text not in self.pack.problems:
            self.pack.problems.append(text)

    def folder(self, fd: int, rel_dir: str, depth: int) -> bool:
        """Carry the entries of the open folder ``fd`` (``rel_dir`` in the submission) and
        its subfolders'; False once MAX_ENTRIES is reached (the rest is ignored)."""
        try:
            names = sorted(os.listdir(fd))
        except OSError as err:
            self.problem(f"folder {rel_dir or '.'} unreadable ({err.strerror})")
            return True
        subfolders = []
        for name in names:
            if name in NEVER_SUBMITTED:
                continue
            if len(self.pack.entries) >= MAX_ENTRIES:
                self.problem(f"more than {MAX_ENTRIES} files submitted; the rest ignored")
                return False
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if len(os.fsencode(rel)) > MAX_PATH:
                self.problem(f"paths longer than {MAX_PATH} bytes ignored")
            elif self.entry(fd, name, rel):
                subfolders.append((name, rel))
        return all(self.subfolder(fd, name, rel, depth + 1) for name, rel in subfolders)

    def entry(self, fd: int, name: str, rel: str) -> bool:
        """Carry the entry ``name`` of the folder ``fd``; True if it is a folder."""
        try:
            info = os.lstat(name, dir_fd=fd)
            if stat.S_ISLNK(info.st_mode):
                self.pack.entries[rel] = ("link", os.readlink(name, dir_fd=fd))
                return False
        except OSError:  # gone since the listing
            return False
        if stat.S_ISDIR(info.st_mode):
            self.pack.entries[rel] = ("dir", "")
            return True
        if stat.S_ISFIFO(info.st_mode):
            self.pack.entries[rel] = ("fifo", "")
        elif not stat.S_ISREG(info.st_mode):
            self.pack.entries[rel] = ("special", stat.filemode(info.st_mode)[0])
        else:
            self.file(fd, name, rel, info.st_size)
        return False

    def file(self, fd: int, name: str, rel: str, size: int) -> None:
        limit = min(self.budget, MAX_NOTEBOOK_BYTES)
        if size > limit:
            self.pack.entries[rel] = ("big", size)
            return
        try:
            data = read_regular(name, limit, dir_fd=fd)
        except ValueError:  # replaced by a link or grown since the lstat
            self.pack.entries[rel] = ("big", size)
            return
        except OSError as err:
            self.problem(f"{rel} unreadable ({err.strerror})")
            return
        self.budget -= len(data)
        self.pack.entries[rel] = ("file", data)

    def subfolder(self, fd: int, name: str, rel: str, depth: int) -> bool:
        """Carry the folder ``name`` of the folder ``fd``, opened without following a link
        (if it was replaced by one since its lstat, the link is carried, not followed)."""
        if depth > MAX_DEPTH:
            self.problem(f"folders deeper than {MAX_DEPTH} levels ignored")
            return True
        try:
            sub = open_dir(name, dir_fd=fd)
        except OSError as err:
            if err.errno in (errno.ENOTDIR, errno.ELOOP):
                self.problem(f"folder {rel} was replaced while it was read (not followed)")
                self.entry(fd, name, rel)
            else:
                self.problem(f"folder {rel} unreadable ({err.strerror})")
            return True
        try:
            return self.folder(sub, rel, depth)
        finally:
            os.close(sub)


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
