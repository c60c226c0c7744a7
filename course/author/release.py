"""Regenerating ``release/<id>/`` for students.

Each release is nbgrader's ``generate_assignment`` of ``source/<id>/`` (solutions replaced
by stubs, hidden tests removed; configured in ``nbgrader_config.py``) plus the *student
edition* of ``lib`` in ``release/<id>/lib/``: the repository's ``lib`` in which the reference
regions of ``<id>`` and of later assignments are replaced by ``raise NotImplementedError``
(docs/design-notes.md). The output depends only on ``source/``, ``lib/`` and the
configuration: releasing twice gives the same bytes, and so does releasing a source that an
editor saved without a change (:func:`normalise_notebook`: JupyterLab adds the saving
machine's ``language_info``, another editor its own key order or indentation). Each release
is then checked for leaks (:func:`course.author.leaks.find_leaks`) and fails if any solution
text got through.

A release also records the assignments in the course root's ``gradebook.db`` (as
``nbgrader generate_assignment`` does; ``course grade`` reads the trusted tests from there).
``gradebook=False`` (``--no-gradebook``, used by ``make release`` and the tests) runs nbgrader
with its ``--no-db`` settings instead, so that no gradebook appears in the repository.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

from nbgrader.converters import GenerateAssignment
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from tqdm import tqdm
from traitlets.config import Config

from course.author.leaks import find_leaks
from course.author.studentlib import (
    LIB,
    require_lib,
    student_lib_config,
    student_readme,
    write_student_lib,
)
from course.config import check_ids, load_config, source_notebook
from course.errors import ReleaseError

log = logging.getLogger("course.release")

# The notebook metadata of every released notebook, whoever saved the source: the course's
# kernel, and the language without the saving machine's version (JupyterLab writes
# ``language_info`` with the Python of the kernel it ran, e.g. "version": "3.11.7").
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}
# notebook metadata that depends on who saved the source, not on what it says
_SAVER_METADATA = ("kernelspec", "language_info", "widgets", "vscode", "toc", "varInspector")


def normalise_notebook(path: Path) -> None:
    """Rewrite the notebook at ``path`` canonically: nbformat's writer (sorted keys, indent 1,
    sources split into lines, as jupyter_server saves), the course's ``kernelspec`` and
    ``language_info`` (:data:`KERNELSPEC`, :data:`LANGUAGE_INFO`), none of the metadata that
    editors add about themselves (:data:`_SAVER_METADATA`) or their cells' timings."""
    import nbformat

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    meta = {k: v for k, v in nb.metadata.items() if k not in _SAVER_METADATA}
    nb.metadata = nbformat.from_dict(
        {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO), **meta})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # JupyterLab's recorded timings
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def _generate_assignment(cfg: Config, aid: str, *, gradebook: bool) -> None:
    """nbgrader generate_assignment --force [--no-db] for one assignment, with cfg."""
    cfg = Config(cfg)  # copy: the settings below are this run's
    cfg.GenerateAssignment.force = True
    cfg.CourseDirectory.assignment_id = aid
    cfg.CourseDirectory.notebook_id = "*"
    if not gradebook:  # nbgrader's --no-db flag: no gradebook.db is created or touched
        cfg.SaveCells.enabled = False
        cfg.GenerateAssignment.no_database = True
    else:  # nbgrader creates a new gradebook by running `alembic` from PATH
        bindir = str(Path(sys.executable).parent)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    coursedir = CourseDirectory(config=cfg)
    converter = GenerateAssignment(coursedir=coursedir, config=cfg)
    converter.log.setLevel(logging.ERROR)  # not the "Removing existing assignment" notes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            converter.start()
    except NbGraderException as exc:
        raise ReleaseError(f"nbgrader generate_assignment failed for {aid}: {exc}") from exc


def _check_cell_ids(path: Path) -> None:
    # nbformat >= 4.5 requires cell ids; a source without them would get random ones on each
    # release (not reproducible), so we refuse it.
    nb = json.loads(path.read_text(encoding="utf-8"))
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        missing = [i for i, cell in enumerate(nb.get("cells", [])) if "id" not in cell]
        if missing:
            raise ReleaseError(
                f"{path}: cells {missing[:5]} have no id, so the release would not be "
                "reproducible; normalize the notebook (e.g. open and save it in JupyterLab, or "
                "python -c 'import nbformat as n,sys; p=sys.argv[1]; "
                "n.write(n.validator.normalize(n.read(p, 4))[1], p)' NOTEBOOK)"
            )


def release_one(
    root: Path,
    aid: str,
    *,
    cfg: Config | None = None,
    release_dir: Path | None = None,
    gradebook: bool = False,
) -> Path:
    """Generate ``release/<aid>/`` (or ``<release_dir>/<aid>/``): notebook + student lib.

    With ``gradebook``, also record the assignment (its notebooks, cells, points, trusted
    test sources) in the course root's gradebook, as plain ``nbgrader generate_assignment``
    does; ``course grade`` needs it there.
    """
    root = Path(root).resolve()
    require_lib(root)
    cfg = load_config(root) if cfg is None else cfg
    student_lib = student_lib_config(cfg)
    withheld = student_lib.withheld(aid)
    nb = source_notebook(root, aid)
    if not nb.is_file():
        raise ReleaseError(
            f"missing source notebook {nb} (each assignment is source/<id>/<id>.ipynb)"
        )
    _check_cell_ids(nb)
    if release_dir is not None:
        cfg = Config(cfg)
        cfg.CourseDirectory.release_directory = str(Path(release_dir).resolve())
    out_root = Path(release_dir).resolve() if release_dir else root / "release"
    early = [t for t in student_lib.order if t not in withheld]
    leaked = [t for t in early if student_lib.order.index(t) >= student_lib.order.index(aid)]
    if leaked:
        log.warning(
            "release %s reveals the lib references of %s (StudentLib.reveal)",
            aid,
            ", ".join(leaked),
        )
    _generate_assignment(cfg, aid, gradebook=gradebook)
    dest = out_root / aid
    if not (dest / f"{aid}.ipynb").is_file():
        raise ReleaseError(f"nbgrader did not write {dest / (aid + '.ipynb')}")
    for released in sorted(dest.glob("*.ipynb")):
        normalise_notebook(released)
    write_student_lib(root / LIB, dest / LIB, withheld, student_lib.order)
    readme = dest / "README.md"
    readme.write_bytes(student_readme(aid, student_lib.order, withheld).encode("utf-8"))
    readme.chmod(0o644)
    leaks = find_leaks(root, aid, release_root=out_root, cfg=cfg)
    if leaks:
        shown = "\n  ".join(leaks[:10])
        raise ReleaseError(f"release {aid} leaks {len(leaks)} secret line(s):\n  {shown}")
    return dest


def release(
    root: Path,
    ids: list[str] | None = None,
    *,
    release_dir: Path | None = None,
    gradebook: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Release ids (default: all, in course order); returns the release folders.

    ``gradebook``: also record the assignments in ``<root>/gradebook.db`` (see release_one).
    """
    root = Path(root).resolve()
    cfg = load_config(root)
    order = student_lib_config(cfg).order
    ids = check_ids(ids, order)
    missing = [str(source_notebook(root, a)) for a in ids if not source_notebook(root, a).is_file()]
    if missing:
        raise ReleaseError("missing source notebook(s): " + ", ".join(missing))
    require_lib(root)

    out = []
    bar = tqdm(
        ids, desc="release", unit="nb", disable=not progress or len(ids) < 2, file=sys.stderr
    )
    for aid in bar:
        bar.set_postfix_str(aid)
        out.append(release_one(root, aid, cfg=cfg, release_dir=release_dir, gradebook=gradebook))
    return out


def record_in_gradebook(root: Path, ids: list[str], *, cfg: Config | None = None) -> Path:
    """Record assignments in ``<root>/gradebook.db`` without touching ``release/``.

    Runs nbgrader's generate_assignment (with its database) into a temporary folder: the
    gradebook gets the notebooks, cells, points and trusted test sources of ``source/<id>``.
    For course roots without ``lib/`` (``course check``'s scratch root); returns the db path.
    """

    root = Path(root).resolve()
    cfg = Config(load_config(root) if cfg is None else cfg)
    with tempfile.TemporaryDirectory(prefix="course-gradebook-") as tmp:
        cfg.CourseDirectory.release_directory = tmp
        for aid in ids:
            if not source_notebook(root, aid).is_file():
                raise ReleaseError(f"missing source notebook {source_notebook(root, aid)}")
            _generate_assignment(cfg, aid, gradebook=True)
    return root / "gradebook.db"
