"""The queue of ``course serve``: one row per submission folder of the exchange's inbound, in
a table of the gradebook (``course_queue``), so that the step that writes a submission's
grades and the step that marks it graded are one transaction.

A row's :class:`State` changes only along :data:`TRANSITIONS`, by the named methods of
:class:`Queue`; a move from a state the row is not in changes nothing and returns False (a
restarted service, or a row another step moved first).
"""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from sqlalchemy import text

from course.grading.gradebook import QUEUE_TABLE


class State(enum.StrEnum):
    QUEUED = "queued"  # collected, waiting for a worker
    GRADING = "grading"  # sent to a worker
    GRADED = "graded"  # its result is recorded; its files are not yet installed or released
    DONE = "done"  # feedback released
    SUPERSEDED = "superseded"  # a newer submission that counts over it arrived first
    FAILED = "failed"  # the machinery failed; retried at retry_at, or never (--retry-failed)
    REJECTED = "rejected"  # no submission folder, another's, an unknown assignment
    SKIPPED = "skipped"  # in the exchange before the service started (--skip-existing)


TRANSITIONS: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.GRADING, State.SUPERSEDED}),
    State.GRADING: frozenset({State.QUEUED, State.GRADED, State.FAILED}),
    State.GRADED: frozenset({State.DONE}),
    State.FAILED: frozenset({State.QUEUED}),  # its later retry is due, or --retry-failed
    State.REJECTED: frozenset({State.QUEUED}),  # its assignment was released since
    State.DONE: frozenset(),
    State.SUPERSEDED: frozenset(),
    State.SKIPPED: frozenset(),
}


# Seconds from an infrastructure failure (a dead worker, a kernel that would not start, a
# result that could not be recorded) to the next attempt: the first two wait queued, the
# next ones as *failed* until the service retries them itself; after the last it is failed
# for good (course serve --retry-failed). A grading interrupted by the service's own stop,
# a lost Dask scheduler or a full disk is no failure: it is queued again and costs nothing.
RETRY_AFTER = (5.0, 30.0, 600.0, 3600.0, 4 * 3600.0)
QUEUED_RETRIES = 2  # retries that wait queued (the others wait failed)
INTERRUPTED_WAIT = 2.0  # seconds before an interrupted grading is started again
MAX_INTERRUPTIONS = 20  # a grading interrupted this often counts one failure


def retry_delay(failures: int) -> float | None:
    """Seconds before the next attempt after ``failures`` failed ones; None: no more."""
    return RETRY_AFTER[failures - 1] if 0 < failures <= len(RETRY_AFTER) else None


class TransitionError(ValueError):
    """A move that :data:`TRANSITIONS` does not allow."""


@dataclass
class Entry:
    """One row of the queue: one submission folder of the exchange's inbound."""

    key: str  # the folder's name: <student>+<assignment>+<timestamp>+<random>
    student_id: str
    assignment_id: str
    timestamp: str  # ISO, UTC: when the student submitted (what the submission claims)
    arrived: float  # epoch seconds: when the folder reached the exchange (its ctime)
    state: str  # a State
    attempts: int = 0  # gradings that failed through the machinery (not interruptions)
    counted: int = 0  # its grades are the gradebook's
    commits: int = 0  # times its grades were written into the gradebook
    score: float | None = None  # autograded points
    max_score: float | None = None
    late: int = 0
    flags: str = ""
    note: str = ""
    started: float | None = None
    finished: float | None = None
    released: float | None = None
    worker: str = ""
    retry_at: float | None = None  # not started again before (epoch seconds)
    interrupted: int = 0  # gradings lost with a Dask scheduler or to a full disk


COLUMNS = tuple(f.name for f in fields(Entry))
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {QUEUE_TABLE}"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {QUEUE_TABLE} (key TEXT PRIMARY KEY, "
    "student_id TEXT NOT NULL, assignment_id TEXT NOT NULL, timestamp TEXT NOT NULL, "
    "arrived REAL NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
    "counted INTEGER NOT NULL DEFAULT 0, commits INTEGER NOT NULL DEFAULT 0, "
    "score REAL, max_score REAL, late INTEGER NOT NULL DEFAULT 0, "
    "flags TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', started REAL, "
    "finished REAL, released REAL, worker TEXT NOT NULL DEFAULT '', retry_at REAL, "
    "interrupted INTEGER NOT NULL DEFAULT 0)"
)
# columns added since the first release of the table: (name, its SQL type and default)
_ADDED = (("retry_at", "REAL"), ("interrupted", "INTEGER NOT NULL DEFAULT 0"))


def rank(timestamp: str, duedate: dt.datetime | None) -> tuple[bool, str]:
    """Which of two submissions counts: on time first, then the later one."""
    on_time = duedate is None or dt.datetime.fromisoformat(timestamp) <= duedate
    return (on_time, timestamp)


def feedback_only(late: int, counted: str) -> str:
    """The note of a graded submission whose grades are not the gradebook's."""
    return f"{'late; ' if late else ''}feedback only: the submission of {counted} counts"


class Queue:
    """The queue table, on a SQLAlchemy session (the gradebook's ``gb.db``).

    Nothing here commits except :meth:`commit`: the caller decides what one transaction is.
    """

    def __init__(self, session):
        self.db = session
        self._q(_SCHEMA)
        have = {row[1] for row in self._q(f"PRAGMA table_info({QUEUE_TABLE})")}
        for name, kind in _ADDED:
            if name not in have:
                self._q(f"ALTER TABLE {QUEUE_TABLE} ADD COLUMN {name} {kind}")
        self.commit()

    def _q(self, sql: str, **params):
        return self.db.execute(text(sql), params)

    def commit(self) -> None:
        self.db.commit()

    def rollback(self) -> None:
        self.db.rollback()

    # -- reading ---------------------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        row = self._q(f"{_SELECT} WHERE key = :k", k=key).fetchone()
        return Entry(*row) if row else None

    def keys(self) -> set[str]:
        return {r[0] for r in self._q(f"SELECT key FROM {QUEUE_TABLE}")}

    def ready(self, now: float) -> list[Entry]:
        """The queued rows that may start now (not waiting for a retry), in arrival order."""
        return [e for e in self.in_state(State.QUEUED) if not e.retry_at or e.retry_at <= now]

    def in_state(self, *states: State) -> list[Entry]:
        """The rows in any of ``states``, in order of arrival."""
        marks = ", ".join(f":s{i}" for i in range(len(states)))
        rows = self._q(f"{_SELECT} WHERE state IN ({marks}) ORDER BY arrived, key",
                       **{f"s{i}": str(s) for i, s in enumerate(states)}).fetchall()
        return [Entry(*r) for r in rows]

    def others(self, entry: Entry, *, state: State | None = None,
               counted: bool | None = None) -> list[Entry]:
        """The other rows of ``entry``'s student and assignment (in ``state``, or counted)."""
        sql = f"{_SELECT} WHERE student_id = :s AND assignment_id = :a AND key != :k"
        if state is not None:
            sql += f" AND state = '{State(state)}'"
        if counted is not None:
            sql += f" AND counted = {int(counted)}"
        rows = self._q(sql + " ORDER BY arrived, key", s=entry.student_id,
                       a=entry.assignment_id, k=entry.key).fetchall()
        return [Entry(*r) for r in rows]

    # -- writing ---------------------------------------------------------------------------
    def add(self, entry: Entry) -> None:
        """Insert ``entry`` unless its key is known (collecting twice changes nothing)."""
        State(entry.state)
        self._q(f"INSERT OR IGNORE INTO {QUEUE_TABLE} ({', '.join(COLUMNS)}) VALUES "
                f"({', '.join(':' + c for c in COLUMNS)})", **dict(zip(COLUMNS, astuple(entry),
                                                                        strict=True)))

    def update(self, key: str, **values) -> None:
        """Change columns other than the state."""
        if "state" in values:
            raise TransitionError("the state changes only by move()")
        sets = ", ".join(f"{k} = :{k}" for k in values)
        self._q(f"UPDATE {QUEUE_TABLE} SET {sets} WHERE key = :key", key=key, **values)

    def move(self, key: str, source: State, target: State, **values) -> bool:
        """Move row ``key`` from ``source`` to ``target`` (and set ``values``); False if the
        row is not in ``source``. TransitionError if the move is not allowed."""
        if target not in TRANSITIONS[State(source)]:
            raise TransitionError(f"{key}: no transition from {source} to {target}")
        values["state"] = str(target)
        sets = ", ".join(f"{k} = :{k}" for k in values)
        result = self._q(f"UPDATE {QUEUE_TABLE} SET {sets} WHERE key = :key AND "
                         "state = :source", key=key, source=str(source), **values)
        return result.rowcount == 1

    # -- the named transitions ---------------------------------------------------------------
    def start(self, entry: Entry, now: float) -> bool:
        """Sent to a worker: nothing is counted until the attempt ends (failures are)."""
        return self.move(entry.key, State.QUEUED, State.GRADING, started=now)

    def requeue(self, key: str, note: str) -> bool:
        """Queue again a grading that was interrupted (a restart): no penalty."""
        return self.move(key, State.GRADING, State.QUEUED, note=note, retry_at=None)

    def interrupt(self, entry: Entry, note: str, now: float) -> bool:
        """A grading lost with the machinery around it, through no fault of its own (the
        scheduler went away, the disk filled): queued again shortly, no failure counted,
        unless it was interrupted MAX_INTERRUPTIONS times (then that is one failure)."""
        if entry.interrupted + 1 >= MAX_INTERRUPTIONS:
            self.update(entry.key, interrupted=0)
            return self.retry_or_fail(entry, f"interrupted {MAX_INTERRUPTIONS} times: {note}",
                                      now)
        return self.move(entry.key, State.GRADING, State.QUEUED, note=note,
                         interrupted=entry.interrupted + 1, retry_at=now + INTERRUPTED_WAIT)

    def fail(self, key: str, note: str, now: float | None = None) -> bool:
        return self.move(key, State.GRADING, State.FAILED, note=note, finished=now,
                         retry_at=None)

    def graded(self, key: str, **values) -> bool:
        return self.move(key, State.GRADING, State.GRADED, retry_at=None, **values)

    def done(self, key: str, now: float) -> bool:
        return self.move(key, State.GRADED, State.DONE, released=now)

    def supersede(self, key: str, by: str) -> bool:
        return self.move(key, State.QUEUED, State.SUPERSEDED, note=f"superseded by {by}")

    def retry_or_fail(self, entry: Entry, error: str, now: float) -> bool:
        """A grading of ``entry`` failed through no fault of the submission (its worker
        died, its kernel would not start): one failure more. It waits queued or failed
        for its next attempt (:data:`RETRY_AFTER`), or after the last one is failed for
        good. Whether another attempt is scheduled."""
        failures = entry.attempts + 1
        delay = retry_delay(failures)
        if delay is not None and failures <= QUEUED_RETRIES:
            return self.move(entry.key, State.GRADING, State.QUEUED, attempts=failures,
                             retry_at=now + delay,
                             note=f"retrying in {delay:.0f} s (failure {failures}): {error}")
        if delay is not None:
            return self.move(entry.key, State.GRADING, State.FAILED, attempts=failures,
                             retry_at=now + delay, finished=now,
                             note=f"failed {failures} times, retried automatically: {error}")
        self.move(entry.key, State.GRADING, State.FAILED, attempts=failures, retry_at=None,
                  finished=now, note=f"not graded after {failures} failures: {error}; its "
                  "grades are unchanged (course serve --retry-failed)")
        return False

    def retry_due(self, now: float) -> list[str]:
        """Queue again the failed rows whose automatic retry is due; their keys."""
        due = [e.key for e in self.in_state(State.FAILED) if e.retry_at and e.retry_at <= now]
        for key in due:
            self.move(key, State.FAILED, State.QUEUED, retry_at=None, note="retried "
                      "automatically after a failure")
        return due

    def retry_failed(self) -> int:
        """Queue every failed row again with fresh attempts; how many."""
        failed = self.in_state(State.FAILED)
        for entry in failed:
            self.move(entry.key, State.FAILED, State.QUEUED, attempts=0, retry_at=None,
                      interrupted=0, note="retried by hand")
        return len(failed)

    def reopen_rejected(self, key: str) -> bool:
        """A row rejected for an unknown assignment, once that assignment is released."""
        return self.move(key, State.REJECTED, State.QUEUED, note="")

    # -- which submission counts -------------------------------------------------------------
    def counts(self, entry: Entry, duedate: dt.datetime | None) -> bool:
        """Whether ``entry``'s grades go into the gradebook: it ranks at least as high as
        the submission whose grades are there now."""
        return all(rank(entry.timestamp, duedate) >= rank(o.timestamp, duedate)
                   for o in self.others(entry, counted=True))

    def why_not_counted(self, entry: Entry) -> str:
        counted = self.others(entry, counted=True)
        return feedback_only(entry.late, counted[0].timestamp if counted else "?")

    def supersede_older(self, new: Entry, duedate: dt.datetime | None) -> list[str]:
        """Supersede the queued rows of ``new``'s student and assignment that rank below it
        (a newcomer that would not count over a queued one, late after on time, is graded
        all the same, for its feedback); the keys superseded."""
        mine = rank(new.timestamp, duedate)
        gone = [o.key for o in self.others(new, state=State.QUEUED)
                if rank(o.timestamp, duedate) < mine]
        for key in gone:
            self.supersede(key, new.key)
        return gone

    def take_over_count(self, entry: Entry) -> None:
        """``entry`` counts now: the one that counted until now gives feedback only."""
        for other in self.others(entry, counted=True):
            self.update(other.key, counted=0, note=feedback_only(other.late, entry.timestamp))


def read_queue(db: Path) -> list[Entry]:
    """Every row of the queue of gradebook ``db`` (read-only; [] before any service ran)."""
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute(f"{_SELECT} ORDER BY arrived, key").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()
    return [Entry(*row) for row in rows]
