"""`make demo`'s term in miniature: the submissions it plants are the ones it describes.

Grading them is what tests/test_check.py and tests/test_grade.py prove; here we check the
demo's own part, fast: who submits what.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

from course import demo
from course.check import solved_release
from course.cli import ASSIGNMENTS
from course.workspace import make_course_root

ROOT = Path(__file__).resolve().parents[1]


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_demo_plants_the_work_of_five_students(tmp_path):
    course = make_course_root(tmp_path / "course", list(ASSIGNMENTS), src=ROOT)
    story = demo.write_submissions(course, list(ASSIGNMENTS))
    submitted = course / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == sorted(demo.STUDENTS)
    first, second = ASSIGNMENTS[0], ASSIGNMENTS[1]
    for aid in ASSIGNMENTS:
        source = _load(course / "source" / aid / f"{aid}.ipynb")
        release = _load(course / "release" / aid / f"{aid}.ipynb")
        solved = solved_release(source, release)
        assert _load(submitted / "ada" / aid / f"{aid}.ipynb") == solved
        assert _load(submitted / "dee" / aid / f"{aid}.ipynb") == release
        assert _load(submitted / "cy" / aid / f"{aid}.ipynb") != solved
        assert aid in story
    assert not (submitted / "eve" / second).exists()
    cheat = (submitted / "eve" / first / f"{first}.ipynb").read_text(encoding="utf-8")
    assert "np.allclose = lambda" in cheat


def test_nbgrader_lab_extensions_are_installed_and_enabled():
    jupyter = shutil.which("jupyter") or str(ROOT / ".venv" / "bin" / "jupyter")
    server = subprocess.run([jupyter, "server", "extension", "list"], capture_output=True,
                            text=True, timeout=120)
    listing = re.sub(r"\x1b\[[0-9;]*m", "", server.stdout + server.stderr)  # drop colours
    for ext in ("formgrader", "validate_assignment", "assignment_list"):
        assert f"nbgrader.server_extensions.{ext} enabled" in listing, ext
    lab = subprocess.run([jupyter, "labextension", "list"], capture_output=True, text=True,
                         timeout=120)
    assert "@jupyter/nbgrader" in lab.stdout + lab.stderr
