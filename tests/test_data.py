"""Specification of lib.data: data sets, synthetic problems, splitting and batching.

Expected values come from the data sets' documentation (UCI's iris.names, the digits
description), hand calculation, or properties; never from running lib.data itself.
"""

import hashlib
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from lib import data

DATASETS = Path(data.__file__).resolve().parent / "datasets"


def ids(n, d=3):
    """(n, d) rows whose first column is the row id, and the ids as int labels."""
    X = np.repeat(np.arange(n, dtype=np.float64)[:, None], d, axis=1)
    X[:, 1:] += 0.5
    return X, np.arange(n)


# --- iris ---------------------------------------------------------------------------------

def test_iris_shapes_and_dtypes():
    X, y = data.load_iris()
    assert X.shape == (150, 4) and X.dtype == np.float64
    assert y.shape == (150,) and y.dtype == np.int64


def test_iris_has_50_flowers_of_each_of_3_classes():
    _, y = data.load_iris()
    assert set(y.tolist()) == {0, 1, 2}
    assert [int(np.sum(y == c)) for c in range(3)] == [50, 50, 50]


def test_iris_names_match_columns_and_classes():
    assert len(data.IRIS_FEATURES) == 4
    assert data.IRIS_CLASSES == ("setosa", "versicolor", "virginica")


def test_iris_feature_ranges_match_uci_summary():
    # iris.names: min/max of sepal length, sepal width, petal length, petal width (cm).
    X, _ = data.load_iris()
    np.testing.assert_array_equal(X.min(axis=0), [4.3, 2.0, 1.0, 0.1])
    np.testing.assert_array_equal(X.max(axis=0), [7.9, 4.4, 6.9, 2.5])


def test_iris_first_row_and_fisher_corrections():
    X, y = data.load_iris()
    np.testing.assert_array_equal(X[0], [5.1, 3.5, 1.4, 0.2])
    # iris.names: "The 35th sample should be 4.9,3.1,1.5,0.2 ... the 38th sample
    # 4.9,3.6,1.4,0.1" (Fisher's values; the UCI file has them wrong).
    np.testing.assert_array_equal(X[34], [4.9, 3.1, 1.5, 0.2])
    np.testing.assert_array_equal(X[37], [4.9, 3.6, 1.4, 0.1])
    assert y[0] == 0 and y[149] == 2


def test_iris_returns_fresh_copies():
    X, y = data.load_iris()
    X[:] = -1.0
    y[:] = 7
    X2, y2 = data.load_iris()
    np.testing.assert_array_equal(X2[0], [5.1, 3.5, 1.4, 0.2])
    assert set(y2.tolist()) == {0, 1, 2}
    assert not np.shares_memory(X, X2) and not np.shares_memory(y, y2)
    assert X2.flags.writeable and y2.flags.writeable


# --- digits -------------------------------------------------------------------------------

def test_digits_shapes_and_dtypes():
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64


def test_digits_pixels_are_sixteenths_in_unit_interval():
    X, _ = data.load_digits()
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X * 16, np.round(X * 16))


def test_digits_has_all_ten_classes_with_174_to_183_each():
    _, y = data.load_digits()
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10 and counts.sum() == 1797
    assert counts.min() >= 174 and counts.max() <= 183


def test_digits_returns_fresh_copies():
    X, y = data.load_digits()
    X[:] = 5.0
    y[:] = -1
    X2, y2 = data.load_digits()
    assert X2.max() == 1.0 and y2.min() == 0
    assert not np.shares_memory(X, X2) and not np.shares_memory(y, y2)


def test_loading_emits_no_warnings():
    data._read_iris.cache_clear()
    data._read_digits.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load_iris()
        data.load_digits()


def test_shipped_files_match_readme_checksums():
    readme = (DATASETS / "README.md").read_text(encoding="utf-8")
    for name in ("iris.csv", "digits.csv.gz"):
        row = re.search(rf"`{re.escape(name)}`.*`([0-9a-f]{{64}})`", readme)
        assert row is not None, f"no sha256 for {name} in README.md"
        assert hashlib.sha256((DATASETS / name).read_bytes()).hexdigest() == row.group(1)


# --- synthetic data -----------------------------------------------------------------------

def test_slides_regression_is_8_points_evenly_spaced_on_unit_interval():
    x, y = data.slides_regression()
    assert x.shape == (8,) and y.shape == (8,)
    assert x.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_allclose(x, np.arange(8) / 7)


def test_slides_regression_follows_a_rising_line():
    x, y = data.slides_regression(seed=0)
    assert np.corrcoef(x, y)[0, 1] > 0.9


def test_slides_regression_deterministic_per_seed():
    np.testing.assert_array_equal(data.slides_regression(3)[1], data.slides_regression(3)[1])
    assert not np.array_equal(data.slides_regression(3)[1], data.slides_regression(4)[1])


def test_true_polynomial_is_legendre():
    x = np.array([-1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(data.true_polynomial(x, degree=1), x)
    np.testing.assert_allclose(data.true_polynomial(x, degree=2), [1.0, -0.5, -0.125, 1.0])
    np.testing.assert_allclose(data.true_polynomial(x, degree=3), (5 * x**3 - 3 * x) / 2)


def test_noisy_polynomial_without_noise_is_the_cubic():
    x, y = data.noisy_polynomial(20, noise=0.0, seed=1)
    np.testing.assert_allclose(y, (5 * x**3 - 3 * x) / 2, atol=1e-12)


def test_noisy_polynomial_x_sorted_inside_range():
    x, y = data.noisy_polynomial(50, seed=2, x_range=(2.0, 3.0))
    assert x.shape == (50,) and y.shape == (50,)
    assert np.all(np.diff(x) >= 0)
    assert x.min() >= 2.0 and x.max() <= 3.0


def test_noisy_polynomial_noise_has_the_requested_size():
    x, y = data.noisy_polynomial(4000, noise=0.5, seed=3)
    assert abs(np.std(y - (5 * x**3 - 3 * x) / 2) - 0.5) < 0.03


def test_noisy_polynomial_deterministic_per_seed():
    a = data.noisy_polynomial(10, seed=5)
    b = data.noisy_polynomial(10, seed=5)
    c = data.noisy_polynomial(10, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_xor_without_noise_puts_n_points_on_each_corner():
    X, y = data.make_xor(n_per_corner=5, noise=0.0, seed=0)
    assert X.shape == (20, 2) and y.shape == (20,) and y.dtype == np.int64
    corners, counts = np.unique(X, axis=0, return_counts=True)
    np.testing.assert_array_equal(corners, [[-1, -1], [-1, 1], [1, -1], [1, 1]])
    np.testing.assert_array_equal(counts, [5, 5, 5, 5])


def test_xor_label_is_xor_of_corner_signs():
    X, y = data.make_xor(n_per_corner=30, noise=0.1, seed=1)
    # noise 0.1 never moves a point across an axis (that would be a 10-sigma draw).
    expected = (X[:, 0] > 0) != (X[:, 1] > 0)
    np.testing.assert_array_equal(y, expected.astype(np.int64))
    assert np.sum(y == 1) == 60 and np.sum(y == 0) == 60


def test_xor_deterministic_per_seed():
    np.testing.assert_array_equal(data.make_xor(4, 0.2, 9)[0], data.make_xor(4, 0.2, 9)[0])
    assert not np.array_equal(data.make_xor(4, 0.2, 9)[0], data.make_xor(4, 0.2, 10)[0])


def test_separable_classes_are_balanced_and_binary():
    X, y = data.make_separable(101, seed=0)
    assert X.shape == (101, 2) and y.dtype == np.int64
    assert sorted([int(np.sum(y == 0)), int(np.sum(y == 1))]) == [50, 51]


def test_separable_classes_keep_the_margin_apart():
    X, y = data.make_separable(80, margin=0.4, seed=2)
    # If a strip of width 0.4 separates the classes, every cross-class pair is >= 0.4 apart.
    gaps = np.linalg.norm(X[y == 0][:, None, :] - X[y == 1][None, :, :], axis=2)
    assert gaps.min() >= 0.4


def test_separable_is_learned_without_errors_by_a_perceptron():
    X, y = data.make_separable(60, margin=0.3, seed=4)
    w, b = np.zeros(2), 0.0
    for _ in range(1000):
        errors = 0
        for xi, yi in zip(X, y, strict=True):
            pred = int(xi @ w + b > 0)
            w, b = w + (yi - pred) * xi, b + (yi - pred)
            errors += pred != yi
        if errors == 0:
            break
    assert errors == 0


def test_separable_deterministic_per_seed():
    np.testing.assert_array_equal(data.make_separable(seed=7)[0], data.make_separable(seed=7)[0])
    assert not np.array_equal(data.make_separable(seed=7)[0], data.make_separable(seed=8)[0])


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: data.noisy_polynomial(0), ValueError, "n"),
        (lambda: data.noisy_polynomial(5.0), TypeError, "n"),
        (lambda: data.noisy_polynomial(5, noise=-0.1), ValueError, "noise"),
        (lambda: data.noisy_polynomial(5, x_range=(1.0, -1.0)), ValueError, "x_range"),
        (lambda: data.noisy_polynomial(5, seed=0.5), TypeError, "seed"),
        (lambda: data.make_xor(0, 0.1, 0), ValueError, "n_per_corner"),
        (lambda: data.make_xor(3, float("nan"), 0), ValueError, "noise"),
        (lambda: data.make_separable(10, margin=-1.0), ValueError, "margin"),
        (lambda: data.slides_regression(seed="a"), TypeError, "seed"),
    ],
)
def test_synthetic_bad_arguments_raise_naming_them(call, error, name):
    with pytest.raises(error, match=rf"^{name}\b"):
        call()


# --- train / validation / test split ------------------------------------------------------

def test_split_default_fractions_give_60_20_20():
    X, y = ids(150)
    parts = data.train_val_test_split(X, y, rng=0)
    assert [len(p) for p in parts] == [90, 90, 30, 30, 30, 30]


def test_split_rounds_val_and_test_half_up_and_train_takes_the_rest():
    # 0.25 * 10 = 2.5 -> 3 for validation and test; train gets 10 - 6 = 4.
    X, y = ids(10)
    X_tr, _, X_va, _, X_te, _ = data.train_val_test_split(X, y, sizes=(0.5, 0.25, 0.25))
    assert (len(X_tr), len(X_va), len(X_te)) == (4, 3, 3)


def test_split_accepts_integer_counts():
    X, y = ids(10)
    X_tr, _, X_va, _, X_te, _ = data.train_val_test_split(X, y, sizes=(5, 3, 2), rng=1)
    assert (len(X_tr), len(X_va), len(X_te)) == (5, 3, 2)


def test_split_is_disjoint_and_covers_every_row():
    X, y = ids(37)
    _, y_tr, _, y_va, _, y_te = data.train_val_test_split(X, y, rng=3)
    everything = np.concatenate([y_tr, y_va, y_te])
    np.testing.assert_array_equal(np.sort(everything), np.arange(37))


def test_split_keeps_rows_of_x_and_y_aligned():
    X, y = ids(40)
    X_tr, y_tr, X_va, y_va, X_te, y_te = data.train_val_test_split(X, y, rng=4)
    for Xs, ys in [(X_tr, y_tr), (X_va, y_va), (X_te, y_te)]:
        np.testing.assert_array_equal(Xs[:, 0], ys)
        np.testing.assert_array_equal(Xs[:, 1], ys + 0.5)


def test_split_shuffles():
    X, y = ids(50)
    _, y_tr, *_ = data.train_val_test_split(X, y, rng=0)
    assert not np.array_equal(y_tr, np.arange(30))


def test_split_deterministic_per_seed_and_different_across_seeds():
    X, y = ids(30)
    a = data.train_val_test_split(X, y, rng=11)
    b = data.train_val_test_split(X, y, rng=11)
    c = data.train_val_test_split(X, y, rng=12)
    for pa, pb in zip(a, b, strict=True):
        np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(a[1], c[1])


def test_split_accepts_a_generator():
    X, y = ids(30)
    a = data.train_val_test_split(X, y, rng=np.random.default_rng(5))
    b = data.train_val_test_split(X, y, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a[1], b[1])


def test_split_works_on_1d_features_and_float_targets():
    x = np.linspace(0.0, 1.0, 10)
    x_tr, y_tr, *_ = data.train_val_test_split(x, 2 * x, rng=0)
    assert x_tr.shape == (6,) and y_tr.dtype == np.float64
    np.testing.assert_allclose(y_tr, 2 * x_tr)


def test_split_does_not_modify_inputs():
    X, y = ids(20)
    X_copy, y_copy = X.copy(), y.copy()
    X_tr, y_tr, *_ = data.train_val_test_split(X, y, rng=0)
    X_tr[:] = -1
    y_tr[:] = -1
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"sizes": (0.5, 0.3, 0.3)}, "sizes"),
        ({"sizes": (0.5, 0.5)}, "sizes"),
        ({"sizes": (-0.2, 0.6, 0.6)}, "sizes"),
        ({"sizes": (5, 3, 3)}, "sizes"),
        ({"sizes": (0.0, 0.5, 0.5)}, "sizes"),
    ],
)
def test_split_rejects_bad_sizes(kwargs, name):
    X, y = ids(10)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        data.train_val_test_split(X, y, **kwargs)


def test_split_rejects_mismatched_lengths_naming_shapes():
    X, _ = ids(10)
    with pytest.raises(ValueError, match=r"X.*\(10, 3\).*y.*\(9,\)"):
        data.train_val_test_split(X, np.arange(9))


def test_split_rejects_a_bad_rng():
    X, y = ids(10)
    with pytest.raises(TypeError, match=r"^rng\b"):
        data.train_val_test_split(X, y, rng=0.5)


# --- standardisation ----------------------------------------------------------------------

def test_standardize_gives_training_set_mean_0_std_1():
    X_train = np.array([[1.0, 10.0], [2.0, 30.0], [3.0, 20.0], [6.0, 40.0]])
    _, _, X_s = data.standardize(X_train)
    np.testing.assert_allclose(X_s.mean(axis=0), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(X_s.std(axis=0), [1.0, 1.0])


def test_standardize_uses_training_statistics_only():
    X_train = np.array([[1.0], [2.0], [3.0]])     # mean 2, std sqrt(2/3)
    X_val = np.array([[5.0], [7.0]])
    mean, std, _, X_val_s = data.standardize(X_train, X_val)
    np.testing.assert_allclose(mean, [2.0])
    np.testing.assert_allclose(std, [np.sqrt(2 / 3)])
    np.testing.assert_allclose(X_val_s[:, 0], [3.0, 5.0] / np.sqrt(2 / 3))
    assert abs(X_val_s.mean()) > 1.0   # not re-centred on the validation set


def test_standardize_maps_a_constant_column_to_zero_with_std_one():
    X_train = np.array([[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]])
    X_test = np.array([[1.1, 2.0]])
    mean, std, X_s, X_test_s = data.standardize(X_train, X_test)
    assert std[0] == 1.0
    np.testing.assert_array_equal(X_s[:, 0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(X_test_s[0], [1.0, 0.0])
    assert np.all(np.isfinite(X_s))


def test_standardize_is_reproduced_by_returned_mean_and_std():
    rng = np.random.default_rng(0)
    X_train, X_new = rng.normal(3.0, 2.0, size=(20, 4)), rng.normal(size=(5, 4))
    mean, std, _, X_new_s = data.standardize(X_train, X_new)
    np.testing.assert_allclose(X_new_s, (X_new - mean) / std)


def test_standardize_does_not_modify_inputs():
    X_train = np.array([[1.0, 2.0], [3.0, 5.0]])
    X_val = np.array([[0.0, 1.0]])
    copies = X_train.copy(), X_val.copy()
    data.standardize(X_train, X_val)
    np.testing.assert_array_equal(X_train, copies[0])
    np.testing.assert_array_equal(X_val, copies[1])


def test_standardize_rejects_mismatched_feature_counts():
    with pytest.raises(ValueError, match=r"others\[0\].*\(2, 3\)"):
        data.standardize(np.ones((4, 2)), np.ones((2, 3)))


def test_standardize_rejects_non_2d_training_data():
    with pytest.raises(ValueError, match=r"X_train.*\(4,\)"):
        data.standardize(np.ones(4))


def test_standardize_rejects_nan():
    with pytest.raises(ValueError, match="X_train"):
        data.standardize(np.array([[1.0], [np.nan]]))


# --- mini-batches -------------------------------------------------------------------------

def test_minibatches_of_one_epoch_are_a_permutation_of_the_rows():
    X, y = ids(23)
    batches = list(data.minibatches(X, y, 5, rng=0))
    seen = np.concatenate([yb for _, yb in batches])
    np.testing.assert_array_equal(np.sort(seen), np.arange(23))
    assert not np.array_equal(seen, np.arange(23))


def test_minibatches_keep_x_and_y_aligned():
    X, y = ids(23)
    for Xb, yb in data.minibatches(X, y, 5, rng=1):
        np.testing.assert_array_equal(Xb[:, 0], yb)


def test_minibatches_keep_the_last_partial_batch():
    X, y = ids(10)
    sizes = [len(yb) for _, yb in data.minibatches(X, y, 4, rng=0)]
    assert sizes == [4, 4, 2]


def test_minibatches_batch_larger_than_n_is_one_batch():
    X, y = ids(3)
    assert [len(yb) for _, yb in data.minibatches(X, y, 8, rng=0)] == [3]


def test_minibatches_draw_a_new_order_on_every_call():
    X, y = ids(30)
    rng = np.random.default_rng(0)
    first = np.concatenate([yb for _, yb in data.minibatches(X, y, 7, rng=rng)])
    second = np.concatenate([yb for _, yb in data.minibatches(X, y, 7, rng=rng)])
    assert not np.array_equal(first, second)


def test_minibatches_same_seed_same_order():
    X, y = ids(30)

    def order(rng):
        return np.concatenate([yb for _, yb in data.minibatches(X, y, 7, rng=rng)])

    np.testing.assert_array_equal(order(3), order(3))
    np.testing.assert_array_equal(order(np.random.default_rng(3)),
                                  order(np.random.default_rng(3)))


def test_minibatches_without_shuffle_follow_row_order():
    X, y = ids(7)
    batches = [yb.tolist() for _, yb in data.minibatches(X, y, 3, rng=None, shuffle=False)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_minibatches_yield_copies():
    X, y = ids(6)
    X_copy = X.copy()
    for Xb, yb in data.minibatches(X, y, 4, rng=0):
        Xb[:] = -1.0
        yb[:] = -1
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, np.arange(6))


def test_minibatches_accept_numpy_int_batch_size():
    X, y = ids(5)
    assert [len(yb) for _, yb in data.minibatches(X, y, np.int64(2), rng=0)] == [2, 2, 1]


@pytest.mark.parametrize(("batch_size", "error"),
                         [(2.0, TypeError), (True, TypeError), ("4", TypeError),
                          (0, ValueError), (-3, ValueError)])
def test_minibatches_reject_bad_batch_size_naming_it(batch_size, error):
    X, y = ids(10)
    with pytest.raises(error, match=r"^batch_size\b"):
        list(data.minibatches(X, y, batch_size, rng=0))


def test_minibatches_reject_mismatched_lengths_naming_shapes():
    X, _ = ids(10)
    with pytest.raises(ValueError, match=r"\(10, 3\).*\(8,\)"):
        list(data.minibatches(X, np.arange(8), 4, rng=0))


def test_minibatches_reject_empty_x():
    with pytest.raises(ValueError, match="X"):
        list(data.minibatches(np.zeros((0, 2)), np.zeros(0, dtype=np.int64), 4, rng=0))


def test_minibatches_reject_a_bad_rng():
    X, y = ids(10)
    with pytest.raises(TypeError, match=r"^rng\b"):
        list(data.minibatches(X, y, 4, rng="seed"))


# --- one-hot ------------------------------------------------------------------------------

def test_one_hot_puts_a_single_one_at_the_label():
    Y = data.one_hot(np.array([2, 0, 1, 2]), 3)
    expected = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    np.testing.assert_array_equal(Y, expected)
    assert Y.dtype == np.float64


def test_one_hot_allows_classes_that_do_not_occur():
    assert data.one_hot([0, 0], 4).shape == (2, 4)


@pytest.mark.parametrize(("y", "n_classes", "error", "name"),
                         [([0, 3], 3, ValueError, "y"),
                          ([-1, 0], 3, ValueError, "y"),
                          ([0.0, 1.0], 3, TypeError, "y"),
                          ([[0, 1]], 3, ValueError, "y"),
                          ([0, 1], 0, ValueError, "n_classes"),
                          ([0, 1], 2.0, TypeError, "n_classes")])
def test_one_hot_rejects_bad_input_naming_it(y, n_classes, error, name):
    with pytest.raises(error, match=rf"^{name}\b"):
        data.one_hot(np.array(y), n_classes)


# --- one validation vocabulary with lib._checks -----------------------------------------

@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_data_refuses_nan_and_inf_like_checks_with_finite(bad):
    # lib.data validates its arrays with lib._checks.as_float_array(..., finite=True): the
    # same rule and the same message in both
    from lib._checks import as_float_array

    X = np.array([[0.0, 1.0], [bad, 2.0]])
    with pytest.raises(ValueError, match=r"^X must be finite, got NaN or inf") as from_data:
        data.minibatches(X, np.zeros(2), 1, rng=0)
    with pytest.raises(ValueError) as from_checks:
        as_float_array(X, "X", finite=True)
    assert str(from_data.value) == str(from_checks.value)


def test_checks_allow_inf_by_default_but_never_nan():
    # parameters and losses of a diverging run may be inf; a NaN is always a bug
    from lib._checks import as_float_array

    np.testing.assert_array_equal(as_float_array([np.inf, 1.0], "w"), [np.inf, 1.0])
    with pytest.raises(ValueError, match="w contains NaN"):
        as_float_array([np.nan, 1.0], "w")
