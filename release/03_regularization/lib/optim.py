"""Optimizers of the lecture: gradient descent, mini-batch SGD, momentum, weight decay.

The update rules, in the slides' symbols (λ learning rate, τ momentum, α weight decay):

- gradient descent: ``w ← w − λ dL/dw``;
- SGD with L2: ``w ← w − λ (dl/dw + α w)`` (biases are not decayed);
- momentum: ``v ← τ v + dl/dw + α w``, ``w ← w − λ v``.

:class:`SGD` does exactly the arithmetic of ``torch.optim.SGD`` (dampening 0, no Nesterov),
so results can be compared with PyTorch to the last bit of float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from lib import data, losses, models
from lib._checks import as_float_array, positive


# ---------------------------------------------------------------- gradient descent (01)
def gd_step(w, grad, lr: float):
    """One gradient-descent step ``w − λ grad``: the slides' w = 12, dL/dw = 6 gives 12 − 6λ.

    w, grad: numbers or arrays of the same shape. Returns a new value; w is not modified.
    """
    positive(lr, "lr")
    w_arr = as_float_array(w, "w", allow_empty=True)
    g_arr = as_float_array(grad, "grad", allow_empty=True)
    if w_arr.shape != g_arr.shape:
        raise ValueError(
            f"w and grad must have the same shape, got {w_arr.shape} and {g_arr.shape}"
        )
    new = w_arr - lr * g_arr
    return float(new) if new.ndim == 0 else new


def gradient_descent(grad_fn: Callable, w0, lr: float, n_steps: int) -> np.ndarray:
    """Run ``n_steps`` steps of gradient descent from ``w0`` and return the trajectory.

    grad_fn: w -> dL/dw. Returns an array of shape (n_steps + 1, *w0.shape): row 0 is w0,
    row t the point after t steps.
    """
    positive(lr, "lr")
    positive(n_steps, "n_steps", integer=True, allow_zero=True)
    w = as_float_array(w0, "w0", allow_empty=True)
    path = [w]
    for _ in range(n_steps):
        w = w - lr * as_float_array(grad_fn(w), "grad_fn(w)", allow_empty=True)
        path.append(w)
    return np.stack(path)


# ---------------------------------------------------------------------- momentum (04)
def momentum_step(w, v, grad, lr: float, tau: float):
    """One momentum step: ``v ← τ v + grad``, ``w ← w − λ v``. Returns ``(w_new, v_new)``."""
    positive(lr, "lr")
    positive(tau, "tau", allow_zero=True)
    w, v, grad = (as_float_array(a, n, allow_empty=True)
                  for a, n in ((w, "w"), (v, "v"), (grad, "grad")))
    raise NotImplementedError("lib.optim.momentum_step is the reference answer of assignment 04_momentum; it is not part of your edition of lib")


def momentum(grad_fn: Callable, w0, lr: float, tau: float, n_steps: int) -> np.ndarray:
    """Trajectory (n_steps + 1, *w0.shape) of momentum from ``w0`` with ``v0 = 0``."""
    positive(n_steps, "n_steps", integer=True, allow_zero=True)
    w = as_float_array(w0, "w0", allow_empty=True)
    raise NotImplementedError("lib.optim.momentum is the reference answer of assignment 04_momentum; it is not part of your edition of lib")


def quadratic_rates(eigenvalues) -> dict[str, float]:
    """Optimal parameters and convergence rates on a quadratic (Distill, "Why Momentum
    Really Works").

    eigenvalues: the curvatures μ_i > 0 of ``f(w) = ½ Σ μ_i w_i²``, any order; κ = μ_n / μ_1.
    Returns a dict of floats: ``gd_lr`` λ* = 2 / (μ_1 + μ_n), ``gd_rate`` (κ − 1)/(κ + 1),
    ``momentum_lr`` λ* = (2 / (√μ_1 + √μ_n))², ``momentum_tau`` τ* = ((√κ − 1)/(√κ + 1))²,
    ``momentum_rate`` (√κ − 1)/(√κ + 1). Distill's α and β are the slides' λ and τ.
    """
    mu = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    if (mu <= 0).any():
        raise ValueError(f"eigenvalues must be > 0, got {mu}")
    raise NotImplementedError("lib.optim.quadratic_rates is the reference answer of assignment 04_momentum; it is not part of your edition of lib")


def measured_rate(path, w_star) -> float:
    """Measured rate ``(d_T / d_m)^(1 / (T − m))``, m = ⌊T/2⌋, of distances ``d_t = ‖w_t − w*‖``.

    path: iterates (T + 1, D) with T >= 1; w_star: (D,). The second half of the run is used
    so that the transient of the first steps does not count. > 1 means divergence.
    """
    path = as_float_array(path, "path", ndim=2)
    w_star = as_float_array(w_star, "w_star", ndim=1)
    if path.shape[0] < 2 or path.shape[1] != w_star.shape[0]:
        raise ValueError(f"path must be (T + 1, D) with T >= 1 and D = {w_star.shape[0]}, "
                         f"got {path.shape}")
    raise NotImplementedError("lib.optim.measured_rate is the reference answer of assignment 04_momentum; it is not part of your edition of lib")


# --------------------------------------------------------------------------- SGD (02-04)
def decays(name: str) -> bool:
    """Whether the parameter called ``name`` gets weight decay: weights yes, biases (b...) no."""
    return not name.startswith("b")


class SGD:
    """Stochastic gradient descent with momentum τ and weight decay α, like ``torch.optim.SGD``.

    params: dict name -> float64 array, updated **in place** by :meth:`step` (the model
    sees the new values). Parameters whose name starts with ``b`` are not decayed.
    """

    def __init__(self, params: Mapping[str, np.ndarray], lr: float, *, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        positive(lr, "lr")
        positive(momentum, "momentum", allow_zero=True)
        positive(weight_decay, "weight_decay", allow_zero=True)
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype != np.float64:
                raise TypeError(
                    f"params[{name!r}] must be a float64 numpy array (updated in place)"
                )
        self.params = params
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Apply one update with ``grads`` (same keys and shapes as ``params``)."""
        if set(grads) != set(self.params):
            raise ValueError(
                f"grads must have the keys of params {sorted(self.params)}, got {sorted(grads)}"
            )
        checked = {}
        for name, p in self.params.items():
            g = as_float_array(grads[name], f"grads[{name!r}]", allow_empty=True)
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}] has shape {g.shape}, params {p.shape}")
            checked[name] = g
        self._update(checked)

    def _update(self, grads: Mapping[str, np.ndarray]) -> None:
        """The update of :meth:`step`, unchecked: grads are float64 arrays of the params' shapes
        (``train`` calls it directly with the gradients of lib's own models). grads is not
        modified."""
        for name, p in self.params.items():
            g = grads[name]
            # The regions sit inside the ifs so that a student edition withholding weight
            # decay or momentum still runs plain SGD.
            if self.weight_decay and decays(name):
                raise NotImplementedError("lib.optim.SGD._update is the reference answer of assignment 03_regularization; it is not part of your edition of lib")
            if self.momentum:
                raise NotImplementedError("lib.optim.SGD._update is the reference answer of assignment 04_momentum; it is not part of your edition of lib")
            p -= self.lr * g


# ------------------------------------------------------------------- training loop (02)
def l2_penalty(params: Mapping[str, np.ndarray], weight_decay: float) -> float:
    """The penalty ``(α/2) Σ w²`` over the decayed parameters (weights, not biases)."""
    if not weight_decay:
        return 0.0
    return float(0.5 * weight_decay * sum(np.sum(p * p) for name, p in params.items()
                                          if decays(name)))


def accuracy(model, X, y) -> float:
    """Fraction of rows of X whose predicted label equals y."""
    return float(np.mean(model.predict(X) == np.asarray(y)))


def _is_lib_classifier(model) -> bool:
    """Whether ``model`` is one of lib's classifiers with lib's own public methods (not
    replaced by a subclass or on the object), whose unchecked methods :func:`train` may call
    on data it has checked once."""
    return isinstance(model, models.Classifier) and all(
        getattr(getattr(model, name), "__func__", None) is getattr(models.Classifier, name)
        for name in ("scores", "loss_and_grads", "predict"))


def _has_nan(grads: Mapping[str, np.ndarray]) -> bool:
    # The maximum of an array is NaN exactly when an element is: one pass over each
    # gradient, no temporary array, no warning (inf and -inf are allowed, as in SGD.step).
    return any(g.size and math.isnan(np.maximum.reduce(g, axis=None)) for g in grads.values())


def train(model, X, y, *, epochs: int, batch_size: int, lr: float, momentum: float = 0.0,
          weight_decay: float = 0.0, X_val=None, y_val=None, seed: int = 0,
          progress: bool = False) -> dict[str, list[float]]:
    """Train ``model`` with mini-batch SGD and record its learning curves.

    model: anything with ``params``, ``loss_and_grads`` and ``predict`` (see lib.models).
    Each epoch visits the N rows of X (N, D), y (N,) once in a fresh random order, in
    batches of ``batch_size`` (the last may be smaller). Returns a history dict of lists:
    ``batch_loss`` (one per step), ``train_loss``, ``train_acc`` and, when validation data
    is given, ``val_loss``, ``val_acc`` (one per epoch, measured after the epoch; losses
    include the weight-decay penalty ``(α/2) Σ W²``; ``batch_loss`` is measured before its
    step). Weight decay α is applied once, by :class:`SGD`: each step is
    ``W ← W − λ (∂l/∂W + α W)`` with ∂l/∂W the gradient of the data loss of the batch
    (biases are not decayed). ``progress=True`` shows a tqdm bar over epochs.

    lib's own classifiers (:class:`lib.models.Classifier`) are trained on a fast path with the
    same arithmetic: X, y and X_val, y_val are checked once, here, and the loops call the
    unchecked ``_loss_and_grads`` and ``SGD._update`` (a NaN gradient is still refused) and
    measure loss and accuracy with one forward pass per epoch. Any other model is called
    through its public methods in every step.
    """
    positive(epochs, "epochs", integer=True)
    rng = np.random.default_rng(seed)
    opt = SGD(model.params, lr, momentum=momentum, weight_decay=weight_decay)
    keys = ["batch_loss", "train_loss", "train_acc"]
    if X_val is not None:
        keys += ["val_loss", "val_acc"]
    history: dict[str, list[float]] = {k: [] for k in keys}
    epoch_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc="epochs", unit="epoch")
    if _is_lib_classifier(model):
        # Checked once, as the first batch and the first epoch's metrics would check them.
        X, y = model._check_batch(*data._check_aligned(X, y))
        if X_val is not None:
            X_val, y_val = model._check_batch(X_val, y_val)

        def loss_and_grads(Xb, yb):
            return model._loss_and_grads(Xb, yb, 0.0)

        def step(grads):  # a NaN gradient (a diverging run): step raises as for any model
            (opt.step if _has_nan(grads) else opt._update)(grads)

        def metrics(X, y):  # one forward pass for the loss and the accuracy
            logits = model._scores(X)
            loss = losses._cross_entropy(logits, y) + l2_penalty(model.params, weight_decay)
            return loss, float(np.mean(np.argmax(logits, axis=1) == y))
    else:  # the model's methods, read once (each read is a call when the model is remote)
        loss_and_grads, step, predict = model.loss_and_grads, opt.step, model.predict

        def metrics(X, y):
            return (loss_and_grads(X, y, weight_decay)[0],
                    float(np.mean(predict(X) == np.asarray(y))))
    for _ in epoch_iter:
        for Xb, yb in data.minibatches(X, y, batch_size, rng=rng):
            # α enters once, in the optimizer's step w − λ(∂l/∂w + αw): the model's
            # gradients are those of the data loss alone. The logged loss adds the penalty
            # (of the parameters the optimizer updates: the model's).
            loss, grads = loss_and_grads(Xb, yb)
            history["batch_loss"].append(float(loss) + l2_penalty(opt.params, weight_decay))
            step(grads)
        loss, acc = metrics(X, y)
        history["train_loss"].append(loss)
        history["train_acc"].append(acc)
        if X_val is not None:
            loss, acc = metrics(X_val, y_val)
            history["val_loss"].append(loss)
            history["val_acc"].append(acc)
        if progress:
            epoch_iter.set_postfix(loss=f"{history['train_loss'][-1]:.4f}")
    return history
