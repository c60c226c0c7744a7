"""What the gradebook says about a notebook: its autograded test cells, the names the
student's solution cells bind, the imports of the locked cells, and where the trusted
student edition of ``lib`` is (and whether the course has one).
"""

from __future__ import annotations

import ast
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory

from course.intake.ipython import parse_cell  # the one parser of cells (also the scan's)

__all__ = ["bound_names", "has_hidden_tests", "imported_names", "lib_required", "parse_cell",
           "trusted_cells", "trusted_lib"]


def bound_names(source: str) -> set[str]:
    """Top-level names a cell binds (def, class, assignment, import, for, with)."""
    tree = parse_cell(source)
    names: set[str] = set()
    if tree is None:
        return names
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.add((alias.asname or alias.name).split(".")[0])
        else:
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
                targets = [node.target]
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                targets = [i.optional_vars for i in node.items if i.optional_vars]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
    return names


def imported_names(source: str) -> dict[str, tuple[str, str | None]]:
    """Top-level imports of a cell: name -> (module, attribute) for runner._import."""
    tree = parse_cell(source)
    found: dict[str, tuple[str, str | None]] = {}
    if tree is None:
        return found
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = (alias.name, "")
                else:
                    found[alias.name.split(".")[0]] = (alias.name, None)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    found[alias.asname or alias.name] = (node.module, alias.name)
    return found


def trusted_cells(db_url: str, course_id: str, assignment: str, notebook: str) -> dict:
    """From the gradebook: ``tests`` {grade_id: source} of the autograded test cells,
    ``student_names`` bound by solution cells, ``imports`` of the locked read-only cells."""
    with Gradebook(db_url, course_id) as gb:
        nb = gb.find_notebook(notebook, assignment)
        solution = {c.name for c in nb.solution_cells}
        graded = {c.name for c in nb.grade_cells}
        tests, names, imports = {}, set(), {}
        for cell in nb.source_cells:
            if cell.cell_type != "code":
                continue
            if cell.name in graded and cell.name not in solution:
                tests[cell.name] = cell.source
            elif cell.name in solution:
                names |= bound_names(cell.source)
            elif cell.locked:
                imports.update(imported_names(cell.source))
    return {"tests": tests, "student_names": sorted(names), "imports": imports}


def has_hidden_tests(source: str, config=None) -> bool:
    """Whether a test cell's trusted source (from the gradebook) holds hidden tests: a line
    with nbgrader's delimiter (``ClearHiddenTests.begin_test_delimeter``, as configured)."""
    delimiter = "BEGIN HIDDEN TESTS"
    if config is not None and "ClearHiddenTests" in config:
        delimiter = config.ClearHiddenTests.get("begin_test_delimeter", delimiter)
    return any(delimiter in line for line in source.split("\n"))


def trusted_lib(config, assignment: str) -> Path:
    """TrustedExecute.lib_dir if configured, else <course root>/release/<id>/lib."""
    configured = config.TrustedExecute.get("lib_dir", "") if "TrustedExecute" in config else ""
    if configured:
        return Path(configured)
    return Path(CourseDirectory(config=config).root) / "release" / assignment / "lib"


def lib_required(config) -> bool:
    """Whether the course has a trusted student edition of ``lib`` that grading needs: it
    names one (``c.TrustedExecute.lib_dir``) or releases one (``c.StudentLib``, which
    ``course release`` turns into ``release/<id>/lib``). Any other nbgrader course grades
    without a ``lib``, unless its release folder holds a ``lib`` package anyway."""
    configured = config.get("TrustedExecute") or {}
    return bool(configured.get("lib_dir", "")) or bool(config.get("StudentLib"))
