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
from course.grading.gradebook import commit, export_csv
from course.grading.record import INFRA_ATTEMPTS, log_result, outcome, run_one
from course.service.collect import Collector
from course.service.exchange import exchange_paths
from course.service.exchange import release_feedback as release_pages
from course.service.queue import Entry, Queue, State
from course.service.released import Released
from course.service.spool import Spool
from course.service.status import write_status

log = logging.getLogger("course.serve")

# grades.csv is rewritten at most this often while submissions keep arriving
EXPORT_EVERY = 60.0


class GradesCsv:
    """``grades.csv``, rewritten when grades changed: when the queue is empty, or every
    EXPORT_EVERY seconds while it is not (an export reads the whole gradebook)."""

    def __init__(self, root: Path, released: Released):
        self.root, self.released = root, released
        self.due, self._exported = False, 0.0

    def export(self, *, force: bool) -> None:
        if not self.due or (not force and time.monotonic() - self._exported < EXPORT_EVERY):
            return
        try:
            export_csv(self.root, self.released.course.db_url,
                       self.released.course.course_id)
        except Exception as err:  # a locked or busy gradebook: the next round retries
            log.warning("grades.csv not written (%s): retrying later", err)
            return
        self.due, self._exported = False, time.monotonic()


def _finished(entry: Entry, released: int) -> str:
    score = (f"{entry.score:g} of {entry.max_score:g} points" if entry.score is not None
             else "not graded")
    return (f"{score}, {'counts' if entry.counted else 'does not count'}"
            f"{', late' if entry.late else ''}; feedback "
            f"{f'released ({released} page(s))' if released else 'none'}, "
            f"{time.time() - entry.arrived:.1f} s after it arrived")


class Service:
    """The grading service of one course root (see the module's docstring)."""

    def __init__(self, root: Path, workers, *, poll: float = 2.0, sandbox: bool = True,
                 memory: int = 2 * 1024**3, once: bool = False):
        self.root = Path(root).resolve()
        config = load_course_config(self.root)
        exchange, self.course_id = exchange_paths(config)
        self.inbound = exchange / self.course_id / "inbound"
        self.outbound = exchange / self.course_id / "feedback"
        self.check_owner = bool(config.ExchangeCollect.get(
            "check_owner", config.CollectApp.get("check_owner", True)))
        self.spool = Spool(self.root)
        self.workers, self.poll, self.once = workers, poll, once
        self.options = {"sandbox": sandbox, "memory": memory}
        self.released = Released(self.root)
        self.gb = Gradebook(self.released.course.db_url, self.course_id)
        self.queue = Queue(self.gb.db)
        self.in_flight: dict[cf.Future, str] = {}  # grading -> queue key
        self.stopping, self.started = False, time.time()
        self.graded = 0  # gradings recorded since the start (course status shows it)
        self.grades_csv = GradesCsv(self.root, self.released)
        self.collector = Collector(self.inbound, self.queue, self.spool,
                                   check_owner=self.check_owner)

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        self.spool.create()
        self.refresh()
        self.recover()
        self.workers.warm()
        log.info("serving %s: inbound %s, %s", self.course_id, self.inbound,
                 self.workers.describe())
        with open(self.root / "grade.log", "a") as self.logf:
            while not self.stopping:
                try:
                    if self.step():
                        break
                    self.wait(self.poll)
                except OperationalError as err:  # formgrader held the gradebook too long
                    self.queue.rollback()
                    log.warning("the gradebook is busy (%s); trying again", err.orig)
                    time.sleep(1)
        self.grades_csv.export(force=True)
        for key in self.in_flight.values():
            self.queue.requeue(key, "requeued: the service stopped")
        self.in_flight.clear()
        self.queue.commit()
        self.heartbeat(stopped=True)
        return 0

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
        self.refresh()
        self.collector.scan(self.released.duedates)
        self.dispatch()
        self.heartbeat()
        idle = not self.in_flight and not self.queue.in_state(State.QUEUED) \
            and not self.collector.unsettled
        self.queue.commit()
        self.grades_csv.export(force=idle)
        return self.once and idle

    def stop(self, *_args) -> None:
        self.stopping = True

    def wait(self, timeout: float) -> None:
        """Handle the gradings that finish within ``timeout`` seconds."""
        if not self.in_flight:
            end = time.monotonic() + timeout
            while not self.stopping and time.monotonic() < end:
                time.sleep(min(0.2, timeout))
            return
        done, _ = cf.wait(list(self.in_flight), timeout=timeout,
                          return_when=cf.FIRST_COMPLETED)
        for future in done:
            key = self.in_flight.pop(future)
            try:
                self.handle(key, future)
            except Exception:  # recording failed (a full disk, a busy gradebook)
                log.exception("%s: its result could not be recorded; it is graded again", key)
                self.queue.rollback()  # still 'grading' and not in flight: dispatch requeues it

    # -- 2. grade -----------------------------------------------------------------------------
    def dispatch(self) -> None:
        flying = set(self.in_flight.values())
        for entry in self.queue.in_state(State.GRADING):
            if entry.key in flying:  # else its result could not be recorded
                continue
            if entry.attempts < INFRA_ATTEMPTS:
                self.queue.requeue(entry.key, "graded again: recording failed")
            else:
                self.queue.fail(entry.key, "its result could not be recorded (see serve.log)")
        self.queue.commit()
        for entry in self.queue.in_state(State.QUEUED):
            if len(self.in_flight) >= self.workers.capacity or self.stopping:
                break
            pack = self.spool.pack(entry.key, entry.student_id, entry.assignment_id,
                                   entry.flags)
            self.queue.start(entry, time.time())
            self.queue.commit()
            future = run_one(self.workers, self.released.bundles[entry.assignment_id], pack,
                             self.options)
            self.in_flight[future] = entry.key
            log.info("grading %s (%s %s, attempt %d)", entry.key, entry.student_id,
                     entry.assignment_id, entry.attempts + 1)

    # -- 3. record ----------------------------------------------------------------------------
    def handle(self, key: str, future: cf.Future) -> None:
        entry = self.queue.get(key)
        self.queue.commit()
        if entry is None or entry.state != State.GRADING:
            return
        result = outcome(future, entry.student_id, entry.assignment_id)
        if result.infra:  # the machinery's failure, not the submission's
            if self.queue.retry_or_fail(entry, result.error, INFRA_ATTEMPTS, time.time()):
                log.warning("%s: %s; grading it again", key, result.error)
            else:
                log.error("%s: not graded after %d attempts: %s", key, entry.attempts,
                          result.error)
            self.queue.commit()
            return
        if result.error:
            result.flags.insert(0, f"not graded: {result.error}")
        self.spool.store_result(key, result)
        trusted = self.released.course.trusted[entry.assignment_id]
        counted = self.queue.counts(entry, self.released.duedates.get(entry.assignment_id))
        values = dict(counted=int(counted),
                      score=float(sum(s for s, _ in result.grades.values() if s is not None)),
                      max_score=float(sum(sum(nb["grade"].values()) for nb in trusted.values())),
                      flags="; ".join(result.flags), finished=time.time(),
                      worker=result.worker,
                      note="" if counted else self.queue.why_not_counted(entry))
        if counted:
            def also(_gb):
                self.queue.take_over_count(entry)
                self.queue.graded(key, commits=entry.commits + 1, **values)

            commit(self.gb, result, also)
        else:
            self.queue.graded(key, **values)
            self.queue.commit()
        self.graded += 1
        log_result(self.logf, result, "" if counted else f" ({values['note']})")
        self.finish(key)

    # -- 4. release ---------------------------------------------------------------------------
    def finish(self, key: str) -> None:
        """Install a counted submission in the course root and release its feedback to the
        exchange (idempotent: a restart redoes it)."""
        entry = self.queue.get(key)
        self.queue.commit()
        if entry is None or entry.state != State.GRADED:
            return
        if entry.counted:
            self.spool.install(key, entry.student_id, entry.assignment_id)
        released = release_pages(
            self.spool.path / key / "feedback", self.spool.submission(key), self.outbound,
            course_id=self.course_id, key=key, student=entry.student_id,
            assignment=entry.assignment_id)
        self.queue.done(key, time.time())
        self.queue.commit()
        log.info("%s: %s", key, _finished(entry, released))
        self.grades_csv.due = self.grades_csv.due or bool(entry.counted)

    # -- restarts -----------------------------------------------------------------------------
    def recover(self) -> None:
        """After a stop or a kill: requeue what was being graded, finish what was graded."""
        for entry in self.queue.in_state(State.GRADING):
            self.queue.requeue(entry.key, "requeued after a restart")
            log.info("%s: requeued (it was being graded when the service stopped)", entry.key)
        self.queue.commit()
        for entry in self.queue.in_state(State.GRADED):
            log.info("%s: graded before the service stopped; releasing", entry.key)
            self.finish(entry.key)

    def retry_failed(self) -> int:
        count = self.queue.retry_failed()
        self.queue.commit()
        return count

    def heartbeat(self, stopped: bool = False) -> None:
        write_status(self.root, {
            "pid": os.getpid(), "started": self.started, "heartbeat": time.time(),
            "workers": self.workers.describe(), "poll": self.poll,
            "inbound": str(self.inbound), "in_flight": sorted(self.in_flight.values()),
            "graded": self.graded, "stopped": stopped})

    def close(self) -> None:
        self.gb.close()
