"""Numerical gradients by centred differences, to check every analytic gradient.

``∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h`` has error O(h²); in float64 with
h = 1e-5 a correct analytic gradient agrees to a relative error (:func:`rel_error`) of
about 1e-9 or better.
"""

from __future__ import annotations

import numpy as np


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred-difference gradient of the scalar function ``f()`` with respect to ``x``.

    f: a function of no arguments that reads ``x`` (e.g. ``lambda: model.loss(X, y)``), or of
    one argument, which is called with ``x``. x: a float64 array, perturbed in place one
    element at a time and restored exactly afterwards (even if f raises). Returns an array of
    x's shape.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"x must be a float64 numpy array (perturbed in place), got {type(x)}")
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h!r}")
    takes_x = _takes_argument(f)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        try:
            x[i] = old + h
            f_plus = float(f(x) if takes_x else f())
            x[i] = old - h
            f_minus = float(f(x) if takes_x else f())
        finally:
            x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def _takes_argument(f) -> bool:
    import inspect

    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return True
    required = [p for p in params if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) >= 1


def rel_error(a, b) -> float:
    """Relative error ``‖a − b‖ / (‖a‖ + ‖b‖)`` (0 when both are 0), Euclidean norms.

    A norm-based error is not thrown off by entries that are nearly zero, where centred
    differences have a tiny absolute error but a large elementwise relative one. For a
    correct float64 gradient expect about 1e-9 to 1e-11; above 1e-6 something is wrong.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)
