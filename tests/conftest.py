"""Shared fixtures: seeded generators and the repository root."""

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
