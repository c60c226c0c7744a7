"""Step 1 of ``course serve``: collecting what reaches the exchange's inbound.

Each new folder that nbgrader has finished writing is opened once (never through a link),
checked (:mod:`course.service.exchange`) and read through that same descriptor, once, as
untrusted input into the spool (:mod:`course.service.spool`) and queued, or recorded as
rejected with the reason; a queued submission of the same student and assignment that the
newcomer would count over is superseded.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from course.intake.pack import pack_submission
from course.service.exchange import Folder, inspect_folder, open_folder, parse_name, settled
from course.service.queue import Entry, Queue, State
from course.service.space import disk_full
from course.service.spool import Spool

log = logging.getLogger("course.serve")


class Collector:
    """The inbound folder ``inbound``, read into ``spool`` and ``queue``."""

    def __init__(self, inbound: Path, queue: Queue, spool: Spool, *, check_owner: bool):
        self.inbound, self.queue, self.spool = inbound, queue, spool
        self.check_owner = check_owner
        self.unsettled = 0  # folders nbgrader submit is still writing
        self._warned = False

    def skip_existing(self) -> int:
        """Record every folder now in the inbound as *skipped* (graded before the service
        started, by nbgrader collect and course grade): it will not be graded."""
        try:
            names = sorted(set(os.listdir(self.inbound)) - self.queue.keys())
        except OSError:
            return 0
        for name in names:
            student, assignment, _ = parse_name(name) or ("?", "?", "")
            try:
                arrived = os.lstat(self.inbound / name).st_ctime
            except OSError:
                continue
            self.queue.add(Entry(name, student, assignment, "", arrived, State.SKIPPED,
                                 note="in the exchange before the service started"))
        self.queue.commit()
        return len(names)

    def scan(self, duedates: dict[str, dt.datetime | None]) -> None:
        """Collect the new folders of the inbound that nbgrader has finished writing
        (``duedates``: of the released assignments)."""
        try:
            inbound_fd = os.open(self.inbound, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            if not self._warned:
                log.warning("no inbound folder %s (%s): release an assignment to the "
                            "exchange first (course publish --exchange)", self.inbound,
                            err.strerror)
                self._warned = True
            return
        try:
            self._scan(inbound_fd, duedates)
        finally:
            os.close(inbound_fd)

    def _scan(self, inbound_fd: int, duedates: dict[str, dt.datetime | None]) -> None:
        try:
            names = os.listdir(inbound_fd)
        except OSError as err:
            log.warning("cannot list the inbound folder %s (%s)", self.inbound, err.strerror)
            return
        self.unsettled = 0
        for name in sorted(set(names) - self.queue.keys()):
            folder = None
            try:
                folder = open_folder(inbound_fd, name)
                if folder is None:  # gone
                    continue
                if settled(folder):
                    self.collect(inbound_fd, folder, duedates)
                else:
                    self.unsettled += 1
            except Exception as err:  # one bad folder never stops the others
                self.queue.rollback()
                if disk_full(err):  # nor is it a bad folder: the service pauses
                    raise
                log.exception("could not collect %s", name)
            finally:
                if folder is not None:
                    folder.close()

    def collect(self, inbound_fd: int, folder: Folder,
                duedates: dict[str, dt.datetime | None]) -> None:
        """Collect the inbound folder ``folder``: checked, then read through the descriptor
        it was checked on (``folder.fd``), never through its path."""
        name = folder.name
        arrival = inspect_folder(folder, check_owner=self.check_owner, duedates=duedates)
        if arrival.rejected:
            log.warning("%s: %s", name, arrival.rejected)
            self.queue.add(Entry(name, arrival.student, arrival.assignment, arrival.timestamp,
                                 arrival.arrived, State.REJECTED, note=arrival.rejected))
            self.queue.commit()
            return
        pack = pack_submission(folder.fd, arrival.student, arrival.assignment)
        replaced = folder.replaced(inbound_fd)
        if replaced:  # nbgrader never does this; what was read is the folder it checked
            log.warning("%s: %s while it was collected", name, replaced)
            arrival.flags.append(f"the inbound folder was {replaced} while it was collected "
                                 "(graded: the folder as it was checked)")
        self.spool.collect(name, pack, arrival.when)
        entry = Entry(name, arrival.student, arrival.assignment, arrival.timestamp,
                      arrival.arrived, State.QUEUED, late=int(arrival.late),
                      flags="; ".join(pack.problems + arrival.flags))
        self.queue.add(entry)
        for key in self.queue.supersede_older(entry, duedates.get(entry.assignment_id)):
            log.info("%s superseded by %s", key, name)
        self.queue.commit()
        log.info("collected %s: %s %s submitted %s%s", name, entry.student_id,
                 entry.assignment_id, entry.timestamp, " (late)" if entry.late else "")
