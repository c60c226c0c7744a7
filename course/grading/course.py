"""A course root opened for grading: its configuration, gradebook, the trusted cells of its
assignments, and the bundles that carry them to workers; whether kernels are sandboxed.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from course.config import ASSIGNMENTS, assignments, course_id_of, load_course_config
from course.errors import GradeError
from course.grading.bundle import pack_course, slim_gradebook
from course.grading.gradebook import check_gradebook
from course.grading.one import require_trusted_execute
from course.intake.submission import load_gradebook_cells
from course.isolation import sandbox as sb

log = logging.getLogger("course.grade")


class OpenCourse:
    """A checked course root: its configuration, gradebook and the trusted cells of the
    assignments to grade (GradeError if any is missing)."""

    def __init__(self, root: Path, assignments: list[str]):
        self.root = root
        config = load_course_config(root)
        require_trusted_execute(config)
        self.course_id = course_id_of(config)
        self.db = root / "gradebook.db"
        self.db_url = f"sqlite:///{self.db}"
        check_gradebook(self.db)
        self.trusted = {}
        for assignment in assignments:
            self.add(assignment)

    def add(self, assignment: str) -> None:
        lib = self.root / "release" / assignment / "lib"
        if not lib.is_dir():
            raise GradeError(f"no student edition {lib}: run `course release {assignment}`")
        try:
            self.trusted[assignment] = load_gradebook_cells(
                self.root, self.db_url, self.course_id, assignment)
        except Exception as err:
            raise GradeError(
                f"assignment {assignment} is not in the gradebook: run `course release "
                f"{assignment}` ({err})"
            ) from err

    def bundles(self) -> dict:
        """assignment -> course.grading.bundle.CourseBundle (with a slim copy of the gradebook)."""

        with tempfile.TemporaryDirectory(prefix="course-slim-") as tmp:
            slim = Path(tmp) / "slim.db"
            slim_gradebook(self.db, slim)
            data = slim.read_bytes()
        return {a: pack_course(self.root, a, self.course_id, t, data)
                for a, t in self.trusted.items()}


def sandbox_choice(sandbox: bool | None, *, remote: bool) -> bool:
    """Whether gradings require bubblewrap. Locally: if it works here (a warning and flagged
    grades otherwise); on a cluster: always, unless ``sandbox`` is False."""

    if sandbox is False:
        return False
    if remote:
        return True
    if sb.bwrap_path() is not None:
        return True
    if sandbox:
        raise GradeError("bubblewrap (bwrap) is not available: install `bubblewrap`")
    log.warning(
        "\n" + "!" * 78 + "\n!! bubblewrap (bwrap) is not available: student code runs "
        "UNSANDBOXED,\n!! with your rights. Install the `bubblewrap` package. Every "
        "grade is flagged.\n" + "!" * 78
    )
    return False


def find_students(root: Path, assignment: str) -> list[str]:
    base = root / "submitted"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())


def default_assignments(root: Path) -> list[str]:
    base = root / "submitted"
    found = (
        {p.name for s in base.iterdir() if s.is_dir() for p in s.iterdir() if p.is_dir()}
        if base.is_dir()
        else set()
    )
    try:
        order = assignments(root)
    except FileNotFoundError:
        order = list(ASSIGNMENTS)
    return [a for a in order if a in found] + sorted(found - set(order))
