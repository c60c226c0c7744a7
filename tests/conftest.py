"""Shared fixtures: seeded generators, the course check of each notebook (whose graded solution
the notebook tests read); how ``make test`` spreads the tests over its two workers."""

import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Notebooks under tests/ are fixtures of the grading tests (some deliberately hostile):
# nbval must never execute them directly.
collect_ignore_glob = ["fixtures/*", "adversarial/*"]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@dataclass
class Checked:
    """``course check`` of one notebook, as make test runs it, with its scratch root kept."""

    aid: str
    reports: list  # course.commands.check_report.Report, one
    table: str  # what the check printed
    scratch: Path

    def graded(self, student: str):
        """The autograded notebook of a submission of the check (nbformat node)."""
        import nbformat

        path = self.scratch / "grading" / "autograded" / student / self.aid / f"{self.aid}.ipynb"
        return nbformat.read(path, as_version=4)


def _assignments() -> list[str]:
    from course.config import ASSIGNMENTS

    return list(ASSIGNMENTS)


@pytest.fixture(scope="session", params=_assignments())
def checked(request, tmp_path_factory) -> Checked:
    """The course check of one notebook (tests/test_check.py), built once per session: the
    catalogue sample make test grades (tests/check_sample.py), nbgrader validate on source and
    release, and the solution, the release and each sampled entry graded as students' work
    is. Its graded solution is the executed notebook tests/test_notebooks.py examines, so that
    make test executes each notebook once for both."""
    from check_sample import MAX_WRONG, graded_catalogue

    from course.commands.check import check

    aid = request.param
    tmp = tmp_path_factory.mktemp(f"check-{aid}")
    catalogue = (None if MAX_WRONG is None else
                 graded_catalogue(ROOT / "catalogue", tmp / "catalogue", [aid], MAX_WRONG))
    out = io.StringIO()
    reports = check(ROOT, [aid], catalogue_dir=catalogue, keep=tmp / "scratch", out=out)
    return Checked(aid, reports, out.getvalue(), tmp / "scratch")


# -- scheduling for `make test` (pytest -n 2 --dist loadgroup) -----------------------------
#
# With --dist loadfile one long file bounds the wall time (the course check, the serve tests).
# Here every test has a group, and a group runs on one worker: a file's tests stay together (as
# with loadfile), except in the files of SPREAD, where only the tests sharing a module-scoped
# fixture (a graded course, a Dask cluster, an executed notebook: built once) stay together and
# every other test goes to whichever worker is free; an xdist_group mark names a group of its
# own. The groups are sent longest first (LONGEST, measured with --durations), so that both
# workers stay busy to the end. (pytest-xdist 3.8 cannot group by mark under pytest 9: it
# renames the test, which pytest 9 no longer allows; so the workers write each test's group to
# a file that the controller's scheduler, CourseScheduling, reads.)

SPREAD = {
    "tests/test_check.py", "tests/test_serve.py", "tests/test_integrity.py",
    "tests/test_grade.py", "tests/test_dask.py", "tests/test_demo.py",
    "tests/test_notebooks.py", "tests/browser/test_term.py",
}
# Groups (or their prefixes), longest first: a group not named here runs after these, in
# collection order.
LONGEST = [
    # seconds: pytest --durations, 2 shared cores at load average 4.6 (issue 22, item 4)
    "tests/test_nbgrader_conformance.py",  # 220 s: nbgrader's own autograde suite, one process
    "tests/test_integrity.py::graded_by_nbgrader",  # 200 s: nbgrader autograde, one process
    # the check of each notebook (conftest's `checked`, with the notebook tests that read it)
    "tests::checked:06",  # 190 s
    "tests::checked:05",
    "tests::checked:02",
    "tests::checked",  # 90 to 120 s each
    "tests/test_integrity.py::graded",
    "tests/test_integrity.py::regraded",
    "tests/test_serve_attacks.py",  # 80 to 125 s at load 10: one service, 12 gradings
    "tests/test_faults.py",
    "tests/test_sandbox_mounts.py",
    "tests/test_hidden_helpers.py",
    "tests/browser/test_term.py",
    "tests/test_lab.py",  # make lab on a graded toy term, chromium
    "tests/test_report.py",  # a toy term and the demo's week 1, graded
    "tests/test_grade.py::course",
    "tests/test_serve.py::test_sigkill_mid_queue",
    "tests/test_serve.py::attacked",
    "tests/test_serve.py::test_a_resubmission",
    "tests/test_serve.py::test_manual_grades",
    "tests/test_serve.py",
    "tests/test_check.py::test_check_reports",
    "tests/test_dask.py",
    "tests/test_feedback.py",
    "tests/test_compat.py",
    "tests/test_wire_fuzz.py",
    "tests/test_demo.py",
    "tests/test_jobs.py",
]


def _shared_fixtures(item) -> list[str]:
    """The fixtures built once for several tests that an item uses, each named
    ``<where it is defined>::<name>[:<parameter>]``: module-, class- or package-scoped ones,
    and the session-scoped ones of this folder's conftest.py (``checked``, whose tests are in
    several files); a parametrized one per parameter (its value where it is a string)."""
    keys = []
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    callspec = getattr(item, "callspec", None)
    indices, params = getattr(callspec, "indices", {}), getattr(callspec, "params", {})
    path = item.nodeid.split("::")[0]
    for name in getattr(item, "fixturenames", ()):
        shared = [d for d in defs.get(name, ()) if d.scope in ("module", "class", "package")
                  or (d.scope == "session" and d.baseid.startswith("tests"))]
        if not shared:
            continue
        where = shared[-1].baseid if shared[-1].scope == "session" else path
        if name in indices:
            value = params.get(name)
            name = f"{name}:{value if isinstance(value, str) else indices[name]}"
        keys.append(f"{where}::{name}")
    return keys


def _groups(items) -> dict:
    """{item: group name}: its file, or in a file of SPREAD the test itself, or the tests it
    shares a module-scoped fixture with (named after one of those fixtures)."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    first = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        shared = _shared_fixtures(item)
        if path not in SPREAD:
            first[item] = path
        elif not shared:  # a test of its own
            first[item] = item.nodeid
        else:
            for key in shared[1:]:
                parent[find(key)] = find(shared[0])
            first[item] = shared[0]
    return {item: find(key) if key in parent else key for item, key in first.items()}


def _rank(group: str) -> int:
    for k, prefix in enumerate(LONGEST):
        if group.startswith(prefix):
            return k
    return len(LONGEST)


def _distributed(config) -> bool:
    """In a pytest-xdist worker of `--dist loadgroup` (which sees --dist as "no")."""
    return hasattr(config, "workerinput") and bool(config.getvalue("loadgroup"))


GROUPS = "COURSE_TEST_GROUPS"  # the file {test id: group} the workers write


def pytest_configure(config):
    if not hasattr(config, "workerinput") and config.getoption("dist", "no") == "loadgroup":
        fd, path = tempfile.mkstemp(prefix="course-test-groups-", suffix=".json")
        os.close(fd)
        os.environ[GROUPS] = path  # before the workers start: they inherit it


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput") and os.environ.get(GROUPS):
        Path(os.environ.pop(GROUPS)).unlink(missing_ok=True)


def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist", "no") != "loadgroup" or not os.environ.get(GROUPS):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        """Work units are the groups the workers wrote, in the workers' order (theirs:
        longest first, so not xdist's reordering by the number of tests)."""

        def __init__(self, config, log=None):
            super().__init__(config, log)
            config.option.loadscopereorder = False
            self.groups = None

        def _split_scope(self, nodeid):
            if self.groups is None:
                self.groups = json.loads(Path(os.environ[GROUPS]).read_text(encoding="utf-8"))
            return self.groups.get(nodeid) or nodeid.split("::")[0]

    return CourseScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session):
    """Sort the tests longest group first and write each one's group, before this worker
    sends its collection to the controller; a group's tests stay in pytest's order."""
    if not _distributed(session.config) or not os.environ.get(GROUPS):
        return
    groups = {}
    for item, group in _groups(session.items).items():
        mark = next(item.iter_markers("xdist_group"), None)
        groups[item] = str(mark.args[0] if mark and mark.args else group)
    first: dict[str, int] = {}
    for k, item in enumerate(session.items):
        first.setdefault(groups[item], k)

    def order(pair):
        k, item = pair
        return (_rank(groups[item]), first[groups[item]], k)

    session.items[:] = [item for _, item in sorted(enumerate(session.items), key=order)]
    path = Path(os.environ[GROUPS])
    mine = path.with_name(f"{path.name}.{os.getpid()}")
    mine.write_text(json.dumps({item.nodeid: groups[item] for item in session.items}),
                    encoding="utf-8")
    os.replace(mine, path)  # the workers write the same groups
