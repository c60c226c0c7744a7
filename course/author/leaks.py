"""The leak check: which lines of a release would give away a solution, a hidden test or a
withheld reference, and whether a released tree holds any of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from traitlets.config import Config

from course.author.regions import REFERENCE_MARK, reference_regions
from course.author.studentlib import LIB, lib_files, student_lib_config
from course.config import load_config, source_notebook
from course.errors import ReleaseError

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
        "for _ in range(epochs):",  # the epoch loop (02's train, 06's hidden reference)
        "except Exception as exc:",  # a test that reports what the student's code raised
        "except Exception:",
    }
)

_NB_MARKERS = re.compile(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)")


def _norm(line: str) -> str | None:
    line = re.sub(r"\s+#\s*noqa\b.*$", "", line.strip())  # a linter's note is no secret
    if len(line) < MIN_SECRET_LEN or not re.search(r"[A-Za-z]", line) or line in GENERIC:
        return None
    if _NB_MARKERS.search(line) or REFERENCE_MARK.search(line):
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
        # a line the notebook itself shows (its given code, repeated by a hidden test)
        # gives nothing away
        for line in sec - pub:
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
