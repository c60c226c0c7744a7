"""The lock that says a grader owns a course's gradebook.

``course serve`` holds it for as long as it runs; ``course grade`` refuses to run while it is
held, since two graders would overwrite each other's newer grades.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

LOCK_FILE = ".serve.lock"


def service_running(root: Path) -> bool:
    """Whether a ``course serve`` runs on the course at ``root`` (it holds the lock)."""
    try:
        fd = os.open(Path(root) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def hold_service_lock(root: Path) -> IO | None:
    """Take the lock for a service on ``root``: the open lock file (keep it open while the
    service runs), or None if another service holds it."""
    lock = open(Path(root) / LOCK_FILE, "a")  # held while the service runs
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None
    return lock
