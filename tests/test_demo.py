"""`make demo`'s term: who submits what, through nbgrader's exchange, on a calendar.

Grading is what tests/test_check.py and tests/test_grade.py prove, and the whole term in a
browser is tests/browser; here we check the demo's own part, fast.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course.commands import demo, demo_students
from course.config import ASSIGNMENTS, make_course_root

ROOT = Path(__file__).resolve().parents[1]
FIRST, SECOND, THIRD = ASSIGNMENTS[:3]


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _answer_cells(nb):
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
            and c["metadata"].get("nbgrader", {}).get("solution")]


@pytest.mark.parametrize("index", range(len(ASSIGNMENTS)))
def test_students_hand_in_their_own_work(index):
    aid = ASSIGNMENTS[index]
    source = _load(ROOT / "source" / aid / f"{aid}.ipynb")
    release = _load(ROOT / "release" / aid / f"{aid}.ipynb")
    work = demo_students.student_work(ROOT, source, release, aid, index)
    assert sorted(work) == sorted(demo.STUDENTS)
    model = "\n".join(_answer_cells(source))
    answers = set()
    for student, (nb, what) in work.items():
        if nb is None:
            assert (student, index) == ("eve", 1), what
            continue
        text = json.dumps(nb)
        assert "### BEGIN SOLUTION" not in text and "### END SOLUTION" not in text, student
        for answer in _answer_cells(nb):
            # never the instructor's model answer or rubric
            assert "Model answer" not in answer and "*Grading:*" not in answer
            assert not [x for x in answer.splitlines() if len(x) > 30 and x in model]
            answers.add(answer)
    assert {demo_students.ANSWERS[aid][k] for k in ("good", "partial", "wrong")} <= answers
    assert work["dee"][0] == release  # untouched
    assert work["ada"][0] != work["cy"][0]


@pytest.mark.slow
def test_the_term_goes_through_the_exchange(tmp_path):
    """Set-up, publication, fetch, submit (on the calendar; one late), collect."""
    from nbgrader.api import Gradebook

    from course.author.publish import publish

    work = tmp_path / "demo"
    term = demo.set_up_term(ROOT, work, [FIRST, SECOND, THIRD])
    course, cid, homes = term["course"], term["course_id"], term["homes"]
    assert "c.Exchange.root" in (course / "nbgrader_config.py").read_text()
    publish(course, work / "published", [FIRST], exchange=True)
    outbound = term["exchange"] / cid / "outbound" / FIRST
    assert (outbound / f"{FIRST}.ipynb").is_file() and (outbound / "lib").is_dir()
    folder = demo_students.fetch(homes["ada"], cid, FIRST)
    assert (folder / "lib").is_dir()
    demo_students.submit(homes["ada"], cid, FIRST, demo.due(0) - demo.dt.timedelta(hours=50))
    demo_students.fetch(homes["eve"], cid, FIRST)
    demo_students.submit(homes["eve"], cid, FIRST, demo.due(0) + demo.dt.timedelta(hours=5))
    out = demo._api(course).collect(FIRST)
    assert out["success"], out.get("error")
    stamps = {s: (course / "submitted" / s / FIRST / "timestamp.txt").read_text()
              for s in ("ada", "eve")}
    assert stamps["ada"].startswith("2026-10-10 10:00:00")  # two days before the deadline
    assert stamps["eve"].startswith("2026-10-12 17:00:00")  # five hours late
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=cid) as gb:
        assert (gb.find_student("ada").first_name, gb.find_student("ada").last_name) == \
            ("Ada", "Lovelace")
        duedate = gb.find_assignment(FIRST).duedate  # naive UTC, as nbgrader stores it
    assert duedate == demo.due(0).replace(tzinfo=None)
    late = {s: demo.dt.datetime.strptime(t.strip()[:19], "%Y-%m-%d %H:%M:%S") > duedate
            for s, t in stamps.items()}
    assert late == {"ada": False, "eve": True}  # autograde records the lateness from these


def _jupyter(*args, config_dir=None):
    jupyter = str(Path(sys.executable).parent / "jupyter")
    env = dict(os.environ)
    if config_dir:
        env["JUPYTER_CONFIG_DIR"] = str(config_dir)
    out = subprocess.run([jupyter, *args], capture_output=True, text=True, timeout=120,
                         env=env)
    return re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # drop colours


@pytest.mark.slow
def test_nbgrader_lab_extensions_are_installed_and_enabled():
    listing = _jupyter("server", "extension", "list")
    for ext in ("formgrader", "validate_assignment", "assignment_list"):
        assert f"nbgrader.server_extensions.{ext} enabled" in listing, ext
    assert "@jupyter/nbgrader" in _jupyter("labextension", "list")


@pytest.mark.slow
def test_the_students_lab_has_no_instructor_tools(tmp_path):
    cfg = demo_students.student_jupyter_config(tmp_path / "home", tmp_path / "exchange", "ada")
    listing = _jupyter("server", "extension", "list", config_dir=cfg)
    for ext in ("formgrader", "course_list"):
        assert f"nbgrader.server_extensions.{ext} disabled" in listing, ext
    for ext in ("assignment_list", "validate_assignment"):
        assert f"nbgrader.server_extensions.{ext} enabled" in listing, ext
    page = _load(cfg / "labconfig" / "page_config.json")["disabledExtensions"]
    assert page["@jupyter/nbgrader:formgrader"] and page["@jupyter/nbgrader:create-assignment"]
    nbgrader_cfg = (cfg / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.student_id = 'ada'" in nbgrader_cfg
    assert str(tmp_path / "exchange") in nbgrader_cfg


@pytest.mark.slow
def test_make_lab_student_needs_the_demo(tmp_path):
    out = subprocess.run(["make", "-s", "lab-student", "STUDENT=nobody-here",
                          f"STAMP={ROOT / '.venv' / '.installed'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "run 'make demo' first" in out.stdout + out.stderr


def test_demo_course_root_is_a_copy(tmp_path):
    course = make_course_root(tmp_path / "course", [FIRST], src=ROOT)
    assert (course / "release" / FIRST / f"{FIRST}.ipynb").is_file()
