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
