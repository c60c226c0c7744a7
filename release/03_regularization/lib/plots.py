"""Plots the notebooks share: learning curves, decision regions, loss contours with paths.

Each function draws on a matplotlib ``ax`` (a new figure if none is given) and returns the
axes, so notebooks can place several plots side by side. Nothing here computes what an
exercise asks for: the notebooks pass in the student's own functions and results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}


def use_style() -> None:
    """Apply the course's plotting style (called by each notebook's set-up cell)."""
    plt.rcParams.update(STYLE)


def _axes(ax):
    return plt.subplots()[1] if ax is None else ax


def loss_curves(curves: Mapping[str, Sequence[float]], *, ax=None, xlabel: str = "epoch",
                ylabel: str = "loss", title: str | None = None, logy: bool = False,
                x: Mapping[str, Sequence[float]] | None = None):
    """One line per entry of ``curves`` (name -> values), e.g. a training history.

    x: optional name -> x values (e.g. gradient evaluations or seconds instead of epochs).
    """
    ax = _axes(ax)
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        xs = np.arange(1, len(values) + 1) if x is None or name not in x else np.asarray(x[name])
        ax.plot(xs, values, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend()
    return ax


def decision_regions(predict: Callable[[np.ndarray], np.ndarray], X, y, *, ax=None,
                     resolution: int = 200, class_names: Sequence[str] | None = None,
                     padding: float = 0.5, title: str | None = None):
    """Colour the plane by ``predict`` and scatter the 2-D points X (N, 2) coloured by y (N,).

    predict: maps a grid (M, 2) to integer labels (M,), e.g. ``lambda G: model.predict(G)``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must be (N, 2) to draw regions in the plane, got {X.shape}")
    ax = _axes(ax)
    (x0, x1), (y0, y1) = [(X[:, j].min() - padding, X[:, j].max() + padding) for j in (0, 1)]
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    labels = np.asarray(predict(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(gx.shape)
    n_classes = int(max(labels.max(), y.max())) + 1
    cmap = plt.get_cmap("tab10", 10)
    ax.contourf(gx, gy, labels, levels=np.arange(-0.5, n_classes), cmap=cmap, vmin=-0.5,
                vmax=9.5, alpha=0.25)
    for c in range(n_classes):
        name = class_names[c] if class_names is not None else f"class {c}"
        ax.scatter(*X[y == c].T, s=18, color=cmap(c), edgecolor="k", linewidth=0.3, label=name)
    ax.set(xlim=(x0, x1), ylim=(y0, y1))
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def contour_paths(f: Callable[[np.ndarray], float], paths: Mapping[str, np.ndarray], *,
                  xlim: tuple[float, float], ylim: tuple[float, float], ax=None,
                  levels: int | Sequence[float] = 20, resolution: int = 150,
                  title: str | None = None, logscale: bool = True):
    """Contours of a 2-D loss ``f(w)`` (w of shape (2,)) with optimizer trajectories.

    paths: name -> (T, 2) array of iterates, e.g. from gradient descent and momentum.
    """
    ax = _axes(ax)
    gx, gy = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    Z = np.array([f(np.array([a, b])) for a, b in zip(gx.ravel(), gy.ravel(), strict=True)])
    Z = Z.reshape(gx.shape)
    if logscale and isinstance(levels, int) and Z.min() >= 0:
        lo = max(Z.min(), Z.max() * 1e-6, np.finfo(float).tiny)
        levels = np.geomspace(lo, Z.max(), levels)
    ax.contour(gx, gy, Z, levels=levels, cmap="viridis", linewidths=0.7)
    for name, path in paths.items():
        path = np.asarray(path, dtype=float)
        ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=name)
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    if paths:
        ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def show_digits(images, labels, predictions=None, *, ncols: int = 8, axes=None):
    """Show 8x8 digit images (n, 64) with their labels (and predictions, in red if wrong)."""
    images = np.asarray(images, dtype=float).reshape(-1, 8, 8)
    n = len(images)
    if axes is None:
        nrows = max(1, -(-n // ncols))
        _, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols, 1.3 * nrows))
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    for i in range(n):
        axes[i].imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
        text, color = f"{labels[i]}", "k"
        if predictions is not None:
            text = f"{labels[i]} → {predictions[i]}"
            color = "k" if predictions[i] == labels[i] else "tab:red"
        axes[i].set_title(text, fontsize=9, color=color)
    return axes


def show_templates(W, titles=None, *, shape=(8, 8), ncols: int = 10, axes=None):
    """Show each row of a weight matrix W (C, D) as an image of ``shape`` (CS231n's templates).

    One colour scale for all rows, symmetric around 0 (red: positive weight, blue: negative),
    so that rows can be compared. titles: C strings (default: the row numbers).
    """
    rows = np.asarray(W, dtype=float)
    if rows.ndim != 2 or rows.shape[1] != shape[0] * shape[1]:
        raise ValueError(
            f"W must be (C, {shape[0] * shape[1]}) for images {shape}, got {rows.shape}"
        )
    n = len(rows)
    if axes is None:
        nrows = max(1, -(-n // ncols))
        _, axes = plt.subplots(nrows, ncols, figsize=(1.2 * ncols, 1.35 * nrows))
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    limit = float(np.abs(rows).max()) or 1.0
    for i in range(n):
        axes[i].imshow(rows[i].reshape(shape), cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[i].set_title(str(i) if titles is None else str(titles[i]), fontsize=9)
    return axes
