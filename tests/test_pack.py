"""The descriptor walk of course.intake.pack (issue 19, hole 1): a submitted folder is read
through descriptors, one per folder, so a folder that the student swaps for a link while it
is being read is never followed; what is carried is the folder that was opened."""

from __future__ import annotations

import os
from pathlib import Path

from course.intake import files
from course.intake import pack as packing

SECRET = b"the instructor's solutions"


def _secret(tmp_path: Path) -> Path:
    elsewhere = tmp_path / "source"
    elsewhere.mkdir()
    (elsewhere / "inner.txt").write_bytes(SECRET)
    (elsewhere / "toy.ipynb").write_bytes(SECRET)
    return elsewhere


def _submission(tmp_path: Path) -> Path:
    sub = tmp_path / "sub"
    (sub / "data").mkdir(parents=True)
    (sub / "a_big.bin").write_bytes(b"\0" * 1024)  # sorts first: read before the rest
    (sub / "toy.ipynb").write_bytes(b"mine")
    (sub / "data" / "a.bin").write_bytes(b"0")
    (sub / "data" / "inner.txt").write_bytes(b"my data")
    return sub


def _swap_when_reading(monkeypatch, name: str, action) -> list[str]:
    """Run ``action`` just after the walk has read the file ``name`` (once)."""
    real, done = packing.read_regular, []

    def read_regular(path, *args, **kwargs):
        data = real(path, *args, **kwargs)
        if Path(path).name == name and not done:
            action()
            done.append(name)
        return data

    monkeypatch.setattr(packing, "read_regular", read_regular)
    return done


def _carried(pack) -> bytes:
    return b"".join(v for kind, v in pack.entries.values() if kind == "file")


def test_a_subfolder_swapped_for_a_link_mid_walk_is_not_followed(tmp_path, monkeypatch):
    sub, elsewhere = _submission(tmp_path), _secret(tmp_path)

    def swap():  # data/ was seen to be a folder (lstat) but is not yet opened
        os.rename(sub / "data", sub / "data.moved")
        os.symlink(elsewhere, sub / "data")

    done = _swap_when_reading(monkeypatch, "toy.ipynb", swap)  # after data's lstat
    pack = packing.pack_submission(sub, "ann", "toy")
    assert done
    assert SECRET not in _carried(pack)
    assert pack.entries["data"] == ("link", str(elsewhere))  # carried as what it now is
    assert not any(rel.startswith("data/") for rel in pack.entries)
    assert any("data was replaced while it was read" in p for p in pack.problems)


def test_a_subfolder_swapped_while_its_files_are_read_is_read_as_opened(tmp_path,
                                                                        monkeypatch):
    sub, elsewhere = _submission(tmp_path), _secret(tmp_path)

    def swap():  # data/ is open and half read
        os.rename(sub / "data", sub / "data.moved")
        os.symlink(elsewhere, sub / "data")

    done = _swap_when_reading(monkeypatch, "a.bin", swap)
    pack = packing.pack_submission(sub, "ann", "toy")
    assert done
    assert pack.entries["data/inner.txt"] == ("file", b"my data")
    assert SECRET not in _carried(pack)


def test_a_folder_swapped_for_a_link_after_it_was_opened_is_read_as_opened(tmp_path,
                                                                           monkeypatch):
    """What the service does with an inbound folder: open it, check it (fstat), read it
    through that descriptor; the path may then point anywhere."""
    sub, elsewhere = _submission(tmp_path), _secret(tmp_path)
    fd = files.open_dir(sub)

    def swap():
        os.rename(sub, tmp_path / "moved")
        os.symlink(elsewhere, sub)

    try:
        done = _swap_when_reading(monkeypatch, "a_big.bin", swap)
        pack = packing.pack_submission(fd, "ann", "toy")
    finally:
        os.close(fd)
    assert done
    assert pack.entries["toy.ipynb"] == ("file", b"mine")
    assert pack.entries["data/inner.txt"] == ("file", b"my data")
    assert SECRET not in _carried(pack) and pack.problems == []


def test_a_folder_that_is_a_link_is_not_opened(tmp_path):
    elsewhere = _secret(tmp_path)
    os.symlink(elsewhere, tmp_path / "link")
    pack = packing.pack_submission(tmp_path / "link", "ann", "toy")
    assert pack.entries == {}
    assert pack.problems == ["folder . unreadable (Not a directory)"]


def test_folders_too_deep_or_paths_too_long_are_named_not_carried(tmp_path):
    sub = tmp_path / "sub"
    deep = sub.joinpath(*["d"] * (packing.MAX_DEPTH + 5))
    deep.mkdir(parents=True)
    (deep / "x.txt").write_bytes(b"x")
    long = sub / ("n" * 250)
    for _ in range(5):
        long = long / ("n" * 250)
    long.mkdir(parents=True)
    pack = packing.pack_submission(sub, "ann", "toy")
    assert all(len(os.fsencode(rel)) <= packing.MAX_PATH for rel in pack.entries)
    assert not any(rel.endswith("x.txt") for rel in pack.entries)
    assert f"folders deeper than {packing.MAX_DEPTH} levels ignored" in pack.problems
    assert f"paths longer than {packing.MAX_PATH} bytes ignored" in pack.problems
    packing.unpack_submission(pack, tmp_path / "out")  # what is carried unpacks


def test_jupyterlab_checkpoints_are_never_carried(tmp_path):
    """JupyterLab's .ipynb_checkpoints/, in the submission or a folder of it, is not part of
    what is graded (nbgrader submit leaves it out too); everything beside it is."""
    sub = tmp_path / "sub"
    (sub / ".ipynb_checkpoints").mkdir(parents=True)
    (sub / ".ipynb_checkpoints" / "toy-checkpoint.ipynb").write_bytes(b"older")
    (sub / "data" / ".ipynb_checkpoints").mkdir(parents=True)
    (sub / "data" / ".ipynb_checkpoints" / "notes-checkpoint.txt").write_bytes(b"older")
    (sub / "data" / "notes.txt").write_bytes(b"notes")
    (sub / "toy.ipynb").write_bytes(b"mine")
    pack = packing.pack_submission(sub, "ann", "toy")
    assert sorted(pack.entries) == ["data", "data/notes.txt", "toy.ipynb"]
    assert pack.problems == []
