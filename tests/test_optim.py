"""lib.optim: update rules by hand (the slides' and torch.optim.SGD's arithmetic)."""

import numpy as np
import pytest

from lib import data, models, optim


# ---------------------------------------------------------------- gradient descent (01)
def test_gd_step_is_the_slides_example():
    # w = 12, dL/dw = 6, λ = 0.01 -> 12 - 0.06
    assert optim.gd_step(12.0, 6.0, 0.01) == pytest.approx(11.94)


def test_gradient_descent_trajectory_on_a_quadratic():
    # L(w) = w², dL/dw = 2w: each step multiplies w by (1 - 2λ) = 0.8 for λ = 0.1
    path = optim.gradient_descent(lambda w: 2 * w, np.array([1.0]), 0.1, 3)
    np.testing.assert_allclose(path[:, 0], [1.0, 0.8, 0.64, 0.512])


def test_gradient_descent_with_zero_steps_returns_the_start():
    assert optim.gradient_descent(lambda w: w, np.array([2.0, 3.0]), 0.1, 0).shape == (1, 2)


def test_gd_step_does_not_modify_w():
    w = np.array([1.0, 2.0])
    optim.gd_step(w, np.array([1.0, 1.0]), 0.5)
    np.testing.assert_array_equal(w, [1.0, 2.0])


# ---------------------------------------------------------------------- momentum (04)
def test_momentum_second_step_is_lr_times_one_plus_tau_times_g():
    # v1 = g, v2 = τg + g: the second step moves by λ(1 + τ)g
    g, lr, tau = np.array([2.0, -1.0]), 0.1, 0.9
    path = optim.momentum(lambda w: g, np.zeros(2), lr, tau, 2)
    np.testing.assert_allclose(path[1] - path[0], -lr * g)
    np.testing.assert_allclose(path[2] - path[1], -lr * (1 + tau) * g)


def test_sgd_momentum_second_step_is_lr_times_one_plus_mu_times_g():
    p = {"W": np.zeros(3)}
    g = {"W": np.array([1.0, 2.0, 3.0])}
    opt = optim.SGD(p, lr=0.5, momentum=0.9)
    opt.step(g)
    first = p["W"].copy()
    opt.step(g)
    np.testing.assert_allclose(first, -0.5 * g["W"])
    np.testing.assert_allclose(p["W"] - first, -0.5 * 1.9 * g["W"])


def test_sgd_follows_torch_arithmetic_with_decay_and_momentum():
    # torch.optim.SGD: d = g + αw; buf = d (first) or μ buf + d; w -= λ buf
    # W: w0 = 1, g = 0.5, α = 0.1, μ = 0.9, λ = 0.1
    #   step 1: d = 0.6, buf = 0.6, w = 1 - 0.06 = 0.94
    #   step 2: d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134, w = 0.94 - 0.1134 = 0.8266
    # b: no decay: buf = 0.5, then 0.95; b = -0.05, then -0.145
    p = {"W": np.array([1.0]), "b": np.array([0.0])}
    opt = optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1)
    for _ in range(2):
        opt.step({"W": np.array([0.5]), "b": np.array([0.5])})
    np.testing.assert_allclose(p["W"], [0.8266], rtol=1e-12)
    np.testing.assert_allclose(p["b"], [-0.145], rtol=1e-12)


def test_sgd_updates_in_place_so_the_model_sees_it():
    model = models.SoftmaxClassifier(2, 2, seed=0)
    W = model.params["W"]
    optim.SGD(model.params, lr=1.0).step({"W": np.ones((2, 2)), "b": np.ones(2)})
    assert W is model.params["W"]
    np.testing.assert_allclose(model.params["b"], [-1.0, -1.0])


def test_sgd_rejects_mismatched_grads():
    opt = optim.SGD({"W": np.zeros((2, 2))}, lr=0.1)
    with pytest.raises(ValueError, match="grads must have the keys of params"):
        opt.step({"V": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"grads\['W'\] has shape \(2,\), params \(2, 2\)"):
        opt.step({"W": np.zeros(2)})


@pytest.mark.parametrize(("kwargs", "match"), [({"lr": 0.0}, "lr must be > 0"),
                                               ({"lr": 0.1, "momentum": -0.5}, "momentum"),
                                               ({"lr": "0.1"}, "lr must be a real number")])
def test_sgd_rejects_bad_hyper_parameters(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        optim.SGD({"W": np.zeros(2)}, **kwargs)


def test_sgd_refuses_parameters_it_cannot_update_in_place():
    with pytest.raises(TypeError, match=r"params\['W'\] must be a float64 numpy array"):
        optim.SGD({"W": [0.0, 1.0]}, lr=0.1)


# ------------------------------------------------------------------- training loop (02)
def test_train_records_one_loss_per_batch_and_per_epoch():
    X, y = data.make_separable(50, seed=0)
    history = optim.train(models.SoftmaxClassifier(2, 2, seed=0), X, y, epochs=3,
                          batch_size=16, lr=0.1, X_val=X[:10], y_val=y[:10])
    assert len(history["batch_loss"]) == 3 * 4  # ceil(50 / 16) = 4 batches per epoch
    assert all(len(history[k]) == 3 for k in ("train_loss", "train_acc", "val_loss", "val_acc"))


def test_train_lowers_the_loss_and_is_reproducible():
    X, y = data.load_iris()
    runs = []
    for _ in range(2):
        model = models.SoftmaxClassifier(4, 3, seed=0)
        runs.append(optim.train(model, X / 8, y, epochs=20, batch_size=10, lr=0.5, seed=3))
    assert runs[0]["train_loss"][-1] < runs[0]["train_loss"][0]
    assert runs[0] == runs[1]


def test_train_progress_bar_goes_to_stderr_only_when_asked(capsys):
    X, y = data.make_separable(20, seed=0)
    optim.train(models.SoftmaxClassifier(2, 2), X, y, epochs=2, batch_size=8, lr=0.1)
    assert capsys.readouterr().err == ""
    optim.train(models.SoftmaxClassifier(2, 2), X, y, epochs=2, batch_size=8, lr=0.1,
                progress=True)
    assert "epochs" in capsys.readouterr().err


# ------------------------------------------------------------- Distill's theory (04)
def test_quadratic_rates_by_hand():
    # μ = 1 and 100: κ = 100, √κ = 10
    r = optim.quadratic_rates([100.0, 1.0])
    assert r["gd_lr"] == pytest.approx(2 / 101)
    assert r["gd_rate"] == pytest.approx(99 / 101)
    assert r["momentum_lr"] == pytest.approx((2 / 11) ** 2)
    assert r["momentum_tau"] == pytest.approx((9 / 11) ** 2)
    assert r["momentum_rate"] == pytest.approx(9 / 11)


@pytest.mark.parametrize("kappa", [10.0, 100.0])
def test_measured_rates_approach_the_theory(kappa):
    # f(w) = ½(w_1² + κ w_2²): GD at its optimal λ contracts by exactly (κ-1)/(κ+1) per step;
    # momentum at (λ*, τ*) has a double root, so its measured rate is slightly above theory.
    mu = np.array([1.0, kappa])
    r = optim.quadratic_rates(mu)
    w0, w_star = np.array([1.0, 1.0]), np.zeros(2)
    gd = optim.gradient_descent(lambda w: mu * w, w0, r["gd_lr"], 200)
    hb = optim.momentum(lambda w: mu * w, w0, r["momentum_lr"], r["momentum_tau"], 400)
    assert optim.measured_rate(gd, w_star) == pytest.approx(r["gd_rate"], rel=1e-6)
    assert r["momentum_rate"] <= optim.measured_rate(hb, w_star) <= 1.03 * r["momentum_rate"]


# ------------------------------------------- train composes model, SGD and weight decay
def _data_loss_grads(model, X, y):
    # the gradient of the data loss alone (α = 0), which the slides' update adds αW to
    return model.loss_and_grads(X, y)[1]


@pytest.mark.parametrize("alpha", [0.0, 0.1, 2.5])
def test_one_full_batch_step_of_train_is_w_minus_lr_times_g_plus_alpha_w(alpha):
    # The slides' update w − λ(∂l/∂w + αw): α once, biases not decayed. With B = N one
    # epoch is one step, whatever the shuffle (the mean gradient ignores the row order).
    X, y = data.make_separable(30, seed=1)
    model = models.SoftmaxClassifier(2, 2, seed=2)
    model.params["W"][:] = [[0.5, -1.0], [2.0, 0.25]]
    model.params["b"][:] = [0.3, -0.1]
    W0, b0 = model.params["W"].copy(), model.params["b"].copy()
    g = _data_loss_grads(model, X, y)
    lr = 0.2
    history = optim.train(model, X, y, epochs=1, batch_size=30, lr=lr, weight_decay=alpha)
    np.testing.assert_allclose(model.params["W"], W0 - lr * (g["W"] + alpha * W0), rtol=1e-13)
    np.testing.assert_allclose(model.params["b"], b0 - lr * g["b"], rtol=1e-13)
    # the logged batch loss is that of the parameters before the step, penalty included
    penalty = 0.5 * alpha * np.sum(W0 * W0)
    from lib import losses

    data_loss = losses.cross_entropy(X @ W0.T + b0, y)
    assert history["batch_loss"] == pytest.approx([data_loss + penalty], rel=1e-13)
    W1, b1 = model.params["W"], model.params["b"]
    assert history["train_loss"] == pytest.approx(
        [losses.cross_entropy(X @ W1.T + b1, y) + 0.5 * alpha * np.sum(W1 * W1)], rel=1e-13)


def test_train_with_decay_shrinks_weights_at_rate_one_minus_lr_alpha_when_g_is_zero():
    # A model whose data loss is flat: each step multiplies W by (1 − λα), exactly once.
    class Flat:
        def __init__(self):
            self.params = {"W": np.array([1.0, -2.0]), "b": np.array([3.0])}

        def loss_and_grads(self, X, y, weight_decay=0.0):
            W = self.params["W"]
            grads = {"W": weight_decay * W, "b": np.zeros(1)}
            return 0.5 * weight_decay * float(W @ W), grads

        def predict(self, X):
            return np.zeros(len(X), dtype=np.int64)

    model = Flat()
    X, y = np.zeros((6, 1)), np.zeros(6, dtype=np.int64)
    history = optim.train(model, X, y, epochs=2, batch_size=3, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(model.params["W"], np.array([1.0, -2.0]) * 0.95**4, rtol=1e-14)
    np.testing.assert_array_equal(model.params["b"], [3.0])
    # logged: (α/2)‖W‖² before each of the 4 steps
    expected = [0.25 * 5.0 * 0.95 ** (2 * k) for k in range(4)]
    np.testing.assert_allclose(history["batch_loss"], expected, rtol=1e-14)


def test_l2_penalty_counts_weights_only():
    params = {"W1": np.array([1.0, 2.0]), "b1": np.array([10.0]), "W2": np.array([[3.0]])}
    assert optim.l2_penalty(params, 0.5) == pytest.approx(0.25 * (1 + 4 + 9))
    assert optim.l2_penalty(params, 0.0) == 0.0


# ------------------------------------------- train's fast path for lib's own classifiers
class _PublicOnly:
    """lib's model behind its public methods only: train calls it as any student's model."""

    def __init__(self, model):
        self.model, self.params = model, model.params

    def loss_and_grads(self, X, y, weight_decay=0.0):
        return self.model.loss_and_grads(X, y, weight_decay)

    def predict(self, X):
        return self.model.predict(X)


def _iris():
    X, y = data.load_iris()
    return (X - X.mean(axis=0)) / X.std(axis=0), y


@pytest.mark.parametrize(("make", "momentum", "weight_decay", "batch_size"), [
    (lambda: models.SoftmaxClassifier(4, 3, seed=1), 0.0, 0.0, 16),
    (lambda: models.SoftmaxClassifier(4, 3, seed=1), 0.9, 0.05, 7),
    (lambda: models.MLP([4, 6, 3], seed=2), 0.9, 0.0, 32),
    (lambda: models.MLP([4, 5, 4, 3], activation="relu", seed=2), 0.5, 0.01, 20),
    (lambda: models.MLP([4, 5, 3], activation="tanh", seed=2), 0.0, 0.1, 150),
])
def test_train_fast_path_gives_exactly_the_history_of_the_public_methods(
        make, momentum, weight_decay, batch_size):
    X, y = _iris()
    fast, slow = make(), _PublicOnly(make())
    assert optim._is_lib_classifier(fast) and not optim._is_lib_classifier(slow)
    fit = dict(epochs=4, batch_size=batch_size, lr=0.3, momentum=momentum,
               weight_decay=weight_decay, seed=5)
    h_fast = optim.train(fast, X, y, X_val=X[::3], y_val=y[::3], **fit)
    h_slow = optim.train(slow, X, y, X_val=X[::3], y_val=y[::3], **fit)
    assert h_fast == h_slow  # every float, bit for bit
    for name in fast.params:
        np.testing.assert_array_equal(fast.params[name], slow.params[name])


def test_train_takes_the_public_path_for_a_subclass_that_replaces_a_method():
    calls = []

    class Counted(models.SoftmaxClassifier):
        def loss_and_grads(self, X, y, weight_decay=0.0):
            calls.append(len(X))
            return super().loss_and_grads(X, y, weight_decay)

    X, y = _iris()
    model = Counted(4, 3)
    assert not optim._is_lib_classifier(model)
    optim.train(model, X, y, epochs=2, batch_size=50, lr=0.1)
    assert calls == [50, 50, 50, 150] * 2  # 3 batches and the epoch's loss, twice


def test_train_takes_the_public_path_for_a_method_replaced_on_the_object():
    model, calls = models.MLP([4, 3], seed=0), []
    checked = model.loss_and_grads
    model.loss_and_grads = lambda X, y, weight_decay=0.0: (calls.append(len(X))
                                                           or checked(X, y, weight_decay))
    assert not optim._is_lib_classifier(model)
    X, y = _iris()
    optim.train(model, X, y, epochs=1, batch_size=100, lr=0.1)
    assert calls == [100, 50, 150]


@pytest.mark.parametrize("public", [False, True])
def test_train_refuses_nan_gradients_on_both_paths(public):
    X, y = _iris()
    model = models.MLP([4, 5, 3], seed=0)
    model.params["W2"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"grads\['W1'\] contains NaN"):
        optim.train(_PublicOnly(model) if public else model, X, y, epochs=1, batch_size=10,
                    lr=0.1)


@pytest.mark.parametrize(("X", "y", "error", "match"), [
    (np.ones((4, 3)), np.zeros(4, dtype=int), ValueError, r"X must have 4 features, got shape"),
    (np.ones((4, 4)), np.array([0, 1, 2, 3]), ValueError, r"y must lie in \[0, 2\]"),
    (np.ones((4, 4)), np.zeros(4), TypeError, "y must hold integer class labels"),
    (np.full((4, 4), np.nan), np.zeros(4, dtype=int), ValueError, "X must be finite"),
])
def test_train_checks_the_data_on_both_paths_with_the_same_message(X, y, error, match):
    for model in (models.MLP([4, 3]), _PublicOnly(models.MLP([4, 3]))):
        with pytest.raises(error, match=match):
            optim.train(model, X, y, epochs=1, batch_size=2, lr=0.1)


def test_the_nan_check_of_the_fast_path_sees_nan_only():
    nan = {"W": np.array([[0.0, np.nan]]), "b": np.zeros(1)}
    assert optim._has_nan(nan) and optim._has_nan({"W": np.array([-np.inf, np.nan, 1.0])})
    # overflow, inf and -inf are no NaN (SGD.step accepts them), nor is an empty gradient
    for g in ([1e308, 1e308], [np.inf, -np.inf], np.zeros(0)):
        assert not optim._has_nan({"W": np.array(g), "b": np.zeros(1)})
