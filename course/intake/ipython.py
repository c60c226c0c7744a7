"""The one parser of notebook code cells: IPython's syntax, read the way IPython runs it.

A cell is turned into Python by IPython's own ``TransformerManager`` (the kernel's
``transform_cell``), so ``%time f()``, ``x = %env``, ``_ = !true`` and ``%%bash`` cells become
the calls IPython makes (``get_ipython().run_line_magic('time', 'f()')``, ...) instead of
lines to blank out; :func:`magic_findings` says which of those calls the static scan flags
and which carry Python of their own (``%time f()``, ``%%capture``) to scan like a cell.
The static scan (:mod:`course.intake.scan`) and what the gradebook says about a notebook
(:mod:`course.nbgrader_ext.cells`) both read cells through :func:`parse_cell`.
"""

from __future__ import annotations

import ast
import tokenize

# what parsing a cell can raise: bad syntax (IndentationError included), a null byte, an
# unterminated token IPython's tokenizer gives up on, a nesting deeper than the parser's stack
PARSE_ERRORS = (SyntaxError, ValueError, tokenize.TokenError, RecursionError, MemoryError)


def python_source(source: str) -> str:
    """The Python that IPython runs for the cell ``source`` (magics become calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def parse_cell(source: str) -> ast.Module | None:
    """The cell's syntax tree as IPython runs it, or None when it does not parse."""
    try:
        return ast.parse(python_source(source))
    except PARSE_ERRORS:
        return None


SHELL_FLAG = "runs a shell command (! or %%bash)"
NOT_PARSED = "does not parse: not scanned"
# magics that run a shell or another interpreter, magics worth a look, magics that run the
# Python they are given (scanned like the cell itself)
SHELL_MAGICS = {"sx", "system", "bash", "sh", "script", "alias", "python", "python2", "python3",
                "pypy", "perl", "ruby"}
LOOKED_AT_MAGICS = {"run", "load", "writefile", "env", "set_env", "cd", "pushd", "popd", "store",
                    "pycat", "load_ext", "reload_ext", "rerun", "macro", "save"}
PYTHON_MAGICS = {"time", "timeit", "prun", "capture", "debug"}
# get_ipython() methods that run a string as code
DYNAMIC = {"run_cell", "run_cell_async", "run_code", "ex", "ev", "safe_execfile",
           "safe_run_module", "safe_execfile_ipy"}


def ipython_call(node: ast.AST) -> tuple[str, list[str | None]] | None:
    """``(method, args)`` of a call ``get_ipython().method(...)`` (the literal strings among
    its positional arguments, None for the others), else None. IPython writes a magic
    ``%name line`` as ``run_line_magic(name, line)``, a cell magic as
    ``run_cell_magic(name, line, body)`` and ``!cmd`` as ``system(cmd)`` or ``getoutput(cmd)``.
    """
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    receiver = node.func.value
    if not (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name)
            and receiver.func.id == "get_ipython"):
        return None
    args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
            for a in node.args]
    return node.func.attr, args


def magic_findings(method: str, args: list[str | None]) -> tuple[list[str], list[str]] | None:
    """What a ``get_ipython().method(*args)`` call is worth a look for: ``(flags, code)``,
    ``code`` being the Python the magic runs (to scan); None for other methods."""
    if method in ("system", "getoutput"):
        return [SHELL_FLAG], []
    if method in DYNAMIC:
        return [f"runs dynamic code (get_ipython().{method})"], []
    if method not in ("run_line_magic", "run_cell_magic"):
        return None
    name = args[0] if args else None
    if name is None:
        return ["runs a magic with a computed name"], []
    name = name.lstrip("%")
    line, body = (args + [None, None, None])[1:3]
    if name in SHELL_MAGICS:
        return [SHELL_FLAG], []
    if name in LOOKED_AT_MAGICS:
        return [f"uses the magic %{name}"], []
    if name in PYTHON_MAGICS:
        code = [c for c in (line, body) if c is not None]
        if len(code) < len(args) - 1:
            return [f"runs %{name} on computed code"], []
        return [], code
    return [], []


def parse_magic_line(line: str) -> ast.Module | None:
    """The Python of a magic's line ``-n 3 -r1 f(x)``: its options, whatever they are, are
    dropped word by word until the rest parses (None if nothing does)."""
    rest = line.strip()
    if not rest:
        return ast.Module(body=[], type_ignores=[])
    while rest:
        tree = parse_cell(rest)
        if tree is not None:
            return tree
        parts = rest.split(None, 1)
        rest = parts[1] if len(parts) == 2 else ""
    return None
