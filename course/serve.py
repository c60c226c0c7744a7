"""``course serve``: grade each submission as it arrives through nbgrader's exchange and
release its feedback, so that a student reads it in *Assignment List* minutes after
submitting (nbgrader #174, #988).

The service watches ``<exchange>/<course>/inbound/`` (nbgrader's ``Exchange.root``) and, for
each new ``<student>+<assignment>+<timestamp>+<random>`` folder:

1. **collects** it: reads it as untrusted input (no link followed, no FIFO opened) into
   ``serve/<folder>/submission/`` under the course root, so that later changes to the
   inbound folder change nothing, and queues it;
2. **grades** it on the trusted path of ``course grade`` (:mod:`course.jobs`), on a bounded
   number of local worker processes or on a Dask cluster (:mod:`course.workers`);
3. **records** it: the grades go into the gradebook if this submission *counts*, and the
   queue says "graded", in one transaction;
4. **releases** its feedback to the exchange (``feedback/<hash>.html``, nbgrader's own
   naming), where ``nbgrader fetch_feedback`` and *Assignment List* find it.

Which submission counts, as ``nbgrader collect --before-duedate``: the latest one before
the due date, or the latest late one if none was on time. Every submission is graded and
gets feedback of its own; a late one is marked late (nbgrader's late penalty applies when it
counts). A queued submission is superseded by a newer one of the same student and
assignment that would count over it, and is not graded. Manual grades are kept (a
regrade changes only the autograded scores).

Restart-safe: the queue is a table of the gradebook (``course_queue``), each step is
idempotent and the step that writes grades is one transaction with the queue's "graded".
Killed at any moment (SIGKILL too) and started again, the service requeues what was being
graded, finishes what was graded but not yet released, and collects what arrived
meanwhile: no submission is lost, graded twice into the gradebook, or left without feedback.

``course status`` shows the queue; the log is ``serve.log`` in the course root.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import pwd
import shutil
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from course.gradebook import QUEUE_TABLE, GradeError, commit, export_csv

log = logging.getLogger("course.serve")

SPOOL = "serve"  # under the course root: serve/<key>/{submission,result}
STATUS_FILE = "serve.json"
LOCK_FILE = ".serve.lock"
LOG_FILE = "serve.log"
# a submission that claims to be on time but reached the exchange later than this after
# the due date is treated as late (its claimed time stamp is the student's to write)
ARRIVAL_GRACE = dt.timedelta(minutes=10)
# nbgrader submit writes a folder in steps (the files, timestamp.txt, submission_secret.txt,
# then its permissions): a folder is collected once it has both files and nothing in it has
# changed for SETTLE seconds, or, without them, after INCOMPLETE seconds
SETTLE = 0.5
INCOMPLETE = 120.0
# grades.csv is rewritten at most this often while submissions keep arriving
EXPORT_EVERY = 60.0

_COLUMNS = ("key", "student_id", "assignment_id", "timestamp", "arrived", "state", "attempts",
            "counted", "commits", "score", "max_score", "late", "flags", "note", "started",
            "finished", "released", "worker")


@dataclass
class Entry:
    """One row of the queue: one submission folder of the exchange's inbound."""

    key: str
    student_id: str
    assignment_id: str
    timestamp: str  # ISO, UTC: when the student submitted (what the submission claims)
    arrived: float  # epoch seconds: when the folder reached the exchange (its ctime)
    state: str  # queued | grading | graded | done | superseded | failed | rejected | skipped
    attempts: int = 0
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


def _ensure_table(gb) -> None:
    from sqlalchemy import text

    gb.db.execute(text(
        f"CREATE TABLE IF NOT EXISTS {QUEUE_TABLE} (key TEXT PRIMARY KEY, "
        "student_id TEXT NOT NULL, assignment_id TEXT NOT NULL, timestamp TEXT NOT NULL, "
        "arrived REAL NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
        "counted INTEGER NOT NULL DEFAULT 0, commits INTEGER NOT NULL DEFAULT 0, "
        "score REAL, max_score REAL, late INTEGER NOT NULL DEFAULT 0, "
        "flags TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', started REAL, "
        "finished REAL, released REAL, worker TEXT NOT NULL DEFAULT '')"))
    gb.db.commit()


def read_queue(db: Path) -> list[Entry]:
    """Every row of the queue of gradebook ``db`` (read-only; [] before any service ran)."""
    import sqlite3

    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM {QUEUE_TABLE} "
                           "ORDER BY arrived, key").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()
    return [Entry(*row) for row in rows]


def parse_name(name: str) -> tuple[str, str, str] | None:
    """(student, assignment, time stamp) of an inbound folder named as nbgrader submit names
    it, ``<student>+<assignment>+<timestamp>+<random>``; None for any other name."""
    parts = name.rsplit("+", 3)
    return (parts[0], parts[1], parts[2]) if len(parts) >= 3 and parts[0] else None


def _feedback_only(late: int, counted: str) -> str:
    """The note of a graded submission whose grades are not the gradebook's."""
    return f"{'late; ' if late else ''}feedback only: the submission of {counted} counts"


def _rank(timestamp: str, duedate: dt.datetime | None) -> tuple[bool, str]:
    """Which of two submissions counts: on time first, then the later one."""
    on_time = duedate is None or dt.datetime.fromisoformat(timestamp) <= duedate
    return (on_time, timestamp)


def exchange_paths(config) -> tuple[Path, str]:
    """(the exchange's root, the course id) of a course configuration."""
    root = config.Exchange.get("root", "/usr/local/share/nbgrader/exchange")
    return Path(root), config.CourseDirectory.get("course_id", "default_course")


class Service:
    """The grading service of one course root (see the module's docstring)."""

    def __init__(self, root: Path, workers, *, poll: float = 2.0, sandbox: bool = True,
                 memory: int = 2 * 1024**3, once: bool = False):
        from nbgrader.api import Gradebook

        from course.grade import OpenCourse, _load_config

        self.root = Path(root).resolve()
        self.config = _load_config(self.root)
        exchange, self.course_id = exchange_paths(self.config)
        self.inbound = exchange / self.course_id / "inbound"
        self.outbound = exchange / self.course_id / "feedback"
        self.check_owner = bool(self.config.ExchangeCollect.get(
            "check_owner", self.config.CollectApp.get("check_owner", True)))
        self.spool = self.root / SPOOL
        self.workers = workers
        self.poll = poll
        self.once = once
        self.options = {"sandbox": sandbox, "memory": memory}
        self.course = OpenCourse(self.root, [])
        self.gb = Gradebook(self.course.db_url, self.course_id)
        _ensure_table(self.gb)
        self.in_flight: dict[cf.Future, str] = {}
        self.stopping = False
        self.bundles: dict = {}
        self.duedates: dict[str, dt.datetime | None] = {}
        self._signature = None
        self._warned: set[str] = set()
        self.started = time.time()
        self.graded = 0  # gradings recorded since the start (course status shows it)
        self._export_due = False
        self._exported = 0.0
        self.unsettled = 0  # folders nbgrader submit is still writing

    # -- the loop ---------------------------------------------------------------------------
    def skip_existing(self) -> int:
        """Record every folder now in the inbound as *skipped* (graded before the service
        started, by nbgrader collect and course grade): it will not be graded."""
        try:
            names = sorted(set(os.listdir(self.inbound)) - self._known())
        except OSError:
            return 0
        for name in names:
            student, assignment, _ = parse_name(name) or ("?", "?", "")
            try:
                arrived = os.lstat(self.inbound / name).st_ctime
            except OSError:
                continue
            self._insert(Entry(name, student, assignment, "", arrived, "skipped",
                               note="in the exchange before the service started"))
        self.gb.db.commit()
        return len(names)

    def run(self) -> int:
        self.spool.mkdir(exist_ok=True)
        self.refresh()
        self.recover()
        self.workers.warm()
        log.info("serving %s: inbound %s, %s", self.course_id, self.inbound,
                 self.workers.describe())
        from sqlalchemy.exc import OperationalError

        with open(self.root / "grade.log", "a") as self.logf:
            while not self.stopping:
                try:
                    self.refresh()
                    self.scan()
                    self.dispatch()
                    self.heartbeat()
                    idle = not self.in_flight and not self._queued() and not self.unsettled
                    self.export(force=idle)
                    if self.once and idle:
                        break
                    self.wait(self.poll)
                except OperationalError as err:  # formgrader held the gradebook too long
                    self.gb.db.rollback()
                    log.warning("the gradebook is busy (%s); trying again", err.orig)
                    time.sleep(1)
        self.export(force=True)
        self._requeue_in_flight()
        self.heartbeat(stopped=True)
        return 0

    def export(self, *, force: bool) -> None:
        """Rewrite grades.csv if grades changed: when the queue is empty, or every
        EXPORT_EVERY seconds while it is not (an export reads the whole gradebook)."""
        if not self._export_due:
            return
        if not force and time.monotonic() - self._exported < EXPORT_EVERY:
            return
        try:
            export_csv(self.root, self.course.db_url, self.course_id)
        except Exception as err:  # a locked or busy gradebook: the next round retries
            log.warning("grades.csv not written (%s): retrying later", err)
            return
        self._export_due = False
        self._exported = time.monotonic()

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
                self.gb.db.rollback()  # still 'grading' and not in flight: dispatch requeues it

    # -- the queue ----------------------------------------------------------------------------
    def _q(self, sql: str, **params):
        from sqlalchemy import text

        return self.gb.db.execute(text(sql), params)

    def _get(self, key: str) -> Entry | None:
        row = self._q(f"SELECT {', '.join(_COLUMNS)} FROM {QUEUE_TABLE} WHERE key = :k",
                      k=key).fetchone()
        return Entry(*row) if row else None

    def _set(self, key: str, **values) -> None:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        self._q(f"UPDATE {QUEUE_TABLE} SET {sets} WHERE key = :key", key=key, **values)

    def _queued(self) -> list[Entry]:
        rows = self._q(f"SELECT {', '.join(_COLUMNS)} FROM {QUEUE_TABLE} WHERE state = "
                       "'queued' ORDER BY arrived, key").fetchall()
        self.gb.db.commit()
        return [Entry(*r) for r in rows]

    def _known(self) -> set[str]:
        keys = {r[0] for r in self._q(f"SELECT key FROM {QUEUE_TABLE}")}
        self.gb.db.commit()
        return keys

    # -- what the service knows of the course -----------------------------------------------
    def refresh(self) -> None:
        """(Re)build the bundles when an assignment is released, changed or given a new due
        date; requeue submissions that were waiting for their assignment."""
        signature = self._course_signature()
        if signature == self._signature:
            return
        known = [a for a, _ in signature[0]]
        try:
            from course.grade import OpenCourse

            self.course = OpenCourse(self.root, known)
            self.bundles = self.course.bundles()
        except GradeError as err:
            log.error("cannot grade: %s", err)
            return
        self.duedates = {a: (dt.datetime.fromisoformat(d) if d else None)
                         for a, d in signature[0]}
        self._signature = signature
        log.info("assignments: %s", ", ".join(
            f"{a} (due {d or 'any time'})" for a, d in signature[0]) or "none released")
        waiting = self._q(f"SELECT key, assignment_id FROM {QUEUE_TABLE} WHERE state = "
                          "'rejected' AND note LIKE 'unknown assignment%'").fetchall()
        for key, assignment in waiting:
            if assignment in self.bundles:
                self._set(key, state="queued", note="")
        self.gb.db.commit()

    def _course_signature(self):
        rows = self._q("SELECT name, duedate FROM assignment ORDER BY name").fetchall()
        self.gb.db.commit()
        released = [(name, str(due) if due else None) for name, due in rows
                    if (self.root / "release" / name / "lib").is_dir()]
        mtimes = []
        for name, _ in released:
            for dirpath, _dirs, files in os.walk(self.root / "release" / name):
                mtimes += [os.stat(os.path.join(dirpath, f)).st_mtime_ns for f in files]
        config = (self.root / "nbgrader_config.py").stat().st_mtime_ns
        return (tuple(released), max(mtimes, default=0), config)

    # -- 1. collect ---------------------------------------------------------------------------
    def scan(self) -> None:
        try:
            names = os.listdir(self.inbound)
        except OSError as err:
            if "inbound" not in self._warned:
                log.warning("no inbound folder %s (%s): release an assignment to the "
                            "exchange first (course publish --exchange)", self.inbound,
                            err.strerror)
                self._warned.add("inbound")
            return
        new = sorted(set(names) - self._known())
        self.unsettled = 0
        for name in new:
            try:
                if self._settled(self.inbound / name):
                    self.collect(name)
                else:
                    self.unsettled += 1
            except Exception:  # one bad folder never stops the others
                log.exception("could not collect %s", name)

    @staticmethod
    def _settled(path: Path) -> bool:
        """Whether ``nbgrader submit`` has finished writing the folder ``path`` (or it is no
        submission folder at all, which collect rejects at once)."""
        from nbgrader.utils import parse_utc

        try:
            info = os.lstat(path)
        except OSError:
            return False
        parsed = parse_name(path.name)
        if not os.path.isdir(path) or os.path.islink(path) or parsed is None:
            return True
        try:
            parse_utc(parsed[2])
        except (ValueError, OverflowError):
            return True
        now = time.time()
        if now - info.st_ctime > INCOMPLETE:
            return True
        newest = info.st_ctime
        for name in ("timestamp.txt", "submission_secret.txt"):
            try:
                newest = max(newest, os.lstat(path / name).st_ctime)
            except OSError:
                return False
        return now - newest >= SETTLE

    def collect(self, name: str) -> None:
        from nbgrader.utils import parse_utc

        from course.jobs import _unpack_submission, pack_submission

        path = self.inbound / name
        info = os.lstat(path)
        parsed = parse_name(name)
        student, assignment, stamp = parsed or ("?", "?", "")
        arrived = info.st_ctime

        def reject(note: str, timestamp: str = "") -> None:
            log.warning("%s: %s", name, note)
            self._insert(Entry(name, student, assignment, timestamp or "", arrived,
                               "rejected", note=note))
            self.gb.db.commit()

        if not os.path.isdir(path) or os.path.islink(path):
            return reject("not a submission folder (a file or a link)")
        if parsed is None or "/" in student:
            return reject("not a submission folder name (student+assignment+timestamp)")
        try:
            claimed = parse_utc(stamp)
        except (ValueError, OverflowError):
            return reject(f"unreadable time stamp {stamp!r}")
        timestamp = claimed.isoformat()
        if self.check_owner:
            try:
                owner = pwd.getpwuid(info.st_uid).pw_name
            except KeyError:
                owner = f"uid {info.st_uid}"
            if owner != student:
                return reject(f"claims to be {student}'s but the folder is owned by {owner} "
                              "(ExchangeCollect.check_owner)", timestamp)
        if assignment not in self.bundles:
            return reject(f"unknown assignment {assignment!r} (released: "
                          f"{', '.join(self.bundles) or 'none'})", timestamp)

        flags = []
        due = self.duedates.get(assignment)
        arrival = dt.datetime.fromtimestamp(arrived, dt.UTC).replace(tzinfo=None)
        when = claimed
        if due is not None and claimed <= due < arrival - ARRIVAL_GRACE:
            flags.append(f"claims to be submitted at {claimed:%Y-%m-%d %H:%M:%S} UTC, before "
                         "the due date, but reached the exchange at "
                         f"{arrival:%Y-%m-%d %H:%M:%S} UTC: graded as submitted then")
            when = arrival
        timestamp = when.isoformat()
        pack = pack_submission(path, student, assignment)
        dest = self.spool / name / "submission"
        tmp = self.spool / name / ".submission.new"
        shutil.rmtree(tmp, ignore_errors=True)
        _unpack_submission(pack, tmp)
        # the time stamp that decides which submission counts is the one nbgrader's late
        # penalty reads (nbgrader submit writes the folder's name and this file alike)
        stamp = tmp / "timestamp.txt"
        if stamp.is_symlink() or stamp.exists():
            stamp.unlink()
        stamp.write_text(f"{when:%Y-%m-%d %H:%M:%S.%f} UTC")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        entry = Entry(name, student, assignment, timestamp, arrived, "queued",
                      flags="; ".join(pack.problems + flags),
                      late=int(due is not None and dt.datetime.fromisoformat(timestamp) > due))
        self._insert(entry)
        self._supersede(entry)
        self.gb.db.commit()
        log.info("collected %s: %s %s submitted %s%s", name, student, assignment, timestamp,
                 " (late)" if entry.late else "")

    def _insert(self, entry: Entry) -> None:
        values = {c: getattr(entry, c) for c in _COLUMNS}
        self._q(f"INSERT OR IGNORE INTO {QUEUE_TABLE} ({', '.join(_COLUMNS)}) VALUES "
                f"({', '.join(':' + c for c in _COLUMNS)})", **values)

    def _supersede(self, new: Entry) -> None:
        due = self.duedates.get(new.assignment_id)
        rows = self._q(f"SELECT key, timestamp FROM {QUEUE_TABLE} WHERE state = 'queued' AND "
                       "student_id = :s AND assignment_id = :a AND key != :k",
                       s=new.student_id, a=new.assignment_id, k=new.key).fetchall()
        # a newcomer that would not count over a queued one (late after on time) is graded
        # all the same, for its feedback
        mine = _rank(new.timestamp, due)
        for key, timestamp in rows:
            if _rank(timestamp, due) < mine:
                self._set(key, state="superseded", note=f"superseded by {new.key}")
                log.info("%s superseded by %s", key, new.key)

    # -- 2. grade -----------------------------------------------------------------------------
    def dispatch(self) -> None:
        from course.grade import INFRA_ATTEMPTS, run_one
        from course.jobs import pack_submission

        flying = set(self.in_flight.values())
        stray = self._q(f"SELECT key, attempts FROM {QUEUE_TABLE} WHERE state = 'grading'"
                        ).fetchall()
        for key, attempts in stray:  # a grading whose result could not be recorded
            if key not in flying:
                self._set(key, **({"state": "queued", "note": "graded again: recording failed"}
                                  if attempts < INFRA_ATTEMPTS else
                                  {"state": "failed", "note": "its result could not be "
                                   "recorded (see serve.log)"}))
        self.gb.db.commit()
        for entry in self._queued():
            if len(self.in_flight) >= self.workers.capacity or self.stopping:
                break
            if entry.key in flying:
                continue
            pack = pack_submission(self.spool / entry.key / "submission", entry.student_id,
                                   entry.assignment_id)
            pack.problems = [f for f in entry.flags.split("; ") if f]
            self._set(entry.key, state="grading", attempts=entry.attempts + 1,
                      started=time.time())
            self.gb.db.commit()
            future = run_one(self.workers, self.bundles[entry.assignment_id], pack,
                             self.options)
            self.in_flight[future] = entry.key
            log.info("grading %s (%s %s, attempt %d)", entry.key, entry.student_id,
                     entry.assignment_id, entry.attempts + 1)

    def _requeue_in_flight(self) -> None:
        for key in self.in_flight.values():
            self._set(key, state="queued", note="requeued: the service stopped")
        self.in_flight.clear()
        self.gb.db.commit()

    # -- 3. record ----------------------------------------------------------------------------
    def handle(self, key: str, future: cf.Future) -> None:
        from course.grade import INFRA_ATTEMPTS, _install_files, log_result, outcome

        entry = self._get(key)
        self.gb.db.commit()
        if entry is None or entry.state != "grading":
            return
        result = outcome(future, entry.student_id, entry.assignment_id)
        if result.infra:
            if entry.attempts < INFRA_ATTEMPTS:
                log.warning("%s: %s; grading it again", key, result.error)
                self._set(key, state="queued", note=f"retrying: {result.error}")
            else:
                log.error("%s: not graded after %d attempts: %s", key, entry.attempts,
                          result.error)
                self._set(key, state="failed", finished=time.time(),
                          note=f"not graded: {result.error}; its grades are unchanged "
                               "(course serve --retry-failed)")
            self.gb.db.commit()
            return
        if result.error:
            result.flags.insert(0, f"not graded: {result.error}")
        for name, files in (("autograded", result.files.get("autograded")),
                            ("feedback", result.files.get("feedback"))):
            target = self.spool / key / name
            if files:
                _install_files(files, target)
            elif target.exists():
                shutil.rmtree(target)
        trusted = self.course.trusted[entry.assignment_id]
        max_score = float(sum(sum(nb["grade"].values()) for nb in trusted.values()))
        score = float(sum(s for s, _ in result.grades.values() if s is not None))
        counted = self._counts(entry)
        values = dict(state="graded", counted=int(counted), score=score, max_score=max_score,
                      flags="; ".join(result.flags), finished=time.time(),
                      worker=result.worker, note="" if counted else self._why_not(entry))

        def also(gb):
            # the one that counted until now: feedback only
            for other, late in self._q(
                    f"SELECT key, late FROM {QUEUE_TABLE} WHERE student_id = :s AND "
                    "assignment_id = :a AND key != :k AND counted = 1", s=entry.student_id,
                    a=entry.assignment_id, k=key).fetchall():
                self._set(other, counted=0, note=_feedback_only(late, entry.timestamp))
            self._set(key, commits=entry.commits + 1, **values)

        if counted:
            commit(self.gb, result, also)
        else:
            self._set(key, **values)
            self.gb.db.commit()
        self.graded += 1
        log_result(self.logf, result, "" if counted else f" ({values['note']})")
        self.finish(key)

    def _counts(self, entry: Entry) -> bool:
        """Whether ``entry``'s grades go into the gradebook: it ranks at least as high as
        the submission whose grades are there now."""
        due = self.duedates.get(entry.assignment_id)
        rows = self._q(f"SELECT timestamp FROM {QUEUE_TABLE} WHERE counted = 1 AND "
                       "student_id = :s AND assignment_id = :a AND key != :k",
                       s=entry.student_id, a=entry.assignment_id, k=entry.key).fetchall()
        return all(_rank(entry.timestamp, due) >= _rank(t, due) for (t,) in rows)

    def _why_not(self, entry: Entry) -> str:
        row = self._q(f"SELECT timestamp FROM {QUEUE_TABLE} WHERE counted = 1 AND "
                      "student_id = :s AND assignment_id = :a", s=entry.student_id,
                      a=entry.assignment_id).fetchone()
        return _feedback_only(entry.late, row[0] if row else "?")

    # -- 4. release ---------------------------------------------------------------------------
    def finish(self, key: str) -> None:
        """Install a counted submission in the course root and release its feedback to the
        exchange (idempotent: a restart redoes it)."""
        from course.grade import _install_files, _remove_dir
        from course.jobs import _unpack_submission, pack_submission

        entry = self._get(key)
        self.gb.db.commit()
        if entry is None or entry.state != "graded":
            return
        here = self.spool / key
        if entry.counted:
            student, assignment = entry.student_id, entry.assignment_id
            sub = self.root / "submitted" / student / assignment
            tmp = sub.with_name(f".{assignment}.new")
            shutil.rmtree(tmp, ignore_errors=True)
            _unpack_submission(pack_submission(here / "submission", student, assignment), tmp)
            if sub.exists():
                shutil.rmtree(sub)
            tmp.rename(sub)
            for name in ("autograded", "feedback"):
                dest = self.root / name / student / assignment
                src = here / name
                if src.is_dir():
                    _install_files({p.name: p.read_bytes() for p in src.iterdir()}, dest)
                else:
                    _remove_dir(dest)
        released = self.release(entry)
        self._set(key, state="done", released=time.time())
        self.gb.db.commit()
        latency = time.time() - entry.arrived
        score = (f"{entry.score:g} of {entry.max_score:g} points"
                 if entry.score is not None else "not graded")
        log.info("%s: %s, %s%s; feedback %s, %.1f s after it arrived", key, score,
                 "counts" if entry.counted else "does not count", ", late" if entry.late else "",
                 f"released ({released} page(s))" if released else "none", latency)
        if entry.counted:
            self._export_due = True

    def release(self, entry: Entry) -> int:
        """Copy the submission's feedback pages to the exchange as nbgrader names them;
        return how many."""
        from nbgrader.utils import make_unique_key, notebook_hash

        feedback = self.spool / entry.key / "feedback"
        if not feedback.is_dir():
            return 0
        sub = self.spool / entry.key / "submission"
        secret_file = sub / "submission_secret.txt"
        secret = secret_file.read_text() if secret_file.is_file() and not \
            secret_file.is_symlink() else None
        stamp = parse_name(entry.key)[2]
        self.outbound.mkdir(mode=0o755, parents=True, exist_ok=True)
        count = 0
        for page in sorted(feedback.glob("*.html")):
            notebook_id = page.stem
            if secret:
                checksum = notebook_hash(secret=secret, notebook_id=notebook_id)
            else:
                nb = sub / f"{notebook_id}.ipynb"
                if not nb.is_file() or nb.is_symlink():
                    continue
                checksum = notebook_hash(str(nb), make_unique_key(
                    self.course_id, entry.assignment_id, notebook_id, entry.student_id, stamp))
            tmp = self.outbound / f".{checksum}.tmp"
            shutil.copyfile(page, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.outbound / f"{checksum}.html")
            count += 1
        return count

    # -- restarts -----------------------------------------------------------------------------
    def recover(self) -> None:
        """After a stop or a kill: requeue what was being graded, finish what was graded."""
        rows = self._q(f"SELECT key, state FROM {QUEUE_TABLE} WHERE state IN "
                       "('grading', 'graded')").fetchall()
        self.gb.db.commit()
        for key, state in rows:
            if state == "grading":
                self._set(key, state="queued", note="requeued after a restart")
                log.info("%s: requeued (it was being graded when the service stopped)", key)
            else:
                log.info("%s: graded before the service stopped; releasing", key)
        self.gb.db.commit()
        for key, state in rows:
            if state == "graded":
                self.finish(key)

    def retry_failed(self) -> int:
        rows = self._q(f"UPDATE {QUEUE_TABLE} SET state = 'queued', attempts = 0, note = "
                       "'retried by hand' WHERE state = 'failed'")
        self.gb.db.commit()
        return rows.rowcount

    def heartbeat(self, stopped: bool = False) -> None:
        status = {"pid": os.getpid(), "started": self.started, "heartbeat": time.time(),
                  "workers": self.workers.describe(), "poll": self.poll,
                  "inbound": str(self.inbound), "in_flight": sorted(self.in_flight.values()),
                  "graded": self.graded,
                  "stopped": stopped}
        tmp = self.root / f".{STATUS_FILE}.tmp"
        tmp.write_text(json.dumps(status, indent=1))
        os.replace(tmp, self.root / STATUS_FILE)

    def close(self) -> None:
        self.gb.close()


# ---------------------------------------------------------------------------------------
# status


def status(root: Path) -> dict:
    """The queue of the course at ``root``: counts by state, the rows, and whether a
    service is running (``running``, ``pid``, ``heartbeat`` seconds ago, ``workers``)."""
    root = Path(root).resolve()
    entries = read_queue(root / "gradebook.db")
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.state] = counts.get(e.state, 0) + 1
    info = {}
    with contextlib.suppress(OSError, ValueError):
        info = json.loads((root / STATUS_FILE).read_text())
    is_running = running(root)
    latencies = [e.released - e.arrived for e in entries if e.released]
    return {
        "running": is_running,
        "pid": info.get("pid"),
        "heartbeat": time.time() - info["heartbeat"] if "heartbeat" in info else None,
        "workers": info.get("workers"),
        "graded_since_start": info.get("graded"),
        "counts": counts,
        "entries": entries,
        "latency_median": statistics.median(latencies) if latencies else None,
        "latency_max": max(latencies) if latencies else None,
    }


def running(root: Path) -> bool:
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


def wait_running(root: Path, proc, timeout: float = 120) -> dict:
    """Wait until ``proc`` (the Popen of a ``course serve`` of ``root``) has started grading;
    its status (serve.json). RuntimeError if it exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"course serve exited with status {proc.returncode}")
        with contextlib.suppress(OSError, ValueError):
            info = json.loads((Path(root) / STATUS_FILE).read_text())
            if info.get("pid") == proc.pid and not info.get("stopped"):
                return info
        time.sleep(0.1)
    raise RuntimeError(f"course serve did not start within {timeout:.0f} s")


def _when(epoch: float | None) -> str:
    return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S") if epoch else "-"


def format_status(info: dict, *, limit: int = 15) -> str:
    lines = []
    if info["running"]:
        beat = f", heartbeat {info['heartbeat']:.0f} s ago" if info["heartbeat"] else ""
        since = (f", {info['graded_since_start']} graded since it started"
                 if info.get("graded_since_start") is not None else "")
        lines.append(f"course serve: running (pid {info['pid']}, {info['workers']}{beat}"
                     f"{since})")
    else:
        lines.append("course serve: not running")
    order = ["queued", "grading", "graded", "done", "superseded", "failed", "rejected",
             "skipped"]
    counts = info["counts"]
    lines.append("queue: " + (", ".join(f"{counts[s]} {s}" for s in order if s in counts)
                              or "empty"))
    if info["latency_median"] is not None:
        lines.append(f"feedback released {info['latency_median']:.1f} s (median), "
                     f"{info['latency_max']:.1f} s (max) after a submission arrived")
    now = time.time()
    entries = info["entries"]
    for state, title in (("grading", "grading"), ("queued", "queued"), ("failed", "failed"),
                         ("rejected", "rejected")):
        rows = [e for e in entries if e.state == state]
        if not rows:
            continue
        lines.append(f"\n{title}:")
        for e in rows[:limit]:
            extra = {"grading": f"{now - (e.started or now):.0f} s, attempt {e.attempts}",
                     "queued": f"waiting {now - e.arrived:.0f} s" + (
                         f"; {e.note}" if e.note else ""),
                     }.get(state, e.note)
            lines.append(f"  {e.student_id:<14} {e.assignment_id:<22} {extra}")
        if len(rows) > limit:
            lines.append(f"  ... and {len(rows) - limit} more")
    done = [e for e in entries if e.state == "done"]
    if done:
        lines.append("\nlatest graded:")
        for e in sorted(done, key=lambda e: e.released or 0)[-limit:]:
            score = f"{e.score:g}/{e.max_score:g}" if e.score is not None else "-"
            what = "counts" if e.counted else (e.note or "not counted")
            late = " late" if e.late else ""
            flags = f"  flags: {e.flags}" if e.flags else ""
            lines.append(f"  {_when(e.released)} {e.student_id:<14} {e.assignment_id:<22} "
                         f"{score:>7}{late} {what} ({e.released - e.arrived:.0f} s){flags}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=2,
                        help="submissions graded at once on this machine (default 2)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on a Dask distributed cluster (tcp://host:8786 or tls://...)")
    parser.add_argument("--poll", type=float, default=2.0,
                        help="seconds between looks at the exchange's inbound (default 2)")
    parser.add_argument("--once", action="store_true",
                        help="grade what has arrived (and is still arriving), release its "
                             "feedback, and exit")
    parser.add_argument("--retry-failed", action="store_true",
                        help="queue again the submissions whose grading failed")
    parser.add_argument("--skip-existing", action="store_true",
                        help="do not grade what is in the exchange now (already collected and "
                             "graded with course grade); grade only what arrives from now on")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code without bubblewrap (flagged)")
    parser.add_argument("--memory", default="2G",
                        help="address-space limit of a kernel (default 2G)")


def run(args: argparse.Namespace) -> int:
    from course.grade import _parse_size, _sandbox_choice
    from course.workers import make_workers

    root = Path(getattr(args, "root", ".")).resolve()
    if not (root / "nbgrader_config.py").is_file():
        print(f"error: {root} is not a course root (no nbgrader_config.py): run course serve "
              "where course release ran, or pass --root", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    handler = logging.FileHandler(root / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name in ("course.serve", "course.grade", "course.workers"):
        logging.getLogger(name).addHandler(handler)

    lock = open(root / LOCK_FILE, "a")  # noqa: SIM115 - held while the service runs
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"error: a course serve already runs on {root} (see `course status`)",
              file=sys.stderr)
        return 2
    try:
        sandbox = _sandbox_choice(False if args.no_sandbox else None,
                                  remote=args.scheduler is not None)
        workers = make_workers(args.jobs, args.scheduler)
    except GradeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot reach the Dask scheduler {args.scheduler}: {err}",
              file=sys.stderr)
        return 2
    try:
        service = Service(root, workers, poll=args.poll, sandbox=sandbox,
                          memory=_parse_size(args.memory), once=args.once)
    except GradeError as err:
        workers.close()
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.retry_failed:
        log.info("%d failed submission(s) queued again", service.retry_failed())
    if args.skip_existing:
        log.info("%d submission(s) already in the exchange skipped", service.skip_existing())
    signal.signal(signal.SIGTERM, service.stop)
    signal.signal(signal.SIGINT, service.stop)
    try:
        return service.run()
    finally:
        service.close()
        workers.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course serve")
    parser.add_argument("--root", default=".")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable")


def status_run(args: argparse.Namespace) -> int:
    root = Path(getattr(args, "root", ".")).resolve()
    info = status(root)
    if getattr(args, "json", False):
        out = dict(info, entries=[e.__dict__ for e in info["entries"]])
        print(json.dumps(out, indent=1))
    else:
        print(format_status(info))
    return 1 if info["counts"].get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
