"""Losses of the lecture: squared error, L2 penalty, softmax and cross-entropy.

Losses are *means* over the batch (PyTorch's ``reduction="mean"``); the slides write sums.
With a mean, the size of a gradient step does not grow with the number of samples N, so one
learning rate λ works for any batch size. Each loss sits next to its gradient.

Symbols: N samples, C classes, ``a`` the scores (logits) ``a = W x + b``, ``ŷ = softmax(a)``.

The softmax family checks its arguments and then calls the unchecked kernel beside it
(``_softmax``, ``_cross_entropy``, ...), which holds the math: lib's models call the kernels
directly on arrays they have already checked.
"""

from __future__ import annotations

import numpy as np

from lib._checks import as_float_array, as_labels, positive, same_shape


def mse(y_hat, y) -> float:
    """Mean squared error ``L = (1/N) Σ_i (ŷ_i − y_i)²``.

    y_hat, y: (N,) or (N, K) predictions and targets of the same shape. Returns a float
    (the mean over all elements, like ``torch.nn.functional.mse_loss``).
    """
    y_hat = as_float_array(y_hat, "y_hat")
    y = as_float_array(y, "y")
    same_shape(y_hat, y, "y_hat", "y")
    ### BEGIN REFERENCE 01_gradient_descent
    return float(np.mean((y_hat - y) ** 2))
    ### END REFERENCE


def mse_grad(y_hat, y) -> np.ndarray:
    """Gradient of :func:`mse` with respect to ``y_hat``: ``2 (ŷ − y) / N``, shape of y_hat."""
    y_hat = as_float_array(y_hat, "y_hat")
    y = as_float_array(y, "y")
    same_shape(y_hat, y, "y_hat", "y")
    ### BEGIN REFERENCE 01_gradient_descent
    return 2.0 * (y_hat - y) / y_hat.size
    ### END REFERENCE


def l2_penalty(W, alpha: float) -> float:
    """L2 penalty ``(α/2) Σ W²``: its gradient is ``α W``, the slides' ``λαw`` term.

    The slides write ``α Σ |w_i|²`` whose gradient is ``2αw``; with the factor 1/2 the update
    is exactly the slides' ``w − λ dl/dw − λαw`` and ``torch.optim.SGD(weight_decay=α)``.
    """
    W = as_float_array(W, "W", allow_empty=True)
    positive(alpha, "alpha", allow_zero=True)
    ### BEGIN REFERENCE 03_regularization
    return float(0.5 * alpha * np.sum(W * W))
    ### END REFERENCE


def l2_penalty_grad(W, alpha: float) -> np.ndarray:
    """Gradient of :func:`l2_penalty`: ``α W``, shape of W."""
    W = as_float_array(W, "W", allow_empty=True)
    positive(alpha, "alpha", allow_zero=True)
    ### BEGIN REFERENCE 03_regularization
    return alpha * W
    ### END REFERENCE


def _as_logits(logits) -> np.ndarray:
    return as_float_array(logits, "logits", ndim=(1, 2))


def softmax(logits) -> np.ndarray:
    """Softmax along the last axis: ``ŷ_i = exp(a_i) / Σ_k exp(a_k)``.

    logits: (N, C) scores (or one (C,) vector). Returns probabilities of the same shape.
    Exact and warning-free for any finite input: subtracting the row maximum first changes
    nothing mathematically (softmax is shift invariant) but keeps every ``exp`` <= 1.
    """
    return _softmax(_as_logits(logits))


def _softmax(logits: np.ndarray) -> np.ndarray:
    ### BEGIN REFERENCE 05_softmax
    # A row like [1e308, -1e308] overflows to -inf when shifted; exp(-inf) = 0 is exact.
    with np.errstate(over="ignore"):
        shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)
    ### END REFERENCE


def log_softmax(logits) -> np.ndarray:
    """``log softmax(a)_i = a_i − log Σ_k exp(a_k)`` computed with log-sum-exp.

    logits: (N, C) or (C,). Same shape out. Never takes the log of a rounded-to-zero
    probability, so very negative log-probabilities stay exact instead of becoming -inf.
    """
    return _log_softmax(_as_logits(logits))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    ### BEGIN REFERENCE 05_softmax
    with np.errstate(over="ignore"):
        shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    ### END REFERENCE


def _check_batch(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    logits = as_float_array(logits, "logits", ndim=2)
    labels = as_labels(labels, "labels", n=logits.shape[0], n_classes=logits.shape[1])
    return logits, labels


def cross_entropy(logits, labels) -> float:
    """Mean cross-entropy ``L = (1/N) Σ_i −log ŷ_{i, label_i}`` from raw scores.

    logits: (N, C) scores ``a``; labels: (N,) integers in [0, C). Returns a float equal to
    ``torch.nn.functional.cross_entropy(logits, labels)``.
    """
    return _cross_entropy(*_check_batch(logits, labels))


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    ### BEGIN REFERENCE 05_softmax
    logp = _log_softmax(logits)
    return float(-np.mean(logp[np.arange(len(labels)), labels]))
    ### END REFERENCE


def cross_entropy_grad(logits, labels) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to the logits: ``(ŷ − y) / N``.

    logits: (N, C); labels: (N,). Returns (N, C). Row i is the slides' ``∂ℓ/∂a = ŷ − y``
    for example i, divided by N because the loss is a mean.
    """
    return _cross_entropy_grad(*_check_batch(logits, labels))


def _cross_entropy_grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    ### BEGIN REFERENCE 05_softmax
    grad = _softmax(logits)
    grad[np.arange(len(labels)), labels] -= 1.0
    grad /= len(labels)
    return grad
    ### END REFERENCE
