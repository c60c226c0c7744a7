"""lib.activations: values by hand, derivatives against centred differences, stability."""

import math

import numpy as np
import pytest

from lib import activations as act
from lib.gradcheck import numerical_gradient, rel_error

GRADS = [(act.sigmoid, act.sigmoid_grad), (act.tanh, act.tanh_grad), (act.relu, act.relu_grad)]


def test_step_is_one_only_above_zero():
    np.testing.assert_array_equal(act.step([-1.0, 0.0, 2.0]), [0.0, 0.0, 1.0])


def test_sigmoid_by_hand():
    # σ(0) = 1/2, σ(ln 3) = 1 / (1 + 1/3) = 3/4, σ(-ln 3) = 1/4
    np.testing.assert_allclose(act.sigmoid([0.0, math.log(3), -math.log(3)]),
                               [0.5, 0.75, 0.25], rtol=1e-15)


def test_tanh_by_hand():
    # tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 3/5
    np.testing.assert_allclose(act.tanh([math.log(2)]), [0.6], rtol=1e-15)


def test_relu_by_hand():
    np.testing.assert_array_equal(act.relu([[-2.0, 0.0], [0.5, 3.0]]), [[0.0, 0.0], [0.5, 3.0]])


@pytest.mark.parametrize(("f", "f_grad"), GRADS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)])
def test_derivative_matches_numerical(f, f_grad, shape):
    z = np.random.default_rng(sum(shape)).standard_normal(shape) * 2
    z[np.abs(z) < 1e-3] = 0.5  # keep away from ReLU's kink
    numeric = numerical_gradient(lambda: f(z).sum(), z)  # Σ f(z_i): ∂/∂z_i = f'(z_i)
    assert rel_error(f_grad(z), numeric) < 1e-7


def test_relu_derivative_at_zero_is_zero():
    np.testing.assert_array_equal(act.relu_grad([0.0]), [0.0])


def test_sigmoid_derivative_by_hand():
    # σ'(ln 3) = σ(1 - σ) = 3/4 · 1/4
    np.testing.assert_allclose(act.sigmoid_grad([math.log(3)]), [3 / 16], rtol=1e-15)


@pytest.mark.parametrize("z", [1e4, -1e4, 1e300, -1e300, 709.0, -745.0])
def test_sigmoid_is_exact_and_warning_free_for_huge_inputs(z):
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = act.sigmoid([z])[0]
        ds = act.sigmoid_grad([z])[0]
    expected = 1 / (1 + math.exp(-z)) if z > -700 else math.exp(z) / (1 + math.exp(z))
    assert s == pytest.approx(expected, rel=1e-15, abs=0)
    assert 0.0 <= ds <= 0.25


def test_activations_keep_shape_and_do_not_modify_input(rng):
    z = rng.standard_normal((2, 3))
    before = z.copy()
    for f, f_grad in GRADS:
        assert f(z).shape == z.shape and f_grad(z).shape == z.shape
    np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("f", [act.step, act.sigmoid, act.tanh, act.relu, act.sigmoid_grad])
def test_activations_reject_nan_and_strings(f):
    with pytest.raises(ValueError, match="z contains NaN"):
        f([0.0, np.nan])
    with pytest.raises(TypeError, match="z must hold real numbers"):
        f(["a"])


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_kernels_are_the_public_functions_and_reuse_the_output_bit_for_bit(rng, name):
    # MLP's passes call the unchecked kernels, the backward pass with the forward's output
    z = np.concatenate([rng.standard_normal(40) * 5, [0.0, 40.0, -40.0, 800.0, -800.0]])
    f, f_grad = act.ACTIVATIONS[name]
    kernel, kernel_grad = act._KERNELS[name]
    np.testing.assert_array_equal(kernel(z), f(z))
    np.testing.assert_array_equal(kernel_grad(z), f_grad(z))
    np.testing.assert_array_equal(kernel_grad(z, kernel(z)), f_grad(z))


def test_sigmoid_is_one_over_one_plus_exp_on_both_branches():
    # z >= 0: 1 / (1 + e^{-z}); z < 0: e^z / (1 + e^z), both exact to rounding
    z = np.array([-30.0, -2.0, -1e-3, 0.0, 1e-3, 2.0, 30.0])
    expected = [math.exp(v) / (1 + math.exp(v)) if v < 0 else 1 / (1 + math.exp(-v)) for v in z]
    np.testing.assert_allclose(act.sigmoid(z), expected, rtol=2e-16, atol=0)
