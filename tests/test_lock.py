"""The lock files (requirements/, written by `make lock`) agree with pyproject.toml and each other.

- ``lock.txt`` (what `make` installs: the course, its tests, the Dask cluster) pins every
  package pyproject.toml asks for, within its bounds, and this environment has those versions;
- ``compare.txt`` (what CI adds: torch, scikit-learn) keeps every pin of lock.txt and leaves
  out the CUDA libraries of PyPI's Linux torch;
- ``student.txt`` (what `course publish` gives students as requirements.txt) is resolved from
  ``student.in`` at the versions of lock.txt, and holds no instructor-only package.

No network: a stale file is found by comparing the files, not by resolving again.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(?:\s*;\s*(.+))?$")
REFRESH = "run `make lock` (docs/instructor-guide.md, 'Refreshing the lock')"

# Instructor tools and test tools: a student installs none of them.
INSTRUCTOR_ONLY = {"dask", "distributed", "latex2mathml", "jupyter-server-mathjax", "pytest",
                   "pytest-xdist", "ruff", "selenium", "hypothesis", "import-linter", "torch",
                   "scikit-learn", "nbval", "uv", "ml2-companion"}


def pins(name: str) -> dict[str, set[tuple[str, str | None]]]:
    """package -> {(version, marker)} of a uv-compiled requirements file."""
    found: dict[str, set[tuple[str, str | None]]] = {}
    for line in (REQUIREMENTS / name).read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pkg, ver, marker = match.groups()
            found.setdefault(canonicalize_name(pkg), set()).add((ver, marker))
    assert found, f"requirements/{name} pins nothing"
    return found


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements(*extras: str) -> list[Requirement]:
    project = _project()
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def _check_satisfied(locked: dict, requirements: list[Requirement], file: str) -> None:
    problems = []
    for req in requirements:
        name = canonicalize_name(req.name)
        if name not in locked:
            problems.append(f"{req} is not in requirements/{file}")
            continue
        for ver, _ in locked[name]:
            if not req.specifier.contains(Version(ver), prereleases=True):
                problems.append(f"requirements/{file} has {name}=={ver}, outside {req}")
    assert not problems, "\n".join(problems) + f"\n{REFRESH}"


def test_the_lock_pins_every_requirement_within_its_bounds():
    _check_satisfied(pins("lock.txt"), _requirements("test", "cluster"), "lock.txt")


def test_the_compare_lock_keeps_the_lock_and_adds_the_compare_extra():
    lock, compare = pins("lock.txt"), pins("compare.txt")
    _check_satisfied(compare, _requirements("test", "cluster", "compare"), "compare.txt")
    moved = {name: (sorted(lock[name]), sorted(compare.get(name, ()))) for name in lock
             if compare.get(name) != lock[name]}
    assert not moved, f"compare.txt does not keep lock.txt's pins: {moved}\n{REFRESH}"


def test_the_compare_lock_leaves_out_the_cuda_libraries():
    cuda = sorted(n for n in pins("compare.txt")
                  if n.startswith(("nvidia-", "cuda-")) or n == "triton")
    assert not cuda, (f"compare.txt pins {cuda}: add them to CUDA_PACKAGES in the Makefile "
                      f"(pip adds them only where a CUDA torch needs them), then {REFRESH}")


def test_this_environment_has_the_versions_of_the_lock():
    """`make` installs from lock.txt (and .ci/run adds compare.txt on top, same pins)."""
    wrong = []
    for name, lines in pins("lock.txt").items():
        wanted = [ver for ver, marker in lines if marker is None or Marker(marker).evaluate()]
        if not wanted:
            continue
        try:
            have = Version(version(name)).public
        except PackageNotFoundError:
            wrong.append(f"{name} is not installed (lock: {wanted[0]})")
            continue
        if have not in wanted:
            wrong.append(f"{name} {have} installed, lock: {wanted[0]}")
    assert not wrong, ("this environment is not the lock's:\n" + "\n".join(wrong)
                       + "\n`make` reinstalls it from requirements/lock.txt when that changes")


def test_the_students_requirements_are_the_locks_versions_of_student_in():
    lock, student = pins("lock.txt"), pins("student.txt")
    # the versions must be the lock's; markers may be narrower (where a student needs it)
    versions = {name: {ver for ver, _ in lines} for name, lines in lock.items()}
    differ = {name: (sorted(v for v, _ in lines), sorted(versions.get(name, ()))) for name, lines
              in student.items() if not {v for v, _ in lines} <= versions.get(name, set())}
    assert not differ, f"student.txt has versions lock.txt does not: {differ}\n{REFRESH}"
    wanted = [Requirement(line.split("#")[0].strip()) for line in
              (REQUIREMENTS / "student.in").read_text().splitlines()
              if line.split("#")[0].strip()]
    assert wanted, "requirements/student.in names no package"
    missing = [str(r) for r in wanted if canonicalize_name(r.name) not in student]
    assert not missing, f"student.txt lacks {missing} of student.in\n{REFRESH}"


def test_the_students_requirements_hold_no_instructor_package():
    student = set(pins("student.txt"))
    assert not student & INSTRUCTOR_ONLY, sorted(student & INSTRUCTOR_ONLY)
    assert "nbgrader" in student and "jupyterlab" in student


@pytest.mark.parametrize("name", ["lock.txt", "compare.txt", "student.txt"])
def test_every_lock_file_says_how_it_is_refreshed(name):
    head = (REQUIREMENTS / name).read_text().splitlines()[:3]
    assert any("make lock" in line for line in head), head
