"""``course report``: class statistics, checked against a term whose outcomes we chose and
against the gradebook read directly with nbgrader's API."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from adversarial import toy

from course.report import failures as fl
from course.report import stats
from course.report.build import build, write
from course.report.gather import ANSWER, TEST, AssignmentData, Cell, GradeRecord, Submission

ROOT = Path(__file__).resolve().parents[1]
AID = "toy"
DUE = datetime(2026, 10, 12, 12, 0)

# id: (first, last, what they hand in); names chosen to appear in no other text of a report
STUDENTS = {
    "amara": ("Amara", "Okonkwo", "solves everything"),
    "bodhi": ("Bodhi", "Lindqvist", "total wrong (a bare assert fails), 5 h late"),
    "caspian": ("Caspian", "Vale", "double and total wrong in the visible tests"),
    "dagny": ("Dagny", "Thorsen", "patches numpy.allclose (flagged), double wrong"),
    "ezra": ("Ezra", "Mwangi", "never submits"),
    "fenna": ("Fenna", "Brouwer", "double hard-coded: passes the visible test only; "
              "written answer left ungraded"),
    "gus": ("Gustavo", "Ferreira", "submitted, not graded yet"),
    "hiroko": ("Hiroko", "Sato", "graded by name but hands in nothing: course grade records "
               "'not graded: no submission folder'"),
}
WRONG = {
    "bodhi": {"total": "def total(x):\n    return 1.0"},
    "caspian": {"double": "def double(x):\n    return np.asarray(x, dtype=np.float64)",
                "total": "def total(x):\n    return 2.0"},
    "dagny": {"double": "np.allclose = lambda *a, **k: True\n\ndef double(x):\n"
                        "    return 3.0 * np.asarray(x, dtype=np.float64)"},
    "fenna": {"double": "def double(x):\n    x = np.asarray(x, dtype=np.float64)\n"
                        "    return np.array([2.0, 4.0]) if len(x) == 2 else x"},
}
SUBMITTED_AT = {"amara": "2026-10-10 09:00:00", "bodhi": "2026-10-12 17:00:00",
                "caspian": "2026-10-12 11:00:00", "dagny": "2026-10-11 20:30:00",
                "fenna": "2026-10-12 08:15:00", "gus": "2026-10-12 10:00:00"}
MANUAL = {"amara": 1.0, "bodhi": 1.0, "caspian": 0.5, "dagny": 0.0}  # why_empty, by hand
GRADED = ["amara", "bodhi", "caspian", "dagny", "fenna", "hiroko"]

# what the construction gives, by hand: (double: 2 points, total: 2, why_empty: 1)
EXPECTED_SCORES = {"amara": 2 + 2 + 1.0, "bodhi": 2 + 0 + 1.0, "caspian": 0 + 0 + 0.5,
                   "dagny": 0 + 2 + 0.0, "fenna": 0 + 2 + 0.0}


def _term(root: Path) -> Path:
    from nbgrader.api import Gradebook

    from course.grading import batch

    toy.build_course(root)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", AID) as gb:
        gb.update_or_create_assignment(AID, duedate=DUE)
        for sid, (first, last, _) in STUDENTS.items():
            gb.update_or_create_student(sid, first_name=first, last_name=last)
    for sid, stamp in SUBMITTED_AT.items():
        nb = toy.solved(root)
        for cell, source in WRONG.get(sid, {}).items():
            toy.cell(nb, cell).source = source
        folder = toy.submit(root, sid, nb)
        (folder / "timestamp.txt").write_text(f"{stamp}.000000 UTC")
    batch.grade(root, [AID], GRADED, jobs=2, progress=False)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", AID) as gb:
        for sid, points in MANUAL.items():
            grade = gb.find_grade("why_empty", AID, AID, sid)
            grade.manual_score, grade.needs_manual_grade = points, False
        gb.db.commit()
    return root


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    root = _term(tmp_path_factory.mktemp("report") / "course")
    out = root / "reports"
    anonymous = build(root)
    named = build(root, [AID], names=True)
    pages = {False: write(anonymous, out / "anonymous"), True: write(named, out / "named")}
    return root, {False: anonymous, True: named}, pages


def _one(report):
    (a,) = report["assignments"]
    return a


def _tests(a):
    return {t["test"]: t for t in a["tests"]}


def _texts(pages):
    return [p.read_text(encoding="utf-8") for p in pages]


# -- the numbers of the constructed term ----------------------------------------------------


@pytest.mark.slow
def test_scores_are_what_the_students_earned(term):
    _, reports, _ = term
    a = _one(reports[True])
    assert a["scores"]["by_student"] == EXPECTED_SCORES
    s = a["scores"]
    assert s["values"] == sorted(EXPECTED_SCORES.values())  # [0.5, 2, 2, 3, 5]
    assert s["mean"] == pytest.approx(12.5 / 5) and s["median"] == 2.0
    assert (s["min"], s["max"], s["count"]) == (0.5, 5.0, 5)
    assert s["provisional"] == 1  # fenna's answer is not graded yet
    assert a["max_score"] == 5.0 and _one(reports[False])["scores"]["values"] == s["values"]


@pytest.mark.slow
def test_pass_rates_worst_first(term):
    _, reports, _ = term
    a = _one(reports[True])
    assert [t["test"] for t in a["tests"]] == ["test_double", "test_total"]  # 2/5, then 3/5
    double, total = _tests(a)["test_double"], _tests(a)["test_total"]
    assert (double["graded"], double["passed"], double["failed"], double["partial"]) == (5, 2, 3, 0)
    assert double["pass_rate"] == pytest.approx(0.4)
    assert double["failed_where"] == {"visible": 2, "hidden": 1, "unknown": 0}  # fenna: hidden
    assert (total["passed"], total["failed"]) == (3, 2)
    assert total["failed_where"] == {"visible": 2, "hidden": 0, "unknown": 0}
    ids = lambda rows: [r["id"] for r in rows]  # noqa: E731
    assert ids(double["students_not_passed"]) == ["caspian", "dagny", "fenna"]
    assert ids(total["students_not_passed"]) == ["bodhi", "caspian"]


@pytest.mark.slow
def test_failures_group_the_same_message_with_different_numbers(term):
    _, reports, _ = term
    a = _one(reports[True])
    groups = a["failures"]
    assert [(g["students_count"], g["count"]) for g in groups] == [(3, 3), (2, 2)]
    double, total = groups
    # caspian [1. 2.], dagny [3. 6.], fenna [0. 1. 2.] (hidden): one failure
    assert double["message"] == "AssertionError: result = […], expected […]"
    assert double["example"] == "result = [1. 2.], expected [2. 4.]"  # caspian's, first by id
    assert double["tests"] == [{"notebook": AID, "test": "test_double", "count": 3}]
    assert double["where"] == {"visible": 2, "hidden": 1}
    assert [s["id"] for s in double["students"]] == ["caspian", "dagny", "fenna"]
    # a bare assert has no message: it is named by the test's line that failed
    assert total["message"] == "AssertionError at: assert grading.call(total, [1.0, 2.0]) == 3.0"
    assert [t["test"] for t in total["tests"]] == ["test_total"]
    assert [s["id"] for s in total["students"]] == ["bodhi", "caspian"]
    assert all(t["not_attempted"] == 0 for t in a["tests"])  # no stub was handed in


def test_an_untouched_stub_is_one_failure_across_tests():
    stub = "NotImplementedError: Replace this line with your code"
    made = [fl.Failure(s, "nb", t, "NotImplementedError", "Replace this line with your code",
                       stub, "visible") for s in ("p", "q") for t in ("t1", "t2", "t3")]
    made.append(fl.Failure("p", "nb", "t1", "AssertionError", "x = 1", "AssertionError: x = #",
                           "hidden"))
    first, second = stats.failure_groups(made, stats.Redactor({}, False), None)
    assert (first["message"], first["students_count"], first["count"]) == (stub, 2, 6)
    assert [t["test"] for t in first["tests"]] == ["t1", "t2", "t3"]
    assert (second["count"], second["where"]) == (1, {"hidden": 1})


@pytest.mark.slow
def test_to_grade_late_missing_pending_flags(term):
    _, reports, _ = term
    a = _one(reports[True])
    assert a["to_grade"]["count"] == 1 and a["to_grade"]["submissions"] == 1
    (cell,) = a["to_grade"]["cells"]
    assert (cell["cell"], cell["kind"], cell["count"]) == ("why_empty", ANSWER, 1)
    assert [s["id"] for s in cell["students"]] == ["fenna"]
    assert a["late"]["count"] == 1 and a["late"]["hours"] == [pytest.approx(5.0)]
    assert a["late"]["students"][0]["id"] == "bodhi"
    assert (a["enrolled"], a["submitted"]) == (8, 5)
    assert a["missing"] == {"count": 2, "students": [{"id": "ezra", "name": "Ezra Mwangi"},
                                                     {"id": "hiroko", "name": "Hiroko Sato"}]}
    assert a["pending"]["count"] == 1 and a["pending"]["students"][0]["id"] == "gus"
    assert a["flags"]["count"] == 1
    assert [s["id"] for s in a["flags"]["students"]] == ["dagny"]
    assert any("numpy.allclose" in r["flag"] for r in a["flags"]["reasons"])


@pytest.mark.slow
def test_numbers_agree_with_the_gradebook_read_directly(term):
    """Every per-student number, recomputed from nbgrader.api without course.report."""
    from nbgrader.api import Gradebook

    root, reports, _ = term
    a = _one(reports[True])
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", AID) as gb:
        subs = {s.student.id: s for s in gb.find_assignment(AID).submissions}
        # hiroko's record says she handed in nothing: missing, not a score of 0
        assert subs.pop("hiroko").timestamp is None
        assert a["scores"]["by_student"] == {sid: s.score for sid, s in subs.items()}
        assert a["late"]["count"] == sum(s.total_seconds_late > 0 for s in subs.values())
        assert a["to_grade"]["count"] == sum(
            g.needs_manual_grade for s in subs.values() for nb in s.notebooks for g in nb.grades)
        assert a["enrolled"] == len(gb.students) and a["submitted"] == len(subs)
        for name, row in _tests(a).items():
            autos = [gb.find_grade(name, AID, AID, sid).auto_score for sid in subs]
            assert row["passed"] == sum(x == 2.0 for x in autos)
            assert row["failed"] == sum(x == 0.0 for x in autos)
        flagged = {sid for sid, s in subs.items() if any(nb.flagged for nb in s.notebooks)}
    assert {s["id"] for s in a["flags"]["students"]} == flagged


@pytest.mark.slow
def test_report_leaves_the_gradebook_untouched(term, tmp_path):
    """nbgrader's Gradebook writes on opening (here: the row of a course id it has not seen,
    as after renaming the course in nbgrader_config.py); the report opens a snapshot."""
    import hashlib

    root = tmp_path / "course"
    shutil.copytree(term[0], root, symlinks=True)
    with (root / "nbgrader_config.py").open("a") as fh:
        fh.write('\nc.CourseDirectory.course_id = "renamed"\n')
    db = root / "gradebook.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    report = build(root)
    assert report["course_id"] == "renamed" and _one(report)["submitted"] == 5
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


# -- names ----------------------------------------------------------------------------------


def _identities():
    return [w for sid, (first, last, _) in STUDENTS.items() for w in (sid, first, last)]


@pytest.mark.slow
def test_no_name_without_names(term):
    _, reports, pages = term
    texts = _texts(pages[False]) + [json.dumps(reports[False])]
    for text in (re.sub(r"data:[^'\"]*", "", t) for t in texts):  # base64 may spell anything
        for word in _identities():
            assert word.lower() not in text.lower(), word
    a = _one(reports[False])
    assert "students" not in a["missing"] and "by_student" not in a["scores"]


@pytest.mark.slow
def test_names_with_names(term):
    _, _, pages = term
    html, data = _texts(pages[True])
    for word in _identities():  # every student is named somewhere: scores, missing, pending
        assert word in html and word in data, word


# -- the page -------------------------------------------------------------------------------


@pytest.mark.slow
def test_page_is_offline_and_readable(term):
    _, _, pages = term
    for html in (pages[False][0].read_text("utf-8"), pages[True][0].read_text("utf-8")):
        assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
        assert html.count("src='data:image/svg+xml;base64,") == 2  # histogram, pass rates
        text = re.sub(r"data:[^'\"]*", "", html).lower()  # base64 may spell anything
        assert "http" not in text and "<script" not in text and "@import" not in text
        for heading in ("Overview", "Scores", "Tests, worst first", "Most common failures",
                        "To grade by hand", "Late and missing", "Flags"):
            assert f">{heading}</h" in html, heading
        # the worst test comes first in the table of tests
        table = html.split("Tests, worst first")[1]
        assert table.index("test_double") < table.index("test_total")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_page_renders_in_chromium(term, tmp_path):
    _, _, pages = term
    png = tmp_path / "report.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={png}", "--window-size=1200,2400",
                    pages[True][0].as_uri()], check=True, timeout=120, capture_output=True)
    assert png.stat().st_size > 20_000  # a page with text and two figures, not a blank one


@pytest.mark.slow
def test_command_writes_both_files_and_refuses_unknown_ids(term, tmp_path):
    root, _, _ = term
    course = [sys.executable, "-m", "course.cli", "--root", str(root), "report"]
    out = subprocess.run([*course, "--out", str(tmp_path / "r")], capture_output=True,
                         text=True, check=True).stdout
    assert "toy: 5/8 submitted" in out and "1 late, 2 missing, 1 flagged" in out
    assert json.loads((tmp_path / "r" / "report.json").read_text())["names"] is False
    bad = subprocess.run([*course, "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not in the gradebook: nope" in bad.stderr


# -- the parts, on hand-made input (fast) ---------------------------------------------------


@pytest.mark.parametrize(("message", "expected"), [
    ("result = [1. 2.], expected [2. 4.]", "result = […], expected […]"),
    ("z has shape (2, 3), expected (3, 2)", "z has shape (#, #), expected (#, #)"),
    ("W1 = [[ 1.5e-3 -2. ]\n [ nan 4 ]] after 12 steps", "W1 = […] after # steps"),
    ("<object at 0x7f3a2b9c>", "<object at 0x…>"),
    ("\x1b[0;31mloss 1e+300 > 3\x1b[0m", "loss # > #"),
])
def test_normalise_takes_the_numbers_out(message, expected):
    assert fl.normalise(message) == expected


SOURCE = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN TESTS"


def _cell(traceback, evalue="", ename="AssertionError"):
    return {"cell_type": "code", "source": SOURCE, "metadata": {"nbgrader": {"grade_id": "t"}},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"},
                        {"output_type": "error", "ename": ename, "evalue": evalue,
                         "traceback": traceback}]}


def test_failure_in_plain_nbgrader_traceback_is_located_in_the_hidden_tests():
    # IPython 8's coloured traceback, as plain `nbgrader autograde` stores it
    tb = ["\x1b[0;31m----------\x1b[0m", "\x1b[0;31mAssertionError\x1b[0m  Traceback",
          "Cell \x1b[0;32mIn[7], line 3\x1b[0m\n\x1b[1;32m----> 3\x1b[0m assert f(2) == 4"]
    f = fl.cell_failure("s", "nb", "t", _cell(tb))
    assert (f.error, f.message, f.part) == ("AssertionError", "", "hidden")
    assert f.key == "AssertionError at: assert f(2) == 4"


def test_failure_on_the_trusted_path_is_located_in_the_visible_tests():
    tb = ["ValueError: x has shape (3,)", "", "Traceback (most recent call last):",
          '  File "<t>", line 1, in <module>\n    assert f(1) == 2']
    f = fl.cell_failure("s", "nb", "t", _cell(tb, "x has shape (3,)", "ValueError"))
    assert (f.part, f.key) == ("visible", "ValueError: x has shape (#,)")


def test_failure_without_error_output_or_cell_is_unknown():
    cell = _cell([])
    cell["outputs"] = []
    assert fl.cell_failure("s", "nb", "t", cell).part == "unknown"
    assert "not in the autograded notebook" in fl.cell_failure("s", "nb", "t", None).key


def test_unreadable_or_linked_notebooks_are_not_read(tmp_path):
    good = tmp_path / "a.ipynb"
    good.write_text(json.dumps({"cells": [_cell([])], "metadata": {}}))
    (tmp_path / "link.ipynb").symlink_to(good)
    (tmp_path / "bad.ipynb").write_text("{not json")
    assert fl.read_notebook(good) is not None
    assert fl.read_notebook(tmp_path / "link.ipynb") is None
    assert fl.read_notebook(tmp_path / "bad.ipynb") is None
    assert fl.read_notebook(tmp_path / "absent.ipynb") is None


def test_redactor_replaces_whole_words_only():
    redact = stats.Redactor({"ann": "Ann Lee", "bo": "bo"}, active=True)
    assert redact("read /submitted/ann/x and Ann Lee's annotation; LEE; bob") == (
        "read /submitted/‹student›/x and ‹student›'s annotation; ‹student›; bob")
    assert stats.Redactor({"ann": "Ann"}, active=False)("ann") == "ann"


def _made_up() -> AssignmentData:
    t1, t2 = Cell("nb", "t1", TEST, 2.0), Cell("nb", "t2", TEST, 1.0)
    answer = Cell("nb", "why", ANSWER, 1.0)

    def sub(sid, a1, a2, manual, late=0.0):
        s = Submission(sid, None, late, 0.0, a1 + a2 + (manual or 0), 4.0, manual is None,
                       False, [])
        s.grades = [GradeRecord(t1, a1, None, a1, False), GradeRecord(t2, a2, None, a2, False),
                    GradeRecord(answer, None, manual, manual or 0.0, manual is None)]
        return s

    subs = {"p": sub("p", 2.0, 1.0, 1.0), "q": sub("q", 1.0, 1.0, None, late=7200.0),
            "r": sub("r", 0.0, 0.0, 0.0)}
    return AssignmentData("a", None, 4.0, [t1, t2, answer], ["nb"], subs, ["p", "q", "r", "z"],
                          [])


def test_stats_of_a_made_up_assignment():
    a = stats.assignment_stats(_made_up(), [], stats.Redactor({}, False), None)
    t1, t2 = a["tests"]  # t1: 1 of 3 passed, 1 partial (1 of 2 points); t2: 2 of 3
    assert (t1["test"], t1["passed"], t1["partial"], t1["failed"]) == ("t1", 1, 1, 1)
    assert t1["mean_points"] == pytest.approx(1.0) and t2["pass_rate"] == pytest.approx(2 / 3)
    assert a["to_grade"]["count"] == 1 and a["scores"]["provisional"] == 1
    assert a["late"] == {"count": 1, "hours": [2.0], "penalty": 0.0}
    assert a["missing"] == {"count": 1} and a["scores"]["values"] == [0.0, 2.0, 4.0]
    assert "students" not in a and "students_not_passed" not in t1


def test_page_escapes_what_students_control():
    from course.report.page import render

    made = _made_up()
    made.submissions["p"].flags = ["<img src=x onerror=alert(1)>"]
    evil = "<script>alert(2)</script>"
    failures = [fl.Failure("q", "nb", "t1", evil, evil, f"{evil}: {evil}", "visible")]
    a = stats.assignment_stats(made, failures, stats.Redactor({}, False), None)
    html = render({"course_id": "c<b>", "generated_at": "now", "names": False,
                   "assignments": [a]})
    assert "<script" not in html and "<img src=x" not in html and "c<b>" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html and "&lt;img src=x" in html


def test_a_course_root_without_gradebook_is_refused(tmp_path):
    shutil.copy(toy.FIXTURE / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    with pytest.raises(ValueError, match="no gradebook at .*gradebook.db"):
        build(tmp_path)


# -- the demo's term (its first assignment: the real course, the demo's five students) -------


def _demo_term(work: Path) -> Path:
    """Week 1 of ``make demo``'s term, as the demo runs it: published to the exchange,
    fetched, worked on and submitted by the demo's students on its calendar, collected,
    graded in the sandbox."""
    from course.author.publish import publish
    from course.commands import demo
    from course.commands.demo_students import fetch, student_work, submit
    from course.grading import batch

    aid = demo.ASSIGNMENTS[0]
    term = demo.set_up_term(ROOT, work, [aid])
    course, cid, homes = term["course"], term["course_id"], term["homes"]
    publish(course, work / "published", [aid], exchange=True)
    source = json.loads((course / "source" / aid / f"{aid}.ipynb").read_text("utf-8"))
    release = json.loads((course / "release" / aid / f"{aid}.ipynb").read_text("utf-8"))
    for sid, (nb, _) in student_work(ROOT, source, release, aid, 0).items():
        folder = fetch(homes[sid], cid, aid)
        (folder / f"{aid}.ipynb").write_text(json.dumps(nb, indent=1) + "\n", "utf-8")
        submit(homes[sid], cid, aid,
               demo.due(0) - demo.dt.timedelta(hours=demo.SUBMITTED_BEFORE[sid]))
    assert demo._api(course).collect(aid)["success"]
    batch.grade(course, [aid], list(demo.STUDENTS), jobs=2, progress=False)
    return course


@pytest.fixture(scope="module")
def demo_term(tmp_path_factory):
    course = _demo_term(tmp_path_factory.mktemp("demo") / "demo")
    return course, build(course), build(course, names=True)


@pytest.mark.slow
def test_demo_term_numbers_agree_with_the_gradebook(demo_term):
    from nbgrader.api import Gradebook

    from course.commands import demo

    course, _, named = demo_term
    a = _one(named)
    aid = a["id"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", named["course_id"]) as gb:
        subs = {s.student.id: s for s in gb.find_assignment(aid).submissions}
        assert a["scores"]["by_student"] == {sid: s.score for sid, s in subs.items()}
        grades = [g for s in subs.values() for nb in s.notebooks for g in nb.grades]
        assert a["to_grade"]["count"] == sum(g.needs_manual_grade for g in grades)
        for t in a["tests"]:
            mine = [g for g in grades if g.name == t["test"]]
            assert t["graded"] == len(mine) == len(demo.STUDENTS)
            assert t["passed"] == sum(g.auto_score == g.max_score for g in mine), t["test"]
            assert t["failed"] == sum(g.auto_score == 0 for g in mine), t["test"]
        assert a["enrolled"] == len(gb.students)
    # what the demo's students do (course/commands/demo.py): dee hands in the untouched
    # release, eve patches numpy.allclose, "you" has not started; nobody is late in week 1
    assert a["scores"]["by_student"]["dee"] == 0.0
    assert all(t["not_attempted"] >= 1 for t in a["tests"])
    stub = next(g for g in a["failures"] if g["error"] == "NotImplementedError")
    assert stub["students_count"] == 1 and stub["students"][0]["id"] == "dee"
    assert {t["test"] for t in stub["tests"]} == {t["test"] for t in a["tests"]}
    assert [s["id"] for s in a["flags"]["students"]] == ["eve"]
    assert "numpy.allclose" in a["flags"]["reasons"][0]["flag"]
    assert a["missing"]["students"] == [{"id": "you", "name": "You Tryout"}]
    assert a["late"]["count"] == 0


@pytest.mark.slow
def test_demo_term_report_names_nobody(demo_term, tmp_path):
    from course.commands import demo

    _, anonymous, named = demo_term
    html, data = _texts(write(anonymous, tmp_path / "anonymous"))
    people = [w for sid, (first, last, _) in {**demo.STUDENTS, "you": demo.YOU[1:] + ("",)
                                              }.items() for w in (sid, first, last)]
    for text in (re.sub(r"data:[^'\"]*", "", html), data):
        for word in people:
            assert not re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.I), word
    named_html, _ = _texts(write(named, tmp_path / "named"))
    assert all(f"{first} {last} ({sid})" in named_html
               for sid, (first, last, _) in demo.STUDENTS.items())
