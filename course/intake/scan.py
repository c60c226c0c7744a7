"""Static checks of a submission: what to flag for a human look.

Nothing here changes a grade. Tampering that cannot be prevented inside one Python process
(monkeypatching numpy, hooking exceptions, exiting the kernel, sniffing the environment) is
found by reading the student's code cells, and nbgrader metadata that does not match the
gradebook is reported and then repaired by :func:`restore_metadata` before nbgrader sees it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from course.intake.heldout import heldout_flags
from course.intake.ipython import (
    NOT_PARSED,
    ipython_call,
    magic_findings,
    parse_cell,
    parse_magic_line,
)
from course.intake.scan_rules import (
    CALLS,
    DOTTED,
    DUNDER_DEFS,
    FILE_CALLS,
    INTROSPECTION_ATTRS,
    IPYTHON_ATTRS,
    MODULES,
    SUSPICIOUS_STRINGS,
)

TOO_DEEP = "nests too deeply: not fully scanned"


class _Writes:
    """The scan's checks of assignments: to module attributes, sys.modules, os.environ,
    globals(), a module's name (part of :class:`_Visitor`)."""

    flags: list[str]
    modules: dict[str, str]

    def _check_target(self, target: ast.AST) -> None:
        if isinstance(target, ast.Attribute):
            dotted = self._dotted(target.value)
            if dotted is not None:
                self.flag(f"assigns to module attribute {dotted}.{target.attr}")
            elif isinstance(target.value, ast.Call) and _call_name(target.value) in {
                "get_ipython",
                "globals",
                "vars",
                "locals",
            }:
                self.flag(f"assigns to {_call_name(target.value)}().{target.attr}")
        elif isinstance(target, ast.Subscript):
            dotted = self._dotted(target.value)
            if dotted in {"sys.modules", "os.environ"} or (
                dotted is not None and dotted.endswith("__dict__")
            ):
                self.flag(f"assigns into {dotted}")
            if (
                isinstance(target.value, ast.Call)
                and _call_name(target.value) in {"globals", "vars"}
                and _mentions_module(target, self.modules)
            ):
                self.flag("replaces a module through globals()")
        elif isinstance(target, ast.Tuple | ast.List):
            for elt in target.elts:
                self._check_target(elt)
        elif isinstance(target, ast.Name) and target.id in self.modules:
            top = self.modules[target.id].split(".")[0]
            if top in {"numpy", "lib", "np"}:
                self.flag(f"rebinds the module name {target.id}")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_target(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._check_target(target)
        self.generic_visit(node)


class _Visitor(_Writes, ast.NodeVisitor):
    def __init__(self, withheld: dict[str, set[str]]):
        self.flags: list[str] = []
        self.modules: dict[str, str] = {}  # local name -> dotted module
        self.imported_names: dict[str, str] = {}  # local name -> module.attr
        self.withheld = withheld

    quiet = False  # True while reading trusted cells: learn their imports, flag nothing

    def flag(self, reason: str) -> None:
        if not self.quiet and reason not in self.flags:
            self.flags.append(reason)

    def scan(self, tree: ast.Module | None) -> None:
        """Read a parsed cell (None: it did not parse), one statement at a time, so that a
        statement too deep to walk hides nothing after it."""
        if tree is None:
            self.flag(NOT_PARSED)
            return
        for statement in tree.body:
            try:
                self.visit(statement)
            except RecursionError:
                self.flag(TOO_DEEP)
        if not self.quiet:
            try:
                for reason in heldout_flags(tree):
                    self.flag(reason)
            except RecursionError:
                self.flag(TOO_DEEP)

    # -- imports ---------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            self.modules[alias.asname or top] = alias.name if alias.asname else top
            self._check_module(alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._check_module(module)
        for alias in node.names:
            local = alias.asname or alias.name
            full = f"{module}.{alias.name}"
            self.imported_names[local] = full
            self.modules[local] = full  # `from numpy import testing` binds a module
            self._check_module(full)
            self._check_withheld(module, alias.name)
        self.generic_visit(node)

    def _check_module(self, dotted: str) -> None:
        top = dotted.split(".")[0]
        if top in MODULES:
            self.flag(MODULES[top])

    def _dotted(self, node: ast.AST) -> str | None:
        """``np.testing.assert_allclose`` -> ``numpy.testing.assert_allclose``."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self.modules.get(node.id)
        if base is None:
            return None
        return ".".join([base, *reversed(parts)])

    def _check_withheld(self, module: str, name: str) -> None:
        if module.startswith("lib."):
            short = module[len("lib.") :]
            if name in self.withheld.get(short, ()):
                self.flag(f"uses withheld reference lib.{short}.{name}")

    # -- reads and calls ---------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = self._dotted(node)
        if dotted is not None:
            if dotted.startswith("lib."):
                parts = dotted.split(".")
                if len(parts) >= 3:
                    self._check_withheld(".".join(parts[:2]), parts[2])
            # writing to sys.stdout / sys.stderr is printing; replacing them is redirecting
            if dotted in DOTTED and not (dotted in ("sys.stdout", "sys.stderr")
                                         and not isinstance(node.ctx, ast.Store)):
                self.flag(DOTTED[dotted])
        if node.attr in IPYTHON_ATTRS:
            self.flag(CALLS.get(node.attr) or f"touches IPython's {node.attr}")
        if node.attr in INTROSPECTION_ATTRS:
            self.flag(f"uses introspection ({node.attr})")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.imported_names:
            full = self.imported_names[node.id]
            module, _, name = full.rpartition(".")
            self._check_withheld(module, name)
        if node.id == "__builtins__":
            self.flag("touches __builtins__")
        self.generic_visit(node)

    def _check_ipython(self, method: str, args: list[str | None]) -> bool:
        """Flag a magic or shell escape (as IPython's transformer wrote it) and scan the
        Python a magic such as ``%time`` runs; False if the call is none of those."""
        found = magic_findings(method, args)
        if found is None:
            return False
        flags, code = found
        for reason in flags:
            self.flag(reason)
        if code:
            line, *body = code
            self.scan(parse_magic_line(line))
            for cell in body:
                self.scan(parse_cell(cell))
        return True

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        dotted = self._dotted(node.func) if isinstance(node.func, ast.Attribute) else None
        magic = ipython_call(node)
        if magic is not None and self._check_ipython(*magic):
            pass
        elif name in {"setattr", "delattr"} and node.args:
            target = self._dotted(node.args[0])
            if target is not None or _call_name(node.args[0]) == "get_ipython":
                self.flag(f"{name} on module {target or 'get_ipython()'}")
        elif name == "register" and dotted is not None and dotted.startswith("atexit"):
            self.flag("registers exit handlers (atexit)")
        elif name in {"exit", "quit"} and isinstance(node.func, ast.Name):
            self.flag(CALLS[name])
        elif name in {"_exit", "kill", "killpg", "abort", "fork", "system", "popen"}:
            if dotted is None or dotted.startswith("os."):
                self.flag(CALLS[name])
        elif name == "reload":
            self.flag(CALLS[name])
        elif name in {"__import__", "exec", "eval", "compile", "register_magic_function"}:
            self.flag(CALLS[name])
        elif (
            name in {"getattr"}
            and len(node.args) >= 2
            and not isinstance(node.args[1], ast.Constant)
            and self._dotted(node.args[0]) is not None
        ):
            self.flag("getattr on a module with a computed name")
        if name in FILE_CALLS and (dotted is None or not dotted.startswith("numpy")):
            self._check_path_args(node)
        if name in {"load", "loadtxt", "genfromtxt", "fromfile", "read_csv"}:
            self._check_path_args(node)
        self.generic_visit(node)

    def _check_path_args(self, node: ast.Call) -> None:
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                path = arg.value
                if path.startswith("/") or ".." in path or path.endswith((".ipynb", ".db")):
                    self.flag(f"accesses the file {path!r}")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            for needle, reason in SUSPICIOUS_STRINGS.items():
                if needle.lower() in node.value.lower():
                    self.flag(reason)
        self.generic_visit(node)

    # -- definitions ---------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in DUNDER_DEFS:
            self.flag(DUNDER_DEFS[node.name])
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            dotted = self._dotted(base)
            if dotted is not None and dotted.startswith("numpy"):
                self.flag(f"subclasses {dotted}")
            elif isinstance(base, ast.Name) and base.id in {"float", "int", "list", "tuple"}:
                self.flag(f"subclasses the builtin {base.id}")
        self.generic_visit(node)


def _call_name(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _mentions_module(node: ast.AST, modules: dict[str, str]) -> bool:
    return any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in modules
        for n in ast.walk(node)
    )


def scan_code(
    sources: Iterable[str],
    withheld: dict[str, set[str]] | None = None,
    trusted: Iterable[str] = (),
) -> list[str]:
    """Reasons to look at code cells ``sources`` (the student's cells, in order).

    ``trusted`` cells (the locked set-up cell, say) are read first for their imports only, so
    that ``np.allclose = ...`` is known to patch numpy.

    Cells are read as IPython runs them (:mod:`course.intake.ipython`); a cell that does not
    parse even so, or nests too deeply to walk, is flagged, never skipped.
    """
    visitor = _Visitor(withheld or {})
    visitor.quiet = True
    for source in trusted:
        visitor.scan(parse_cell(source))
    visitor.quiet = False
    for source in sources:
        visitor.scan(parse_cell(source))
    return list(visitor.flags)


def withheld_references(lib_dir: Path) -> dict[str, set[str]]:
    """Functions and classes of a student edition of ``lib`` whose body is withheld.

    A withheld reference raises ``NotImplementedError`` in the student edition (see
    docs/design-notes.md, "Reference regions in lib"). Returns ``{module: {name, ...}}``.
    """
    result: dict[str, set[str]] = {}
    for path in sorted(Path(lib_dir).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        names = set()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _raises_nie(node):
                names.add(node.name)
            elif isinstance(node, ast.ClassDef) and any(
                isinstance(item, ast.FunctionDef) and _raises_nie(item) for item in node.body
            ):
                names.add(node.name)
        if names:
            result[path.stem] = names
    return result


def _raises_nie(func: ast.AST) -> bool:
    for node in ast.walk(func):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return True
    return False
