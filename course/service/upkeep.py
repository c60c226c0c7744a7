"""What ``course serve`` does besides grading, between rounds: ``grades.csv``, backups of
the gradebook (as ``course grade`` makes them), and pruning the spool.

- ``grades.csv`` is rewritten when grades changed: when the queue is empty, or every
  EXPORT_EVERY seconds while it is not (an export reads the whole gradebook);
- the gradebook is backed up when the service starts and then every BACKUP_EVERY seconds
  while grades are written (``gradebook.db.bak-*``, the newest BACKUPS_KEPT kept, shared with
  ``course grade``'s);
- ``serve/<folder>/`` (the collected submission, its autograded notebook and feedback, a
  megabyte or two) is removed ``keep`` seconds after its feedback was released (or after it
  was superseded): the counted submission is in ``submitted/``, ``autograded/`` and
  ``feedback/`` of the course root, every feedback page in the exchange.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path

from course.grading.gradebook import backup_gradebook, export_csv
from course.service.queue import Queue, State
from course.service.released import Released
from course.service.spool import Spool

log = logging.getLogger("course.serve")

EXPORT_EVERY = 60.0  # seconds between exports of grades.csv while submissions keep arriving
BACKUP_EVERY = 3600.0  # seconds between backups of the gradebook while grades are written
PRUNE_EVERY = 60.0  # seconds between looks at the spool
KEEP_SPOOL = 7 * 86400.0  # seconds a released submission's spool is kept (--keep-spool)


class Upkeep:
    """grades.csv, backups and the spool of one service."""

    def __init__(self, root: Path, released: Released, spool: Spool, *,
                 keep: float = KEEP_SPOOL):
        self.root, self.released, self.spool, self.keep = root, released, spool, keep
        self.due = False  # grades changed since grades.csv was written
        self.changed = False  # grades written since the last backup
        self._exported = self._backed_up = self._pruned = 0.0

    def export(self, *, force: bool) -> None:
        if not self.due or (not force and time.monotonic() - self._exported < EXPORT_EVERY):
            return
        try:
            export_csv(self.root, self.released.course.db_url,
                       self.released.course.course_id)
        except Exception as err:  # a locked or busy gradebook, a full disk: retried later
            log.warning("grades.csv not written (%s): retrying later", err)
            return
        self.due, self._exported = False, time.monotonic()

    def backup(self, *, force: bool = False) -> None:
        """Back the gradebook up at the start (``force``) and every BACKUP_EVERY seconds
        while grades are written."""
        if not force and (not self.changed or
                          time.monotonic() - self._backed_up < BACKUP_EVERY):
            return
        try:
            target = backup_gradebook(self.root / "gradebook.db")
        except Exception as err:  # a full disk: retried at the next round
            for partial in self.root.glob("gradebook.db.bak-*"):
                if partial.stat().st_size == 0:
                    with contextlib.suppress(OSError):
                        partial.unlink()
            log.warning("the gradebook was not backed up (%s): retrying later", err)
            return
        log.info("gradebook backed up to %s", target.name)
        self.changed, self._backed_up = False, time.monotonic()

    def prune(self, queue: Queue, now: float, *, force: bool = False) -> int:
        """Remove the spool folders of submissions released (or superseded) more than
        ``keep`` seconds ago (every PRUNE_EVERY seconds, or now if ``force``); how many."""
        if not force and time.monotonic() - self._pruned < PRUNE_EVERY:
            return 0
        self._pruned = time.monotonic()
        try:
            present = set(os.listdir(self.spool.path))
        except OSError:
            return 0
        old = [e.key for e in queue.in_state(State.DONE, State.SUPERSEDED)
               if e.key in present and
               (e.released if e.state == State.DONE else e.arrived) is not None and
               (e.released if e.state == State.DONE else e.arrived) <= now - self.keep]
        for key in old:
            shutil.rmtree(self.spool.path / key, ignore_errors=True)
        if old:
            log.info("spool: removed %d released submission(s) older than %.0f s",
                     len(old), self.keep)
        return len(old)
