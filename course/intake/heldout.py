"""Functions that reach data they were not given: the test split, above all (issue 17, item 8).

An exercise such as 06's ``fit_digits(X_train, y_train, X_val, y_val)`` asks for choices
(λ, epochs, widths) made on the validation set. Its tests cannot see *which* data made a
choice: a ``fit_digits`` that reloads the digits and selects on the test part passes them.
So the static scan flags a function, defined in the student's cells, that

* calls a data set loader (``load_digits``, ``load_iris``, the files behind them, or
  scikit-learn's ``load_*``/``fetch_*``), or
* reads a test split it was not given: a name such as ``X_test``/``yd_test`` that is
  neither its argument nor assigned in it (the notebook's globals, set by a locked cell).

A function that splits the data it was given (``train_val_test_split(X_train, ...)``) is
not flagged: the parts are training data. Nothing is decided here; a person looks.
"""

from __future__ import annotations

import ast
import re

REVIEWED = "a choice made on data a function loads itself is reviewed by hand"
LOADERS = {"load_digits", "load_iris", "_read_digits", "_read_iris"}
SKLEARN_LOADER = re.compile(r"^(load|fetch)_\w+$")  # sklearn.datasets.load_digits, fetch_openml
DATA_FILES = ("digits.csv", "iris.csv", "datasets/")
TEST_SPLIT = re.compile(r"^[A-Za-z]\w*_test$")  # X_test, y_test, Xi_test, yd_test


def _is_loader(module: str, name: str) -> bool:
    return name in LOADERS or (module.startswith("sklearn") and bool(SKLEARN_LOADER.match(name)))


def _loader(node: ast.Call, aliases: dict[str, str]) -> str | None:
    """The loader a call calls: by name, by an alias imported in the cell, or as an
    attribute of a ``datasets`` module (``sklearn.datasets.fetch_openml``)."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    if name in LOADERS or name in aliases:
        return name
    if name and SKLEARN_LOADER.match(name) and "datasets" in ast.unparse(func):
        return name
    return None


def _own_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names a function binds: its arguments and what it assigns (minus ``global`` ones)."""
    args = func.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared_global: set[str] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Global):
            declared_global.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names - declared_global


def heldout_flags(tree: ast.Module) -> list[str]:
    """Flags for the functions of a cell that load data or read a test split themselves."""
    aliases = {a.asname or a.name: a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               for a in n.names if _is_loader(n.module or "", a.name)}
    flags: list[str] = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        own = _own_names(func)
        reached: list[str] = []
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and (name := _loader(node, aliases)):
                reached.append(f"calls {name}")
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and any(f in node.value for f in DATA_FILES)):
                reached.append(f"opens {node.value!r}")
            elif (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                  and TEST_SPLIT.match(node.id) and node.id not in own):
                reached.append(f"reads {node.id}, not an argument")
        if reached:
            what = ", ".join(dict.fromkeys(reached))
            flags.append(f"{func.name} loads data itself ({what}): {REVIEWED}")
    return flags
