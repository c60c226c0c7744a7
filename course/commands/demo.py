"""``course demo``: a term of the course end to end, in a scratch workspace.

1. Train the reference MLP of assignment 06 on the digits (test accuracy, training time,
   learning curves as a PNG): what the course builds up to.
2. A term, in ``work/demo/`` (git-ignored; nothing tracked is touched), through nbgrader's
   exchange in the local folder ``work/demo/exchange``:

   - ``course/``: the instructor's course root (config, source, lib, gradebook with the
     students' names and the due dates); its ``nbgrader_config.py`` names the exchange;
   - ``published/``: ``course publish --git``, the students' repository;
   - ``students/<id>/``: each student's home, with a Jupyter configuration of its own
     (``.jupyter/``: the exchange, the student id, no formgrader or Create Assignment).

   Week by week each assignment is published to the exchange, every student fetches it,
   works (their own code, without solution markers, and their own written answers: good,
   partial or wrong) and submits; the instructor collects, grades in the sandbox
   (``course grade``) and releases the feedback, which the students fetch.
3. Office hours, in real time: the last assignment's deadline is extended by a week,
   ``course serve`` runs (``--skip-existing``: the term is graded already), two students
   resubmit corrected work and fetch its feedback seconds later.

The students: Ada Lovelace solves everything; Ben Okafor gets every other notebook partly
wrong; Cy Tanaka makes one typical mistake in every notebook; Dee Novak hands in untouched
notebooks; Eve Moreau patches ``numpy.allclose`` in the first notebook, never submits the
second and is late with the third. Submission times are simulated on a calendar (the term
is compressed into a minute): each assignment is published on a Monday and due the next
Monday at noon.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI

from course.author import release
from course.author.publish import publish
from course.commands.demo_students import (
    fetch,
    fetch_feedback,
    student_jupyter_config,
    student_work,
    submit,
    use_exchange,
)
from course.config import ASSIGNMENTS, load_config, make_course_root
from course.grading import batch as grade
from course.grading.batch import summary_table
from course.service.exchange import parse_name
from course.service.queue import read_queue
from course.service.status import wait_running
from lib import data, models, optim, plots

# id: (first name, last name, how they work)
STUDENTS = {
    "ada": ("Ada", "Lovelace", "solves everything, good written answers"),
    "ben": ("Ben", "Okafor", "every other notebook partly wrong, partial answers"),
    "cy": ("Cy", "Tanaka", "one typical mistake per notebook, wrong answers"),
    "dee": ("Dee", "Novak", "hands in untouched notebooks"),
    "eve": ("Eve", "Moreau", "cheats in 01, skips 02, is late with 03"),
}

# a student without submissions, for trying the student's lab oneself
YOU = ("you", "You", "Tryout")

TERM_START = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)  # a Monday


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="work/demo", help="scratch folder (git-ignored)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the reference MLP")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    parser.add_argument("--no-grading", action="store_true", help="only train the MLP")


def train_reference_mlp(out: Path, epochs: int = 30) -> dict:
    """Train ``MLP([64, 64, 10])`` with SGD (λ = 0.5, τ = 0.9, B = 32); return a summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    X, y = data.load_digits()
    X_tr, y_tr, X_va, y_va, X_te, y_te = data.train_val_test_split(X, y, rng=0)
    model = models.MLP([64, 64, 10], activation="sigmoid", seed=0)
    start = time.perf_counter()
    history = optim.train(model, X_tr, y_tr, epochs=epochs, batch_size=32, lr=0.5,
                          momentum=0.9, X_val=X_va, y_val=y_va, seed=0)
    seconds = time.perf_counter() - start
    test_acc = optim.accuracy(model, X_te, y_te)  # the test set, used once, at the end

    plots.use_style()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    plots.loss_curves({"training": history["train_loss"], "validation": history["val_loss"]},
                      ax=ax_loss, title="MLP 64-64-10 on the digits: loss")
    plots.loss_curves({"training": history["train_acc"], "validation": history["val_acc"]},
                      ax=ax_acc, ylabel="accuracy", title=f"accuracy (test: {test_acc:.1%})")
    out.mkdir(parents=True, exist_ok=True)
    png = out / "mlp_digits_loss.png"
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return {"test_accuracy": test_acc, "seconds": seconds, "png": png,
            "n_train": len(y_tr), "n_test": len(y_te)}


def _api(course: Path):

    return NbGraderAPI(config=load_config(course))


def _check(out: dict, what: str) -> None:
    if not out["success"]:
        raise RuntimeError(f"nbgrader {what} failed:\n{out.get('log')}\n{out.get('error')}")


def set_up_term(repo: Path, work: Path, ids: list[str]) -> dict:
    """The course root, the exchange and the students' homes of a fresh term; returns paths."""

    if work.exists():
        for name in ("course", "exchange", "published", "students"):
            if (work / name).exists():
                shutil.rmtree(work / name)  # a fresh term every time: the demo is repeatable
    course = make_course_root(work / "course", ids, src=repo)
    shutil.copytree(repo / "lib", course / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    exchange = (work / "exchange").resolve()
    use_exchange(course, exchange)
    release.release(course, ids, gradebook=True, progress=False)
    course_id = load_config(course).CourseDirectory.course_id
    homes = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=course_id) as gb:
        for sid, (first, last, _) in {**STUDENTS, YOU[0]: (*YOU[1:], "")}.items():
            gb.update_or_create_student(sid, first_name=first, last_name=last)
            home = work / "students" / sid
            home.mkdir(parents=True, exist_ok=True)
            student_jupyter_config(home, exchange, sid)
            homes[sid] = home
        for k, aid in enumerate(ids):
            gb.update_or_create_assignment(aid, duedate=due(k).replace(tzinfo=None))
    return {"course": course, "exchange": exchange, "homes": homes, "course_id": course_id}


def due(k: int) -> dt.datetime:
    """Due date of the k-th assignment (UTC): the Monday after its release, at noon."""
    return TERM_START + dt.timedelta(weeks=k + 1, hours=3)

# hours before the deadline at which each student submits (negative: late)
SUBMITTED_BEFORE = {"ada": 50.0, "ben": 26.5, "cy": 3.25, "dee": 0.5, "eve": 7.0}


def run_term(repo: Path, work: Path, jobs: int) -> tuple[list[dict], dict, float]:

    ids = list(ASSIGNMENTS)
    start = time.perf_counter()
    term = set_up_term(repo, work, ids)
    course, course_id, homes = term["course"], term["course_id"], term["homes"]
    api = _api(course)
    print(f"\n== A term of {len(ids)} assignments, {len(STUDENTS)} students; exchange "
          f"{term['exchange']}")
    for k, aid in enumerate(ids):
        # week k: publish (earlier assignments are closed), students fetch, work, submit
        done = publish(course, work / "published", ids[: k + 1], closed=ids[:k], git=True,
                       exchange=True)
        source = json.loads((course / "source" / aid / f"{aid}.ipynb").read_text("utf-8"))
        release_nb = json.loads((course / "release" / aid / f"{aid}.ipynb").read_text("utf-8"))
        work_of = student_work(repo, source, release_nb, aid, k)
        line = []
        for sid, (nb, what) in work_of.items():
            folder = fetch(homes[sid], course_id, aid)
            if nb is None:
                line.append(f"{sid}: {what}")
                continue
            (folder / f"{aid}.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False)
                                                  + "\n", encoding="utf-8")
            hours = -5.0 if what == "late" else SUBMITTED_BEFORE[sid]
            submit(homes[sid], course_id, aid, due(k) - dt.timedelta(hours=hours))
            line.append(f"{sid}: {what}")
        print(f"   week {k + 1}: published {aid} (commit {done['commit'][:8]}), due "
              f"{due(k):%a %d %b %H:%M} UTC; " + "; ".join(line))
        term["correct"] = work_of["ada"][0]  # the last assignment's correct work
    print("== Collecting (nbgrader collect) and grading (course grade, sandboxed)")
    for aid in ids:
        _check(api.collect(aid), f"collect {aid}")
    rows = grade.grade(course, ids, list(STUDENTS), jobs=jobs)
    print("== Feedback (nbgrader release_feedback); the students fetch it")
    fetched = 0
    for aid in ids:
        _check(api.release_feedback(aid), f"release_feedback {aid}")
        for sid in STUDENTS:
            if (homes[sid] / aid).is_dir() and work_of_submitted(course, sid, aid):
                fetched += len(fetch_feedback(homes[sid], course_id, aid))
    term["feedback_fetched"] = fetched
    return rows, term, time.perf_counter() - start

# who comes to office hours with the last assignment, and the work they hand in again
OFFICE_HOURS = ("ben", "dee")


def office_hours(term: dict, jobs: int) -> list[dict]:
    """Grading on submission: the last assignment's deadline is extended by a week and
    ``course serve`` runs; two students resubmit corrected work, now, and read their
    feedback as soon as it is released. Returns one dict per resubmission."""



    course, course_id, homes = term["course"], term["course_id"], term["homes"]
    aid = ASSIGNMENTS[-1]
    new_due = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) + dt.timedelta(days=7)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=course_id) as gb:
        gb.update_or_create_assignment(aid, duedate=new_due)
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    log = open(course / "serve.out", "ab")  # closed below
    service = subprocess.Popen(
        [str(bindir / "course"), "--root", str(course), "serve", "--jobs", str(jobs),
         "--poll", "0.5", "--skip-existing"], stdout=log, stderr=subprocess.STDOUT, env=env)
    out = []
    try:
        wait_running(course, service)
        for sid in OFFICE_HOURS:
            folder = homes[sid] / aid
            (folder / f"{aid}.ipynb").write_text(
                json.dumps(term["correct"], indent=1, ensure_ascii=False) + "\n",
                encoding="utf-8")
            start = time.time()
            submit(homes[sid], course_id, aid)
            entry = None
            while time.time() - start < 300:
                entry = next((e for e in read_queue(course / "gradebook.db")
                              if e.student_id == sid and e.assignment_id == aid
                              and e.arrived >= start - 1 and e.state == "done"), None)
                if entry is not None:
                    break
                time.sleep(0.2)
            stamp = parse_name(entry.key)[2] if entry else None
            pages = [p for p in fetch_feedback(homes[sid], course_id, aid)
                     if p.parent.name == stamp]  # this submission's page
            out.append({"student": sid, "assignment": aid, "entry": entry,
                        "seconds": time.time() - start, "pages": len(pages)})
    finally:
        service.terminate()
        service.wait(timeout=120)
        log.close()
    term["new_due"] = new_due
    return out


def late_submissions(course: Path, course_id: str) -> list[tuple[str, str, float]]:
    """(student, assignment, hours late) of every late submission in the gradebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=course_id) as gb:
        return [(sub.student.id, a.name, sub.total_seconds_late / 3600)
                for a in gb.assignments for sub in a.submissions if sub.total_seconds_late > 0]


def work_of_submitted(course: Path, sid: str, aid: str) -> bool:
    return (course / "submitted" / sid / aid).is_dir()


def commands(repo: Path, term: dict) -> list[str]:
    """The commands the demo prints, each one that works as printed from the repository."""
    bindir = Path(sys.executable).parent
    course = term["course"]
    rel = lambda p: Path(p).relative_to(repo) if Path(p).is_relative_to(repo) else p  # noqa: E731
    you = term["homes"][YOU[0]]
    root = " --allow-root" if os.geteuid() == 0 else ""  # Jupyter refuses root without it
    where = "" if rel(course) == Path("work/demo/course") else f" COURSE={rel(course)}"
    return [
        "Instructor: formgrader (grade the written answers, then Generate/Release Feedback),"
        " on this term's course root and exchange:",
        f"    make lab{where}",
        f"    (= cd {rel(course)} && {bindir / 'jupyter'} lab{root}, with the news prompt off)",
        "  or on the command line, after grading by hand:",
        f"    cd {rel(course)} && {bindir / 'nbgrader'} generate_feedback --force "
        "01_gradient_descent && "
        f"{bindir / 'nbgrader'} release_feedback 01_gradient_descent",
        "Student: JupyterLab with Assignment List (fetch, validate, submit, fetch feedback),"
        " no instructor tools:",
        "    make lab-student                  # as Ada Lovelace (all submitted, feedback)",
        "    make lab-student STUDENT=you      # a student who has not started",
        f"    (= cd {rel(you)} && env JUPYTER_CONFIG_DIR={you / '.jupyter'} "
        f"{bindir / 'jupyter'} lab{root})",
        "Students' repository (course publish --git), as a student clones it:",
        f"    git clone {rel(course.parent / 'published')} {rel(course.parent / 'clone')}",
    ]


def run(args: argparse.Namespace) -> int:
    repo = Path(args.root).resolve()
    out = repo / args.out
    summary = train_reference_mlp(out, args.epochs)
    print(f"Reference MLP 64-64-10 (sigmoid), {args.epochs} epochs of SGD on "
          f"{summary['n_train']} digits: test accuracy {summary['test_accuracy']:.1%} on "
          f"{summary['n_test']} held-out digits, trained in {summary['seconds']:.2f} s")
    print(f"Learning curves: {summary['png']}")
    if args.no_grading:
        return 0


    rows, term, seconds = run_term(repo, out, args.jobs)
    course = term["course"]
    print("\n" + summary_table(rows))
    totals = {}
    for r in rows:
        got, most = totals.get(r["student"], (0.0, 0.0))
        totals[r["student"]] = (got + r["score"], most + r["max_score"])
    late = late_submissions(course, term["course_id"])
    if late:
        print("\nLate: " + ", ".join(f"{s} {a} ({h:.1f} h after the deadline)"
                                     for s, a, h in late))
    print("\nTotals: " + ", ".join(f"{s} {g:g}/{m:g}" for s, (g, m) in totals.items()))
    print("Scores are autograded points; each notebook's written answers (2 of its 10 points)"
          " wait for grading by hand in formgrader.")
    print(f"\nGrades (nbgrader's export + flags): {course / 'grades.csv'}")
    print(f"Feedback: {course / 'feedback'}/<student>/<id>/<id>.html, released through the "
          f"exchange; {term['feedback_fetched']} fetched by the students into "
          "students/<student>/<id>/feedback/")
    print(f"\nThe term (publish, fetch, submit, collect, grade, feedback) took {seconds:.0f} s")


    print(f"\n== Office hours: {ASSIGNMENTS[-1]}'s deadline is extended by a week and "
          "`course serve` grades each submission as it arrives")
    for r in office_hours(term, args.jobs):
        e = r["entry"]
        if e is None:
            print(f"   {r['student']}: resubmitted, no feedback after {r['seconds']:.0f} s "
                  f"(see {course / 'serve.log'})")
            continue
        print(f"   {r['student']} resubmits corrected work: {e.score:g}/{e.max_score:g} "
              f"points ({'counts' if e.counted else 'does not count'}); "
              + (f"its feedback fetched {r['seconds']:.1f} s after submitting" if r["pages"]
                 else "its feedback was not found by fetch_feedback"))
    print(f"   queue and latencies: {Path(sys.executable).parent / 'course'} --root "
          f"{course} status")
    print("\n".join(["", *commands(repo, term)]))
    from course.report.build import build, write  # the term's last step: class statistics

    page, _ = write(build(course), course / "reports")
    print(f"\nClass report (no student named): {page}\n  with names: "
          f"{Path(sys.executable).parent / 'course'} --root {course} report --names")
    return 0
