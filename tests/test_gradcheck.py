"""lib.gradcheck: exact on polynomials up to rounding, and the input is restored."""

import numpy as np
import pytest

from lib.gradcheck import numerical_gradient, rel_error


def test_numerical_gradient_of_a_cubic():
    # f(x) = Σ x³ has gradient 3x²; centred differences err by h² = 1e-10 on a cubic
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    np.testing.assert_allclose(numerical_gradient(lambda: np.sum(x**3), x), 3 * x**2, rtol=1e-8)


def test_numerical_gradient_accepts_a_function_of_x():
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(numerical_gradient(lambda v: v @ v, x), 2 * x, rtol=1e-8)


def test_input_is_restored_even_when_f_raises():
    x = np.array([1.0, 2.0])

    def f():
        if x[0] != 1.0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_input_is_restored_bit_for_bit():
    x = np.array([0.1, 1e-17, 3.3333])
    before = x.copy()
    numerical_gradient(lambda: np.sum(np.sin(x)), x)
    np.testing.assert_array_equal(x, before)


def test_refuses_arrays_it_cannot_perturb():
    with pytest.raises(TypeError, match="x must be a float64 numpy array"):
        numerical_gradient(lambda: 0.0, np.array([1, 2]))


def test_rel_error_by_hand():
    # ‖a - b‖ = 1, ‖a‖ + ‖b‖ = 3 + 4
    assert rel_error([3.0, 0.0], [3.0, 1.0]) == pytest.approx(1 / (3 + np.sqrt(10)))
    assert rel_error([0.0], [0.0]) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        rel_error([1.0], [1.0, 2.0])


# numerical_grads: the same centred differences over a dict of arrays (notebook 06)
def test_numerical_grads_of_a_quadratic_is_exact():
    from lib.gradcheck import numerical_grads

    # L = Σ a² + 3 b has ∂L/∂a = 2a and ∂L/∂b = 3; centred differences are exact on a
    # quadratic (up to rounding)
    params = {"a": np.array([1.0, -2.0]), "b": np.array([0.5])}
    grads = numerical_grads(lambda p: np.sum(p["a"] ** 2) + 3.0 * p["b"][0], params)
    assert set(grads) == {"a", "b"}
    np.testing.assert_allclose(grads["a"], [2.0, -4.0], rtol=1e-9)
    np.testing.assert_allclose(grads["b"], [3.0], rtol=1e-9)


def test_numerical_grads_is_centred_and_uses_h():
    from lib.gradcheck import numerical_grads

    # for f = x³, ((x + h)³ − (x − h)³) / 2h = 3x² + h² exactly (a forward difference would
    # give 3x² + 3xh + h²); with h = 0.1 the h² = 0.01 shows
    W = np.array([[2.0, -1.0], [0.0, 1.5]])
    grads = numerical_grads(lambda p: np.sum(p["W"] ** 3), {"W": W}, 0.1)
    assert grads["W"].shape == (2, 2)
    np.testing.assert_allclose(grads["W"], 3 * W**2 + 0.01, rtol=1e-12, atol=1e-12)


def test_numerical_grads_keeps_the_other_entries_and_restores_params():
    from lib.gradcheck import numerical_grads

    # L = (a0 a1)² + a0 c: ∂L/∂a0 = 2 a0 a1² + c = 18 + 2, ∂L/∂a1 = 2 a0² a1 = 6 and
    # ∂L/∂c = a0 = 1 at a = (1, 3), c = 2 (each quadratic in the entry that moves: exact)
    params = {"a": np.array([1.0, 3.0]), "c": np.array(2.0)}
    before = {k: v.copy() for k, v in params.items()}
    grads = numerical_grads(lambda p: (p["a"][0] * p["a"][1]) ** 2 + p["a"][0] * p["c"],
                            params, 1e-4)
    np.testing.assert_allclose(grads["a"], [20.0, 6.0], rtol=1e-9)
    np.testing.assert_allclose(grads["c"], 1.0, rtol=1e-9)
    assert grads["c"].shape == ()
    for key, value in before.items():
        np.testing.assert_array_equal(params[key], value)


def test_numerical_grads_restores_params_when_the_loss_raises_and_refuses_bad_params():
    from lib.gradcheck import numerical_grads

    params = {"W": np.array([[1.0, 2.0]])}

    def loss(p):
        if p["W"][0, 1] != 2.0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        numerical_grads(loss, params)
    np.testing.assert_array_equal(params["W"], [[1.0, 2.0]])
    with pytest.raises(TypeError, match=r"params\['b'\] must be a float64 numpy array"):
        numerical_grads(lambda p: 0.0, {"W": np.ones(2), "b": np.array([1, 2])})
    with pytest.raises(TypeError, match="params must be a dict"):
        numerical_grads(lambda p: 0.0, [np.ones(2)])
    with pytest.raises(ValueError, match="h must be > 0"):
        numerical_grads(lambda p: 0.0, {"W": np.ones(2)}, 0.0)


# ------------------------------------------------------------------------ 06_mlp_backprop
def test_fix_first_passes_the_references_and_names_each_broken_function():
    from lib import activations, layers
    from lib.gradcheck import fix_first

    good = {"sigmoid_grad": activations.sigmoid_grad, "tanh_grad": activations.tanh_grad,
            "relu_grad": activations.relu_grad, "dense_forward": layers.dense_forward,
            "dense_backward": layers.dense_backward}
    assert fix_first(**good) == []

    def transposed_dW(dout, X, W):
        return dout @ W, X.T @ dout, dout.sum(axis=0)

    def stub(*args):
        raise NotImplementedError

    broken = dict(good, tanh_grad=lambda z: 1.0 - activations.tanh(z),
                  dense_forward=lambda X, W, b: X @ W.T, dense_backward=transposed_dW,
                  relu_grad=stub)
    assert fix_first(**broken) == ["tanh_grad", "relu_grad", "dense_forward", "dense_backward"]
    with pytest.raises(ValueError, match="unknown"):
        fix_first(dense_fwd=layers.dense_forward)


def test_fix_first_checks_an_mlp_class_by_its_logits_and_gradients():
    from lib import layers
    from lib.activations import sigmoid, sigmoid_grad
    from lib.gradcheck import fix_first
    from lib.losses import cross_entropy, cross_entropy_grad

    class Net:
        def __init__(self, sizes, *, activation="sigmoid", seed=0, skip_g_grad=False):
            self.params = {}
            self.skip = skip_g_grad

        def forward(self, X):
            A = sigmoid(layers.dense_forward(X, self.params["W1"], self.params["b1"]))
            return layers.dense_forward(A, self.params["W2"], self.params["b2"]), A

        def loss_and_grads(self, X, y, weight_decay=0.0):
            logits, A = self.forward(X)
            d2 = cross_entropy_grad(logits, y)
            dA, dW2, db2 = layers.dense_backward(d2, A, self.params["W2"])
            Z1 = layers.dense_forward(X, self.params["W1"], self.params["b1"])
            d1 = dA if self.skip else dA * sigmoid_grad(Z1)
            _, dW1, db1 = layers.dense_backward(d1, X, self.params["W1"])
            W1, W2 = self.params["W1"], self.params["W2"]
            loss = cross_entropy(logits, y) + 0.5 * weight_decay * (np.sum(W1**2) + np.sum(W2**2))
            return loss, {"W1": dW1 + weight_decay * W1, "b1": db1,
                          "W2": dW2 + weight_decay * W2, "b2": db2}

    class Broken(Net):
        def __init__(self, sizes, **kwargs):
            super().__init__(sizes, skip_g_grad=True)

    assert fix_first(MLP=Net) == []
    assert fix_first(MLP=Broken) == ["MLP"]
