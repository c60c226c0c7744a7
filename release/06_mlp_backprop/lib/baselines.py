"""Baselines for the slides' model choice: k-nearest neighbours and a depth-limited tree.

The slides list "K-nearest neighbors, linear classifiers, ..., decision trees, ..., neural
networks" and ask which to pick. Notebook 06 compares these two with linear softmax and the
MLP. Both are small numpy implementations (scikit-learn is not a dependency of the course):
``knn_predict`` is brute force with Euclidean distances, ``DecisionTree`` is CART with the
Gini impurity and axis-aligned thresholds. Neither is an exercise; they are utilities.
"""

from __future__ import annotations

import numpy as np


def _labels(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError("labels must be a 1-d array of integers >= 0")
    return y.astype(np.int64)


def _inputs(X, name="X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be (N, D), got shape {X.shape}")
    return X


def knn_predict(X_train, y_train, X, k: int = 1) -> np.ndarray:
    """Predict each row of X by a majority vote of its k nearest training points.

    X_train: (N, D); y_train: (N,) ints >= 0; X: (M, D); k: 1 <= k <= N.
    Distances are Euclidean. A tie between classes goes to the class whose nearest member
    is closest. Returns (M,) int64 labels.
    """
    X_train, X = _inputs(X_train, "X_train"), _inputs(X, "X")
    y_train = _labels(y_train)
    if len(y_train) != len(X_train) or X.shape[1] != X_train.shape[1]:
        raise ValueError("X_train, y_train and X do not fit together")
    if not 1 <= k <= len(y_train):
        raise ValueError(f"k must be in 1..{len(y_train)}, got {k}")
    # ||x - t||² = ||x||² - 2 x·t + ||t||², one (M, N) matrix
    d2 = (X**2).sum(1)[:, None] - 2 * X @ X_train.T + (X_train**2).sum(1)[None, :]
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :k]  # (M, k), closest first
    votes = y_train[nearest]
    n_classes = int(y_train.max()) + 1
    counts = np.zeros((len(X), n_classes))
    np.add.at(counts, (np.arange(len(X))[:, None], votes), 1.0)
    # tie-break: a small bonus for the earlier (closer) neighbours' classes
    rank_bonus = np.zeros_like(counts)
    np.maximum.at(rank_bonus, (np.arange(len(X))[:, None], votes), (k - np.arange(k)) / (k + 1.0))
    return np.argmax(counts + rank_bonus / k, axis=1).astype(np.int64)


class DecisionTree:
    """A classification tree (CART): axis-aligned splits chosen by the Gini impurity.

    max_depth: the number of splits on the way from the root to any leaf (0: one leaf that
    predicts the majority class). min_samples: a node with fewer samples is not split.
    ``fit(X, y)`` grows the tree, ``predict(X)`` returns (M,) int64 labels.
    """

    def __init__(self, max_depth: int = 4, min_samples: int = 2):
        if max_depth < 0 or min_samples < 2:
            raise ValueError("max_depth must be >= 0 and min_samples >= 2")
        self.max_depth, self.min_samples = int(max_depth), int(min_samples)
        self.nodes: list[tuple] = []  # (feature, threshold, left, right) or (label,)

    def fit(self, X, y) -> DecisionTree:
        X, y = _inputs(X), _labels(y)
        if len(X) != len(y) or len(y) == 0:
            raise ValueError("X and y must have the same, non-zero number of rows")
        self.n_classes = int(y.max()) + 1
        self.nodes = []
        self._grow(X, y, 0)
        return self

    def _grow(self, X, y, depth) -> int:
        index = len(self.nodes)
        counts = np.bincount(y, minlength=self.n_classes)
        self.nodes.append((int(np.argmax(counts)),))
        if depth >= self.max_depth or len(y) < self.min_samples or counts.max() == len(y):
            return index
        split = self._best_split(X, y)
        if split is None:
            return index
        feature, threshold = split
        left = X[:, feature] <= threshold
        self.nodes[index] = (feature, threshold, None, None)
        lo = self._grow(X[left], y[left], depth + 1)
        hi = self._grow(X[~left], y[~left], depth + 1)
        self.nodes[index] = (feature, threshold, lo, hi)
        return index

    def _best_split(self, X, y):
        """(feature, threshold) of the split with the lowest weighted Gini impurity, or None."""
        n = len(y)
        order = np.argsort(X, axis=0, kind="stable")  # (n, D): every feature sorted at once
        values = np.take_along_axis(X, order, axis=0)
        onehot = np.eye(self.n_classes)[y[order]]  # (n, D, C)
        left = np.cumsum(onehot, axis=0)[:-1]  # class counts left of each cut, (n - 1, D, C)
        right = left[-1] + onehot[-1] - left
        n_left = np.arange(1, n, dtype=float)[:, None]
        gini = n_left * (1 - ((left / n_left[..., None]) ** 2).sum(-1)) + (n - n_left) * (
            1 - ((right / (n - n_left)[..., None]) ** 2).sum(-1)
        )
        gini[values[1:] <= values[:-1]] = np.inf  # cut only between distinct values
        cut, feature = np.unravel_index(np.argmin(gini), gini.shape)
        if not np.isfinite(gini[cut, feature]):
            return None
        return int(feature), float((values[cut, feature] + values[cut + 1, feature]) / 2)

    def predict(self, X) -> np.ndarray:
        X = _inputs(X)
        if not self.nodes:
            raise ValueError("fit the tree first")
        out = np.empty(len(X), dtype=np.int64)
        for r, x in enumerate(X):
            node = self.nodes[0]
            while len(node) == 4:
                feature, threshold, lo, hi = node
                node = self.nodes[lo if x[feature] <= threshold else hi]
            out[r] = node[0]
        return out

    @property
    def depth(self) -> int:
        """The depth of the grown tree (0 for a single leaf)."""

        def walk(i):
            node = self.nodes[i]
            return 0 if len(node) == 1 else 1 + max(walk(node[2]), walk(node[3]))

        return walk(0)
