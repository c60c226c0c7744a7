"""``course serve`` looks at a submission when it arrives, not a poll later: its wait between
rounds ends when the inbound folder changes, and, while a submission settles, after half
of SETTLE (issue 22: feedback within 5 s of ``nbgrader submit``, whatever ``--poll``)."""

from __future__ import annotations

import threading
import time

import pytest
from exchange_course import Term

from course.service import loop
from course.service.exchange import SETTLE

pytestmark = pytest.mark.slow  # a course released to an exchange


class _NoWorkers:
    capacity = 0

    def describe(self) -> str:
        return "no workers"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    term = Term(tmp_path_factory.mktemp("wake"))
    service = loop.Service(term.root, _NoWorkers(), poll=30)
    yield service
    service.close()


def _waited(service, timeout: float, during=None) -> float:
    start = time.monotonic()
    if during is not None:
        threading.Timer(0.3, during).start()
    service.wait(timeout)
    return time.monotonic() - start


def test_a_new_inbound_folder_ends_the_wait(service):
    service.inbound.mkdir(parents=True, exist_ok=True)
    waited = _waited(service, 30, lambda: (service.inbound / "someone+toy+x+1").mkdir())
    assert 0.3 <= waited < 0.3 + 2 * loop.WAKE + 0.5, waited


def test_a_settling_submission_is_looked_at_again_after_half_of_settle(service):
    service.collector.unsettled = 1
    try:
        waited = _waited(service, 30)
    finally:
        service.collector.unsettled = 0
    assert SETTLE / 2 - 0.05 <= waited < SETTLE / 2 + 0.5, waited


def test_nothing_happening_waits_the_whole_poll(service):
    assert _waited(service, 1.0) >= 1.0


def test_a_student_churning_the_inbound_wakes_the_service_at_most_every_wake(service):
    """An attack: folders created and removed in the inbound without pause. Each wait still
    lasts WAKE: the service takes at most 1 / WAKE rounds a second."""
    service.inbound.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def churn():
        folder = service.inbound / "mallory+toy+x+1"
        while not stop.is_set():
            folder.mkdir(exist_ok=True)
            folder.rmdir()

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        waits = [_waited(service, 30) for _ in range(5)]
    finally:
        stop.set()
        thread.join()
    assert all(loop.WAKE - 0.02 <= w < loop.WAKE + 0.5 for w in waits), waits
