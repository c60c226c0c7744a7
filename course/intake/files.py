"""Reading a submitted file as untrusted input: regular files only, never through a link, never
a FIFO or device, never more than a limit.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_NOTEBOOK_BYTES = 64 * 1024**2


# a folder opened as untrusted input: never through a link (O_NOFOLLOW: the last component;
# relative to a descriptor of its parent, that is the only one), never blocking
DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC


def open_dir(path: str | Path, *, dir_fd: int | None = None) -> int:
    """A descriptor of the folder ``path`` itself (a name in ``dir_fd``, if given), never of
    what a link there leads to: NotADirectoryError for a link, a file or a FIFO."""
    return os.open(path, DIR_FLAGS, dir_fd=dir_fd)


def read_regular(path: str | Path, limit: int, *, dir_fd: int | None = None) -> bytes:
    """The bytes of ``path`` (a name in the folder ``dir_fd``, if given), which must be a
    regular file (not a symlink, FIFO or device) of at most ``limit`` bytes; OSError or
    ValueError naming what is wrong otherwise."""

    name = Path(path).name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ValueError(f"{name} is a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{name} is not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{name} is larger than {limit} bytes")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError(f"{name} is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def same_tree(submitted: Path, released: Path) -> bool:
    """True iff the submitted folder holds the released edition's files, byte for byte
    (caches aside), and nothing else: no extra file, no symlink, no special file."""
    def files(root: Path) -> dict[str, Path] | None:
        found = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in dirnames + filenames:
                if os.path.islink(os.path.join(dirpath, name)):
                    return None
            for name in filenames:
                if name.endswith(".pyc"):
                    continue
                full = Path(dirpath) / name
                found[str(full.relative_to(root))] = full
        return found

    if submitted.is_symlink() or not submitted.is_dir():
        return False
    ours, theirs = files(released), files(submitted)
    if theirs is None or ours is None or set(ours) != set(theirs):
        return False
    try:
        return all(read_regular(theirs[k], 64 * 1024**2) == ours[k].read_bytes() for k in ours)
    except (OSError, ValueError):
        return False
