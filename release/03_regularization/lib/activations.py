"""Activation functions of the slides and, beside each, its derivative ``d/dz`` at ``z``.

All are elementwise: ``z`` may have any shape and the result has the same shape.
"""

from __future__ import annotations

import numpy as np

from lib._checks import as_float_array


def step(z) -> np.ndarray:
    """Heaviside step of the perceptron: 1.0 where ``z > 0``, else 0.0 (slides: f(x))."""
    z = as_float_array(z, "z", allow_empty=True)
    return (z > 0).astype(np.float64)


def sigmoid(z) -> np.ndarray:
    """``σ(z) = 1 / (1 + e^{−z})``, exact and warning-free for any finite z."""
    z = as_float_array(z, "z", allow_empty=True)
    # exp(-|z|) is in (0, 1]: it never overflows, and each branch below is exact.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(z) -> np.ndarray:
    """``σ'(z) = σ(z) (1 − σ(z))``."""
    z = as_float_array(z, "z", allow_empty=True)
    raise NotImplementedError("lib.activations.sigmoid_grad is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")


def tanh(z) -> np.ndarray:
    """``tanh(z) = (e^z − e^{−z}) / (e^z + e^{−z})``."""
    z = as_float_array(z, "z", allow_empty=True)
    return np.tanh(z)


def tanh_grad(z) -> np.ndarray:
    """``tanh'(z) = 1 − tanh(z)²``."""
    z = as_float_array(z, "z", allow_empty=True)
    raise NotImplementedError("lib.activations.tanh_grad is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")


def relu(z) -> np.ndarray:
    """``ReLU(z) = max(0, z)``."""
    z = as_float_array(z, "z", allow_empty=True)
    return np.maximum(z, 0.0)


def relu_grad(z) -> np.ndarray:
    """``ReLU'(z)``: 1 where ``z > 0``, else 0 (0 at z = 0, as in PyTorch)."""
    z = as_float_array(z, "z", allow_empty=True)
    raise NotImplementedError("lib.activations.relu_grad is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")


ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
}
