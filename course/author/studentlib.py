"""The student edition of ``lib`` released with each assignment (``StudentLib`` in
``nbgrader_config.py``): utilities plus the reference answers of the assignments before it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from traitlets import Dict, List, Unicode
from traitlets.config import Config, Configurable

from course.author.regions import strip_references
from course.config import ASSIGNMENTS
from course.errors import ReleaseError

LIB = "lib"

log = logging.getLogger("course.release")


class StudentLib(Configurable):
    """Which reference regions of ``lib`` the release of an assignment reveals.

    Configured in ``nbgrader_config.py`` as ``c.StudentLib.order``, ``.reveal``,
    ``.withhold`` (documented there and in docs/instructor-guide.md).
    """

    order = List(
        Unicode(),
        help="Assignment ids in course order; also the tags of lib's reference regions.",
    ).tag(config=True)

    reveal = Dict(
        help='{release id or "*": [tags]}: regions shipped although course order withholds them.'
    ).tag(config=True)

    withhold = Dict(
        help='{release id or "*": [tags]}: regions never shipped with that release (wins).'
    ).tag(config=True)

    def _validated(self, name: str) -> dict[str, list[str]]:
        overrides = getattr(self, name)
        for key, tags in overrides.items():
            if key != "*" and key not in self.order:
                raise ReleaseError(
                    f"StudentLib.{name}: unknown assignment id {key!r} "
                    f"(known: {', '.join(self.order)}, or '*')"
                )
            if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
                raise ReleaseError(f"StudentLib.{name}[{key!r}] must be a list of tags")
            unknown = [t for t in tags if t not in self.order]
            if unknown:
                raise ReleaseError(
                    f"StudentLib.{name}[{key!r}]: unknown tag(s) {', '.join(unknown)} "
                    f"(known: {', '.join(self.order)})"
                )
        return overrides

    def withheld(self, aid: str) -> set[str]:
        """The tags whose regions are replaced in the student edition released with ``aid``."""
        if aid not in self.order:
            raise ReleaseError(f"unknown assignment id {aid!r} (known: {', '.join(self.order)})")
        reveal, withhold = self._validated("reveal"), self._validated("withhold")
        withheld = set(self.order[self.order.index(aid) :])
        withheld -= set(reveal.get(aid, [])) | set(reveal.get("*", []))
        withheld |= set(withhold.get(aid, [])) | set(withhold.get("*", []))
        return withheld


def student_lib_config(cfg: Config, order: list[str] | None = None) -> StudentLib:
    sl = StudentLib(config=cfg)
    if not sl.order:

        sl.order = list(order or ASSIGNMENTS)
    return sl


def require_lib(root: Path) -> None:
    """A release needs the reference implementation it makes the student edition from."""
    if not (root / LIB / "__init__.py").is_file():
        raise ReleaseError(
            f"{root / LIB} is missing (or has no __init__.py): a course root holds lib/, "
            "from which each release's student edition is made; nothing was written"
        )


def lib_files(lib_dir: Path) -> list[Path]:
    """The files of the student edition, relative to lib_dir, sorted: *.py and datasets/*."""
    files = [p for p in lib_dir.rglob("*.py") if "__pycache__" not in p.parts]
    datasets = lib_dir / "datasets"
    if datasets.is_dir():
        files += [
            p
            for p in datasets.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return sorted({p.relative_to(lib_dir) for p in files})


def write_student_lib(
    lib_dir: Path, dest: Path, withheld: Iterable[str], known: Iterable[str]
) -> list[Path]:
    """Write the student edition of ``lib_dir`` to ``dest`` (replaced); return its files."""
    withheld, known = set(withheld), list(known)
    if dest.exists():
        shutil.rmtree(dest)
    files = lib_files(lib_dir)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.suffix == ".py":
            parts = (LIB, *rel.with_suffix("").parts)
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            text = (lib_dir / rel).read_bytes().decode("utf-8")
            where = f"{LIB}/{rel.as_posix()}"
            stripped = strip_references(text, withheld, known, module=module, where=where)
            target.write_bytes(stripped.encode("utf-8"))
        else:
            target.write_bytes((lib_dir / rel).read_bytes())
        target.chmod(0o644)
    return files

STUDENT_README = """\
# {aid}

This folder is all you need for the assignment, offline.

- `{aid}.ipynb`: the assignment. Open it from this folder, so that Python finds `lib/`
  beside it:

      cd {aid}
      jupyter lab {aid}.ipynb

  Replace each `raise NotImplementedError("Replace this line with your code ...")` by your
  code, and each "YOUR ANSWER HERE" by your answer. Run the test cell under each exercise;
  before you submit, run the whole notebook (*Kernel → Restart Kernel and Run All Cells*) and
  press *Validate*. Hidden tests are added when your work is graded.
- `lib/`: your edition of the course library: data sets, plots, gradient checking and the
  test helpers{revealed}. The answers of {withheld} are not in it: calling one raises
  `NotImplementedError` saying so. Do not edit `lib/`: grading uses its own copy.

Hand it in with nbgrader's *Assignment List* (JupyterLab: *Nbgrader → Assignment List →
Submit*), where you fetched it; your feedback comes back there too (*Fetch Feedback*). Only
`{aid}.ipynb` is graded.
"""


def _names(tags: list[str]) -> str:
    tags = [f"`{t}`" for t in tags]
    return " and ".join(filter(None, [", ".join(tags[:-1]), tags[-1]])) if tags else ""


def student_readme(aid: str, order: list[str], withheld: set[str]) -> str:
    revealed = [t for t in order if t not in withheld]
    hidden = [t for t in order if t in withheld]

    def which(tags: list[str]) -> str:
        return f"assignment{'s' if len(tags) > 1 else ''} {_names(tags)}"

    answers = f", and the reference answers of {which(revealed)}" if revealed else ""
    return STUDENT_README.format(aid=aid, revealed=answers, withheld=which(hidden))
