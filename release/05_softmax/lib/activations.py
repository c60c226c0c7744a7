"""Activation functions of the slides and, beside each, its derivative ``d/dz`` at ``z``.

All are elementwise: ``z`` may have any shape and the result has the same shape.

Each public function checks its argument and then calls the unchecked kernel beside it
(``_sigmoid``, ...), which holds the math. ``lib.models.MLP`` calls the kernels directly on
arrays it has already checked, so a training loop does not check the same array again in every
call (``_KERNELS`` pairs them like ``ACTIVATIONS``).
"""

from __future__ import annotations

import numpy as np

from lib._checks import as_float_array


def _checked(z) -> np.ndarray:
    return as_float_array(z, "z", allow_empty=True)


def step(z) -> np.ndarray:
    """Heaviside step of the perceptron: 1.0 where ``z > 0``, else 0.0 (slides: f(x))."""
    return (_checked(z) > 0).astype(np.float64)


def sigmoid(z) -> np.ndarray:
    """``σ(z) = 1 / (1 + e^{−z})``, exact and warning-free for any finite z."""
    return _sigmoid(_checked(z))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # With e = exp(−|z|), which lies in (0, 1] and never overflows:
    #   z >= 0:  σ(z) = 1 / (1 + e^{−z}) = 1 / (1 + e)
    #   z <  0:  σ(z) = e^{z} / (1 + e^{z}) = e / (1 + e)
    # one exp and one division per element, each exact to rounding.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def sigmoid_grad(z) -> np.ndarray:
    """``σ'(z) = σ(z) (1 − σ(z))``."""
    return _sigmoid_grad(_checked(z))


def _sigmoid_grad(z: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
    # s: σ(z) when the caller has it already (the MLP's forward pass computed it)
    raise NotImplementedError("lib.activations._sigmoid_grad is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")


def tanh(z) -> np.ndarray:
    """``tanh(z) = (e^z − e^{−z}) / (e^z + e^{−z})``."""
    return np.tanh(_checked(z))


def tanh_grad(z) -> np.ndarray:
    """``tanh'(z) = 1 − tanh(z)²``."""
    return _tanh_grad(_checked(z))


def _tanh_grad(z: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
    # t: tanh(z) when the caller has it already
    raise NotImplementedError("lib.activations._tanh_grad is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")


def relu(z) -> np.ndarray:
    """``ReLU(z) = max(0, z)``."""
    return _relu(_checked(z))


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def relu_grad(z) -> np.ndarray:
    """``ReLU'(z)``: 1 where ``z > 0``, else 0 (0 at z = 0, as in PyTorch)."""
    return _relu_grad(_checked(z))


def _relu_grad(z: np.ndarray, a: np.ndarray | None = None) -> np.ndarray:
    # a (ReLU(z)) is not needed: the same signature as the other derivatives
    raise NotImplementedError("lib.activations._relu_grad is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")


ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
}

# The same pairs unchecked, for arrays already checked (lib.models.MLP's passes). The
# derivatives also take the activation's output f(z), which the forward pass has computed, so
# that the backward pass does not compute it again: f_grad(z, f(z)) == f_grad(z).
_KERNELS = {
    "sigmoid": (_sigmoid, _sigmoid_grad),
    "tanh": (np.tanh, _tanh_grad),
    "relu": (_relu, _relu_grad),
}
