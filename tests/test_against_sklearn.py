"""lib against scikit-learn.

The shipped data sets must be scikit-learn's, the closed-form least squares must agree
with its linear and ridge regression once the penalty's scaling is translated, and
``SoftmaxClassifier`` trained by ``optim.train`` with weight decay must converge to its
multinomial logistic regression. scikit-learn is in the optional 'compare' extra, which CI
installs: there (``CI=true``) a missing scikit-learn fails the run; elsewhere these tests
are skipped without it.
"""

import os

import numpy as np
import pytest

from lib import data, models, optim

try:
    from sklearn import datasets, linear_model
except ImportError:
    if os.environ.get("CI", "").lower() not in ("true", "1"):
        pytest.skip("scikit-learn is not installed (pip install '.[compare]')",
                    allow_module_level=True)
    datasets = linear_model = None  # in CI: every test below fails, the rest still runs


@pytest.fixture(autouse=True)
def _sklearn_is_installed():
    if linear_model is None:
        pytest.fail("CI must run the comparisons with scikit-learn, but it is not installed: "
                    "install the 'compare' extra (.ci/run does: pip install -e '.[test,compare]')")


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


@pytest.mark.parametrize("alpha", [0.05, 0.5])
def test_softmax_classifier_trained_with_decay_converges_to_logistic_regression(alpha):
    # ours: (1/N) Σ CE + (α/2) ‖W‖² (b free); scikit-learn: C Σ CE + ½ ‖W‖²  =>  C = 1/(αN).
    # Full-batch train (B = N) at a safe λ converges to the unique minimiser; a decay
    # applied twice would land at the minimiser for 2α instead.
    X, y = data.load_iris()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    n = len(X)
    model = models.SoftmaxClassifier(4, 3, seed=0)
    optim.train(model, X, y, epochs=3000, batch_size=n, lr=1.0, weight_decay=alpha)
    ref = linear_model.LogisticRegression(C=1 / (alpha * n), tol=1e-12, max_iter=10000)
    ref.fit(X, y)
    # softmax is invariant to adding a constant to every class: compare centred parameters
    W, b = model.params["W"], model.params["b"]
    np.testing.assert_allclose(W - W.mean(axis=0), ref.coef_ - ref.coef_.mean(axis=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b - b.mean(), ref.intercept_ - ref.intercept_.mean(),
                               rtol=1e-5, atol=1e-6)
