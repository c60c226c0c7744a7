"""``course serve``: grade each submission as it arrives through nbgrader's exchange and
release its feedback, so that a student reads it in *Assignment List* minutes after
submitting (nbgrader #174, #988).

The service watches ``<exchange>/<course>/inbound/`` (nbgrader's ``Exchange.root``) and, for
each new ``<student>+<assignment>+<timestamp>+<random>`` folder:

1. **collects** it: reads it as untrusted input (no link followed, no FIFO opened) into
   ``serve/<folder>/submission/`` under the course root (:mod:`course.service.spool`), so
   that later changes to the inbound folder change nothing, and queues it;
2. **grades** it on the trusted path of ``course grade`` (:mod:`course.grading.bundle`), on a
   bounded number of local worker processes or on a Dask cluster
   (:mod:`course.grading.workers`);
3. **records** it: the grades go into the gradebook if this submission *counts*, and the
   queue says "graded", in one transaction;
4. **releases** its feedback to the exchange (:func:`course.service.exchange.release_feedback`).

Which submission counts, as ``nbgrader collect --before-duedate``: the latest one before
the due date, or the latest late one if none was on time. Every submission is graded and
gets feedback of its own; a late one is marked late (nbgrader's late penalty applies when it
counts). A queued submission is superseded by a newer one of the same student and
assignment that would count over it, and is not graded. Manual grades are kept (a
regrade changes only the autograded scores).

Restart-safe: the queue (:mod:`course.service.queue`) is a table of the gradebook, each step
is idempotent and the step that writes grades is one transaction with the queue's "graded".
Killed at any moment (SIGKILL too) and started again, the service requeues what was being
graded, finishes what was graded but not yet released, and collects what arrived
meanwhile: no submission is lost, graded twice into the gradebook, or left without feedback.

Faults of the machinery cost a submission nothing unless they are its own: a grading that a
stop, a lost Dask scheduler or a full disk interrupted is queued again free; one whose worker
died (or whose kernel would not start) counts one failure and is retried after a back-off,
then later by the service itself (:data:`course.service.queue.RETRY_AFTER`). A full disk
pauses the service (:mod:`course.service.space`) until there is room again.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import time
from pathlib import Path

from nbgrader.api import Gradebook
from sqlalchemy.exc import OperationalError

from course.config import load_course_config
from course.service.collect import Collector
from course.service.exchange import SETTLE, exchange_paths
from course.service.queue import Queue, State
from course.service.recorder import Recorder
from course.service.released import Released
from course.service.space import MIN_FREE, Space
from course.service.spool import Spool
from course.service.status import write_status
from course.service.upkeep import KEEP_SPOOL, Upkeep

log = logging.getLogger("course.serve")

WAKE = 0.2  # seconds between looks at the inbound folder while the service waits


def folder_mark(path: Path):
    """What changes when an entry is added to or removed from the folder ``path``."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


class Service:
    """The grading service of one course root (see the module's docstring)."""

    def __init__(self, root: Path, workers, *, poll: float = 2.0, sandbox: bool = True,
                 memory: int = 2 * 1024**3, once: bool = False, min_free: int = MIN_FREE,
                 keep_spool: float = KEEP_SPOOL):
        self.root = Path(root).resolve()
        config = load_course_config(self.root)
        exchange, self.course_id = exchange_paths(config)
        self.inbound = exchange / self.course_id / "inbound"
        self.outbound = exchange / self.course_id / "feedback"
        check_owner = bool(config.ExchangeCollect.get(
            "check_owner", config.CollectApp.get("check_owner", True)))
        self.spool = Spool(self.root)
        self.workers, self.poll, self.once = workers, poll, once
        self.options = {"sandbox": sandbox, "memory": memory}
        self.released = Released(self.root)
        self.gb = Gradebook(self.released.course.db_url, self.course_id)
        self.queue = Queue(self.gb.db)
        self.in_flight: dict[cf.Future, str] = {}  # grading -> queue key
        self.stopping, self.started, self.ready = False, time.time(), False
        self.space = Space(self.root, min_free)
        self.upkeep = Upkeep(self.root, self.released, self.spool, keep=keep_spool)
        self.collector = Collector(self.inbound, self.queue, self.spool,
                                   check_owner=check_owner)
        self.recorder = Recorder(self.root, self.queue, self.gb, self.spool, self.released,
                                 self.upkeep, self.space, self.outbound)

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        self.heartbeat()  # course status names this process from now on
        self.workers.warm()
        log.info("serving %s: inbound %s, %s", self.course_id, self.inbound,
                 self.workers.describe())
        with self.open_log() as self.recorder.logf:
            while not self.stopping:
                try:
                    if self.step():
                        break
                    self.wait(self.poll)
                except (OperationalError, OSError) as err:
                    self.queue.rollback()
                    if not self.space.hit(err):
                        if not isinstance(err, OperationalError):
                            raise
                        log.warning("the gradebook is busy (%s); trying again", err.orig)
                    time.sleep(1)
        try:
            for key in self.in_flight.values():
                self.queue.requeue(key, "requeued: the service stopped")
            self.queue.commit()
        except (OperationalError, OSError) as err:  # a full disk: the next start requeues
            self.queue.rollback()
            log.warning("the gradings in flight are requeued at the next start (%s)", err)
        self.in_flight.clear()
        self.upkeep.export(force=True)
        self.heartbeat(stopped=True)
        return 0

    def open_log(self):
        """grade.log, opened once there is room for it (a start on a full disk waits)."""
        while True:
            try:
                return open(self.root / "grade.log", "a")
            except OSError as err:
                if not self.space.hit(err):
                    raise
                if self.stopping:  # stopped before there was room: nothing to log
                    return open(os.devnull, "a")
                self.heartbeat()
                time.sleep(self.poll)

    def start_up(self) -> None:
        """Once there is room: the spool, the assignments, what a kill left, a backup."""
        self.spool.create()
        self.refresh()
        self.recover()
        self.upkeep.backup(force=True)
        self.ready = True

    def refresh(self) -> None:
        """Follow the released assignments; requeue what was waiting for one of them."""
        if self.released.refresh(self.gb.db):
            for entry in self.queue.in_state(State.REJECTED):
                if entry.note.startswith("unknown assignment") and \
                        entry.assignment_id in self.released.bundles:
                    self.queue.reopen_rejected(entry.key)
        self.queue.commit()

    def step(self) -> bool:
        """One round: look at the course and the inbound, start gradings; True when
        ``--once`` has nothing left to do."""
        if not self.space.room():  # collect and start nothing: it could not be recorded
            self.heartbeat()
            return False
        if not self.ready:
            self.start_up()
        self.refresh()
        self.collector.scan(self.released.duedates)
        for key in self.queue.retry_due(time.time()):
            log.info("%s: retried automatically after a failure", key)
        self.dispatch()
        self.heartbeat()
        idle = not self.in_flight and not self.queue.in_state(State.QUEUED) \
            and not self.collector.unsettled
        self.queue.commit()
        self.upkeep.export(force=idle)
        self.upkeep.backup()
        self.upkeep.prune(self.queue, time.time(), force=idle)
        return self.once and idle

    def stop(self, *_args) -> None:
        self.stopping = True

    def wait(self, timeout: float) -> None:
        """Handle the gradings that finish within ``timeout`` seconds (while the disk is
        full, their results wait in memory); sooner when the inbound folder changes (a
        submission arrives) or, while one settles, after half of SETTLE."""
        if self.collector.unsettled:
            timeout = min(timeout, SETTLE / 2)
        end = time.monotonic() + timeout
        mark = folder_mark(self.inbound)
        while not self.stopping:
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.in_flight and self.space.full_since is None:
                done, _ = cf.wait(list(self.in_flight), timeout=min(WAKE, left),
                                  return_when=cf.FIRST_COMPLETED)
                for future in done:
                    self._record(self.in_flight.pop(future), future)
                if done:
                    return
            else:
                time.sleep(min(WAKE, left))
            if folder_mark(self.inbound) != mark:
                return

    def _record(self, key: str, future: cf.Future) -> None:
        try:
            self.recorder.handle(key, future)
        except Exception as err:  # recording failed (a full disk, a busy gradebook)
            self.queue.rollback()
            self.recorder.not_recorded(key, err)

    # -- 2. grade -----------------------------------------------------------------------------
    def dispatch(self) -> None:
        flying = set(self.in_flight.values())
        for entry in self.queue.in_state(State.GRADING):
            if entry.key not in flying:  # its result could not be recorded
                self.queue.requeue(entry.key, "graded again: its result was not recorded")
        self.queue.commit()
        free = self.workers.capacity - len(self.in_flight)  # 0: a scheduler gone
        for entry in self.queue.ready(time.time())[:max(0, free)]:
            if self.stopping:
                break
            pack = self.spool.pack(entry.key, entry.student_id, entry.assignment_id,
                                   entry.flags)
            self.queue.start(entry, time.time())
            self.queue.commit()
            try:
                future = self.workers.submit(self.released.bundles[entry.assignment_id],
                                             pack, **self.options)
            except Exception as err:  # a scheduler just lost, a closed pool: not its fault
                log.warning("%s: not sent to a worker (%s); it waits", entry.key, err)
                self.queue.interrupt(self.queue.get(entry.key), f"not sent: {err}",
                                     time.time())
                self.queue.commit()
                break
            self.in_flight[future] = entry.key
            log.info("grading %s (%s %s%s)", entry.key, entry.student_id,
                     entry.assignment_id,
                     f", after {entry.attempts} failure(s)" if entry.attempts else "")

    # -- restarts -----------------------------------------------------------------------------
    def recover(self) -> None:
        """After a stop or a kill: requeue what was being graded (no failure counted: the
        service's own stop interrupted it), finish what was graded."""
        for entry in self.queue.in_state(State.GRADING):
            self.queue.requeue(entry.key, "requeued after a restart")
            log.info("%s: requeued (it was being graded when the service stopped)", entry.key)
        self.queue.commit()
        for entry in self.queue.in_state(State.GRADED):
            log.info("%s: graded before the service stopped; releasing", entry.key)
            self.recorder.finish(entry.key)

    def retry_failed(self) -> int:
        count = self.queue.retry_failed()
        self.queue.commit()
        return count

    def heartbeat(self, stopped: bool = False) -> None:
        write_status(self.root, {
            "pid": os.getpid(), "started": self.started, "heartbeat": time.time(),
            "workers": self.workers.describe(), "poll": self.poll,
            "inbound": str(self.inbound), "in_flight": sorted(self.in_flight.values()),
            "graded": self.recorder.graded, "stopped": stopped, **self.space.state()})

    def close(self) -> None:
        self.gb.close()
