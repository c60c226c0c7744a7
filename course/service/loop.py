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
import datetime as dt
import logging
import os
import time
from pathlib import Path

from nbgrader.api import Gradebook
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from course.config import load_course_config
from course.errors import GradeError
from course.grading.course import OpenCourse
from course.grading.gradebook import commit, export_csv
from course.grading.record import INFRA_ATTEMPTS, log_result, outcome, run_one
from course.intake.pack import pack_submission
from course.service.exchange import exchange_paths, inspect_folder, parse_name, settled
from course.service.exchange import release_feedback as release_pages
from course.service.queue import Entry, Queue, State
from course.service.spool import Spool
from course.service.status import write_status

log = logging.getLogger("course.serve")

# grades.csv is rewritten at most this often while submissions keep arriving
EXPORT_EVERY = 60.0


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
        self.course = OpenCourse(self.root, [])
        self.gb = Gradebook(self.course.db_url, self.course_id)
        self.queue = Queue(self.gb.db)
        self.in_flight: dict[cf.Future, str] = {}
        self.stopping = False
        self.bundles: dict = {}
        self.duedates: dict[str, dt.datetime | None] = {}
        self._signature = None
        self._warned = False
        self.started = time.time()
        self.graded = 0  # gradings recorded since the start (course status shows it)
        self._export_due, self._exported = False, 0.0
        self.unsettled = 0  # folders nbgrader submit is still writing

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
        self.export(force=True)
        for key in self.in_flight.values():
            self.queue.requeue(key, "requeued: the service stopped")
        self.in_flight.clear()
        self.queue.commit()
        self.heartbeat(stopped=True)
        return 0

    def step(self) -> bool:
        """One round: look at the course and the inbound, start gradings; True when
        ``--once`` has nothing left to do."""
        self.refresh()
        self.scan()
        self.dispatch()
        self.heartbeat()
        idle = not self.in_flight and not self.queue.in_state(State.QUEUED) \
            and not self.unsettled
        self.queue.commit()
        self.export(force=idle)
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

    def export(self, *, force: bool) -> None:
        """Rewrite grades.csv if grades changed: when the queue is empty, or every
        EXPORT_EVERY seconds while it is not (an export reads the whole gradebook)."""
        if not self._export_due or (not force and
                                    time.monotonic() - self._exported < EXPORT_EVERY):
            return
        try:
            export_csv(self.root, self.course.db_url, self.course_id)
        except Exception as err:  # a locked or busy gradebook: the next round retries
            log.warning("grades.csv not written (%s): retrying later", err)
            return
        self._export_due, self._exported = False, time.monotonic()

    # -- what the service knows of the course -----------------------------------------------
    def refresh(self) -> None:
        """(Re)build the bundles when an assignment is released, changed or given a new due
        date; requeue submissions that were waiting for their assignment."""
        signature = self._course_signature()
        if signature == self._signature:
            return
        try:
            self.course = OpenCourse(self.root, [a for a, _ in signature[0]])
            self.bundles = self.course.bundles()
        except GradeError as err:
            log.error("cannot grade: %s", err)
            return
        self.duedates = {a: (dt.datetime.fromisoformat(d) if d else None)
                         for a, d in signature[0]}
        self._signature = signature
        log.info("assignments: %s", ", ".join(
            f"{a} (due {d or 'any time'})" for a, d in signature[0]) or "none released")
        for entry in self.queue.in_state(State.REJECTED):
            if entry.note.startswith("unknown assignment") and entry.assignment_id in \
                    self.bundles:
                self.queue.reopen_rejected(entry.key)
        self.queue.commit()

    def _course_signature(self):
        rows = self.gb.db.execute(text("SELECT name, duedate FROM assignment ORDER BY name")
                                  ).fetchall()
        self.queue.commit()
        released = [(name, str(due) if due else None) for name, due in rows
                    if (self.root / "release" / name / "lib").is_dir()]
        mtimes = []
        for name, _ in released:
            for dirpath, _dirs, files in os.walk(self.root / "release" / name):
                mtimes += [os.stat(os.path.join(dirpath, f)).st_mtime_ns for f in files]
        config = (self.root / "nbgrader_config.py").stat().st_mtime_ns
        return (tuple(released), max(mtimes, default=0), config)

    # -- 1. collect ---------------------------------------------------------------------------
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

    def scan(self) -> None:
        try:
            names = os.listdir(self.inbound)
        except OSError as err:
            if not self._warned:
                log.warning("no inbound folder %s (%s): release an assignment to the "
                            "exchange first (course publish --exchange)", self.inbound,
                            err.strerror)
                self._warned = True
            return
        self.unsettled = 0
        for name in sorted(set(names) - self.queue.keys()):
            try:
                if settled(self.inbound / name):
                    self.collect(name)
                else:
                    self.unsettled += 1
            except Exception:  # one bad folder never stops the others
                self.queue.rollback()
                log.exception("could not collect %s", name)

    def collect(self, name: str) -> None:
        arrival = inspect_folder(self.inbound, name, check_owner=self.check_owner,
                                 duedates={a: self.duedates.get(a) for a in self.bundles})
        if arrival.rejected:
            log.warning("%s: %s", name, arrival.rejected)
            self.queue.add(Entry(name, arrival.student, arrival.assignment, arrival.timestamp,
                                 arrival.arrived, State.REJECTED, note=arrival.rejected))
            self.queue.commit()
            return
        pack = pack_submission(self.inbound / name, arrival.student, arrival.assignment)
        self.spool.collect(name, pack, arrival.when)
        entry = Entry(name, arrival.student, arrival.assignment, arrival.timestamp,
                      arrival.arrived, State.QUEUED, late=int(arrival.late),
                      flags="; ".join(pack.problems + arrival.flags))
        self.queue.add(entry)
        for key in self.queue.supersede_older(entry, self.duedates.get(entry.assignment_id)):
            log.info("%s superseded by %s", key, name)
        self.queue.commit()
        log.info("collected %s: %s %s submitted %s%s", name, entry.student_id,
                 entry.assignment_id, entry.timestamp, " (late)" if entry.late else "")

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
            future = run_one(self.workers, self.bundles[entry.assignment_id], pack,
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
        if result.infra:
            self._retry_or_fail(entry, result.error)
            return
        if result.error:
            result.flags.insert(0, f"not graded: {result.error}")
        self.spool.store_result(key, result)
        trusted = self.course.trusted[entry.assignment_id]
        counted = self.queue.counts(entry, self.duedates.get(entry.assignment_id))
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

    def _retry_or_fail(self, entry: Entry, error: str) -> None:
        if entry.attempts < INFRA_ATTEMPTS:
            log.warning("%s: %s; grading it again", entry.key, error)
            self.queue.requeue(entry.key, f"retrying: {error}")
        else:
            log.error("%s: not graded after %d attempts: %s", entry.key, entry.attempts, error)
            self.queue.fail(entry.key, f"not graded: {error}; its grades are unchanged "
                            "(course serve --retry-failed)", time.time())
        self.queue.commit()

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
        score = (f"{entry.score:g} of {entry.max_score:g} points"
                 if entry.score is not None else "not graded")
        log.info("%s: %s, %s%s; feedback %s, %.1f s after it arrived", key, score,
                 "counts" if entry.counted else "does not count", ", late" if entry.late else "",
                 f"released ({released} page(s))" if released else "none",
                 time.time() - entry.arrived)
        self._export_due = self._export_due or bool(entry.counted)

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
