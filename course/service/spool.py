"""The service's own copies: ``serve/<key>/submission`` (what was collected from the
inbound, read once as untrusted input), ``serve/<key>/autograded`` and ``serve/<key>/feedback``
(what its grading returned); and installing a counted submission in the course root.

Every folder is replaced whole (:func:`course.grading.record.replace_dir`): a kill leaves the
old or the new one, never a mixture.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from course.grading.record import remove_dir, replace_dir, replace_tree
from course.intake.job import Result
from course.intake.pack import SubmissionPack, pack_submission, unpack_submission

SPOOL = "serve"  # under the course root


class Spool:
    """``<root>/serve/``."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / SPOOL

    def create(self) -> None:
        self.path.mkdir(exist_ok=True)

    def submission(self, key: str) -> Path:
        return self.path / key / "submission"

    def collect(self, key: str, pack: SubmissionPack, when: dt.datetime) -> None:
        """Store a collected submission, with the time stamp that decides which submission
        counts: the one nbgrader's late penalty reads (nbgrader submit writes the folder's
        name and ``timestamp.txt`` alike)."""

        def fill(tmp: Path) -> None:
            unpack_submission(pack, tmp)
            stamp = tmp / "timestamp.txt"
            if stamp.is_symlink() or stamp.exists():
                stamp.unlink()
            stamp.write_text(f"{when:%Y-%m-%d %H:%M:%S.%f} UTC")

        replace_tree(self.submission(key), fill)

    def pack(self, key: str, student: str, assignment: str, flags: str) -> SubmissionPack:
        pack = pack_submission(self.submission(key), student, assignment)
        pack.problems = [f for f in flags.split("; ") if f]
        return pack

    def store_result(self, key: str, result: Result) -> None:
        for name in ("autograded", "feedback"):
            files, target = result.files.get(name), self.path / key / name
            if files:
                replace_dir(files, target)
            else:
                remove_dir(target)

    def install(self, key: str, student: str, assignment: str) -> None:
        """Make the submission ``key`` the course root's ``submitted/``, ``autograded/`` and
        ``feedback/`` of its student and assignment (idempotent)."""
        here = self.path / key
        pack = pack_submission(here / "submission", student, assignment)
        replace_tree(self.root / "submitted" / student / assignment,
                     lambda tmp: unpack_submission(pack, tmp))
        for name in ("autograded", "feedback"):
            dest, src = self.root / name / student / assignment, here / name
            if src.is_dir():
                replace_dir({p.name: p.read_bytes() for p in src.iterdir()}, dest)
            else:
                remove_dir(dest)
