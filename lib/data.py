"""Data for the course: two real data sets, small synthetic problems, and the plumbing of
training (train / validation / test split, standardisation, mini-batches, one-hot labels).

Shapes use the slides' symbols: N samples, D features, C classes. ``X`` is ``(N, D)``, labels
``y`` are ``(N,)`` int64 in ``0..C-1``, regression targets ``y`` are ``(N,)`` float64.

Random functions take ``seed`` or ``rng``: an int seed or a ``numpy.random.Generator``.
With an int the result is always the same; with a Generator each call draws fresh numbers
from it (so the same Generator gives a new shuffle every epoch, and a Generator built from
the same seed gives the same sequence of shuffles).

The real data ship in ``lib/datasets/`` (origin, licence and checksums in its README.md);
nothing is downloaded at run time.
"""

import functools
import gzip
import numbers
from pathlib import Path

import numpy as np

from lib._checks import as_float_array

_DATASETS = Path(__file__).resolve().parent / "datasets"

IRIS_FEATURES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
DIGITS_CLASSES = tuple(str(d) for d in range(10))


# ---------------------------------------------------------------------------------------------
# Validation helpers (utilities: always shipped to students)
# ---------------------------------------------------------------------------------------------

def _check_int(value, name, minimum):
    """An int (Python or numpy, not bool) that is at least `minimum`, as a Python int."""
    # bool is an int subclass; batch_size=True is always a bug, never a batch of one.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_number(value, name, minimum=None):
    """A finite real number (not bool), at least `minimum`, as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" and >= {minimum}"
        raise ValueError(f"{name} must be finite{bound}, got {value}")
    return value


def _as_rng(rng, name):
    """A numpy Generator from an int seed, or the Generator itself (its state is consumed)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, bool) or not isinstance(rng, numbers.Integral):
        raise TypeError(
            f"{name} must be a numpy.random.Generator or an int seed, got {type(rng).__name__}"
        )
    return np.random.default_rng(_check_int(rng, name, 0))


def _as_features(X, name, ndim=None):
    """X as a float64 array of finite numbers (lib._checks.as_float_array with finite=True)."""
    X = np.asarray(X)
    if X.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype} (shape {X.shape})")
    if ndim is not None and X.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {X.shape}")
    if X.ndim == 0:
        raise ValueError(f"{name} must have a sample axis (N, ...), got shape {X.shape}")
    if X.dtype == np.float64 and np.isfinite(X).all():
        return X  # already valid: no copy (minibatches calls this every epoch)
    return as_float_array(X, name, allow_empty=True, finite=True)


def _as_targets(y, name):
    """Integer labels as int64, real targets as float64; anything else is a TypeError."""
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        y = y.astype(np.int64, copy=False)
    elif y.dtype.kind == "f":
        y = _as_features(y, name)
    else:
        raise TypeError(f"{name} must hold integers or reals, got dtype {y.dtype} "
                        f"(shape {y.shape})")
    if y.ndim == 0:
        raise ValueError(f"{name} must have a sample axis (N, ...), got shape {y.shape}")
    return y


def _check_aligned(X, y):
    """X and y: numeric arrays with the same number of rows N."""
    X = _as_features(X, "X")
    y = _as_targets(y, "y")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and y must have the same number of samples N: X has shape {X.shape}, "
            f"y has shape {y.shape}"
        )
    return X, y


# ---------------------------------------------------------------------------------------------
# Real data sets
# ---------------------------------------------------------------------------------------------

@functools.cache
def _read_iris():
    # First line of scikit-learn's file is a header "150,4,setosa,versicolor,virginica".
    table = np.loadtxt(_DATASETS / "iris.csv", delimiter=",", skiprows=1, dtype=np.float64)
    return _frozen(table[:, :4], table[:, 4], (150, 4))


@functools.cache
def _read_digits():
    with gzip.open(_DATASETS / "digits.csv.gz", "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    # Pixels are counts of "on" pixels in a 4x4 block: integers 0..16.
    return _frozen(table[:, :64] / 16.0, table[:, 64], (1797, 64))


def _frozen(X, labels, shape):
    """Check a loaded table and make the cached arrays read-only."""
    if X.shape != shape:
        raise OSError(f"data file in {_DATASETS} is damaged: expected X of shape {shape}, "
                      f"got {X.shape}")
    y = labels.astype(np.int64)
    X = np.ascontiguousarray(X)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def load_iris():
    """Fisher's iris flowers: 3 species, 50 flowers each, 4 measurements in cm.

    Returns:
        X: (N, D) = (150, 4) float64, columns named by ``IRIS_FEATURES``.
        y: (N,) = (150,) int64 in {0, 1, 2} = ``IRIS_CLASSES`` (setosa, versicolor, virginica),
           sorted by class (rows 0-49 are setosa): shuffle before splitting.

    The arrays are fresh copies; changing them does not change later calls.
    """
    X, y = _read_iris()
    return X.copy(), y.copy()


def load_digits():
    """The UCI 8x8 optical handwritten digits (the 1797 images scikit-learn ships).

    Returns:
        X: (N, D) = (1797, 64) float64 in [0, 1]: each row is an 8x8 image read row by row
           (``X[i].reshape(8, 8)`` to plot it); the original pixel counts 0..16 divided by 16.
        y: (N,) = (1797,) int64 in 0..9, the digit shown (C = 10 classes).

    The arrays are fresh copies; changing them does not change later calls.
    """
    X, y = _read_digits()
    return X.copy(), y.copy()


# ---------------------------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------------------------

def slides_regression(seed=0):
    """The slides' small 1-D regression problem: 8 points around a line.

    x_i = i / 7 for i = 0..7 (evenly spaced on [0, 1]) and y_i = 2 x_i + 1 + eps_i with
    eps_i ~ Normal(0, 0.2^2) drawn from ``seed``. The true model is w = 2, b = 1.

    Returns:
        x: (N,) = (8,) float64, increasing.
        y: (N,) = (8,) float64.
    """
    rng = _as_rng(seed, "seed")
    x = np.linspace(0.0, 1.0, 8)
    y = 2.0 * x + 1.0 + rng.normal(0.0, 0.2, size=8)
    return x, y


def true_polynomial(x, *, degree=3):
    """The noise-free curve of ``noisy_polynomial``: the Legendre polynomial P_degree(x).

    P_1 = x, P_2 = (3x^2 - 1)/2, P_3 = (5x^3 - 3x)/2, ... On [-1, 1] every P_k stays in
    [-1, 1] and is orthogonal to all polynomials of lower degree, so a model of lower degree
    cannot capture any of it: its best fit is (close to) a flat line. That is underfitting.

    Args:
        x: (N,) float64 inputs.
        degree: int >= 0.
    Returns:
        (N,) float64.
    """
    x = _as_features(x, "x", ndim=1)
    degree = _check_int(degree, "degree", 0)
    return np.polynomial.legendre.legval(x, [0.0] * degree + [1.0])


def noisy_polynomial(n, *, degree=3, noise=0.1, seed=0, x_range=(-1.0, 1.0)):
    """Points from ``true_polynomial`` plus Gaussian noise, for under- and overfitting.

    x ~ Uniform(x_range), sorted increasing (so ``plt.plot(x, y)`` draws a curve), and
    y = P_degree(x) + eps with eps ~ Normal(0, noise^2). With n = 10 and the defaults a
    degree-1 model underfits, a degree-3 model fits, and a degree-9 model passes through
    every point and swings wildly between them (overfits).

    Args:
        n: number of samples N >= 1.
        degree: degree of the true polynomial (>= 0).
        noise: standard deviation of the noise (>= 0).
        seed: int seed or numpy Generator.
        x_range: (low, high) with low < high.
    Returns:
        x: (N,) float64, sorted; y: (N,) float64.
    """
    n = _check_int(n, "n", 1)
    noise = _check_number(noise, "noise", minimum=0.0)
    low, high = _check_range(x_range)
    rng = _as_rng(seed, "seed")
    x = np.sort(rng.uniform(low, high, size=n))
    y = true_polynomial(x, degree=degree) + rng.normal(0.0, 1.0, size=n) * noise
    return x, y


def _check_range(x_range):
    try:
        low, high = x_range
    except (TypeError, ValueError):
        raise ValueError(f"x_range must be a pair (low, high), got {x_range!r}") from None
    low = _check_number(low, "x_range[0]")
    high = _check_number(high, "x_range[1]")
    if not low < high:
        raise ValueError(f"x_range must have low < high, got {x_range!r}")
    return low, high


def make_xor(n_per_corner=25, noise=0.2, seed=0):
    """The XOR problem: four Gaussian clouds at the corners (+-1, +-1) of a square.

    A point's label is the XOR of its corner's signs: 1 at (1, -1) and (-1, 1), 0 at (1, 1)
    and (-1, -1). No line separates the two classes (a perceptron fails); an MLP with one
    hidden layer can.

    Args:
        n_per_corner: points per corner (>= 1), so N = 4 * n_per_corner.
        noise: standard deviation of each cloud (>= 0; with noise 0 every point is a corner).
        seed: int seed or numpy Generator.
    Returns:
        X: (N, 2) float64, rows in random order; y: (N,) int64 in {0, 1}.
    """
    n_per_corner = _check_int(n_per_corner, "n_per_corner", 1)
    noise = _check_number(noise, "noise", minimum=0.0)
    rng = _as_rng(seed, "seed")
    corners = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    centre = np.repeat(corners, n_per_corner, axis=0)
    y = (centre[:, 0] > 0) != (centre[:, 1] > 0)
    X = centre + rng.normal(0.0, 1.0, size=centre.shape) * noise
    # Shuffle so that taking the first rows (or batches without shuffling) sees all classes.
    order = rng.permutation(len(X))
    return X[order], y[order].astype(np.int64)


def make_separable(n=100, *, margin=0.5, seed=0):
    """Two linearly separable classes in 2-D, for the perceptron.

    A random line w . x + b = 0 (w a unit vector, |b| <= 0.5) is drawn from ``seed``. Each
    point sits at a signed distance s from it with |s| ~ Uniform(margin / 2, 1) and at a
    position t ~ Uniform(-1, 1) along it; its label is 1 where w . x + b > 0 (the slides'
    step function) and 0 otherwise. So the empty strip between the classes is ``margin``
    wide, and a perceptron is guaranteed to converge when margin > 0.

    Args:
        n: number of samples N >= 2; the classes have n // 2 and n - n // 2 points.
        margin: width of the gap between the classes, in [0, 2).
        seed: int seed or numpy Generator.
    Returns:
        X: (N, 2) float64; y: (N,) int64 in {0, 1}, in random order.
    """
    n = _check_int(n, "n", 2)
    margin = _check_number(margin, "margin", minimum=0.0)
    if margin >= 2.0:
        raise ValueError(f"margin must be < 2 (points lie within distance 1 of the line), "
                         f"got {margin}")
    rng = _as_rng(seed, "seed")
    angle = rng.uniform(0.0, 2.0 * np.pi)
    w = np.array([np.cos(angle), np.sin(angle)])
    along = np.array([-w[1], w[0]])
    b = rng.uniform(-0.5, 0.5)
    y = rng.permutation(np.arange(n) % 2)
    s = rng.uniform(margin / 2.0, 1.0, size=n) * np.where(y == 1, 1.0, -1.0)
    t = rng.uniform(-1.0, 1.0, size=n)
    # w . x + b = s for x = (s - b) w + t along, since w is a unit vector orthogonal to along.
    X = (s - b)[:, None] * w + t[:, None] * along
    return X, y.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Training plumbing
# ---------------------------------------------------------------------------------------------

def _split_counts(sizes, n):
    """(n_train, n_val, n_test) from fractions or counts; see train_val_test_split."""
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"sizes must be a triple (train, val, test), got {sizes!r}") from None
    if len(sizes) != 3:
        raise ValueError(f"sizes must be a triple (train, val, test), got {sizes!r}")
    ints = [isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes]
    if all(ints):
        counts = [_check_int(s, f"sizes[{i}]", 0) for i, s in enumerate(sizes)]
        if sum(counts) != n:
            raise ValueError(f"sizes as counts must add up to N = {n}, got {sizes!r}")
    else:
        fractions = [_check_number(s, f"sizes[{i}]", minimum=0.0) for i, s in enumerate(sizes)]
        if abs(sum(fractions) - 1.0) > 1e-9:
            raise ValueError(f"sizes as fractions must add up to 1, got {sizes!r}")
        # Nearest count, halves rounded up; train takes the rest so nothing is lost.
        n_val, n_test = (int(np.floor(f * n + 0.5)) for f in fractions[1:])
        counts = [n - n_val - n_test, n_val, n_test]
    if counts[0] < 1:
        raise ValueError(f"sizes leave no training samples: N = {n}, sizes = {sizes!r}")
    return counts


def train_val_test_split(X, y, *, sizes=(0.6, 0.2, 0.2), rng=0):
    """Shuffle the samples and cut them into training, validation and test sets.

    ``sizes`` is either three fractions adding up to 1 or three ints adding up to N. With
    fractions, the validation and test sets get round(fraction * N) samples (halves rounded
    up) and the training set the rest, e.g. N = 150 and (0.6, 0.2, 0.2) gives 90 / 30 / 30.
    Validation and test may be empty; training may not.

    Args:
        X: (N, D) features (or (N,) for one feature). y: (N,) labels or targets.
        sizes: (train, val, test) fractions or counts.
        rng: int seed or numpy Generator.
    Returns:
        X_train, y_train, X_val, y_val, X_test, y_test: disjoint row subsets of X and y (new
        arrays, rows in shuffled order; float64 X, int64 labels or float64 targets).
    """
    X, y = _check_aligned(X, y)
    n_train, n_val, _ = _split_counts(sizes, X.shape[0])
    rng = _as_rng(rng, "rng")
    ### BEGIN REFERENCE 02_minibatch_sgd
    # One permutation, cut in three: the sets are disjoint and together hold every sample.
    order = rng.permutation(X.shape[0])
    train, val, test = np.split(order, [n_train, n_train + n_val])
    return X[train], y[train], X[val], y[val], X[test], y[test]
    ### END REFERENCE


def standardize(X_train, *others):
    """Scale every feature to mean 0 and standard deviation 1 using TRAINING statistics.

    mean and std are computed on ``X_train`` only (std with ddof=0) and then applied to
    ``X_train`` and to each of ``others`` (validation, test, new data): statistics of
    held-out data must not leak into the model. A constant training column has std 0; its
    std is reported as 1 so that it maps to 0 without a division by zero.

    Args:
        X_train: (N, D) float64. others: any number of (M, D) arrays.
    Returns:
        (mean, std, X_train_s, *others_s): mean (D,), std (D,) (constant columns: 1), and
        the new arrays (X - mean) / std, same shapes as the inputs. Apply the same
        transform to later data as ``(X_new - mean) / std``.
    """
    X_train = _as_features(X_train, "X_train", ndim=2)
    if X_train.shape[0] == 0:
        raise ValueError(f"X_train must have at least one sample, got shape {X_train.shape}")
    others = [_as_features(X, f"others[{i}]", ndim=2) for i, X in enumerate(others)]
    for i, X in enumerate(others):
        if X.shape[1] != X_train.shape[1]:
            raise ValueError(f"others[{i}] must have D = {X_train.shape[1]} columns like "
                             f"X_train {X_train.shape}, got shape {X.shape}")
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    # Exactly constant columns (max == min): use the value itself as mean, so they map to
    # exactly 0, and std 1. Comparing std to 0 would miss round-off like std = 1e-17.
    constant = X_train.max(axis=0) == X_train.min(axis=0)
    mean = np.where(constant, X_train[0], mean)
    std = np.where(constant, 1.0, std)
    scaled = [(X - mean) / std for X in (X_train, *others)]
    return (mean, std, *scaled)


def minibatches(X, y, batch_size, *, rng, shuffle=True):
    """Iterate over one epoch of mini-batches (Xb, yb) of ``batch_size`` samples.

    Each call draws a fresh permutation from ``rng`` (pass the same Generator every epoch
    to get a new order each time; an int seed gives the same order on every call). Every
    sample appears in exactly one batch; the last batch is smaller when B does not divide
    N (N = 10, B = 4 gives batches of 4, 4 and 2). With ``shuffle=False`` the batches
    follow the row order and ``rng`` may be None.

    Args:
        X: (N, D) features (or (N,)). y: (N,) labels or targets. N >= 1.
        batch_size: B, an int >= 1 (B > N gives one batch of N).
        rng: numpy Generator or int seed.
        shuffle: draw a random order (True) or keep the row order (False).
    Yields:
        Xb: (B, D) float64 and yb: (B,), new arrays (changing them does not change X, y).
    """
    X, y = _check_aligned(X, y)
    if X.shape[0] == 0:
        raise ValueError(f"X must have at least one sample, got shape {X.shape}")
    batch_size = _check_int(batch_size, "batch_size", 1)
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    if shuffle or rng is not None:
        rng = _as_rng(rng, "rng")
    ### BEGIN REFERENCE 02_minibatch_sgd
    n = X.shape[0]
    order = rng.permutation(n) if shuffle else np.arange(n)
    # Consecutive slices of one permutation: each sample once per epoch, last batch short.
    batches = [order[start:start + batch_size] for start in range(0, n, batch_size)]
    # Fancy indexing copies, so a caller editing a batch cannot corrupt X or y.
    return ((X[idx], y[idx]) for idx in batches)
    ### END REFERENCE


def one_hot(y, n_classes):
    """One-hot encode integer labels: row i is the unit vector e_{y_i}.

    Args:
        y: (N,) int labels in 0..C-1.
        n_classes: C >= 1.
    Returns:
        (N, C) float64 with Y[i, y[i]] = 1 and 0 elsewhere.
    """
    n_classes = _check_int(n_classes, "n_classes", 1)
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer labels, got dtype {y.dtype} (shape {y.shape})")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (N,), got shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y must be in 0..{n_classes - 1} for n_classes = {n_classes}, got "
                         f"values {y.min()}..{y.max()} (shape {y.shape})")
    Y = np.zeros((y.shape[0], n_classes), dtype=np.float64)
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y
