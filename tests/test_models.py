"""lib.models: gradients against centred differences, closed forms, accuracy targets."""

import math

import numpy as np
import pytest

from lib import data, models, optim
from lib.gradcheck import numerical_gradient, rel_error


# ---------------------------------------------------------------- linear regression (01)
def test_linear_predict_by_hand():
    np.testing.assert_array_equal(models.linear_predict([0.0, 1.0, 2.0], 2.0, -1.0),
                                  [-1.0, 1.0, 3.0])


def test_linear_regression_grads_by_hand():
    # x = [0, 1], y = [1, 1], w = 2, b = 0: residuals ŷ - y = [-1, 1]
    # dL/dw = (2/2)(-1·0 + 1·1) = 1, dL/db = (2/2)(-1 + 1) = 0
    assert models.linear_regression_grads([0.0, 1.0], [1.0, 1.0], 2.0, 0.0) == (1.0, 0.0)


def test_linear_regression_grads_match_numerical(rng):
    x, y = rng.standard_normal(6), rng.standard_normal(6)
    wb = np.array([0.7, -0.3])

    def loss():
        return np.mean((wb[0] * x + wb[1] - y) ** 2)

    assert rel_error(models.linear_regression_grads(x, y, *wb), numerical_gradient(loss, wb)) < 1e-7


# ------------------------------------------------------------ polynomial regression (03)
def test_polynomial_features_columns_are_powers():
    np.testing.assert_array_equal(models.polynomial_features([2.0, -1.0], 3),
                                  [[2.0, 4.0, 8.0], [-1.0, 1.0, -1.0]])


def test_least_squares_recovers_an_exact_line():
    x = np.linspace(-1, 1, 5)
    w, b = models.least_squares(x[:, None], 3 * x - 2)
    assert w[0] == pytest.approx(3) and b == pytest.approx(-2)


def test_least_squares_with_l2_zeroes_the_gradient(rng):
    # the minimiser of (1/N)Σ(Xw + b - y)² + (α/2)Σw² has gradient 0 in w and b
    X, y, alpha = rng.standard_normal((10, 3)), rng.standard_normal(10), 0.7
    w, b = models.least_squares(X, y, alpha=alpha)
    r = X @ w + b - y
    np.testing.assert_allclose(2 * X.T @ r / 10 + alpha * w, 0, atol=1e-12)
    assert 2 * r.mean() == pytest.approx(0, abs=1e-12)  # the bias is not penalized


def test_degree_seven_interpolates_eight_points():
    x, y = data.slides_regression()
    w, b = models.least_squares(models.polynomial_features(x, 7), y)
    fit = models.polynomial_features(x, 7) @ w + b
    np.testing.assert_allclose(fit, y, atol=1e-8)


# ------------------------------------------------------------------- linear softmax (05)
@pytest.mark.parametrize(("n", "d", "c", "seed"), [(1, 4, 3, 0), (6, 4, 3, 1), (9, 5, 7, 2)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_softmax_classifier_grads_match_numerical(n, d, c, seed, weight_decay):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, d)), rng.integers(0, c, n)
    model = models.SoftmaxClassifier(d, c, seed=seed)
    model.params["W"] += rng.standard_normal((c, d))  # away from the near-zero start
    _, grads = model.loss_and_grads(X, y, weight_decay)
    for name, p in model.params.items():
        num = numerical_gradient(lambda: model.loss_and_grads(X, y, weight_decay)[0], p)
        assert rel_error(grads[name], num) < 1e-7, name


def test_softmax_classifier_starts_near_log_c(rng):
    X, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    loss, _ = models.SoftmaxClassifier(4, 3, seed=0).loss_and_grads(X, y)
    assert loss == pytest.approx(math.log(3), abs=0.05)


def test_bias_is_not_decayed(rng):
    X, y = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    model = models.SoftmaxClassifier(4, 3, seed=0)
    model.params["b"][:] = [1.0, -2.0, 3.0]
    l0, g0 = model.loss_and_grads(X, y, 0.0)
    l1, g1 = model.loss_and_grads(X, y, 0.5)
    np.testing.assert_array_equal(g1["b"], g0["b"])
    np.testing.assert_allclose(g1["W"] - g0["W"], 0.5 * model.params["W"], rtol=1e-12)
    assert l1 - l0 == pytest.approx(0.25 * np.sum(model.params["W"] ** 2), rel=1e-10)


def test_models_are_deterministic_per_seed():
    a, b = models.MLP([3, 4, 2], seed=7), models.MLP([3, 4, 2], seed=7)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(models.MLP([3, 4, 2], seed=8).params["W1"], a.params["W1"])


def test_softmax_classifier_reaches_90_percent_on_iris():
    X, y = data.load_iris()
    X_tr, y_tr, _, _, X_te, y_te = data.train_val_test_split(X, y, rng=0)
    _, _, X_tr, X_te = data.standardize(X_tr, X_te)
    model = models.SoftmaxClassifier(4, 3, seed=0)
    optim.train(model, X_tr, y_tr, epochs=100, batch_size=16, lr=0.1, momentum=0.9, seed=0)
    assert optim.accuracy(model, X_te, y_te) >= 0.90


# -------------------------------------------------------------------------- the MLP (06)
def test_mlp_parameter_shapes_follow_torch_linear():
    p = models.MLP([64, 32, 16, 10], seed=0).params
    assert list(p) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p[k].shape for k in p] == [(32, 64), (32,), (16, 32), (16,), (10, 16), (10,)]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize(("sizes", "seed"), [([4, 5, 3], 0), ([3, 6, 5, 4, 2], 1), ([2, 3], 2)])
def test_mlp_grads_match_numerical(activation, sizes, seed):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((7, sizes[0])), rng.integers(0, sizes[-1], 7)
    model = models.MLP(sizes, activation=activation, seed=seed)
    for p in model.params.values():  # non-zero biases exercise every term
        p += 0.1 * rng.standard_normal(p.shape)
    _, grads = model.loss_and_grads(X, y, 0.2)
    for name, p in model.params.items():
        num = numerical_gradient(lambda: model.loss_and_grads(X, y, 0.2)[0], p)
        assert rel_error(grads[name], num) < 1e-7, name


def test_two_layer_mlp_matches_the_slides_formula(rng):
    # a1 = sigmoid(W1 x + b1), f = softmax(W2 a1 + b2), loss = mean -log f_label
    X, y = rng.standard_normal((3, 4)), np.array([0, 2, 1])
    model = models.MLP([4, 5, 3], seed=0)
    W1, b1, W2, b2 = (model.params[k] for k in ("W1", "b1", "W2", "b2"))
    a1 = 1 / (1 + np.exp(-(X @ W1.T + b1)))
    g = a1 @ W2.T + b2
    f = np.exp(g) / np.exp(g).sum(axis=1, keepdims=True)
    assert model.loss_and_grads(X, y)[0] == pytest.approx(-np.mean(np.log(f[[0, 1, 2], y])))


def test_mlp_reaches_95_percent_on_digits():
    X, y = data.load_digits()
    X_tr, y_tr, _, _, X_te, y_te = data.train_val_test_split(X, y, rng=0)
    model = models.MLP([64, 64, 10], seed=0)
    optim.train(model, X_tr, y_tr, epochs=30, batch_size=32, lr=0.5, momentum=0.9, seed=0)
    assert optim.accuracy(model, X_te, y_te) >= 0.95


def test_mlp_rejects_bad_input():
    with pytest.raises(ValueError, match="sizes must list at least"):
        models.MLP([3])
    with pytest.raises(ValueError, match="activation must be one of"):
        models.MLP([3, 2], activation="softplus")
    with pytest.raises(ValueError, match=r"X must have 3 features, got shape \(2, 4\)"):
        models.MLP([3, 2]).loss_and_grads(np.ones((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="y must lie in"):
        models.MLP([3, 2]).loss_and_grads(np.ones((2, 3)), np.array([0, 2]))


# ----------------------------------------------------------------- the perceptron (06)
def test_perceptron_separates_separable_data():
    X, y = data.make_separable(60, margin=0.5, seed=0)
    w, b, mistakes = models.perceptron_train(X, y, epochs=50)
    assert mistakes[-1] == 0
    np.testing.assert_array_equal((X @ w + b > 0).astype(int), y)


def test_perceptron_never_converges_on_xor():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    _, _, mistakes = models.perceptron_train(X, np.array([0, 1, 1, 0]), epochs=100)
    assert min(mistakes) > 0  # no line separates XOR, so every epoch makes a mistake
