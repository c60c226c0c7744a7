"""The course root: its ``nbgrader_config.py``, the course order, and scratch copies.

Every ``course`` subcommand reads ``nbgrader_config.py`` of its course root through
:func:`load_config` (only that file: no user or system Jupyter config changes a release or a
grade). The course order is ``StudentLib.order`` of that file (:func:`assignments`), with
:data:`ASSIGNMENTS` as the default of a configuration that sets none.
:func:`make_course_root` builds a scratch course root (for ``course check`` and
``make demo``) holding the configuration, ``source/<id>`` and ``release/<id>``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from course.errors import GradeError

ASSIGNMENTS = (
    "01_gradient_descent",
    "02_minibatch_sgd",
    "03_regularization",
    "04_momentum",
    "05_softmax",
    "06_mlp_backprop",
)

CONFIG_FILE = "nbgrader_config.py"

# Files that never belong in a copy of source/ or release/.
_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


def load_config(root: str | Path) -> Config:
    """The traitlets Config of ``<root>/nbgrader_config.py``, with the course root set to root.

    Raises FileNotFoundError when root holds no ``nbgrader_config.py``.
    """
    root = Path(root).resolve()
    path = root / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {root} a course root?")
    cfg = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    cfg.CourseDirectory.root = str(root)
    return cfg


def assignments(root: str | Path, cfg: Config | None = None) -> list[str]:
    """The assignment ids in course order (``StudentLib.order`` of the configuration)."""
    cfg = load_config(root) if cfg is None else cfg
    order = cfg.StudentLib.get("order")
    if not order:
        return list(ASSIGNMENTS)
    return list(order)


def check_ids(ids: list[str] | None, known: list[str]) -> list[str]:
    """ids (default: all known ones) in course order; ValueError naming unknown ids."""
    if not ids:
        return list(known)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(
            f"unknown assignment id(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return [i for i in known if i in set(ids)]


def make_course_root(dest: str | Path, ids: list[str], *, src: str | Path = ".") -> Path:
    """Make ``dest`` a course root with the config, ``source/<id>`` and ``release/<id>``.

    ``src`` is the course root copied from (default: the current directory). Existing
    ``source/<id>`` and ``release/<id>`` in dest are replaced; other content of dest is kept.
    Returns dest as an absolute path. Raises FileNotFoundError when something is missing
    (run ``course release`` first if a release is missing).
    """
    src = Path(src).resolve()
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / CONFIG_FILE, dest / CONFIG_FILE)
    students = src / "requirements" / "student.txt"  # what course publish gives students
    if students.is_file():
        (dest / "requirements").mkdir(exist_ok=True)
        shutil.copyfile(students, dest / "requirements" / "student.txt")
    for kind in ("source", "release"):
        for aid in ids:
            origin = src / kind / aid
            if not origin.is_dir():
                hint = " (run `course release` first)" if kind == "release" else ""
                raise FileNotFoundError(f"{origin} does not exist{hint}")
            target = dest / kind / aid
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(origin, target, ignore=_IGNORE)
    return dest


def load_course_config(root: Path):
    """The course's configuration (:func:`load_config`), as a GradeError if absent."""
    try:
        return load_config(root)
    except FileNotFoundError as err:
        raise GradeError(f"{err}: grade in a course root where `course release` ran") from err


def course_id_of(config) -> str:
    return config.CourseDirectory.get("course_id", "default_course")


def source_notebook(root: Path, aid: str) -> Path:
    return root / "source" / aid / f"{aid}.ipynb"
