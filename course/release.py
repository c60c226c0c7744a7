"""``course release [ID ...]``: regenerate ``release/<id>/`` for students.

Each release is nbgrader's ``generate_assignment`` of ``source/<id>/`` (solutions replaced
by stubs, hidden tests removed; configured in ``nbgrader_config.py``) plus the *student
edition* of ``lib`` in ``release/<id>/lib/``: the repository's ``lib`` in which the reference
regions of ``<id>`` and of later assignments are replaced by ``raise NotImplementedError``
(docs/design-notes.md). The output depends only on ``source/``, ``lib/`` and the
configuration: releasing twice gives the same bytes. Each release is then checked for leaks
(:func:`find_leaks`) and the command fails if any solution text got through.

``course release`` also records the assignments in the course root's ``gradebook.db`` (as
``nbgrader generate_assignment`` does; ``course grade`` reads the trusted tests from there).
``--no-gradebook`` (used by ``make release`` and the tests) runs nbgrader with its ``--no-db``
settings instead, so that no gradebook appears in the repository. The release is the same.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from traitlets import Dict, List, Unicode
from traitlets.config import Config, Configurable

from course.workspace import check_ids, load_config

LIB = "lib"

log = logging.getLogger("course.release")


class ReleaseError(Exception):
    """A release cannot be made (missing notebook, bad reference region, leak, ...)."""


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
        from course.cli import ASSIGNMENTS

        sl.order = list(order or ASSIGNMENTS)
    return sl


# --- Reference regions --------------------------------------------------------------------

_MARK = re.compile(r"### (BEGIN|END) REFERENCE")
_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN REFERENCE[ \t]+(?P<tag>\S+)[ \t]*$")
_END = re.compile(r"^[ \t]*### END REFERENCE[ \t]*$")

STUB = (
    'raise NotImplementedError("{name} is the reference answer of assignment {tag}; '
    'it is not part of your edition of lib")'
)


class RegionError(ReleaseError, ValueError):
    """A malformed ``### BEGIN REFERENCE`` / ``### END REFERENCE`` region."""


def reference_regions(text: str, where: str = "<text>") -> Iterator[tuple[int, int, str, str]]:
    """Yield (begin, end, tag, indent) of each reference region, 0-based marker line numbers.

    Raises RegionError (naming ``where`` and the line) for a marker without tag, a nested
    BEGIN, an END without BEGIN or a BEGIN without END.
    """
    open_: tuple[int, str, str] | None = None
    for i, line in enumerate(text.splitlines()):
        if not _MARK.search(line):
            continue
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin:
            if open_ is not None:
                raise RegionError(
                    f"{where}:{i + 1}: BEGIN REFERENCE inside the region opened at line "
                    f"{open_[0] + 1} (regions cannot nest)"
                )
            open_ = (i, begin["tag"], begin["indent"])
        elif end:
            if open_ is None:
                raise RegionError(f"{where}:{i + 1}: END REFERENCE without a BEGIN REFERENCE")
            yield open_[0], i, open_[1], open_[2]
            open_ = None
        else:
            raise RegionError(
                f"{where}:{i + 1}: malformed marker {line.strip()!r}; write "
                "'### BEGIN REFERENCE <assignment id>' or '### END REFERENCE' alone on the line"
            )
    if open_ is not None:
        raise RegionError(
            f"{where}:{open_[0] + 1}: BEGIN REFERENCE {open_[1]} has no END REFERENCE"
        )


def _function_names(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, 1-based lines."""
    out: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                out.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def strip_references(
    text: str,
    withheld: Iterable[str],
    known: Iterable[str],
    *,
    module: str = "lib",
    where: str = "<text>",
) -> str:
    """The student edition of one ``lib`` module's source ``text``.

    Regions tagged with a ``withheld`` tag become one ``raise NotImplementedError(...)`` line
    at the indentation of their BEGIN marker, naming ``<module>.<function>`` and the tag; the
    other regions keep their code and lose their marker lines. Everything else is unchanged,
    byte for byte. Raises RegionError for a tag not in ``known``, a malformed region, a region
    outside a function body, or a result that is not valid Python.
    """
    withheld, known = set(withheld), list(known)
    regions = list(reference_regions(text, where))
    if not regions:
        return text
    try:
        functions = _function_names(ast.parse(text))
    except SyntaxError as exc:
        raise RegionError(f"{where}:{exc.lineno}: not valid Python: {exc.msg}") from exc
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    pos = 0
    for begin, end, tag, indent in regions:
        if tag not in known:
            raise RegionError(
                f"{where}:{begin + 1}: unknown tag {tag!r} in BEGIN REFERENCE "
                f"(known: {', '.join(known)})"
            )
        inside = [f for f in functions if f[0] < begin + 1 <= f[1]]
        if not inside:
            raise RegionError(
                f"{where}:{begin + 1}: reference region {tag} is not inside a function body "
                "(or is empty); a student edition could not import this module"
            )
        name = f"{module}.{max(inside)[2]}"  # innermost function: the latest first line
        out.extend(lines[pos:begin])
        if tag in withheld:
            newline = lines[end][len(lines[end].rstrip("\r\n")) :]  # as the END line
            out.append(indent + STUB.format(name=name, tag=tag) + newline)
        else:
            out.extend(lines[begin + 1 : end])
        pos = end + 1
    out.extend(lines[pos:])
    result = "".join(out)
    try:
        compile(result, where, "exec")
    except SyntaxError as exc:
        raise RegionError(
            f"{where}: the student edition is not valid Python (line {exc.lineno}: {exc.msg}); "
            "check the indentation of the BEGIN REFERENCE markers"
        ) from exc
    return result


def _require_lib(root: Path) -> None:
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


# --- nbgrader generate_assignment ---------------------------------------------------------


def source_notebook(root: Path, aid: str) -> Path:
    return root / "source" / aid / f"{aid}.ipynb"


def _generate_assignment(cfg: Config, aid: str, *, gradebook: bool) -> None:
    """nbgrader generate_assignment --force [--no-db] for one assignment, with cfg."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory

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
    _require_lib(root)
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
    _require_lib(root)
    from tqdm import tqdm

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
    import tempfile

    root = Path(root).resolve()
    cfg = Config(load_config(root) if cfg is None else cfg)
    with tempfile.TemporaryDirectory(prefix="course-gradebook-") as tmp:
        cfg.CourseDirectory.release_directory = tmp
        for aid in ids:
            if not source_notebook(root, aid).is_file():
                raise ReleaseError(f"missing source notebook {source_notebook(root, aid)}")
            _generate_assignment(cfg, aid, gradebook=True)
    return root / "gradebook.db"


# --- Leak check ---------------------------------------------------------------------------

# A "line" is a line of text with surrounding whitespace stripped. Lines shorter than
# MIN_SECRET_LEN, or without a letter, are too generic to give an answer away (`else:`,
# `return out`, `)`, `# ---`) and would make the check cry wolf, so they are not secrets; so
# are the few boilerplate lines of GENERIC, which lib's utilities share with solutions. Every
# other line of a secret region is a secret, unless the same line is also in what the release
# is meant to contain: the notebook outside its solutions and hidden tests, and the revealed
# reference regions of lib. Code of lib outside any region does *not* make a line public: if
# a solution line appears there, the region markers of lib are probably missing.
MIN_SECRET_LEN = 12
GENERIC = frozenset(
    {
        "X = np.asarray(X, dtype=float)",  # input conversion (lib.plots and solutions)
        "rng = np.random.default_rng(seed)",  # seeding
        "if X_val is not None:",  # optional validation data
    }
)

_NB_MARKERS = re.compile(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)")


def _norm(line: str) -> str | None:
    line = line.strip()
    if len(line) < MIN_SECRET_LEN or not re.search(r"[A-Za-z]", line) or line in GENERIC:
        return None
    if _NB_MARKERS.search(line) or _MARK.search(line):
        return None
    return line


def _split_regions(source: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """(lines inside begin/end regions, lines outside) of a cell source; markers dropped."""
    inside, outside, depth = [], [], 0
    for line in source.splitlines():
        if begin in line:
            depth += 1
        elif end in line:
            depth = max(depth - 1, 0)
        else:
            (inside if depth else outside).append(line)
    return inside, outside


def notebook_secrets(path: Path) -> tuple[set[str], set[str]]:
    """(secret lines, public lines) of a source notebook, normalized by :func:`_norm`.

    Secret: lines of BEGIN/END SOLUTION regions of solution cells (the whole cell when it has
    no region, as nbgrader then replaces the whole cell, e.g. written answers), and of
    BEGIN/END HIDDEN TESTS regions of any cell. Public: every other line.
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    secret, public = [], []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            if "BEGIN SOLUTION" in src:
                inside, src = _split_regions(src, "BEGIN SOLUTION", "END SOLUTION")
                secret += inside
                src = "\n".join(src)
            else:
                secret += src.splitlines()
                continue
        inside, outside = _split_regions(src, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
        secret += inside
        public += outside
    norm = lambda lines: {n for n in map(_norm, lines) if n}  # noqa: E731
    return norm(secret), norm(public)


def lib_secrets(lib_dir: Path, withheld: set[str]) -> tuple[set[str], set[str], set[str]]:
    """(lines of withheld regions, of revealed regions, outside regions) of lib, normalized."""
    secret, revealed, utility = [], [], []
    for rel in lib_files(lib_dir):
        if rel.suffix != ".py":
            continue
        text = (lib_dir / rel).read_text(encoding="utf-8")
        lines = text.splitlines()
        inside = set()
        for begin, end, tag, _ in reference_regions(text, f"{LIB}/{rel.as_posix()}"):
            (secret if tag in withheld else revealed).extend(lines[begin + 1 : end])
            inside.update(range(begin, end + 1))
        utility += [line for i, line in enumerate(lines) if i not in inside]
    norm = lambda lines: {n for n in map(_norm, lines) if n}  # noqa: E731
    return norm(secret), norm(revealed), norm(utility)


def secret_lines(root: Path, aid: str, cfg: Config | None = None) -> dict[str, str]:
    """{line: where it comes from} of every secret line that release ``aid`` must not hold."""
    root = Path(root).resolve()
    cfg = load_config(root) if cfg is None else cfg
    sl = student_lib_config(cfg)
    lib_secret, lib_revealed, lib_utility = lib_secrets(root / LIB, sl.withheld(aid))
    notebook_public: set[str] = set()
    secrets: dict[str, str] = {}
    for other in sl.order[sl.order.index(aid) :]:
        path = source_notebook(root, other)
        if not path.is_file():
            continue
        sec, pub = notebook_secrets(path)
        for line in sec:
            secrets.setdefault(line, f"source/{other} (solution or hidden test)")
        if other == aid:
            notebook_public = pub
    public = notebook_public | lib_revealed
    secrets = {line: where for line, where in secrets.items() if line not in public}
    # Within lib its author decides: a line of a withheld region that lib also ships as
    # utility code (e.g. `step` and `relu_grad` share a line) is public. A *solution* line in
    # lib's utility code is not: it is the leak this check is for.
    for line in lib_secret - public - lib_utility:
        secrets.setdefault(line, "lib (withheld reference region)")
    return secrets


def _strings(obj) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, list):
        for x in obj:
            yield from _strings(x)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)


def released_lines(folder: Path) -> Iterator[tuple[str, str]]:
    """(normalized line, file) of every text line under folder; notebooks as JSON strings."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary data: no source text in it
        chunks = [text]
        if path.suffix == ".ipynb":
            try:
                chunks += list(_strings(json.loads(text)))
            except json.JSONDecodeError:
                pass
        for chunk in chunks:
            for line in chunk.splitlines():
                # a secret line pasted into a comment is still a leak
                for variant in {line, line.strip().lstrip("#").strip()}:
                    norm = _norm(variant)
                    if norm:
                        yield norm, rel


def find_leaks(
    root: Path, aid: str, *, release_root: Path | None = None, cfg: Config | None = None
) -> list[str]:
    """Messages, one per secret line found under ``<release_root>/<aid>/`` (empty: no leak)."""
    root = Path(root).resolve()
    folder = (release_root or root / "release") / aid
    if not folder.is_dir():
        raise ReleaseError(f"{folder} does not exist (run `course release {aid}`)")
    secrets = secret_lines(root, aid, cfg)
    leaks, seen = [], set()
    for line, rel in released_lines(folder):
        if line in secrets and (line, rel) not in seen:
            seen.add((line, rel))
            leaks.append(f"{aid}/{rel}: {line!r} from {secrets[line]}")
    return leaks


# --- Command line -------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="assignment ids (default: all)")
    parser.add_argument(
        "--no-gradebook",
        action="store_true",
        help="do not record the assignments in <root>/gradebook.db (course grade needs them "
        "there; `make release` uses this to keep the repository free of a gradebook)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    root = Path(args.root).resolve()
    try:
        folders = release(
            root, args.ids or None, gradebook=not args.no_gradebook, progress=not args.quiet
        )
    except (ReleaseError, ValueError, FileNotFoundError) as exc:
        print(f"course release: error: {exc}", file=sys.stderr)
        return 1
    for folder in folders:
        files = sum(1 for p in folder.rglob("*") if p.is_file())
        print(
            f"{folder.relative_to(root) if folder.is_relative_to(root) else folder}: "
            f"{files} files, no leaks"
        )
    return 0
