"""``course serve``: grading on submission through nbgrader's exchange.

Students fetch and submit with nbgrader's own exchange classes (what ``nbgrader submit`` and
*Assignment List* run), the service runs as the instructor starts it (a subprocess of
``course serve``), and the feedback is fetched back with nbgrader's ``fetch_feedback``.
Expected grades are the toy assignment's by construction: honest work scores 4 of 4
autograded points, the wrong ``total`` loses its 2.
"""

from __future__ import annotations

import datetime as dt
import signal
import sqlite3
import time

import pytest
from adversarial import toy
from exchange_course import (
    UTC,
    Term,
    fill,
    grading_workers,
    honest,
    slow,
    small_disk,  # noqa: F401 (a fixture)
    stop,
    wait_for,
    with_code,
    wrong,
)

from course.isolation import sandbox
from course.service.status import wait_running

pytestmark = pytest.mark.slow

SANDBOX = sandbox.bwrap_path() is not None
needs_sandbox = pytest.mark.skipif(not SANDBOX, reason="bubblewrap not available")
FULL = 4.0  # autograded points of the toy assignment


def _states(term: Term) -> dict[str, list[str]]:
    return {s: [e.state for e in rows] for s, rows in term.by_student().items()}


def test_each_submission_is_graded_and_its_feedback_reaches_the_student(tmp_path):
    term = Term(tmp_path)
    term.submit("ann", honest(term.root))
    term.submit("bob", wrong(term.root))
    out = term.serve_once()
    assert out.returncode == 0, out.stderr
    rows = term.by_student()
    assert [e.state for e in rows["ann"]] == ["done"]
    assert rows["ann"][0].score == FULL and rows["ann"][0].counted
    assert rows["bob"][0].score == FULL - 2
    assert term.submission("ann")["code_score"] == FULL
    assert term.submission("bob")["code_score"] == FULL - 2
    for student in ("ann", "bob"):
        pages = term.fetch_feedback(student)
        assert len(pages) == 1, f"{student} found no feedback in Assignment List"
        html = pages[0].read_text()
        assert "test_total" in html
        assert "_expected" not in html  # a hidden test's line
    # what the instructor's tools read: submitted/, autograded/, feedback/ and grades.csv
    for folder in ("submitted", "autograded", "feedback"):
        assert (term.root / folder / "ann" / "toy" / "toy.ipynb").exists() or \
            (term.root / folder / "ann" / "toy" / "toy.html").exists(), folder
    csv = (term.root / "grades.csv").read_text()
    assert "ann" in csv and "bob" in csv


def test_a_resubmission_supersedes_the_queued_one_and_the_latest_counts(tmp_path):
    term = Term(tmp_path)
    term.submit("ann", wrong(term.root))
    term.submit("ann", honest(term.root))  # before the service saw the first
    assert term.serve_once().returncode == 0
    first, second = term.by_student()["ann"]
    assert first.state == "superseded" and second.state == "done"
    assert term.submission("ann")["code_score"] == FULL
    # graded, then resubmitted wrong: the latest on-time submission counts, even if worse
    term.submit("ann", wrong(term.root))
    assert term.serve_once().returncode == 0
    *_, third = term.by_student()["ann"]
    assert third.state == "done" and third.counted and third.score == FULL - 2
    assert term.submission("ann")["code_score"] == FULL - 2
    assert sum(e.counted for e in term.by_student()["ann"]) == 1
    # both graded submissions have their own feedback in Assignment List
    assert len(term.fetch_feedback("ann")) == 2


def test_the_latest_on_time_submission_counts_and_a_late_one_is_graded_and_marked_late(
        tmp_path):
    term = Term(tmp_path)
    due = dt.datetime.now(UTC).replace(tzinfo=None) + dt.timedelta(minutes=1)
    term.set_due(due)
    on_time = dt.datetime.now(UTC)
    late = on_time + dt.timedelta(minutes=5)
    term.submit("ann", honest(term.root), when=on_time)
    term.submit("ann", wrong(term.root), when=late)
    term.submit("cy", wrong(term.root), when=late)  # only late: it counts, marked late
    assert term.serve_once().returncode == 0
    ann = term.by_student()["ann"]
    assert [e.state for e in ann] == ["done", "done"]  # a late one does not supersede
    assert [e.counted for e in ann] == [1, 0] and [e.late for e in ann] == [0, 1]
    assert "feedback only" in ann[1].note
    assert term.submission("ann")["code_score"] == FULL
    assert term.submission("ann")["seconds_late"] == 0
    cy = term.by_student()["cy"][0]
    assert cy.counted and cy.late
    assert term.submission("cy")["seconds_late"] > 0
    assert len(term.fetch_feedback("ann")) == 2  # the late one has feedback too


def test_manual_grades_survive_regrading(tmp_path):
    from nbgrader.api import Gradebook

    term = Term(tmp_path)
    term.submit("ann", wrong(term.root))
    assert term.serve_once().returncode == 0
    with Gradebook(f"sqlite:///{term.root / 'gradebook.db'}", "toy") as gb:
        grade = gb.find_grade("why_empty", "toy", "toy", "ann")
        grade.manual_score = 1.0
        gb.db.commit()
    term.submit("ann", honest(term.root))
    assert term.serve_once().returncode == 0
    sub = term.submission("ann")
    assert sub["code_score"] == FULL
    assert sub["grades"]["why_empty"][1] == 1.0


def _needs_manual(term: Term, grade_id: str) -> bool:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{term.root / 'gradebook.db'}", "toy") as gb:
        return bool(gb.find_grade(grade_id, "toy", "toy", "ann").needs_manual_grade)


def test_an_unchanged_written_answer_keeps_its_manual_grade(tmp_path):
    """A resubmission that changes code but not the written answer graded by hand leaves it
    graded; a changed written answer needs grading again."""
    from nbgrader.api import Gradebook

    term = Term(tmp_path)
    term.submit("ann", wrong(term.root))
    assert term.serve_once().returncode == 0
    assert _needs_manual(term, "why_empty")
    with Gradebook(f"sqlite:///{term.root / 'gradebook.db'}", "toy") as gb:
        grade = gb.find_grade("why_empty", "toy", "toy", "ann")
        grade.manual_score, grade.needs_manual_grade = 1.0, False  # formgrader's save
        gb.db.commit()
    term.submit("ann", honest(term.root))  # the code fixed, the same written answer
    assert term.serve_once().returncode == 0
    assert term.submission("ann")["code_score"] == FULL
    assert not _needs_manual(term, "why_empty")
    nb = honest(term.root)
    toy.cell(nb, "why_empty").source = "Because the list is empty, rewritten."
    term.submit("ann", nb)
    assert term.serve_once().returncode == 0
    assert _needs_manual(term, "why_empty")
    assert term.submission("ann")["grades"]["why_empty"][1] == 1.0  # kept, to review


def test_a_claimed_time_stamp_does_not_beat_the_deadline(tmp_path):
    """nbgrader trusts the time stamp that the student's own process writes. A submission
    that claims to be on time but reached the exchange long after the due date is graded as
    late, and flagged; an honest late one is late and not flagged."""
    term = Term(tmp_path)
    now = dt.datetime.now(UTC)
    term.set_due((now - dt.timedelta(hours=1)).replace(tzinfo=None))
    term.submit("liar", honest(term.root), when=now - dt.timedelta(hours=2))
    term.submit("late", honest(term.root))
    assert term.serve_once().returncode == 0
    liar, late = term.by_student()["liar"][0], term.by_student()["late"][0]
    assert liar.late and "reached the exchange" in liar.flags
    assert term.submission("liar")["seconds_late"] > 0
    assert late.late and late.flags == ""


def test_a_submission_in_another_students_name_is_rejected(tmp_path):
    """With nbgrader's check_owner (its default), the folder's owner must be the student it
    names: here every folder is root's, so 'ann' is refused and 'root' is graded."""
    import getpass

    me = getpass.getuser()
    term = Term(tmp_path, check_owner=True)
    term.submit("ann", honest(term.root))
    term.submit(me, honest(term.root))
    assert term.serve_once().returncode == 0
    rows = term.by_student()
    assert rows["ann"][0].state == "rejected" and f"owned by {me}" in rows["ann"][0].note
    assert rows[me][0].state == "done" and rows[me][0].score == FULL
    with sqlite3.connect(term.root / "gradebook.db") as con:
        assert con.execute("SELECT count(*) FROM submitted_assignment s JOIN student t ON "
                           "s.student_id = t.id WHERE t.id = 'ann'").fetchone()[0] == 0


@needs_sandbox
def test_a_crashing_hanging_or_disk_filling_submission_fails_alone(tmp_path):
    term = Term(tmp_path)
    term.submit("crash", with_code(term.root, "import os\nos._exit(1)"))
    term.submit("hang", with_code(term.root, "while True:\n    pass"))
    term.submit("fill", with_code(
        term.root,
        "import os\nblock = b'x' * 2**20\nfor i in range(2000):\n"
        "    with open(f'junk{i}', 'wb') as f:\n        f.write(block * 8)"))
    term.submit("ann", honest(term.root))
    out = term.serve_once("--jobs", "2")
    assert out.returncode == 0, out.stderr
    rows = {s: r[0] for s, r in term.by_student().items()}
    assert all(r.state == "done" for r in rows.values()), {s: r.note for s, r in rows.items()}
    assert rows["ann"].score == FULL and rows["ann"].flags == ""
    # each loses the points of what it broke: `total` is never defined
    for student in ("crash", "hang", "fill"):
        assert rows[student].score == FULL - 2, student
    assert "died" in rows["crash"].flags
    assert "timed out" in rows["hang"].flags
    # the disk filler hit the size of its working folder, not the machine's disk
    graded = (term.root / "autograded" / "fill" / "toy" / "toy.ipynb").read_text()
    assert "No space left on device" in graded


def test_sigkill_mid_queue_loses_nothing_and_writes_each_grade_once(tmp_path):
    term = Term(tmp_path)
    expected = {}
    for k in range(5):
        student = f"s{k}"
        nb = slow(term.root, 1.5) if k % 2 == 0 else wrong(term.root)
        term.submit(student, nb)
        expected[student] = FULL if k % 2 == 0 else FULL - 2
    import psutil

    for kill_after in (1, 3):  # kill with some graded and some queued or in flight
        proc = term.serve("--jobs", "1")
        wait_for(lambda n=kill_after: sum(
            e.state == "done" for e in term.queue()) >= n, 180, f"{kill_after} graded")
        left = psutil.Process(proc.pid).children(recursive=True)  # workers, kernels
        stop(proc, signal.SIGKILL)
        states = [e.state for e in term.queue()]
        assert "done" in states
        # no grading process outlives the service it belonged to
        gone, alive = psutil.wait_procs(left, timeout=20)
        assert not alive, [p.cmdline()[:3] for p in alive]
    assert term.serve_once().returncode == 0
    rows = {s: r for s, r in term.by_student().items()}
    for student, score in expected.items():
        (entry,) = rows[student]
        assert entry.state == "done", (student, entry.note)
        assert entry.commits == 1, f"{student}'s grades were written {entry.commits} times"
        assert entry.attempts == 0, f"{student}: a restart was counted as a failure"
        assert term.submission(student)["code_score"] == score
        assert len(term.fetch_feedback(student)) == 1


def test_status_shows_the_queue_while_the_service_runs(tmp_path):
    term = Term(tmp_path)
    for k in range(3):
        term.submit(f"s{k}", slow(term.root, 2))
    proc = term.serve("--jobs", "1")
    try:
        wait_for(lambda: any(e.state == "grading" for e in term.queue()), 120, "grading")

        def status():
            return term.course("status").stdout

        text = status()
        assert "course serve: running" in text
        assert "grading:" in text and "queued:" in text, text
        wait_for(lambda: all(e.state == "done" for e in term.queue()), 180, "all graded")
        text = status()
        assert "3 done" in text and "latest graded:" in text, text
        term.submit("s9", slow(term.root, 30))  # stopped mid-grading
        wait_for(lambda: grading_workers(proc, busy=True), 120, "s9 grading")
        import psutil

        left = psutil.Process(proc.pid).children(recursive=True)
        began = time.monotonic()
    finally:
        stop(proc)
    # SIGTERM: the service, its workers, sandboxes and kernels are gone within seconds
    assert time.monotonic() - began < 10, "course serve took long to stop"
    _, alive = psutil.wait_procs(left, timeout=3)
    assert not alive, [p.cmdline()[:3] for p in alive]
    assert "course serve: not running" in term.course("status").stdout
    assert term.by_student()["s9"][0].state == "queued"  # graded at the next start


def test_status_never_shows_a_former_services_pid_as_running(tmp_path):
    """serve.json of a service that died names its pid: while a new service starts (it
    holds the lock, has not written serve.json yet), status must not call that pid running."""
    import json
    import subprocess
    import sys

    from course.grading.lock import hold_service_lock
    from course.service.status import format_status, status

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "serve.json").write_text(json.dumps({"pid": dead.pid, "heartbeat": time.time(),
                                                      "workers": "2 local", "stopped": False}))
    lock = hold_service_lock(tmp_path)
    try:
        info = status(tmp_path)
        assert info["running"] and info["pid"] is None
        assert "starting" in format_status(info) and str(dead.pid) not in format_status(info)
    finally:
        lock.close()
    assert not status(tmp_path)["running"]


def test_a_dead_worker_costs_only_its_own_grading(tmp_path):
    """Two gradings in flight on two local workers; one worker is killed. Its grading is
    retried (one failure counted), the other one finishes untouched, nothing fails."""
    term = Term(tmp_path)
    for k in range(3):
        term.submit(f"s{k}", slow(term.root, 4))  # under the toy's 5 s cell timeout
    proc = term.serve("--jobs", "2")
    try:
        # at least two workers with a kernel or runner child (a worker between gradings
        # may still hold a child for a moment, so not exactly two)
        def two_busy():
            found = grading_workers(proc, busy=True)
            return found if len(found) >= 2 else None

        busy = wait_for(two_busy, 180, "two gradings")
        time.sleep(0.5)
        busy[0].kill()
        wait_for(lambda: all(e.state == "done" for e in term.queue()) and
                 len(term.queue()) == 3, 300, "all graded")
    finally:
        stop(proc)
    rows = term.queue()
    assert sorted(e.attempts for e in rows) == [0, 0, 1], [(e.key, e.note) for e in rows]
    assert all(e.score == FULL and e.commits == 1 for e in rows)
    for k in range(3):
        assert len(term.fetch_feedback(f"s{k}")) == 1


def test_a_second_service_or_course_grade_on_the_same_course_is_refused(tmp_path):
    term = Term(tmp_path)
    proc = term.serve()
    try:
        wait_running(term.root, proc)
        out = term.serve_once()
        assert out.returncode == 2 and "already runs" in out.stderr
        # nor does course grade write the gradebook behind the service's back
        graded = term.course("grade", "toy")
        assert graded.returncode == 2 and "course serve is running" in graded.stderr
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """One term: the victim, every exchange attack, two service runs (attacks/exchange.py)."""
    from adversarial import exchange

    term = Term(tmp_path_factory.mktemp("attacked"))
    attacks = exchange.attacks(honest, wrong)
    term.submit("vic", honest(term.root))
    for attack in attacks:
        attack.before(term)
    first = term.serve_once(timeout=600)
    for attack in attacks:
        if attack.after:
            attack.after(term)
    second = term.serve_once(timeout=600)
    return term, {a.name: a for a in attacks}, (first, second)


def test_the_service_survives_every_exchange_attack(attacked):
    _, _, runs = attacked
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.parametrize("name", ["symlinked_folder", "edit_after_collect", "link_to_source",
                                  "fifo_and_huge", "flood", "junk_names", "other_assignment"])
def test_an_exchange_attack_gains_nothing(attacked, name):
    term, attacks, _ = attacked
    assert attacks[name].check(term) == []


@pytest.fixture(scope="module")
def raced(tmp_path_factory):
    """One term: the victim, the swap-during-read races (adversarial/exchange_race.py) and
    their honest control, collected and graded by the service in this process, whose reads
    of the racers' large files are hooked."""
    from adversarial import exchange_race

    from course.grading import workers
    from course.service import loop

    term = Term(tmp_path_factory.mktemp("raced"))
    races = exchange_race.races()
    term.submit("vic", honest(term.root))
    for race in races:
        exchange_race.submit(term, race, honest(term.root) if race.honest else wrong(term.root))
    with pytest.MonkeyPatch.context() as monkeypatch:
        swapped = exchange_race.hook_reads(monkeypatch, term, races)
        pool = workers.LocalWorkers(2)
        service = loop.Service(term.root, pool, poll=0.2, sandbox=SANDBOX, once=True)
        try:
            assert service.run() == 0
        finally:
            service.close()
            pool.close()
    return term, {r.name: r for r in races}, swapped


@pytest.mark.parametrize("name", ["link_to_source", "link_to_victim", "honest_control"])
def test_swapping_an_inbound_folder_while_it_is_read_gains_nothing(raced, name):
    term, races, swapped = raced
    race = races[name]
    assert race.honest or name in swapped, "the attacker never got to swap"
    problems = race.check(term, race)
    assert not problems, "\n".join(problems)


def test_skip_existing_grades_only_what_arrives_after_the_start(tmp_path):
    """Started mid-term, after `nbgrader collect` and `course grade`: what is in the exchange
    already is recorded as skipped and left alone; a new submission is graded."""
    term = Term(tmp_path)
    term.submit("old", wrong(term.root))
    proc = term.serve("--skip-existing")
    try:
        wait_running(term.root, proc)
        term.submit("new", honest(term.root))
        wait_for(lambda: any(e.student_id == "new" and e.state == "done"
                             for e in term.queue()), 120, "the new submission graded")
    finally:
        stop(proc)
    rows = {e.student_id: e for e in term.queue()}
    assert rows["old"].state == "skipped" and rows["old"].commits == 0
    assert rows["new"].score == FULL
    with sqlite3.connect(term.root / "gradebook.db") as con:
        assert con.execute("SELECT count(*) FROM submitted_assignment WHERE student_id = "
                           "'old'").fetchone()[0] == 0


def test_a_folder_still_being_written_is_collected_once_complete(tmp_path):
    """nbgrader submit copies the notebook, then writes timestamp.txt and the secret: a
    folder caught half-written must not be graded as it is then."""
    import shutil

    term = Term(tmp_path)
    term.submit("ann", honest(term.root))
    (done,) = (term.exchange / "toy" / "inbound").iterdir()
    # the same submission again, caught before nbgrader submit wrote its last two files
    partial = done.with_name(done.name.replace("+", "+", 1)[:-4] + "half")
    partial.mkdir()
    shutil.copy(done / "toy.ipynb", partial / "toy.ipynb")
    proc = term.serve()
    try:
        wait_for(lambda: any(e.state == "done" for e in term.queue()), 120, "ann graded")
        time.sleep(2)
        assert partial.name not in {e.key for e in term.queue()}
        for name in ("timestamp.txt", "submission_secret.txt"):
            shutil.copy(done / name, partial / name)
        wait_for(lambda: any(e.key == partial.name and e.state == "done"
                             for e in term.queue()), 120, "the completed folder graded")
    finally:
        stop(proc)
    (entry,) = [e for e in term.queue() if e.key == partial.name]
    assert entry.score == FULL


def test_a_result_that_cannot_be_recorded_is_graded_again_and_written_once(tmp_path,
                                                                           monkeypatch):
    """The disk fills (or the gradebook stays locked) just as a result comes back: the
    service keeps running, grades the submission again and writes its grade once."""
    from course.grading import workers
    from course.service import loop, spool

    term = Term(tmp_path)
    term.submit("ann", honest(term.root))
    real, failures = spool.replace_dir, []

    def full_disk_once(files, dest):
        if "serve" in dest.parts and not failures:
            failures.append(dest)
            raise OSError(28, "No space left on device")
        return real(files, dest)

    monkeypatch.setattr(spool, "replace_dir", full_disk_once)
    pool = workers.LocalWorkers(1)
    service = loop.Service(term.root, pool, poll=0.2, sandbox=SANDBOX, once=True)
    try:
        assert service.run() == 0
    finally:
        service.close()
        pool.close()
    assert failures, "the fault was never injected"
    (entry,) = term.queue()
    # a full disk is not the submission's failure: it costs no attempt
    assert entry.state == "done" and entry.attempts == 0 and entry.commits == 1
    assert term.submission("ann")["code_score"] == FULL
    assert len(term.fetch_feedback("ann")) == 1


def test_the_spool_is_pruned_after_release_and_the_gradebook_backed_up(tmp_path):
    term = Term(tmp_path)
    term.submit("ann", honest(term.root))
    before = set(term.root.glob("gradebook.db.bak-*"))
    assert term.serve_once().returncode == 0  # the default keeps serve/ for days
    (entry,) = term.queue()
    assert (term.root / "serve" / entry.key / "submission").is_dir()
    assert set(term.root.glob("gradebook.db.bak-*")) - before, "no backup by course serve"
    assert term.serve_once("--keep-spool", "0").returncode == 0
    assert not (term.root / "serve" / entry.key).exists()
    # what the instructor and the student read stays
    assert (term.root / "submitted" / "ann" / "toy" / "toy.ipynb").exists()
    assert (term.root / "feedback" / "ann" / "toy" / "toy.html").exists()
    assert len(term.fetch_feedback("ann")) == 1


def test_a_full_disk_pauses_the_service_which_resumes_by_itself(
        small_disk, tmp_path):  # noqa: F811 (the fixture)
    term = Term(tmp_path, root_in=small_disk)
    term.submit("ann", honest(term.root))
    proc = term.serve("--min-free", "1M")

    def says_full(pid):
        text = term.course("status").stdout
        return "disk full" in text and f"pid {pid}" in text

    try:
        wait_for(lambda: any(e.state == "done" for e in term.queue()), 180, "ann graded")
        filler = fill(small_disk)
        term.submit("bob", wrong(term.root))  # the exchange is on another disk
        wait_for(lambda: says_full(proc.pid), 60, "disk full in course status")
        time.sleep(3)
        assert proc.poll() is None, "the service died of the full disk"
        # killed and started again on the full disk: it waits instead of exiting
        stop(proc, signal.SIGKILL)
        proc = term.serve("--min-free", "1M")
        wait_for(lambda: says_full(proc.pid), 60, "disk full in course status after a start")
        time.sleep(3)
        assert proc.poll() is None, "a start on a full disk exited"
        assert not any(e.student_id == "bob" and e.state == "done" for e in term.queue())
        filler.unlink()
        wait_for(lambda: any(e.student_id == "bob" and e.state == "done"
                             for e in term.queue()), 180, "bob graded once there is room")
        assert "disk full" not in term.course("status").stdout
    finally:
        stop(proc)
    rows = {e.student_id: e for e in term.queue()}
    assert rows["bob"].score == FULL - 2 and rows["bob"].attempts == 0
    assert rows["bob"].commits == 1 and rows["ann"].commits == 1
    assert term.submission("bob")["code_score"] == FULL - 2
    for student in ("ann", "bob"):
        assert len(term.fetch_feedback(student)) == 1
