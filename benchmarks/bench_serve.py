"""Grading at scale (issue 13): throughput of ``course grade`` and latency of ``course serve``.

1. Throughput, notebooks per minute, of grading the same K solved submissions (default 8
   copies of ``06_mlp_backprop``), median of several runs (raw values printed too):

   - plain nbgrader, in this process: one ``Autograde`` over all K students (nbgrader's own
     ``Execute``: tests in the student's kernel, unsandboxed, as in bench_grading.py), then
     one ``GenerateFeedback`` (the course's feedback configuration, as ``nbgrader
     generate_feedback`` in the course root). Both are shown: autograde only, and autograde +
     feedback. **The targets use autograde + feedback**, because course grade and course
     serve produce the feedback too. (In-process: nbgrader's import and start-up are not
     timed, which favours plain nbgrader.)
   - ``course grade --jobs 1`` and ``--jobs 2`` (local worker processes; the pool start-up
     is timed: it is part of every course grade);
   - ``course grade --scheduler`` on a Dask cluster of this machine: one scheduler and one
     ``dask worker --nworkers 2 --nthreads 1`` over TCP on 127.0.0.1.

   Target (issue 22): N workers grade at least 0.9 * N times as many notebooks per minute as plain
   nbgrader (N = 1, 2, and the 2-worker cluster). Every grading must earn the full
   autograded score: a wrong result fails the benchmark instead of being timed.

2. Latency from ``nbgrader submit`` to feedback, with ``course serve --jobs 2 --poll 0.5``
   running on a course root whose ``nbgrader_config.py`` names a local exchange (the
   assignment released to it, as ``course publish --exchange`` does; students with homes of
   their own as ``course demo`` makes them):

   - singles: one submission at a time, each waiting for its feedback: from just before
     the student's submit until the queue says "done" (feedback released) and the
     student's ``fetch_feedback`` returns the page. Target (issue 22): a median of at most
     5 s on an idle machine (the first single also pays for the service's worker pool to
     start);
   - a burst of students submitting back to back: each submission's latency (submit start
     to its feedback released), and the time for the whole burst;
   - the burst again with the service on the Dask cluster (``course serve --scheduler``).

    python benchmarks/bench_serve.py                # full run: K=8, 3 runs, 5 singles, 20
    python benchmarks/bench_serve.py --quick        # smoke run: K=2, 1 run, 1 single, 3
    python benchmarks/bench_serve.py --skip-dask --copies 4 --runs 1

The machine's load average is printed at the start, between parts and at the end: on a
shared machine read the numbers with it. Raw numbers: work/bench/serve.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_grading import PLAIN, PLAIN_SANITIZE, _course  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "COURSE_STATIC_PLOTS": "1",
       "MPLBACKEND": "Agg"}
TARGET_EFFICIENCY = 0.9  # N workers: at least 0.9 * N x plain nbgrader (issue 22, target 2)
TARGET_LATENCY = 5.0  # seconds from submit to feedback, one submission on an idle machine
# (issue 22, target 3)
WAIT_LIMIT = 900.0  # seconds before a submission that never gets its feedback fails the run


class BenchError(RuntimeError):
    """A wrong result or a broken set-up: the benchmark fails."""


# ---------------------------------------------------------------------------------------
# the machine


def set_environment() -> None:
    """What the Makefile exports, for this process and every subprocess."""
    os.environ["PATH"] = str(BIN) + os.pathsep + os.environ.get("PATH", "")
    os.environ.update(ENV)


def load(label: str, record: dict) -> None:
    """Print ``uptime`` (the load average) and keep it in ``record['load']``."""
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    loadavg = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    record.setdefault("load", []).append({"when": label, "time": time.time(),
                                          "uptime": out, "loadavg": loadavg})
    print(f"[load, {label}] {out}", flush=True)


def _kill_group(proc: subprocess.Popen, grace: float = 20.0, *, group_term: bool = True
                ) -> int | None:
    """SIGTERM ``proc`` (its whole process group if ``group_term``; it was started with
    start_new_session), wait up to ``grace`` seconds, then SIGKILL what is left of the group.
    Returns the exit code of ``proc`` after the SIGTERM (None if it had to be killed)."""
    with contextlib.suppress(ProcessLookupError):
        if group_term:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
    code = None
    with contextlib.suppress(subprocess.TimeoutExpired):
        code = proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):  # it, if it hangs, or stragglers of its group
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    return code


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@contextlib.contextmanager
def dask_cluster(work: Path, nworkers: int = 2):
    """A Dask scheduler and ``nworkers`` worker processes (1 thread each) on 127.0.0.1; yields
    the scheduler's address. Both process groups are killed on the way out."""
    from distributed import Client

    work.mkdir(parents=True, exist_ok=True)
    sched_file = work / "scheduler.json"
    dask = str(BIN / "dask")
    procs: list[tuple[subprocess.Popen, Path]] = []

    def start(name: str, argv: list[str]) -> subprocess.Popen:
        logf = work / f"{name}.log"
        with open(logf, "w") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=work,
                                    start_new_session=True)
        procs.append((proc, logf))
        return proc

    try:
        sched = start("scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                    "--scheduler-file", str(sched_file), "--no-dashboard"])
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            if sched.poll() is not None or time.monotonic() > deadline:
                raise BenchError("the Dask scheduler did not start:\n"
                                 + _tail(work / "scheduler.log"))
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go, but give it a moment
        address = json.loads(sched_file.read_text())["address"]
        start("worker", [dask, "worker", "--scheduler-file", str(sched_file), "--nworkers",
                         str(nworkers), "--nthreads", "1", "--no-dashboard", "--host",
                         "127.0.0.1", "--local-directory", str(work / "workers")])
        with Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(nworkers, timeout=180)
            threads = client.nthreads()
        print(f"Dask cluster {address}: {len(threads)} worker(s), "
              f"{sum(threads.values())} thread(s)", flush=True)
        yield address
    finally:
        for proc, _ in reversed(procs):
            _kill_group(proc)


# ---------------------------------------------------------------------------------------
# course roots and what a correct grading scores


def full_score(root: Path, aid: str) -> float:
    """The autograded points of ``aid`` (its code cells): what a solved notebook earns."""
    from nbgrader.api import Gradebook

    from course.config import load_config

    course_id = load_config(root).CourseDirectory.course_id
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id) as gb:
        return float(gb.find_assignment(aid).max_code_score)


def solved_notebook(root: Path, aid: str) -> dict:
    from course.author.catalogue import solved_release

    src = json.loads((root / "source" / aid / f"{aid}.ipynb").read_text("utf-8"))
    rel = json.loads((root / "release" / aid / f"{aid}.ipynb").read_text("utf-8"))
    return solved_release(src, rel)


def _rate(k: int, seconds: float) -> float:
    return 60.0 * k / seconds


# ---------------------------------------------------------------------------------------
# 1. throughput


def plain_nbgrader(root: Path, aid: str, students: list[str], expected: float
                   ) -> tuple[float, float]:
    """nbgrader's Autograde of every submission of ``aid`` in one call (plain Execute), then
    one GenerateFeedback; (seconds of autograde, seconds of feedback). Checks the scores."""
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    from course.config import load_config

    config = load_config(root)
    course_id = config.CourseDirectory.course_id
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.CourseDirectory.db_url = db_url
    config.CourseDirectory.assignment_id = aid
    config.Autograde.autograde_preprocessors = PLAIN
    config.Autograde.sanitize_preprocessors = PLAIN_SANITIZE
    config.Autograde.force = True
    config.Autograde.create_student = True
    config.Execute.timeout = 60
    config.GenerateFeedback.force = True
    quiet = logging.getLogger("bench.nbgrader")
    quiet.setLevel(logging.ERROR)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        coursedir = CourseDirectory(config=config)
        start = time.perf_counter()
        autograde = Autograde(coursedir=coursedir, config=config)
        autograde.log = quiet
        autograde.start()
        middle = time.perf_counter()
        feedback = GenerateFeedback(coursedir=coursedir, config=config)
        feedback.log = quiet
        feedback.start()
        end = time.perf_counter()
    finally:
        os.chdir(cwd)
    with Gradebook(db_url, course_id) as gb:
        for student in students:
            score = gb.find_submission(aid, student).code_score
            if score != expected:
                raise BenchError(f"plain nbgrader gave {student} {score}, not {expected}")
    for student in students:
        page = root / "feedback" / student / aid / f"{aid}.html"
        if not page.is_file():
            raise BenchError(f"plain nbgrader wrote no feedback {page}")
    return middle - start, end - middle


def _plain_config(root: Path) -> None:
    """Make ``root``'s nbgrader_config.py plain nbgrader's (its own Execute and sanitize
    steps), for the ``nbgrader`` commands."""
    with (root / "nbgrader_config.py").open("a") as fh:
        fh.write(f"\n# plain nbgrader, for bench_serve.py\n"
                 f"c.Autograde.autograde_preprocessors = {PLAIN!r}\n"
                 f"c.Autograde.sanitize_preprocessors = {PLAIN_SANITIZE!r}\n"
                 "c.Execute.timeout = 60\n")


def _run(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, **ENV, "PATH": f"{BIN}{os.pathsep}"
                              f"{os.environ.get('PATH', '')}"})
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise BenchError(f"{' '.join(argv[:3])} failed ({out.returncode}): "
                         f"{(out.stdout + out.stderr)[-2000:]}")
    return seconds


def plain_commands(root: Path, aid: str, students: list[str], expected: float) -> float:
    """Seconds of ``nbgrader autograde ID --force`` then ``nbgrader generate_feedback ID
    --force``, run as an instructor runs them (plain configuration: _plain_config)."""
    from nbgrader.api import Gradebook

    seconds = _run([str(BIN / "nbgrader"), "autograde", aid, "--force"], root)
    seconds += _run([str(BIN / "nbgrader"), "generate_feedback", aid, "--force"], root)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}",
                   _course_id(root)) as gb:
        for student in students:
            score = gb.find_submission(aid, student).code_score
            if score != expected:
                raise BenchError(f"nbgrader autograde gave {student} {score}, not {expected}")
    return seconds


def _course_id(root: Path) -> str:
    from course.config import load_config

    return load_config(root).CourseDirectory.course_id


def course_grade_command(root: Path, aid: str, students: list[str], expected: float, *,
                         jobs: int = 1, scheduler: str | None = None) -> float:
    """Seconds of the ``course grade ID`` command; every submission must earn full marks."""
    import csv

    argv = [str(BIN / "course"), "--root", str(root), "grade", aid, "--jobs", str(jobs)]
    if scheduler:
        argv += ["--scheduler", scheduler]
    seconds = _run(argv, root)
    with open(root / "grades.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["assignment"] == aid]
    scores = {r["student_id"]: float(r["raw_score"]) for r in rows}
    if any(scores.get(s) != expected for s in students):
        raise BenchError(f"course grade command: scores {scores}, expected {expected}")
    return seconds


def course_grade(root: Path, aid: str, students: list[str], expected: float, *,
                 jobs: int = 1, scheduler: str | None = None, only: bool = False
                 ) -> tuple[float, list[float]]:
    """Seconds of ``course grade`` (local jobs or the Dask scheduler) of all submissions (or
    ``only`` those of ``students``) and the seconds of each grading on its worker. Every row
    must have the full score, no error and no flag."""
    from course.grading import batch as grade

    start = time.perf_counter()
    rows = grade.grade(root, [aid], students if only else None, jobs=jobs, progress=False,
                       scheduler=scheduler)
    seconds = time.perf_counter() - start
    if sorted(r["student"] for r in rows) != sorted(students):
        raise BenchError(f"course grade graded {[r['student'] for r in rows]}")
    bad = [r for r in rows if r["error"] or r["flags"] or r["score"] != expected]
    if bad:
        raise BenchError("course grade: wrong results "
                         + "; ".join(f"{r['student']}: {r['score']}/{expected} error="
                                     f"{r['error']} flags={r['flags']}" for r in bad))
    return seconds, [r["seconds"] for r in rows]


def throughput(work: Path, aid: str, copies: int, runs: int, scheduler: str | None) -> dict:
    """Part 1: the table of notebooks per minute; returns the raw numbers."""
    plain_root = _course(work / "plain", [aid], copies)
    course_root = _course(work / "course", [aid], copies)
    students = [f"s{k}" for k in range(copies)]
    expected = full_score(course_root, aid)
    _plain_config(plain_root)
    methods = ["plain autograde", "plain autograde+feedback", "course grade --jobs 1",
               "course grade --jobs 2"]
    if scheduler:
        methods.append("course grade --scheduler")
    commands = ["$ nbgrader autograde+feedback", "$ course grade --jobs 1",
                "$ course grade --jobs 2"] + (["$ course grade --scheduler"] if scheduler
                                              else [])
    methods += commands
    walls: dict[str, list[float]] = {m: [] for m in methods}
    per_nb: dict[str, list[float]] = {m: [] for m in methods[2:]}
    print(f"\n== 1. Throughput: {copies} solved submissions of {aid} "
          f"(full score {expected:g}), {runs} run(s)", flush=True)
    warm_up = None
    if scheduler:
        # the cluster is long-lived: its workers' first grading (imports, nbgrader's kernel
        # spec, ...) is not what a course grade on a running cluster costs
        warm_up, _ = course_grade(course_root, aid, students[:2], expected,
                                  scheduler=scheduler, only=True)
        print(f"   Dask cluster warm-up (untimed): course grade --scheduler of 2, "
              f"{warm_up:.1f} s", flush=True)
    for run in range(runs):
        auto, fb = plain_nbgrader(plain_root, aid, students, expected)
        walls["plain autograde"].append(auto)
        walls["plain autograde+feedback"].append(auto + fb)
        print(f"   run {run + 1}: plain {auto:.1f} s + feedback {fb:.1f} s", end="", flush=True)
        for method, jobs, sched in (("course grade --jobs 1", 1, None),
                                    ("course grade --jobs 2", 2, None),
                                    ("course grade --scheduler", 2, scheduler)):
            if method not in walls:
                continue
            seconds, each = course_grade(course_root, aid, students, expected, jobs=jobs,
                                         scheduler=sched)
            walls[method].append(seconds)
            per_nb[method] += each
            print(f"; {method.removeprefix('course grade ')} {seconds:.1f} s", end="",
                  flush=True)
        print(flush=True)
        seconds = plain_commands(plain_root, aid, students, expected)
        walls["$ nbgrader autograde+feedback"].append(seconds)
        print(f"          commands: nbgrader autograde + generate_feedback {seconds:.1f} s",
              end="", flush=True)
        for method, jobs, sched in (("$ course grade --jobs 1", 1, None),
                                    ("$ course grade --jobs 2", 2, None),
                                    ("$ course grade --scheduler", 2, scheduler)):
            if method not in walls:
                continue
            seconds = course_grade_command(course_root, aid, students, expected, jobs=jobs,
                                           scheduler=sched)
            walls[method].append(seconds)
            print(f"; {method.removeprefix('$ course grade ')} {seconds:.1f} s", end="",
                  flush=True)
        print(flush=True)

    base_api = _rate(copies, statistics.median(walls["plain autograde+feedback"]))
    base_cmd = _rate(copies, statistics.median(walls["$ nbgrader autograde+feedback"]))
    base_auto = _rate(copies, statistics.median(walls["plain autograde"]))
    workers = {"plain autograde": 1, "plain autograde+feedback": 1, "course grade --jobs 1": 1,
               "course grade --jobs 2": 2, "course grade --scheduler": 2,
               "$ nbgrader autograde+feedback": 1, "$ course grade --jobs 1": 1,
               "$ course grade --jobs 2": 2, "$ course grade --scheduler": 2}
    print(f"\n{'':<30} {'wall s':>7} {'nb/min':>7} {'vs plain':>9} {'vs plain':>9} "
          f"{'target':>7}  {'per nb':>7}  wall s of each run")
    print(f"{'':<30} {'(median)':>7} {'':>7} {'a+fb':>9} {'autogr.':>9} {'':>7}  "
          f"{'on wkr':>7}")
    table = {}
    for method in methods:
        if method == commands[0]:
            print("as commands (each one's start-up timed; compared with the nbgrader "
                  "commands):")
        wall = statistics.median(walls[method])
        rate = _rate(copies, wall)
        n = workers[method]
        base = base_cmd if method.startswith("$") else base_api
        ratio, ratio_auto = rate / base, rate / base_auto
        row = {"wall_median": wall, "walls": walls[method], "per_min": rate,
               "per_min_runs": [_rate(copies, w) for w in walls[method]],
               "ratio_to_plain_autograde_feedback": ratio,
               "ratio_to_plain_autograde": ratio_auto, "workers": n}
        target = ""
        if method.startswith("$ course"):
            need = TARGET_EFFICIENCY * n
            row.update(target_ratio=need, target_met=ratio >= need)
            target = f">={need:.2f} {'ok' if ratio >= need else 'MISS'}"
        elif method.startswith("course"):
            need = TARGET_EFFICIENCY * n
            row.update(target_ratio=need, target_met=ratio >= need,
                       seconds_per_notebook_on_worker=per_nb[method],
                       seconds_per_notebook_median=statistics.median(per_nb[method]))
            target = f">={need:.2f} {'ok' if ratio >= need else 'MISS'}"
        each = (f"{row['seconds_per_notebook_median']:6.1f}s"
                if "seconds_per_notebook_median" in row else "")
        print(f"{method:<30} {wall:7.1f} {rate:7.2f} {ratio:8.2f}x {ratio_auto:8.2f}x "
              f"{target:>7}  {each:>7}  {[round(w, 1) for w in walls[method]]}")
        table[method] = row
    print("(vs plain a+fb: the ratio the target uses, against nbgrader in this process above "
          "and against the nbgrader commands below; per nb on wkr: median seconds one grading "
          "took on its worker, autograde + feedback in the sandbox)")
    return {"assignment": aid, "copies": copies, "runs": runs, "full_score": expected,
            "dask_warm_up": warm_up, "methods": table}


# ---------------------------------------------------------------------------------------
# 2. latency: course serve and the exchange


def serve_course(work: Path, aid: str) -> dict:
    """A course root whose config names a local exchange, ``aid`` released to it (as
    course demo's set_up_term and course publish --exchange do)."""
    from course.author.publish import release_to_exchange
    from course.commands.demo_students import use_exchange
    from course.config import load_config

    root = _course(work / "course", [aid], 0)
    exchange = (work / "exchange").resolve()
    use_exchange(root, exchange)
    release_to_exchange(root, [aid])
    course_id = load_config(root).CourseDirectory.course_id
    return {"root": root, "exchange": exchange, "course_id": course_id, "aid": aid,
            "work": work, "solved": solved_notebook(root, aid),
            "full_score": full_score(root, aid)}


def student(term: dict, sid: str) -> Path:
    """A student's home with their own Jupyter config, the assignment fetched and solved."""
    from course.author.catalogue import write_notebook
    from course.commands.demo_students import fetch, student_jupyter_config

    home = term["work"] / "students" / sid
    home.mkdir(parents=True, exist_ok=True)
    student_jupyter_config(home, term["exchange"], sid)
    folder = fetch(home, term["course_id"], term["aid"])
    write_notebook(term["solved"], folder / f"{term['aid']}.ipynb")
    return home


@contextlib.contextmanager
def serving(term: dict, jobs: int = 2, poll: float = 0.5, scheduler: str | None = None):
    """``course serve`` as a subprocess, until its status file shows it running; SIGTERM (and
    its process group killed) on the way out. Yields the process."""
    root = term["root"]
    argv = [str(BIN / "course"), "--root", str(root), "serve", "--jobs", str(jobs),
            "--poll", str(poll)]
    if scheduler:
        argv += ["--scheduler", scheduler]
    logf = term["work"] / "serve.out"
    with open(logf, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=root,
                                start_new_session=True)
    try:
        from course.service.status import wait_running

        try:
            info = wait_running(root, proc)
        except RuntimeError as err:
            raise BenchError(f"{err}:\n{_tail(logf)}") from err
        print(f"   course serve running (pid {proc.pid}, {info.get('workers')})", flush=True)
        yield proc
        if proc.poll() is not None:
            raise BenchError(f"course serve died ({proc.returncode}):\n{_tail(logf)}")
    finally:
        term["serve_exit"] = _kill_group(proc, grace=60, group_term=False)
        term["serve_log"] = _tail(term["root"] / "serve.log", 20000)
        if term["serve_exit"] != 0:
            print(f"   note: course serve did not exit cleanly on SIGTERM (exit "
                  f"{term['serve_exit']})", flush=True)


def _wait_done(term: dict, sids: list[str], proc: subprocess.Popen, limit: float = WAIT_LIMIT
               ) -> dict:
    """student -> their queue Entry once every one of ``sids`` is done (BenchError if one
    fails, is rejected, or takes longer than ``limit`` seconds)."""
    from course.service.queue import read_queue

    db = term["root"] / "gradebook.db"
    deadline = time.monotonic() + limit
    wanted = set(sids)
    while True:
        entries = {e.student_id: e for e in read_queue(db) if e.student_id in wanted}
        bad = [e for e in entries.values() if e.state in ("failed", "rejected", "superseded")]
        if bad:
            raise BenchError("course serve: " + "; ".join(
                f"{e.student_id} {e.state}: {e.note}" for e in bad))
        if len(entries) == len(wanted) and all(e.state == "done" for e in entries.values()):
            return entries
        if proc.poll() is not None:
            raise BenchError(f"course serve died ({proc.returncode})")
        if time.monotonic() > deadline:
            states = {s: (entries[s].state if s in entries else "not collected") for s in sids}
            raise BenchError(f"no feedback after {limit:.0f} s: {states}")
        time.sleep(0.1)


def _problem(term: dict, entry) -> str | None:
    """Why ``entry`` is not a correct grading of a solved notebook (None if it is)."""
    if entry.score == term["full_score"] and not entry.flags and entry.counted:
        return None
    why = (f"course serve graded {entry.student_id}: {entry.score}/{term['full_score']} "
           f"counted={entry.counted} flags={entry.flags!r}")
    spooled = term["root"] / "serve" / entry.key / "submission"
    inbound = term["exchange"] / term["course_id"] / "inbound" / entry.key
    nb = f"{entry.assignment_id}.ipynb"
    if (inbound / nb).is_file() and not (spooled / nb).is_file():
        why += (" -- the inbound folder has the notebook but the service's copy does not: it "
                "was collected before nbgrader submit had finished writing it")
    return why


def _fetch_feedback(term: dict, home: Path, limit: float = 30.0) -> list[Path]:
    """The student's fetch_feedback, repeated until it brings a page (BenchError if not)."""
    from course.commands.demo_students import fetch_feedback

    deadline = time.monotonic() + limit
    while True:
        pages = fetch_feedback(home, term["course_id"], term["aid"])
        if pages and all(p.stat().st_size > 0 for p in pages):
            return pages
        if time.monotonic() > deadline:
            raise BenchError(f"{home.name}: the feedback is released but fetch_feedback "
                             f"brings no page in {limit:.0f} s")
        time.sleep(0.2)


def _phases(entry, t0: float) -> dict:
    """Where the time of one submission went (seconds, from the queue's time stamps)."""
    return {"to_arrived": entry.arrived - t0,
            "queued": (entry.started or entry.arrived) - entry.arrived,
            "grading": (entry.finished or 0) - (entry.started or 0),
            "release": (entry.released or 0) - (entry.finished or 0),
            "worker": entry.worker}


def _checked(term: dict, entry, home: Path) -> tuple[list[Path], str | None]:
    """The student's fetched feedback pages, or why the grading is wrong."""
    problem = _problem(term, entry)
    if problem:
        return [], problem
    try:
        return _fetch_feedback(term, home), None
    except BenchError as err:
        return [], str(err)


def singles(term: dict, proc: subprocess.Popen, n: int) -> dict:
    """n submissions one after another, each waiting for its feedback."""
    from course.commands.demo_students import submit

    rows, problems = [], []
    print(f"   {'student':<10} {'latency':>8} {'released':>9} {'submit':>7} {'queued':>7} "
          f"{'grading':>8} {'release':>8} {'fetch':>6}")
    for k in range(n):
        sid = f"single{k}"
        home = student(term, sid)
        t0 = time.time()
        submit(home, term["course_id"], term["aid"])
        t_submitted = time.time()
        entry = _wait_done(term, [sid], proc)[sid]
        t_seen = time.time()
        pages, problem = _checked(term, entry, home)
        t_fetched = time.time()
        if problem:
            problems.append(problem)
            print(f"   {sid:<10} WRONG, not timed: {problem}", flush=True)
            continue
        row = {"student": sid, "latency": t_fetched - t0, "released": entry.released - t0,
               "submit": t_submitted - t0, "seen_done": t_seen - t0,
               "fetch": t_fetched - t_seen, "pages": [str(p) for p in pages],
               **_phases(entry, t0)}
        rows.append(row)
        print(f"   {sid:<10} {row['latency']:7.1f}s {row['released']:8.1f}s "
              f"{row['submit']:6.2f}s {row['queued']:6.1f}s {row['grading']:7.1f}s "
              f"{row['release']:7.2f}s {row['fetch']:5.2f}s"
              + ("  (the first: the service starts its worker pool)" if k == 0 else ""),
              flush=True)
    out: dict = {"rows": rows, "problems": problems, "target": TARGET_LATENCY}
    lat = [r["latency"] for r in rows]
    if lat:
        out.update(latency_median=statistics.median(lat), latency_max=max(lat),
                   target_met=statistics.median(lat) <= TARGET_LATENCY)
        print(f"   latency (submit -> feedback fetched): median {out['latency_median']:.1f} s, "
              f"max {out['latency_max']:.1f} s (target: median <= {TARGET_LATENCY:.0f} s on an "
              f"idle machine: {'ok' if out['target_met'] else 'MISS'})", flush=True)
    return out


def burst(term: dict, proc: subprocess.Popen, n: int) -> dict:
    """n students submitting back to back; each one's latency and the whole burst's."""
    from course.commands.demo_students import submit

    sids = [f"s{k}" for k in range(n)]
    homes = {sid: student(term, sid) for sid in sids}  # fetched and solved beforehand
    t0 = {}
    for sid in sids:
        t0[sid] = time.time()
        submit(homes[sid], term["course_id"], term["aid"])
    t_last_submit = time.time()
    entries = _wait_done(term, sids, proc)
    t_all_done = time.time()
    rows, problems = [], []
    for sid in sids:
        pages, problem = _checked(term, entries[sid], homes[sid])
        if problem:
            problems.append(problem)
            print(f"   {sid}: WRONG, not timed: {problem}", flush=True)
            continue
        rows.append({"student": sid, "latency": entries[sid].released - t0[sid],
                     "pages": [str(p) for p in pages], **_phases(entries[sid], t0[sid])})
    t_fetched = time.time()
    first = min(t0.values())
    result: dict = {"n": n, "rows": rows, "problems": problems,
                    "submitting": t_last_submit - first,
                    "total_released": max(e.released for e in entries.values()) - first,
                    "total_seen": t_all_done - first, "fetch_all": t_fetched - t_all_done}
    print(f"   {n} students submitted in {result['submitting']:.1f} s; all feedback released "
          f"{result['total_released']:.1f} s after the first submit "
          f"({_rate(n, result['total_released']):.2f} nb/min); fetched by all in "
          f"{result['fetch_all']:.1f} s more")
    if not rows:
        return result
    latencies = [r["latency"] for r in rows]
    workers = sorted({r["worker"] for r in rows})
    result.update(latency_median=statistics.median(latencies), latency_max=max(latencies),
                  latency_min=min(latencies), workers=workers,
                  grading_median=statistics.median(r["grading"] for r in rows))
    print(f"   latency per submission (submit -> feedback released): median "
          f"{result['latency_median']:.1f} s, max {result['latency_max']:.1f} s, min "
          f"{result['latency_min']:.1f} s; one grading {result['grading_median']:.1f} s "
          f"(median), on {len(workers)} worker process(es)")
    print("   each, in submission order (s): "
          + " ".join(f"{r['latency']:.0f}" for r in rows), flush=True)
    return result


def _part(record: dict, name: str, fn, *args):
    """fn(*args); a BenchError (or wrong gradings in its result) is recorded as a failure of
    part ``name`` and the benchmark goes on with the next part."""
    try:
        out = fn(*args)
    except BenchError as err:
        print(f"\nFAILED ({name}): {err}", flush=True)
        record.setdefault("failures", {})[name] = str(err)
        return None
    if isinstance(out, dict) and out.get("problems"):
        record.setdefault("failures", {})[name] = out["problems"]
    return out


def latency(work: Path, aid: str, n_singles: int, n_burst: int, scheduler: str | None,
            record: dict) -> dict:
    """Part 2: course serve on the local exchange (singles, burst), then on Dask."""
    out: dict = {}
    print(f"\n== 2. Latency, submit -> feedback, course serve --jobs 2 --poll 0.5 ({aid})",
          flush=True)
    term = serve_course(work / "serve-local", aid)
    with serving(term) as proc:
        if n_singles:
            print(f"\n-- (a) {n_singles} single submission(s), one after another")
            out["singles"] = _part(record, "singles", singles, term, proc, n_singles)
        if n_burst:
            load("before the burst", record)
            print(f"\n-- (b) a burst of {n_burst} students submitting back to back")
            out["burst_local"] = _part(record, "burst", burst, term, proc, n_burst)
    out["serve_local"] = {"exit": term.get("serve_exit"), "log": term.get("serve_log", "")}
    if scheduler and n_burst:
        load("before the Dask burst", record)
        print(f"\n-- (c) the burst of {n_burst} again, course serve --scheduler {scheduler}")
        term = serve_course(work / "serve-dask", aid)
        with serving(term, scheduler=scheduler) as proc:
            out["burst_dask"] = _part(record, "burst on Dask", burst, term, proc, n_burst)
        out["serve_dask"] = {"exit": term.get("serve_exit"), "log": term.get("serve_log", "")}
    return out


# ---------------------------------------------------------------------------------------
# main


def summary(record: dict) -> None:
    """The targets, met or missed, and the parts that failed."""
    lines = []
    methods = (record.get("throughput") or {}).get("methods", {})
    for name, row in methods.items():
        if "target_met" in row:
            lines.append(f"  throughput {name:<30} {row['ratio_to_plain_autograde_feedback']:.2f}x"
                         f" plain (autograde+feedback), target >= {row['target_ratio']:.2f}x: "
                         f"{'ok' if row['target_met'] else 'MISSED'}")
    lat = record.get("latency") or {}
    one = lat.get("singles") or {}
    if "latency_max" in one:
        lines.append(f"  latency of a single submission: median {one['latency_median']:.1f} s, "
                     f"max {one['latency_max']:.1f} s, target: median <= {TARGET_LATENCY:.0f} s: "
                     f"{'ok' if one['target_met'] else 'MISSED'}")
    for key, what in (("burst_local", "local workers"), ("burst_dask", "Dask")):
        b = lat.get(key) or {}
        if "latency_median" in b:
            lines.append(f"  burst of {b['n']} ({what}): median {b['latency_median']:.1f} s, "
                         f"max {b['latency_max']:.1f} s, all feedback after "
                         f"{b['total_released']:.1f} s")
    for name, why in (record.get("failures") or {}).items():
        lines.append(f"  FAILED {name}: {why}")
    print("== Summary\n" + ("\n".join(lines) or "  nothing measured"))



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", default="06_mlp_backprop", help="the assignment graded")
    parser.add_argument("--copies", type=int, help="K submissions for throughput (default 8)")
    parser.add_argument("--runs", type=int, help="throughput runs (default 3)")
    parser.add_argument("--singles", type=int, help="single submissions (default 5)")
    parser.add_argument("--burst", type=int, help="students in the burst (default 20)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: K=2, 1 run, 1 single, a burst of 3")
    parser.add_argument("--skip-dask", action="store_true", help="no Dask cluster parts")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--json", type=Path, default=ROOT / "work" / "bench" / "serve.json",
                        help="raw numbers (default work/bench/serve.json)")
    args = parser.parse_args(argv)
    quick = {"copies": 2, "runs": 1, "singles": 1, "burst": 3}
    full = {"copies": 8, "runs": 3, "singles": 5, "burst": 20}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)

    set_environment()
    logging.basicConfig(level=logging.ERROR)
    for name in ("traitlets", "distributed", "course.grade", "course.workers"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # NbGraderAPI (release_to_exchange) sets the traitlets logger to INFO again
    logging.getLogger("traitlets").addFilter(lambda rec: rec.levelno >= logging.WARNING)
    warnings.filterwarnings("ignore")

    from course.isolation import sandbox

    record: dict = {"argv": sys.argv[1:], "args": {k: str(v) for k, v in vars(args).items()},
                    "started": time.time(), "cores": os.cpu_count(),
                    "bwrap": str(sandbox.bwrap_path())}
    load("start", record)
    if sandbox.bwrap_path() is None:
        print("note: bubblewrap is not available: course grade runs unsandboxed (flagged), "
              "which this benchmark counts as a wrong result; the Dask parts need it too")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    status = 1
    try:
        with contextlib.ExitStack() as stack:
            scheduler = None
            if not args.skip_dask:
                scheduler = stack.enter_context(dask_cluster(tmp / "dask"))
            if not args.skip_throughput:
                record["throughput"] = _part(record, "throughput", throughput,
                                             tmp / "throughput", args.id, args.copies,
                                             args.runs, scheduler)
                load("after throughput", record)
            if not args.skip_latency:
                record["latency"] = _part(record, "latency", latency, tmp / "latency",
                                          args.id, args.singles, args.burst, scheduler,
                                          record)
        status = 1 if record.get("failures") else 0
    except BenchError as err:  # the Dask cluster did not start
        print(f"\nFAILED: {err}", file=sys.stderr)
        record.setdefault("failures", {})["set-up"] = str(err)
    finally:
        record["finished"] = time.time()
        print()
        summary(record)
        load("end", record)
        print(f"total {record['finished'] - record['started']:.0f} s")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1, default=str) + "\n")
        print(f"raw numbers: {args.json}")
        if args.keep:
            print(f"scratch kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
