"""Input validation shared by the modules of ``lib``.

Every public function of ``lib`` validates its arguments here so that a wrong shape, a NaN
or a label out of range fails at once with a message naming the argument, rather than deep
inside numpy with a broadcasting error. This is lib's one validation vocabulary (``lib.data``
uses it too):

- :func:`as_float_array`: numbers -> a new float64 array. NaN is always refused. ±inf is
  refused with ``finite=True`` (data: a sample with an infinite feature is a bug) and allowed
  otherwise (parameters, gradients and losses of a diverging run, which the notebooks show);
- :func:`as_labels`: integer class labels; :func:`positive`: a scalar hyper-parameter.

The names match ``lib.grading``'s: ``as_float_array`` returns an array, ``grading.as_float``
a Python float.
"""

from __future__ import annotations

import numbers

import numpy as np


def _shape(x) -> str:
    return str(tuple(np.shape(x)))


def as_float_array(x, name: str, *, ndim: int | tuple[int, ...] | None = None,
                   allow_empty: bool = False, finite: bool = False) -> np.ndarray:
    """Return ``x`` as a float64 array (a new array; the caller's is never touched).

    Raises TypeError for non-numeric input and ValueError for the wrong number of
    dimensions, an empty array, a NaN, or (with ``finite=True``) a NaN or an inf.
    """
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        arr = x.copy()  # the common case: no conversion, only the copy
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from err
        # numbers and booleans, not strings, objects or complex numbers
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        arr = np.array(arr, dtype=np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {_shape(arr)}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {_shape(arr)}")
    if finite and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got NaN or inf (shape {_shape(arr)})")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    return arr


def as_labels(y, name: str, *, n: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """Return integer labels ``y`` (N,) as int64, checking their count and range."""
    arr = np.asarray(y)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {_shape(arr)}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} labels but the batch has {n} rows")
    if n_classes is not None and arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(
            f"{name} must lie in [0, {n_classes - 1}] for {n_classes} classes, "
            f"got values from {arr.min()} to {arr.max()}"
        )
    return arr.astype(np.int64)


def positive(value, name: str, *, integer: bool = False, allow_zero: bool = False):
    """Check a scalar hyper-parameter (learning rate, batch size, ...)."""
    kinds = (numbers.Integral,) if integer else (numbers.Real,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {kind}, got {value!r}")
    if value != value:  # NaN
        raise ValueError(f"{name} must be a number, got NaN")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


def same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {_shape(a)} and {_shape(b)}"
        )
