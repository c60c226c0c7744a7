"""Models of the lecture: linear and polynomial regression, linear softmax, the MLP.

Every model with parameters has the same interface, so one SGD loop trains them all:

- ``params``: dict of float64 arrays (``"W"``, ``"b"`` or ``"W1"``, ``"b1"``, ...);
- ``loss_and_grads(X, y, weight_decay=0.0) -> (loss, grads)`` with grads keyed like params;
- ``predict(X) -> labels``.

The regularized loss is ``L + (α/2) Σ W²`` over the weights only: biases are not decayed.
"""

from __future__ import annotations

import numpy as np

from lib import activations as act
from lib import layers, losses
from lib._checks import as_float_array, as_labels, positive


# ---------------------------------------------------------------- linear regression (01)
def linear_predict(x, w: float, b: float) -> np.ndarray:
    """The slides' 1-D model ``ŷ = w x + b``. x: (N,). Returns (N,)."""
    x = as_float_array(x, "x", ndim=1)
    return w * x + b


def linear_regression_grads(x, y, w: float, b: float) -> tuple[float, float]:
    """``(dL/dw, dL/db)`` of ``L = (1/N) Σ (w x_i + b − y_i)²``.

    By hand: ``dL/dw = (2/N) Σ (ŷ_i − y_i) x_i`` and ``dL/db = (2/N) Σ (ŷ_i − y_i)``.
    """
    x = as_float_array(x, "x", ndim=1)
    y = as_float_array(y, "y", ndim=1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    r = w * x + b - y
    return float(2.0 * np.mean(r * x)), float(2.0 * np.mean(r))


# ------------------------------------------------------------ polynomial regression (03)
def polynomial_features(x, degree: int) -> np.ndarray:
    """Columns ``[x, x², ..., x^degree]`` for ``ŷ = w_1 x + ... + w_n x^n + b``.

    x: (N,) or (N, 1). Returns (N, degree). No column of ones: the bias b is separate, as
    in the slides, so that it can be left out of the L2 penalty.
    """
    x = as_float_array(x, "x", ndim=(1, 2))
    if x.ndim == 2:
        if x.shape[1] != 1:
            raise ValueError(f"x must be (N,) or (N, 1), got shape {x.shape}")
        x = x[:, 0]
    positive(degree, "degree", integer=True)
    raise NotImplementedError("lib.models.polynomial_features is the reference answer of assignment 03_regularization; it is not part of your edition of lib")


def least_squares(X, y, alpha: float = 0.0) -> tuple[np.ndarray, float]:
    """Closed-form minimiser of ``(1/N) Σ (X w + b − y)² + (α/2) Σ w²`` (b not penalized).

    X: (N, D), y: (N,). Returns ``(w (D,), b)``. Setting the gradient to zero and centring
    X and y to eliminate b gives ``(X_c^T X_c + (αN/2) I) w = X_c^T y_c``, ``b = ȳ − x̄·w``.
    With α = 0 and more parameters than points this returns the minimum-norm exact fit.
    This is a utility for comparing gradient descent against, not an exercise.
    """
    X = as_float_array(X, "X", ndim=2)
    y = as_float_array(y, "y", ndim=1)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    positive(alpha, "alpha", allow_zero=True)
    x_mean, y_mean = X.mean(axis=0), y.mean()
    Xc, yc = X - x_mean, y - y_mean
    if alpha == 0:
        w = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    else:
        A = Xc.T @ Xc + 0.5 * alpha * X.shape[0] * np.eye(X.shape[1])
        w = np.linalg.solve(A, Xc.T @ yc)
    return w, float(y_mean - x_mean @ w)


# ------------------------------------------------------------------- linear softmax (05)
def _init_weight(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    # Glorot/Xavier scale keeps the variance of activations roughly constant across layers.
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_out, fan_in))


class Classifier:
    """What lib's classifiers share: the checks of the public methods, and the prediction.

    The public methods (``scores``, ``loss_and_grads``, ``predict``) check their arguments and
    call the unchecked ``_scores`` and ``_loss_and_grads`` of the subclass, which hold the math
    on arrays already checked. ``lib.optim.train`` checks its data once and then calls the
    unchecked methods in its loops, unless a subclass replaces a public method (then it trains
    through the public ones, like any other model).
    """

    params: dict[str, np.ndarray]

    def _sizes(self) -> tuple[int, int]:
        """(D, C): the number of features and of classes."""
        raise NotImplementedError(f"{type(self).__name__} must define _sizes")

    def _check_X(self, X) -> np.ndarray:
        X = as_float_array(X, "X", ndim=2)
        n_features = self._sizes()[0]
        if X.shape[1] != n_features:
            raise ValueError(f"X must have {n_features} features, got shape {X.shape}")
        return X

    def _check_batch(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        X = self._check_X(X)
        return X, as_labels(y, "y", n=X.shape[0], n_classes=self._sizes()[1])

    def scores(self, X) -> np.ndarray:
        """Logits (N, C) of X (N, D)."""
        return self._scores(self._check_X(X))

    def loss_and_grads(self, X, y, weight_decay: float = 0.0) -> tuple[float, dict]:
        """Mean cross-entropy plus ``(α/2) Σ W²`` (weights only) and the gradients of params.

        X: (N, D); y: (N,) labels in [0, C); weight_decay: α >= 0. Returns (loss, grads):
        a float and a dict with the keys of params.
        """
        X, y = self._check_batch(X, y)
        positive(weight_decay, "weight_decay", allow_zero=True)
        return self._loss_and_grads(X, y, weight_decay)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``ŷ`` (N, C)."""
        return losses._softmax(self.scores(X))

    def predict(self, X) -> np.ndarray:
        """Most probable class per row, (N,) int64."""
        return np.argmax(self.scores(X), axis=1).astype(np.int64)

    def _scores(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define _scores")

    def _loss_and_grads(self, X: np.ndarray, y: np.ndarray,
                        weight_decay: float) -> tuple[float, dict]:
        raise NotImplementedError(f"{type(self).__name__} must define _loss_and_grads")


class SoftmaxClassifier(Classifier):
    """Linear softmax ``ŷ = softmax(W x + b)`` trained with the mean cross-entropy.

    Parameters: ``W`` (C, D), ``b`` (C,). ``W`` starts small and random (seeded), ``b`` at 0.
    """

    def __init__(self, n_features: int, n_classes: int, *, seed: int | np.random.Generator = 0):
        positive(n_features, "n_features", integer=True)
        positive(n_classes, "n_classes", integer=True)
        rng = np.random.default_rng(seed)
        self.params = {
            "W": 0.01 * rng.standard_normal((n_classes, n_features)),
            "b": np.zeros(n_classes),
        }

    def _sizes(self) -> tuple[int, int]:
        n_classes, n_features = self.params["W"].shape
        return n_features, n_classes

    def _scores(self, X: np.ndarray) -> np.ndarray:
        """Logits ``a = X W^T + b``: X (N, D) -> (N, C)."""
        # Written out rather than via layers.dense_forward, which is assignment 06's answer:
        # the student edition of 06 ships this class but withholds the dense layer.
        W, b = self.params["W"], self.params["b"]
        raise NotImplementedError("lib.models.SoftmaxClassifier._scores is the reference answer of assignment 05_softmax; it is not part of your edition of lib")

    def _loss_and_grads(self, X: np.ndarray, y: np.ndarray,
                        weight_decay: float) -> tuple[float, dict]:
        """Mean cross-entropy plus ``(α/2) Σ W²`` and its gradients ``{"W", "b"}``."""
        W = self.params["W"]
        raise NotImplementedError("lib.models.SoftmaxClassifier._loss_and_grads is the reference answer of assignment 05_softmax; it is not part of your edition of lib")


# -------------------------------------------------------------------------- the MLP (06)
class MLP(Classifier):
    """Multi-layer perceptron ``a_k = σ(W_k a_{k−1} + b_k)``, ``f = softmax(W_L a_{L−1} + b_L)``.

    sizes: ``[D, H1, ..., C]`` (at least two numbers: ``[D, C]`` is linear softmax).
    activation: ``"sigmoid"`` (the slides'), ``"tanh"`` or ``"relu"``, used on every
    hidden layer. Parameters ``W1`` (H1, D), ``b1`` (H1,), ..., ``WL`` (C, H_{L−1}), ``bL``.
    """

    def __init__(self, sizes, *, activation: str = "sigmoid",
                 seed: int | np.random.Generator = 0):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least [D, C], got {sizes}")
        for s in sizes:
            positive(s, "sizes", integer=True)
        if activation not in act.ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(act.ACTIVATIONS)}, got {activation!r}"
            )
        self.sizes = sizes
        self.activation = activation
        rng = np.random.default_rng(seed)
        self.params = {}
        for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
            self.params[f"W{k}"] = _init_weight(rng, fan_out, fan_in)
            self.params[f"b{k}"] = np.zeros(fan_out)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def _sizes(self) -> tuple[int, int]:
        return self.sizes[0], self.sizes[-1]

    def _scores(self, X: np.ndarray) -> np.ndarray:
        return self._forward(X)[0]

    # The passes work on arrays checked once by the public methods: they call the unchecked
    # kernels of lib.layers, lib.activations and lib.losses (the math of dense_forward, ...).
    def _forward(self, X: np.ndarray) -> tuple[np.ndarray, list]:
        f, _ = act._KERNELS[self.activation]
        raise NotImplementedError("lib.models.MLP._forward is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")

    def _loss_and_grads(self, X: np.ndarray, y: np.ndarray,
                        weight_decay: float) -> tuple[float, dict]:
        """Mean cross-entropy plus ``(α/2) Σ_k Σ W_k²`` and gradients of every parameter."""
        _, f_grad = act._KERNELS[self.activation]
        raise NotImplementedError("lib.models.MLP._loss_and_grads is the reference answer of assignment 06_mlp_backprop; it is not part of your edition of lib")


# ----------------------------------------------------------------- the perceptron (06)
def perceptron_train(X, y, *, epochs: int = 20, lr: float = 1.0):
    """Rosenblatt's rule: for each misclassified x, ``w += λ (y − f(x)) x``, ``b += λ (y − f(x))``.

    X: (N, D); y: (N,) labels in {0, 1}; ``f(x) = step(w·x + b)``. Visits the rows in order
    for ``epochs`` passes. Returns ``(w (D,), b, mistakes)`` where ``mistakes[e]`` counts the
    updates made in epoch e (0 once the data is separated).
    """
    X = as_float_array(X, "X", ndim=2)
    y = as_labels(y, "y", n=X.shape[0], n_classes=2)
    positive(epochs, "epochs", integer=True)
    positive(lr, "lr")
    # Given code in notebook 06 (no longer an exercise), so no reference region: every
    # edition of lib ships it.
    w, b = np.zeros(X.shape[1]), 0.0
    mistakes = []
    for _ in range(epochs):
        count = 0
        for x_i, y_i in zip(X, y, strict=True):
            err = y_i - (1.0 if x_i @ w + b > 0 else 0.0)
            if err:
                w, b, count = w + lr * err * x_i, b + lr * err, count + 1
        mistakes.append(count)
    return w, float(b), mistakes
