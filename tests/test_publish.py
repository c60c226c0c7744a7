"""``course publish``: what students get holds no secret, and nothing of the instructor's."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from course.author import publish as pub
from course.author.leaks import released_lines, secret_lines
from course.config import ASSIGNMENTS, make_course_root

ROOT = Path(__file__).resolve().parents[1]
FIRST, SECOND = ASSIGNMENTS[0], ASSIGNMENTS[1]


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(folder).parts}


@pytest.mark.slow
def test_a_publication_holds_the_releases_and_a_readme_only(tmp_path):
    dest = tmp_path / "students"
    pub.publish(ROOT, dest, [FIRST])
    files = _files(dest)
    release = _files(ROOT / "release" / FIRST)
    release = {f for f in release if "__pycache__" not in f and ".ipynb_checkpoints" not in f}
    assert files == {"README.md", "requirements.txt"} | {f"release/{FIRST}/{f}" for f in release}
    assert f"release/{FIRST}/lib/losses.py" in files  # the student edition of lib
    readme = (dest / "README.md").read_text(encoding="utf-8")
    assert "private" in readme and "Assignment List" in readme
    published = (dest / "requirements.txt").read_text(encoding="utf-8")
    assert published == (ROOT / "requirements" / "student.txt").read_text(encoding="utf-8")
    pins = {line.split("==")[0] for line in published.splitlines() if "==" in line}
    assert {"nbgrader", "numpy", "ipywidgets"} <= pins
    assert not pins & {"dask", "distributed", "latex2mathml", "jupyter-server-mathjax"}


def test_no_secret_of_an_open_assignment_anywhere_in_the_tree(tmp_path):
    """Independent of tree_leaks: every text line of the tree against secret_lines."""
    dest = tmp_path / "students"
    pub.publish(ROOT, dest, [FIRST])
    secrets = secret_lines(ROOT, FIRST)  # 01's and every later assignment's secrets
    assert len(secrets) > 100
    found = [(line, rel) for line, rel in released_lines(dest) if line in secrets]
    assert found == []


def test_the_end_of_term_publication_is_leak_free(tmp_path):
    """All six: each release holds no secret of its own or a later assignment, and no file
    outside release/06 holds a secret of the open one, 06 (inside it, the release's own
    check above applies: lines the revealed references of 05 share with 06 are public)."""
    dest = tmp_path / "students"
    ids = list(ASSIGNMENTS)
    pub.publish(ROOT, dest, ids, closed=ids[:-1])
    for aid in ids:
        secrets = secret_lines(ROOT, aid)
        found = [(line, rel) for line, rel in released_lines(dest / "release" / aid)
                 if line in secrets]
        assert found == [], aid
    open_secrets = pub.own_secrets(ROOT, ids[-1])
    assert open_secrets
    found = [r for line, r in released_lines(dest)
             if line in open_secrets and not r.startswith(f"release/{ids[-1]}/")]
    assert found == []


def test_a_later_edition_of_lib_must_not_reveal_an_open_assignment(tmp_path):
    dest = tmp_path / "students"
    with pytest.raises(pub.PublishError, match=f"open: {FIRST}"):
        pub.publish(ROOT, dest, [FIRST, SECOND])
    assert not (dest / "release").exists()  # nothing of the refused tree is left
    pub.publish(ROOT, dest, [FIRST, SECOND], closed=[FIRST])
    assert (dest / "release" / SECOND / f"{SECOND}.ipynb").is_file()


def test_a_planted_leak_stops_the_publication(tmp_path):
    course = make_course_root(tmp_path / "course", [FIRST], src=ROOT)
    source = json.loads((course / "source" / FIRST / f"{FIRST}.ipynb").read_text("utf-8"))
    answer = next("".join(c["source"]) for c in source["cells"]
                  if c["metadata"].get("nbgrader", {}).get("grade_id") == "q_diverge")
    line = next(x for x in answer.splitlines() if len(x) > 40)
    shutil.copytree(ROOT / "lib", course / "lib")
    with (course / "release" / FIRST / "README.md").open("a", encoding="utf-8") as fh:
        fh.write(f"\n{line}\n")
    with pytest.raises(pub.PublishError, match="leaks 1 secret line"):
        pub.publish(course, tmp_path / "students", [FIRST])


def test_git_publication_is_one_commit_per_publication_and_clones(tmp_path):
    dest = tmp_path / "students"
    done = pub.publish(ROOT, dest, [FIRST], git=True, zip_=True)
    log = subprocess.run(["git", "-C", str(dest), "log", "--format=%s"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert log == [f"Publish {FIRST}"]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(dest), str(clone)], check=True)
    assert _files(clone) == _files(dest)
    with zipfile.ZipFile(done["zip"]) as z:
        names = z.namelist()
    assert f"students/release/{FIRST}/{FIRST}.ipynb" in names
    assert not [n for n in names if "/.git/" in n]
    pub.publish(ROOT, dest, [FIRST, SECOND], closed=[FIRST], git=True)
    log = subprocess.run(["git", "-C", str(dest), "log", "--format=%s"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert len(log) == 2


def test_a_foreign_folder_is_never_replaced(tmp_path):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(pub.PublishError, match="not an earlier `course publish`"):
        pub.publish(ROOT, dest, [FIRST])
    assert (dest / "notes.txt").read_text() == "mine"


def test_release_without_student_lib_is_refused(tmp_path):
    course = make_course_root(tmp_path / "course", [FIRST], src=ROOT)
    shutil.rmtree(course / "release" / FIRST / "lib")
    with pytest.raises(pub.PublishError, match="has no lib/"):
        pub.publish(course, tmp_path / "students", [FIRST])


def test_exchange_gets_the_release_through_nbgrader(tmp_path):
    from course.commands.demo_students import use_exchange

    course = make_course_root(tmp_path / "course", [FIRST, SECOND], src=ROOT)
    exchange = tmp_path / "exchange"
    use_exchange(course, exchange)
    pub.publish(course, tmp_path / "students", [FIRST], exchange=True)
    pub.publish(course, tmp_path / "students", [FIRST], exchange=True)  # again: replaced
    outbound = exchange / "ml2-sgd-softmax-mlp" / "outbound" / FIRST
    assert (outbound / f"{FIRST}.ipynb").is_file()
    assert (outbound / "lib" / "losses.py").is_file()
    assert not (exchange / "ml2-sgd-softmax-mlp" / "outbound" / SECOND).exists()


def test_cli(tmp_path, capsys):
    from course.cli import main

    assert main(["--root", str(ROOT), "publish", str(tmp_path / "s"), FIRST, "--git"]) == 0
    out = capsys.readouterr().out
    assert "no leaks" in out and "git clone" in out
    assert main(["--root", str(ROOT), "publish", str(tmp_path / "t"), FIRST, SECOND]) == 1
    assert "--closed" in capsys.readouterr().err


def test_students_get_the_lock_s_requirements_from_the_course_root_or_this_repository(tmp_path):
    students = (ROOT / "requirements" / "student.txt").read_text(encoding="utf-8")
    root = make_course_root(tmp_path / "course", [FIRST], src=ROOT)
    assert (root / "requirements" / "student.txt").read_text(encoding="utf-8") == students
    (root / "requirements" / "student.txt").write_text("numpy==2.0.0\n", encoding="utf-8")
    assert pub.requirements(root) == "numpy==2.0.0\n"  # the course root's own lock first
    shutil.rmtree(root / "requirements")  # a course root without one: this repository's
    assert pub.requirements(root) == students


def test_without_a_student_lock_anywhere_publish_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(pub, "PACKAGE_REPOSITORY", tmp_path / "nowhere")
    with pytest.raises(pub.PublishError, match="make lock"):
        pub.requirements(tmp_path)
