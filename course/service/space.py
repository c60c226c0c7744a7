"""The course root's disk space, as ``course serve`` sees it: *full* is a state of the
service, not a crash.

The service is full when the free space of the course root falls below its minimum
(``--min-free``) or a write fails with ENOSPC (or SQLite's "database or disk is full"). While
full it collects and starts nothing (it would not be able to record a grading), keeps the
results that come back in memory, says so in ``serve.json`` and its log, and each round
looks again: free space above the minimum and a probe file written mean room again.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

log = logging.getLogger("course.serve")

MIN_FREE = 64 * 1024**2  # bytes: a grading's spool, results and gradebook rows need a few MB
PROBE = ".serve.space"  # written and removed to see that writes work again
PROBE_SIZE = 256 * 1024


def disk_full(err: BaseException) -> bool:
    """Whether ``err`` (or an error it wraps) says the disk or a quota is full."""
    seen = 0
    while err is not None and seen < 5:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(err) or "No space left" in str(err):
            return True
        err, seen = getattr(err, "orig", None) or err.__cause__ or err.__context__, seen + 1
    return False


class Space:
    """Free space under ``root`` (at least ``min_free`` bytes wanted)."""

    def __init__(self, root: Path, min_free: int = MIN_FREE):
        self.root, self.min_free = Path(root), int(min_free)
        self.full_since: float | None = None
        self.reason = ""

    def free(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def hit(self, err: BaseException) -> bool:
        """Record a failed write: whether it was the disk being full (the state is set)."""
        if not disk_full(err):
            return False
        self._full(f"a write failed: {err}")
        return True

    def _full(self, reason: str) -> None:
        if self.full_since is None:
            self.full_since = time.time()
            log.error("disk full under %s (%s): grading paused until there is room; "
                      "nothing is lost", self.root, reason)
        self.reason = reason

    def room(self) -> bool:
        """Whether there is room to grade now (looked at once per round)."""
        try:
            free = self.free()
        except OSError as err:
            self._full(f"cannot read the free space: {err}")
            return False
        if free < self.min_free:
            self._full(f"{free / 1024**2:.0f} MB free, {self.min_free / 1024**2:.0f} MB needed")
            return False
        if self.full_since is not None:
            probe = self.root / PROBE
            try:
                with open(probe, "wb") as fh:
                    fh.write(b"\0" * PROBE_SIZE)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as err:
                self.reason = f"a write failed: {err}"
                return False
            finally:
                try:
                    probe.unlink()
                except OSError:
                    pass
            log.warning("disk space again under %s (%.0f MB free, full for %.0f s): "
                        "grading resumes", self.root, free / 1024**2,
                        time.time() - self.full_since)
            self.full_since, self.reason = None, ""
        return True

    def state(self) -> dict:
        """What serve.json says of it."""
        return ({"disk_full": self.reason, "disk_full_since": self.full_since}
                if self.full_since is not None else {})
