"""Reference regions of ``lib``: ``### BEGIN REFERENCE <tag>`` ... ``### END REFERENCE``, the
code that answers an exercise, and the student edition's stubs in their place.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator

from course.errors import ReleaseError

REFERENCE_MARK = re.compile(r"### (BEGIN|END) REFERENCE")

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
        if not REFERENCE_MARK.search(line):
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
