"""Grading jobs as plain data (course.intake.pack, course.grading.bundle) and where they run
(course.grading.workers): what a submission's pack carries, what the slim gradebook keeps,
and the scheduler warning."""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest

from course.grading import bundle, workers
from course.intake import files
from course.intake import pack as packing


def _folder(tmp_path):
    sub = tmp_path / "sub"
    (sub / "lib").mkdir(parents=True)
    (sub / "toy.ipynb").write_text("{}")
    (sub / "lib" / "x.py").write_text("y = 1\n")
    (tmp_path / "secret").write_text("the instructor's")
    os.symlink(tmp_path / "secret", sub / "link.txt")
    os.mkfifo(sub / "timestamp.txt")
    with open(sub / "big.bin", "wb") as fh:
        fh.truncate(files.MAX_NOTEBOOK_BYTES + 1)  # sparse: no disk used
    return sub


def test_a_pack_carries_files_and_names_links_fifos_and_oversized_files(tmp_path):
    pack = packing.pack_submission(_folder(tmp_path), "ann", "toy")
    assert pack.entries["toy.ipynb"] == ("file", b"{}")
    assert pack.entries["lib"] == ("dir", "")
    assert pack.entries["lib/x.py"] == ("file", b"y = 1\n")
    # never followed, never opened, never read
    assert pack.entries["link.txt"] == ("link", str(tmp_path / "secret"))
    assert pack.entries["timestamp.txt"] == ("fifo", "")
    assert pack.entries["big.bin"] == ("big", files.MAX_NOTEBOOK_BYTES + 1)


def test_unpacking_recreates_what_was_submitted_for_the_workers_checks(tmp_path):
    pack = packing.pack_submission(_folder(tmp_path), "ann", "toy")
    out = tmp_path / "out"
    packing.unpack_submission(pack, out)
    assert (out / "toy.ipynb").read_text() == "{}"
    assert (out / "lib" / "x.py").read_text() == "y = 1\n"
    assert os.readlink(out / "link.txt") == str(tmp_path / "secret")
    import stat

    assert stat.S_ISFIFO(os.lstat(out / "timestamp.txt").st_mode)
    assert (out / "big.bin").stat().st_size == files.MAX_NOTEBOOK_BYTES + 1
    assert (out / "big.bin").stat().st_blocks == 0  # sparse on the worker too


def test_a_pack_entry_cannot_escape_the_folder_it_is_unpacked_in(tmp_path):
    pack = packing.SubmissionPack("ann", "toy", {"../escaped": ("file", b"x"),
                                              "/abs": ("file", b"x")})
    packing.unpack_submission(pack, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_the_slim_gradebook_keeps_the_assignment_and_nobody(tmp_path):
    from adversarial import toy

    from course.grading import batch as grading_run

    root = toy.build_course(tmp_path / "c")
    toy.submit(root, "ann", toy.solved(root))
    grading_run.grade(root, ["toy"], jobs=1, progress=False)
    slim = tmp_path / "slim.db"
    bundle.slim_gradebook(root / "gradebook.db", slim)
    con = sqlite3.connect(slim)
    try:
        count = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ("assignment", "notebook", "grade_cells", "student",
                           "submitted_assignment", "grade", "comment")}
    finally:
        con.close()
    assert count["assignment"] == 1 and count["notebook"] == 1 and count["grade_cells"] > 0
    assert count["student"] == count["submitted_assignment"] == 0
    assert count["grade"] == count["comment"] == 0
    with sqlite3.connect(root / "gradebook.db") as con:  # the real one is untouched
        assert con.execute("SELECT count(*) FROM student").fetchone()[0] == 1


@pytest.mark.parametrize("address, warns", [
    ("tcp://127.0.0.1:8786", False),
    ("localhost:8786", False),
    ("tls://grading.example.org:8786", False),
    ("tcp://10.0.0.5:8786", True),
    ("tcp://cluster.example.org:8786", True),
])
def test_a_plain_tcp_scheduler_off_this_machine_is_warned_about(address, warns, caplog):
    with caplog.at_level(logging.WARNING, logger="course.workers"):
        workers.warn_if_exposed(address)
    assert bool(caplog.records) == warns
