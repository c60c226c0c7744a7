"""Steps 3 and 4 of ``course serve``: a finished grading recorded (its grades into the
gradebook if it counts, and the queue's "graded", in one transaction) and released (the
counted submission installed in the course root, its feedback in the exchange).

A grading that the machinery lost (a stop, a lost Dask scheduler: :func:`lost`) is queued
again at no cost; one that failed through the machinery (a dead worker) counts one failure
(:meth:`course.service.queue.Queue.retry_or_fail`); a result that cannot be recorded on a
full disk is graded again at no cost once there is room.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from pathlib import Path

from course.grading.gradebook import commit, unchanged_answers
from course.grading.record import log_result, outcome
from course.grading.workers import lost
from course.service.exchange import release_feedback as release_pages
from course.service.queue import Entry, Queue, State
from course.service.released import Released
from course.service.space import Space
from course.service.spool import Spool
from course.service.upkeep import Upkeep

log = logging.getLogger("course.serve")


def _finished(entry: Entry, released: int) -> str:
    score = (f"{entry.score:g} of {entry.max_score:g} points" if entry.score is not None
             else "not graded")
    return (f"{score}, {'counts' if entry.counted else 'does not count'}"
            f"{', late' if entry.late else ''}; feedback "
            f"{f'released ({released} page(s))' if released else 'none'}, "
            f"{time.time() - entry.arrived:.1f} s after it arrived")


class Recorder:
    """Records and releases the results of one service's gradings."""

    def __init__(self, root: Path, queue: Queue, gb, spool: Spool, released: Released,
                 upkeep: Upkeep, space: Space, outbound: Path):
        self.root, self.queue, self.gb, self.spool = root, queue, gb, spool
        self.released, self.upkeep, self.space, self.outbound = released, upkeep, space, \
            outbound
        self.course_id = released.course.course_id
        self.logf = None  # grade.log, opened by the service
        self.graded = 0  # gradings recorded since the start (course status shows it)

    def handle(self, key: str, future: cf.Future) -> None:
        entry = self.queue.get(key)
        self.queue.commit()
        if entry is None or entry.state != State.GRADING:
            return
        error = future.exception() if not future.cancelled() else cf.CancelledError()
        if error is not None and lost(error):  # the cluster went away, or we stopped
            self.queue.interrupt(entry, f"interrupted ({type(error).__name__}); graded "
                                 "again", time.time())
            self.queue.commit()
            return
        result = outcome(future, entry.student_id, entry.assignment_id)
        if result.infra:  # the machinery's failure, not the submission's
            again = self.queue.retry_or_fail(entry, result.error, time.time())
            log.log(logging.WARNING if again else logging.ERROR, "%s: %s", key,
                    self.queue.get(key).note)
            self.queue.commit()
            return
        if result.error:
            result.flags.insert(0, f"not graded: {result.error}")
        self.spool.store_result(key, result)
        self.record(entry, result)

    def record(self, entry: Entry, result) -> None:
        key = entry.key
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

            commit(self.gb, result, also, keep_manual=unchanged_answers(self.root, result))
            self.upkeep.changed = True
        else:
            self.queue.graded(key, **values)
            self.queue.commit()
        self.graded += 1
        log_result(self.logf, result, "" if counted else f" ({values['note']})")
        self.finish(key)

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
        self.upkeep.due = self.upkeep.due or bool(entry.counted)

    def not_recorded(self, key: str, err: Exception) -> None:
        """A result that could not be recorded: graded again (free if the disk was full;
        if even this cannot be written, dispatch requeues the row)."""
        entry = self.queue.get(key)
        if entry is None or entry.state != State.GRADING:
            return
        if self.space.hit(err):
            self.queue.interrupt(entry, "graded again: the disk was full", time.time())
        else:
            log.exception("%s: its result could not be recorded; it is graded again", key)
            self.queue.retry_or_fail(entry, f"its result could not be recorded ({err})",
                                     time.time())
        self.queue.commit()

