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


def numerical_grads(loss_fn, params: dict, h: float = 1e-5) -> dict:
    """Centred-difference gradients of ``loss_fn(params)`` for a dict of parameter arrays.

    The gradient check of notebook 06: :func:`numerical_gradient` applied to every array of
    the dict in turn, ``grads[name][idx] = (L(p_idx + h) − L(p_idx − h)) / 2h`` for every
    entry ``p_idx`` of every array, one entry changed at a time.

    loss_fn: a function ``params -> float`` (e.g. ``lambda p: two_layer_loss(X, y, p)``),
    called with ``params`` itself. params: dict name -> float64 numpy array; each array is
    perturbed in place and restored exactly (even if loss_fn raises), so afterwards params is
    as it was. h: the step, > 0. Returns a dict with the keys of params, ``grads[name]`` of
    ``params[name]``'s shape. Cost: two calls of loss_fn per entry of every array.
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of float64 arrays, got {type(params).__name__}")
    for name, value in params.items():
        if not isinstance(value, np.ndarray) or value.dtype != np.float64:
            raise TypeError(f"params[{name!r}] must be a float64 numpy array (perturbed in "
                            f"place), got {type(value).__name__}"
                            + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else ""))
    return {name: numerical_gradient(lambda _value: loss_fn(params), value, h)
            for name, value in params.items()}


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


# ------------------------------------------------------------------------ 06_mlp_backprop
# Which earlier exercise to fix first. The tests of a later exercise of notebook 06 call
# ``fix_first`` to find out whether the functions it builds on work, so that they can say
# which one to fix first (and, in grading, judge the later exercise on its own). Each check is
# independent of the answers: centred differences, and the forward formula the notebook states.

_FIX_FIRST_ORDER = ("sigmoid_grad", "tanh_grad", "relu_grad", "dense_forward",
                    "dense_backward", "MLP")


def _plain(value) -> np.ndarray:
    if not (isinstance(value, np.ndarray) or isinstance(value, (list, tuple, float, int))):
        raise TypeError(f"not an array: {type(value).__name__}")
    return np.asarray(value, dtype=np.float64)


def _agree(actual, expected, tol: float = 1e-6) -> bool:
    actual = _plain(actual)
    expected = np.asarray(expected, dtype=np.float64)
    return (actual.shape == expected.shape and bool(np.all(np.isfinite(actual)))
            and bool(np.allclose(actual, expected, rtol=tol, atol=1e-8)))


def _check_activation_grad(fn, g) -> bool:
    z = np.array([[-3.0, -0.5], [0.7, 2.5]])
    h = 1e-5
    return _agree(fn(z.copy()), (g(z + h) - g(z - h)) / (2 * h))


def _check_dense_forward(fn) -> bool:
    rng = np.random.default_rng(606)
    X, W, b = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)), rng.normal(size=4)
    return _agree(fn(X.copy(), W.copy(), b.copy()), X @ W.T + b, tol=1e-9)


def _check_dense_backward(fn) -> bool:
    rng = np.random.default_rng(607)
    X, W, b, G = (rng.normal(size=s) for s in [(3, 2), (4, 2), (4,), (3, 4)])

    def total():
        return float(np.sum(G * (X @ W.T + b)))

    out = fn(G.copy(), X.copy(), W.copy())
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        return False
    return all(_agree(got, numerical_gradient(total, x))
               for got, x in zip(out, (X, W, b), strict=True))


def _check_mlp(cls) -> bool:
    from lib.activations import sigmoid

    rng = np.random.default_rng(608)
    model = cls([3, 4, 2], activation="sigmoid", seed=0)
    model.params = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=4),
                    "W2": rng.normal(size=(2, 4)), "b2": rng.normal(size=2)}
    X, y = rng.normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    p = {k: np.array(v) for k, v in model.params.items()}
    logits = sigmoid(X @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]
    if not _agree(model.forward(X.copy())[0], logits, tol=1e-9):
        return False
    _, grads = model.loss_and_grads(X.copy(), y.copy(), 0.05)
    for key, value in p.items():
        def loss(v, key=key):
            model.params = dict(p, **{key: v})
            return float(model.loss_and_grads(X.copy(), y.copy(), 0.05)[0])

        want = numerical_gradient(loss, value.copy())
        model.params = {k: v.copy() for k, v in p.items()}
        if not _agree(grads[key], want, tol=1e-5):
            return False
    return True


def fix_first(**functions) -> list[str]:
    """Names of the given functions of notebook 06 that fail a quick independent check.

    Keywords (any of): ``sigmoid_grad``, ``tanh_grad``, ``relu_grad`` (compared with centred
    differences of lib's activations), ``dense_forward`` (with ``X @ W.T + b``),
    ``dense_backward`` (with centred differences of ``Σ G ∘ (X W^T + b)``) and ``MLP`` (a
    class: a small sigmoid network's logits, and its gradients against centred differences
    of its own loss). A function that raises counts as failing. Returns the failing names in
    the order of the notebook (empty: all pass).
    """
    from lib import activations

    unknown = sorted(set(functions) - set(_FIX_FIRST_ORDER))
    if unknown:
        raise ValueError(f"fix_first: unknown function name(s) {unknown}; known: "
                         f"{list(_FIX_FIRST_ORDER)}")
    checks = {
        "sigmoid_grad": lambda fn: _check_activation_grad(fn, activations.sigmoid),
        "tanh_grad": lambda fn: _check_activation_grad(fn, activations.tanh),
        "relu_grad": lambda fn: _check_activation_grad(fn, activations.relu),
        "dense_forward": _check_dense_forward,
        "dense_backward": _check_dense_backward,
        "MLP": _check_mlp,
    }
    failing = []
    for name in _FIX_FIRST_ORDER:
        if name not in functions:
            continue
        try:
            with np.errstate(all="ignore"):
                ok = bool(checks[name](functions[name]))
        except Exception:  # a function that raises is one to fix
            ok = False
        if not ok:
            failing.append(name)
    return failing
