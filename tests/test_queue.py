"""course serve's queue (course.service.queue) on an in-memory SQLite database, without an
exchange, a gradebook or a worker: its states move only along the allowed transitions, and
the rules of which submission counts are nbgrader collect --before-duedate's."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from course.service.queue import (
    INTERRUPTED_WAIT,
    MAX_INTERRUPTIONS,
    QUEUED_RETRIES,
    RETRY_AFTER,
    TRANSITIONS,
    Entry,
    Queue,
    State,
    TransitionError,
    feedback_only,
    rank,
)

DUE = dt.datetime(2026, 10, 12, 12, 0)


@pytest.fixture
def queue():
    session = Session(create_engine("sqlite://"))
    yield Queue(session)
    session.close()


def entry(key: str, timestamp: str, state: State = State.QUEUED, student: str = "ann",
          **kw) -> Entry:
    return Entry(key, student, "01", timestamp, 0.0, state, **kw)


def test_every_state_has_its_transitions_listed():
    assert set(TRANSITIONS) == set(State)
    for targets in TRANSITIONS.values():
        assert targets <= set(State)


def test_the_end_states_are_final():
    for final in (State.DONE, State.SUPERSEDED, State.SKIPPED):
        assert TRANSITIONS[final] == frozenset()


def test_a_submission_goes_queued_grading_graded_done(queue):
    queue.add(entry("a", "2026-10-10T09:00:00"))
    assert queue.start(queue.get("a"), now=5.0)
    assert queue.get("a").state == State.GRADING
    assert queue.get("a").attempts == 0 and queue.get("a").started == 5.0  # failures count
    assert queue.graded("a", score=3.0, max_score=4.0, counted=1)
    assert queue.done("a", now=9.0)
    row = queue.get("a")
    assert (row.state, row.score, row.max_score, row.released) == (State.DONE, 3.0, 4.0, 9.0)


def test_a_move_from_another_state_changes_nothing(queue):
    queue.add(entry("a", "2026-10-10T09:00:00"))
    assert not queue.graded("a", score=1.0)  # it is queued, not grading
    assert queue.get("a").state == State.QUEUED and queue.get("a").score is None
    assert not queue.done("a", now=1.0)


def test_a_move_that_no_transition_allows_is_refused(queue):
    queue.add(entry("a", "2026-10-10T09:00:00", State.DONE))
    with pytest.raises(TransitionError, match="no transition from done to queued"):
        queue.move("a", State.DONE, State.QUEUED)
    with pytest.raises(TransitionError):
        queue.update("a", state="queued")
    assert queue.get("a").state == State.DONE


def test_collecting_twice_keeps_the_first_row(queue):
    queue.add(entry("a", "2026-10-10T09:00:00", note="first"))
    queue.add(entry("a", "2026-10-10T09:00:00", note="second"))
    assert queue.get("a").note == "first"
    assert queue.keys() == {"a"}


def test_an_unknown_state_is_refused(queue):
    with pytest.raises(ValueError):
        queue.add(entry("a", "2026-10-10T09:00:00", state="lost"))


def test_infrastructure_failures_back_off_then_wait_failed_for_the_services_own_retries(
        queue):
    queue.add(entry("a", "2026-10-10T09:00:00"))
    now = 100.0
    for failures in range(1, len(RETRY_AFTER) + 1):
        assert queue.start(queue.get("a"), now=now)
        assert queue.retry_or_fail(queue.get("a"), "worker died", now=now)
        row = queue.get("a")
        assert row.attempts == failures and row.retry_at == now + RETRY_AFTER[failures - 1]
        # the first retries wait queued, the later ones failed (shown, retried by itself)
        assert row.state == (State.QUEUED if failures <= QUEUED_RETRIES else State.FAILED)
        assert queue.ready(now) == [] and queue.retry_due(now) == []  # not before its time
        now = row.retry_at
        if row.state == State.FAILED:
            assert "retried automatically" in row.note
            assert queue.retry_due(now) == ["a"]
        assert [e.key for e in queue.ready(now)] == ["a"]
    queue.start(queue.get("a"), now=now)
    assert not queue.retry_or_fail(queue.get("a"), "worker died", now=now + 1)
    row = queue.get("a")
    assert row.state == State.FAILED and row.retry_at is None and row.finished == now + 1
    assert "--retry-failed" in row.note
    assert queue.retry_due(now + 10**6) == []  # for good: only by hand
    assert queue.retry_failed() == 1
    assert (queue.get("a").state, queue.get("a").attempts) == (State.QUEUED, 0)


def test_an_interrupted_grading_costs_no_attempt(queue):
    """A restart (requeue) or a lost cluster (interrupt) is not the submission's failure;
    only an endless series of interruptions counts, once."""
    queue.add(entry("a", "2026-10-10T09:00:00"))
    for _ in range(3):
        queue.start(queue.get("a"), now=1.0)
        assert queue.requeue("a", "requeued after a restart")
    queue.start(queue.get("a"), now=1.0)
    assert queue.interrupt(queue.get("a"), "scheduler lost", now=10.0)
    row = queue.get("a")
    assert (row.state, row.attempts, row.interrupted) == (State.QUEUED, 0, 1)
    assert queue.ready(10.0) == [] and queue.ready(10.0 + INTERRUPTED_WAIT)
    for _ in range(MAX_INTERRUPTIONS - 2):
        queue.start(queue.get("a"), now=20.0)
        queue.interrupt(queue.get("a"), "scheduler lost", now=20.0)
    assert queue.get("a").attempts == 0
    queue.start(queue.get("a"), now=30.0)
    queue.interrupt(queue.get("a"), "scheduler lost", now=30.0)
    row = queue.get("a")
    assert (row.attempts, row.interrupted) == (1, 0) and "interrupted" in row.note


def test_an_older_queue_table_gets_the_new_columns():
    session = Session(create_engine("sqlite://"))
    session.execute(text("CREATE TABLE course_queue (key TEXT PRIMARY KEY, student_id TEXT, "
                         "assignment_id TEXT, timestamp TEXT, arrived REAL, state TEXT, "
                         "attempts INTEGER DEFAULT 0, counted INTEGER DEFAULT 0, commits "
                         "INTEGER DEFAULT 0, score REAL, max_score REAL, late INTEGER "
                         "DEFAULT 0, flags TEXT DEFAULT '', note TEXT DEFAULT '', started "
                         "REAL, finished REAL, released REAL, worker TEXT DEFAULT '')"))
    session.execute(text("INSERT INTO course_queue (key, student_id, assignment_id, "
                         "timestamp, arrived, state) VALUES ('a', 'ann', '01', 't', 0, "
                         "'queued')"))
    queue = Queue(session)
    row = queue.get("a")
    assert (row.retry_at, row.interrupted) == (None, 0)
    session.close()


def test_in_state_keeps_arrival_order(queue):
    for key, arrived in (("late", 3.0), ("early", 1.0), ("mid", 2.0)):
        queue.add(Entry(key, "ann", "01", "2026-10-10T09:00:00", arrived, State.QUEUED))
    queue.add(Entry("x", "ann", "01", "2026-10-10T09:00:00", 0.5, State.DONE))
    assert [e.key for e in queue.in_state(State.QUEUED)] == ["early", "mid", "late"]
    assert [e.key for e in queue.in_state(State.QUEUED, State.DONE)] == ["x", "early", "mid",
                                                                          "late"]


def test_rank_puts_on_time_before_late_then_later_first():
    on_time_early = rank("2026-10-11T09:00:00", DUE)
    on_time_late = rank("2026-10-12T11:59:00", DUE)
    late = rank("2026-10-13T09:00:00", DUE)
    assert on_time_early < on_time_late
    assert late < on_time_early  # late never beats on time
    assert rank("2026-10-13T09:00:00", None) > rank("2026-10-11T09:00:00", None)


def test_a_newer_on_time_submission_supersedes_a_queued_one(queue):
    queue.add(entry("old", "2026-10-11T09:00:00"))
    queue.add(entry("other", "2026-10-11T08:00:00", student="ben"))
    new = entry("new", "2026-10-11T10:00:00")
    queue.add(new)
    assert queue.supersede_older(new, DUE) == ["old"]
    assert queue.get("old").state == State.SUPERSEDED
    assert queue.get("old").note == "superseded by new"
    assert queue.get("other").state == State.QUEUED  # another student's


def test_a_late_submission_does_not_supersede_an_on_time_one(queue):
    queue.add(entry("on-time", "2026-10-12T11:00:00"))
    late = entry("late", "2026-10-13T09:00:00")
    queue.add(late)
    assert queue.supersede_older(late, DUE) == []
    assert queue.get("on-time").state == State.QUEUED


def test_which_submission_counts(queue):
    counted = entry("on-time", "2026-10-12T11:00:00", State.DONE, counted=1)
    queue.add(counted)
    late = entry("late", "2026-10-13T09:00:00", State.GRADING, late=1)
    queue.add(late)
    assert not queue.counts(late, DUE)
    assert queue.why_not_counted(late) == feedback_only(1, "2026-10-12T11:00:00")
    later = entry("later", "2026-10-12T11:30:00", State.GRADING)
    queue.add(later)
    assert queue.counts(later, DUE)
    queue.take_over_count(later)
    row = queue.get("on-time")
    assert row.counted == 0
    assert row.note == "feedback only: the submission of 2026-10-12T11:30:00 counts"


def test_a_rejected_submission_is_reopened_once_its_assignment_is_released(queue):
    queue.add(entry("a", "2026-10-10T09:00:00", State.REJECTED, note="unknown assignment"))
    assert queue.reopen_rejected("a")
    assert (queue.get("a").state, queue.get("a").note) == (State.QUEUED, "")


def test_nothing_is_written_until_commit(queue):
    queue.add(entry("a", "2026-10-10T09:00:00"))
    queue.rollback()
    assert queue.get("a") is None
    queue.add(entry("a", "2026-10-10T09:00:00"))
    queue.commit()
    queue.rollback()
    assert queue.get("a") is not None
