"""Holes 2, 3 and 4 of issue 19, attacked through ``course serve`` (hole 1, the swapped
inbound folder, is tests/test_serve.py's ``raced``).

One course, one running service (``course serve --jobs 2``, a subprocess, as the instructor
starts it) and two rounds of submissions through nbgrader's exchange:

1. the attackers' first submissions and the honest controls;
2. once all are graded, the resubmissions: wrong work that makes grading fail over an
   honest full-marks submission (hole 4), and honest work from the student whose first
   submission filled every writable place (hole 2).

The course is the toy course with the two exercises of tests/adversarial/hidden_helpers.py
(hole 3): 8 autograded points, ``test_double`` 2, ``test_total`` 2, ``test_grads`` 2,
``test_rebind`` 1, ``test_restored`` 1. The service runs with a ``TMPDIR`` of the test's own,
so the host side of each kernel's runtime folder (``<TMPDIR>/course-nb-*/run``, on the
grader's disk) can be watched while it grades.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from adversarial import catalogue, exchange_race, hidden_helpers, toy, writable
from adversarial.catalogue import _insert_after
from adversarial.exchange import rows_of
from exchange_course import Term, stop

from course.author.publish import release_to_exchange
from course.commands import demo_students
from course.isolation import confine, sandbox
from course.nbgrader_ext.testcell import HIDDEN_NOTE

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sandbox.bwrap_path() is None,
                                 reason="bubblewrap not available")]

FULL = 8.0  # autograded points of this course
TESTS = {"test_double": 2.0, "test_total": 2.0, **{k: float(v) for k, v in
                                                   hidden_helpers.TESTS.items()}}
FILLER, SPY, PRINTER = "filler", "spy", "printer"
FAILURES = [e.name for e in catalogue.GRADING_FAILURES]
HONEST_UPDATES = next(e for e in catalogue.HONEST if e.name == "honest_display_updates")
ATTACK = next(e for e in catalogue.ENTRIES if e.name == "fill_writable_places")
PRINT_MARK = "printed-by-numerical-grads"  # the printer's print inside the hidden-test cell
ROUND_TIMEOUT = 300  # seconds for a round (about 40 s on a quiet machine)
WATCH_PAUSE = 1.5  # seconds the filler's kernel waits after its walk, for the host's watcher


class AttackTerm(Term):
    """tests/exchange_course.py's term, on the course with the hidden-helpers exercises,
    whose service runs with ``TMPDIR`` set to ``tmpdir``."""

    def __init__(self, base: Path, tmpdir: Path):  # Term's, with the extra cells
        self.base = Path(base)
        self.root = toy.build_course(self.base / "course", hidden_helpers.extra_cells())
        self.exchange = self.base / "exchange"
        demo_students.use_exchange(self.root, self.exchange)
        release_to_exchange(self.root, [toy.ASSIGNMENT])
        self.homes = {}
        self.tmpdir = tmpdir

    def serve(self, *args: str) -> subprocess.Popen:
        out = open(self.base / "serve.out", "ab")  # closed with the process
        return subprocess.Popen(
            [sys.executable, "-m", "course.cli", "--root", str(self.root), "serve",
             "--poll", "0.3", *args],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**toy.venv_env(), "TMPDIR": str(self.tmpdir)})


class RuntimeWatcher(threading.Thread):
    """Looks, every 50 ms, into every kernel runtime folder under the service's TMPDIR (the
    host's side of ``/run/kernel``) and keeps what is neither a socket nor a small
    connection file at the top."""

    def __init__(self, tmpdir: Path):
        super().__init__(daemon=True, name="runtime-watcher")
        self.tmpdir, self.halt = tmpdir, threading.Event()
        self.names: dict[str, set[str]] = {}  # runtime folder -> every name seen in it
        self.data: dict[str, int] = {}  # path -> largest size seen
        self.error: BaseException | None = None  # what stopped it, if anything did

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                for run in self.tmpdir.glob("course-nb-*/run"):
                    self.look(run)
                time.sleep(0.05)
        except BaseException as err:  # a watcher that stopped must not pass for a quiet one
            self.error = err

    def look(self, run: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(run):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:  # the grading ended meanwhile
                    continue
                self.names.setdefault(str(run), set()).add(
                    os.path.relpath(path, run))
                if stat.S_ISSOCK(st.st_mode) or (
                        dirpath == str(run) and name in writable.CONNECTION_FILES
                        and stat.S_ISREG(st.st_mode) and st.st_size < 4096):
                    continue
                self.data[path] = max(self.data.get(path, 0), st.st_size)


def _filler(root):
    """The catalogue's fill_writable_places, then a cell that lists the runtime folder as the
    kernel sees it, once the walk is over, and waits for the host's watcher."""
    nb, files = catalogue.build(ATTACK, toy.release_notebook(root), root)
    return _insert_after(nb, "test_double", writable.runtime_listing_code(
        confine.RUNTIME_MOUNT, pause=WATCH_PAUSE)), files


def _printer(root):
    """Honest work whose numerical_grads prints (so it prints inside the hidden-test cell
    test_grads) and whose sum_of_squares prints (inside the visible test test_rebind)."""
    nb = toy.solved(root)
    grads = toy.cell(nb, "grads")
    half = len(PRINT_MARK) // 2  # the text printed, which its source (in the feedback) is not
    grads.source = grads.source.replace("    grads = {}", (
        f"    print({PRINT_MARK[:half]!r} + {PRINT_MARK[half:]!r}, sorted(params))\n"
        "    grads = {}"), 1)
    assert "print(" in grads.source and PRINT_MARK not in grads.source
    return nb


def _tree_bytes(top: Path) -> int:
    """Bytes in the regular files under ``top`` (one removed while counted: not counted)."""
    total = 0
    for dirpath, _dirs, filenames in os.walk(top):
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return total


def _wait_round(term: Term, count: int, timeout: float) -> float | None:
    """Wait until the service has finished with ``count`` submissions; the seconds it took,
    or None after ``timeout`` (the tests then say which submission is not done)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        rows = term.queue()
        if len(rows) == count and all(e.state in ("done", "failed", "rejected") for e in rows):
            return time.monotonic() - began
        time.sleep(0.2)
    return None


@dataclass
class Served:
    term: AttackTerm
    round1: dict  # student -> their queue entry after round 1
    sizes: dict[str, int]  # bytes of the course root, the service's TMPDIR and spool folders
    waited: dict[str, float | None]  # seconds each round took (None: timed out)
    watcher: RuntimeWatcher
    scratch_left: list[str]  # the gradings' scratch folders left in TMPDIR at the end


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("serve-attacks")
    tmpdir = base / "tmp"
    tmpdir.mkdir()
    term = AttackTerm(base, tmpdir)
    watcher = RuntimeWatcher(tmpdir)
    watcher.start()
    sizes = {"root before": _tree_bytes(term.root)}
    began = time.monotonic()
    proc = term.serve("--jobs", "2")
    try:
        # round 1: the attacks of holes 2 and 3, their controls, and hole 4's honest work
        nb, _ = _filler(term.root)
        term.submit(FILLER, nb)
        term.submit(SPY, hidden_helpers.spy_submission(toy.solved(term.root)))
        term.submit(PRINTER, _printer(term.root))
        for name in FAILURES + [HONEST_UPDATES.name]:
            term.submit(name, toy.solved(term.root))
        first = len(FAILURES) + 4
        waited = {"round 1": _wait_round(term, first, ROUND_TIMEOUT)}
        round1 = {e.student_id: e for e in term.queue()}
        sizes.update({"root": _tree_bytes(term.root), "tmp": _tree_bytes(tmpdir),
                      "filler spool": _tree_bytes(term.root / "serve" / round1[FILLER].key),
                      "printer spool": _tree_bytes(term.root / "serve" / round1[PRINTER].key)})
        # round 2: hole 4's resubmissions (on the honest notebook: only what the entry
        # breaks is wrong), the honest control's, and honest work after the filler
        solved = toy.solved(term.root)
        for entry in catalogue.GRADING_FAILURES + [HONEST_UPDATES]:
            nb, _ = catalogue.build(entry, solved, term.root)
            term.submit(entry.name, nb)
        term.submit(FILLER, toy.solved(term.root))
        waited["round 2"] = _wait_round(term, first + len(FAILURES) + 2, ROUND_TIMEOUT)
        sizes["tmp after"] = _tree_bytes(tmpdir)
        left = sorted(p.name for p in tmpdir.iterdir()
                      if p.name.startswith(("course-nb-", "course-grade-")))
    finally:
        stop(proc)
        watcher.halt.set()
        watcher.join()
    print(f"\n{__name__}: the service graded {len(term.queue())} submissions in "
          f"{time.monotonic() - began:.0f} s (rounds: {waited})")
    return Served(term, round1, sizes, waited, watcher, left)


def _spooled(term, entry) -> nbformat.NotebookNode:
    return nbformat.read(term.root / "serve" / entry.key / "autograded" / "toy.ipynb",
                         as_version=4)


def _outputs_text(nb) -> str:
    return "\n".join(
        text for c in nb.cells for out in c.get("outputs", [])
        for text in (str(out.get("text", "")), str(out.get("evalue", "")),
                     "\n".join(out.get("traceback", [])), str(out.get("data", ""))))


def _streams(nb, grade_id: str) -> list[str]:
    """The text of the stream outputs of the cell ``grade_id``."""
    return [str(o.get("text")) for o in toy.cell(nb, grade_id).outputs
            if o.get("output_type") == "stream"]


def _grades(term, student) -> dict[str, float]:
    return {k: auto for k, (auto, _manual) in term.submission(student)["grades"].items()
            if k.startswith("test_")}




def test_the_service_finished_both_rounds(served):
    assert None not in served.waited.values(), (served.waited, [
        (e.student_id, e.state, e.attempts, e.note) for e in served.term.queue()
        if e.state != "done"])


# -- hole 2: a submission fills every writable place ------------------------------------------

def test_the_filler_wrote_only_into_size_limited_tmpfs_mounts(served):
    term, round1 = served.term, served.round1
    entry = round1[FILLER]
    assert entry.state == "done" and entry.attempts == 0, (entry.state, entry.note)
    # wrong double and total, and the release's unsolved exercises: no point
    assert entry.score == 0.0, entry.score
    graded = _spooled(term, entry)
    writable.check_notebook(graded)
    report = writable.report_of(writable.stream_text(graded))
    filled = {p["mount"] for p in report["places"].values() if p["bytes"]}
    assert {"/tmp", "/dev/shm"} <= filled, report["places"]  # it did write, where it may
    assert confine.RUNTIME_MOUNT in report["refused"], report["refused"]


def test_the_runtime_folder_holds_only_sockets_and_the_connection_files(served):
    term, round1 = served.term, served.round1
    graded = _spooled(term, round1[FILLER])
    # the kernel's own view, once its walk was over
    inside = writable.report_of(writable.stream_text(graded), writable.RUNTIME_MARK)
    writable.check_runtime_entries(inside)


def test_the_runtime_folders_on_the_graders_disk_held_no_data_while_graded(served):
    term, round1, watcher = served.term, served.round1, served.watcher
    inside = writable.report_of(writable.stream_text(_spooled(term, round1[FILLER])),
                                writable.RUNTIME_MARK)
    # the grader's view of the same folders, on its disk, while every submission was graded
    assert watcher.error is None, f"the watcher stopped: {watcher.error!r}"
    assert not watcher.data, f"data in a kernel's runtime folder on the host: {watcher.data}"
    sockets = {rel for rel, e in inside.items() if e["socket"]}
    assert sockets, inside
    assert any(sockets <= names for names in watcher.names.values()), (
        f"the host's watcher never saw the filler's runtime folder (its sockets {sockets}): "
        f"{watcher.names}")
    assert len(watcher.names) >= len(term.queue()), "a grading's runtime folder was not seen"


def test_the_filler_left_the_services_disk_as_it_was(served):
    sizes = served.sizes
    # what the service keeps of the filler is the size of an honest submission's (the
    # walker's report is some KiB), not of the 96 MiB it wrote
    assert sizes["filler spool"] < sizes["printer spool"] + 2**20, sizes
    assert sizes["root"] - sizes["root before"] < 16 * 2**20, sizes
    # the gradings' scratch folders on the grader's disk are gone, and nothing stayed there
    assert sizes["tmp"] == sizes["tmp after"] == 0, sizes
    assert served.scratch_left == [], served.scratch_left


def test_the_next_honest_submission_after_the_filler_gets_full_marks(served):
    term, round1 = served.term, served.round1
    first, second = rows_of(term, FILLER)
    assert first.key == round1[FILLER].key
    assert second.state == "done" and second.counted and second.attempts == 0
    assert second.score == FULL and second.flags == "", (second.score, second.flags)
    assert term.submission(FILLER)["code_score"] == FULL
    assert len(term.fetch_feedback(FILLER)) == 2


# -- hole 3: hidden tests reaching the student's feedback -------------------------------------

def _feedback(term, student) -> list[str]:
    """The feedback pages ``student`` fetches (nbgrader fetch_feedback): raw, and as read."""
    pages = term.fetch_feedback(student)
    assert pages, f"{student} found no feedback"
    return [text for page in pages for text in (page.read_text(), exchange_race.page_text(page))]


def test_the_spy_is_graded_and_its_feedback_names_no_hidden_helper(served):
    term, round1 = served.term, served.round1
    entry = round1[SPY]
    # its numerical_grads raises its log at the second hidden call: test_grads fails
    assert entry.state == "done" and entry.attempts == 0 and entry.flags == ""
    assert _grades(term, SPY) == {**TESTS, "test_grads": 0.0}
    pages = _feedback(term, SPY)
    assert any("test function" in page for page in pages)  # what it printed: opaque names
    for secret in hidden_helpers.SECRETS:
        assert not any(secret in page for page in pages), secret
    # nor what the service keeps of its graded notebook (its source holds the hidden tests,
    # as in nbgrader: the instructor's; its outputs are what the student's code made)
    graded = _spooled(term, entry)
    outputs = _outputs_text(graded)
    assert "test function" in outputs
    for secret in hidden_helpers.SECRETS:
        assert secret not in outputs, secret
    # what it printed during the hidden test: one line saying it is not shown
    assert _streams(graded, "test_grads") == [HIDDEN_NOTE]


def test_prints_in_a_hidden_test_cell_are_not_in_the_feedback_and_visible_ones_are(served):
    term, round1 = served.term, served.round1
    entry = round1[PRINTER]
    assert entry.state == "done" and entry.score == FULL and entry.flags == ""
    pages = _feedback(term, PRINTER)
    assert not any(PRINT_MARK in page for page in pages)
    assert any(HIDDEN_NOTE.strip() in page for page in pages)
    assert any("summing the squares up to 3" in page for page in pages)  # test_rebind's
    assert _streams(_spooled(term, entry), "test_grads") == [HIDDEN_NOTE]


# -- hole 4: keeping an earlier grade by making grading fail ----------------------------------

# Each resubmission is the honest notebook with the entry's change: wrong double and total
# (test_double and test_total lose their 4 points) and what breaks grading. Grading goes on
# past a display update (applied) and a malformed stream (replaced: it is not nbformat), so
# the hidden-helper exercises keep their 4; a display whose data is not a dict makes the
# executor raise in the cell after test_total, where grading stops: what follows is not run.
RESUBMITTED = {"display_update": 4.0, "malformed_display": 0.0, "malformed_stream": 4.0,
               HONEST_UPDATES.name: FULL}


def test_each_grading_failure_resubmission_is_in_the_catalogue():
    assert set(RESUBMITTED) == set(FAILURES) | {HONEST_UPDATES.name}


@pytest.mark.parametrize("name", FAILURES + [HONEST_UPDATES.name])
def test_a_resubmission_that_breaks_grading_gets_its_own_grade(served, name):
    term = served.term
    entry = next(e for e in catalogue.GRADING_FAILURES + [HONEST_UPDATES] if e.name == name)
    first, second = rows_of(term, name)
    assert first.state == "done" and first.score == FULL and first.flags == ""
    assert second.state == "done", (second.state, second.note)
    # the submission's result, not the machinery's: not retried, recorded once, counted
    assert second.attempts == 0 and second.commits == 1 and second.counted, second.note
    assert "not graded" not in second.flags, second.flags
    assert second.score == RESUBMITTED[name], (second.score, second.flags)
    assert term.submission(name)["code_score"] == RESUBMITTED[name]  # not the earlier 8
    grades = _grades(term, name)
    assert all(grades[t] == 0.0 for t in entry.zero), grades
    if entry.flag:
        assert entry.flag in second.flags, second.flags
    if name == HONEST_UPDATES.name:
        assert second.flags == ""
    assert len(term.fetch_feedback(name)) == 2  # each submission has its own feedback
