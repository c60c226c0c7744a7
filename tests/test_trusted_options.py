"""TrustedExecute's reading of a course's configuration (fast; the graded behaviour is in
tests/test_nbgrader_conformance.py and tests/test_integrity.py): a ``lib`` only where the
course has one, and nbgrader's reading of ``Execute.timeout``."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from course.nbgrader_ext import execute
from course.nbgrader_ext.cells import lib_required


def _config(root, **sections) -> Config:
    config = Config()
    config.CourseDirectory.root = str(root)
    for section, values in sections.items():
        for key, value in values.items():
            setattr(config[section], key, value)
    return config


def test_a_course_without_lib_config_needs_none(tmp_path):
    config = _config(tmp_path)
    assert not lib_required(config)
    assert execute._checked_lib(config, "ps1") is None


@pytest.mark.parametrize("sections", [
    {"StudentLib": {"order": ["ps1"]}},
    {"TrustedExecute": {"lib_dir": "/nonexistent/lib"}},
])
def test_a_course_that_has_a_lib_is_refused_without_it(tmp_path, sections):
    config = _config(tmp_path, **sections)
    assert lib_required(config)
    with pytest.raises(RuntimeError, match="no trusted student edition of lib"):
        execute._checked_lib(config, "ps1")


def test_a_released_lib_is_used_where_there_is_one(tmp_path):
    lib = tmp_path / "release" / "ps1" / "lib"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("")
    assert execute._checked_lib(_config(tmp_path), "ps1") == lib


@pytest.mark.parametrize(("configured", "limit"), [(None, None), (0, None), (-1, None),
                                                   (30, 30)])
def test_timeouts_read_as_nbclient_reads_them(configured, limit):
    assert execute._limit(configured) == limit


def test_timeout_none_is_accepted_by_the_traits():
    config = Config()
    config.Execute.timeout = None
    config.TrustedExecute.notebook_timeout = None
    ex = execute.TrustedExecute(config=config)
    assert ex.timeout is None and ex.notebook_timeout is None
