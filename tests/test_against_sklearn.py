"""lib against scikit-learn (skipped where scikit-learn is not installed).

The shipped data sets must be scikit-learn's, and the closed-form least squares must agree
with its linear and ridge regression once the penalty's scaling is translated.
"""

import numpy as np
import pytest

from lib import data, models

sklearn = pytest.importorskip("sklearn")
from sklearn import datasets, linear_model  # noqa: E402


def test_iris_matches_scikit_learn_except_fishers_two_corrections():
    X, y = data.load_iris()
    ref = datasets.load_iris()
    np.testing.assert_array_equal(y, ref.target)
    assert (X != ref.data).any(axis=1).sum() <= 2


def test_digits_match_scikit_learn():
    X, y = data.load_digits()
    ref = datasets.load_digits()
    np.testing.assert_array_equal(y, ref.target)
    np.testing.assert_allclose(X, ref.data / 16, rtol=0, atol=0)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 2.0])
def test_least_squares_matches_ridge(alpha):
    # ours: (1/N) Σ r² + (α/2) Σ w²; Ridge: Σ r² + α_r Σ w²  =>  α_r = α N / 2
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    w, b = models.least_squares(X, y, alpha)
    ref = (linear_model.Ridge(alpha=alpha * 30 / 2) if alpha else
           linear_model.LinearRegression()).fit(X, y)
    np.testing.assert_allclose(w, ref.coef_, rtol=1e-10)
    assert b == pytest.approx(ref.intercept_, rel=1e-10)
