"""Build a scratch copy of the toy course: released, with a gradebook, ready for submissions."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import nbformat

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "toy_course"
ASSIGNMENT = "toy"


def venv_env() -> dict[str, str]:
    """Environment with this Python's bin first on PATH (nbgrader runs ``alembic``)."""
    import sys

    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


_BUILT: Path | None = None  # this process's first build of the plain toy, which later builds copy


def build_course(root: Path, extra_cells=()) -> Path:
    """Copy the toy course to ``root``, generate its release and gradebook. ``extra_cells``
    (nbformat cells) are appended to the copy of its source notebook first.

    nbgrader's generate_assignment (a few seconds: it runs alembic) runs once per process for
    the plain toy; later plain courses are copies of that first one, which holds no path of
    its own. A course with extra cells is generated for itself."""
    global _BUILT
    root = Path(root)
    os.environ["PATH"] = venv_env()["PATH"]
    if extra_cells:
        _generate(root, extra_cells)
        return root
    if _BUILT is None:
        template = Path(tempfile.mkdtemp(prefix="toy-course-")) / "course"
        _generate(template)
        atexit.register(shutil.rmtree, template.parent, True)
        _BUILT = template
    shutil.copytree(_BUILT, root, symlinks=True, dirs_exist_ok=True)
    return root


def _generate(root: Path, extra_cells=()) -> None:
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    shutil.copytree(FIXTURE / "source", root / "source")
    if extra_cells:
        nb = source_notebook(root)
        nb.cells.extend(extra_cells)
        nbformat.write(nb, Path(root) / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    shutil.copy(FIXTURE / "nbgrader_config.py", root / "nbgrader_config.py")
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = "toy"
    api = NbGraderAPI(config=config)
    out = api.generate_assignment(ASSIGNMENT, force=True)
    if not out["success"]:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{out['log']}\n{out['error']}")
    shutil.copytree(FIXTURE / "student_lib" / "lib", root / "release" / ASSIGNMENT / "lib")


def release_notebook(root: Path):
    return nbformat.read(Path(root) / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


def source_notebook(root: Path):
    return nbformat.read(Path(root) / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


def submit(root: Path, student: str, nb=None, *, files: dict[str, str] | None = None,
           raw: str | None = None, name: str = ASSIGNMENT) -> Path:
    """Write a submission ``submitted/<student>/toy/<name>.ipynb`` (+ extra files)."""
    folder = Path(root) / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    if raw is not None:
        path.write_text(raw)
    elif nb is not None:
        nbformat.write(nb, path)
    for rel, text in (files or {}).items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return folder


def solved(root: Path):
    """The release notebook with the source's solutions filled in (an honest student)."""
    from course.author.catalogue import solved_release

    return nbformat.from_dict(solved_release(source_notebook(root), release_notebook(root)))


def cell(nb, grade_id: str):
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)
