"""The dense (fully connected) layer, forward and backward, as in CS231n's ``affine_*``.

Shapes: X (N, D) a batch of N rows; W (M, D) with M outputs (``torch.nn.Linear``'s
layout, the slides' ``g = W x^T + b^T``); b (M,); out (N, M).

Each public function checks its arguments and then calls the unchecked kernel beside it
(``_dense_forward``, ``_dense_backward``), which holds the math. ``lib.models.MLP`` calls the
kernels directly on arrays it has already checked.
"""

from __future__ import annotations

import numpy as np

from lib._checks import as_float_array


def _check(X, W, name_x: str = "X") -> tuple[np.ndarray, np.ndarray]:
    X = as_float_array(X, name_x, ndim=2)
    W = as_float_array(W, "W", ndim=2)
    if X.shape[1] != W.shape[1]:
        raise ValueError(
            f"{name_x} has {X.shape[1]} features but W expects {W.shape[1]}: "
            f"{name_x} {X.shape}, W {W.shape} (W is (out_features, in_features))"
        )
    return X, W


def dense_forward(X, W, b) -> np.ndarray:
    """``out = X W^T + b``: X (N, D), W (M, D), b (M,) -> out (N, M)."""
    X, W = _check(X, W)
    b = as_float_array(b, "b", ndim=1)
    if b.shape[0] != W.shape[0]:
        raise ValueError(f"b must have shape ({W.shape[0]},) to match W {W.shape}, got {b.shape}")
    return _dense_forward(X, W, b)


def _dense_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    raise NotImplementedError("lib.layers._dense_forward is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")


def dense_backward(dout, X, W) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`dense_forward`.

    dout: (N, M) upstream gradient ``∂L/∂out``; X (N, D) and W (M, D) as in the forward.
    Returns ``dX`` (N, D) = dout W, ``dW`` (M, D) = dout^T X, ``db`` (M,) = Σ_n dout.
    Per element: ``∂L/∂w_ij = Σ_n ∂L/∂out_ni · x_nj``, the slides' ``(ŷ_i − y_i) x_j``.
    """
    X, W = _check(X, W)
    dout = as_float_array(dout, "dout", ndim=2)
    if dout.shape != (X.shape[0], W.shape[0]):
        raise ValueError(
            f"dout must have shape (N, M) = ({X.shape[0]}, {W.shape[0]}), got {dout.shape}"
        )
    return _dense_backward(dout, X, W)


def _dense_backward(dout: np.ndarray, X: np.ndarray,
                    W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    raise NotImplementedError("lib.layers._dense_backward is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")
