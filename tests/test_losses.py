"""lib.losses: values by hand, gradients against centred differences, stability, errors."""

import math

import numpy as np
import pytest

from lib import losses
from lib.gradcheck import numerical_gradient, rel_error


# ------------------------------------------------------------------------ squared error
def test_mse_by_hand():
    # residuals 1, -2, 0 -> (1 + 4 + 0) / 3
    assert losses.mse([2.0, 0.0, 5.0], [1.0, 2.0, 5.0]) == pytest.approx(5 / 3)


def test_mse_grad_by_hand():
    # 2 (ŷ - y) / N with residuals 1, -2, 0 and N = 3
    np.testing.assert_allclose(losses.mse_grad([2.0, 0.0, 5.0], [1.0, 2.0, 5.0]),
                               [2 / 3, -4 / 3, 0.0])


@pytest.mark.parametrize("shape", [(1,), (7,), (4, 3)])
def test_mse_grad_matches_numerical(rng, shape):
    y_hat, y = rng.standard_normal(shape), rng.standard_normal(shape)
    num = numerical_gradient(lambda: losses.mse(y_hat, y), y_hat)
    assert rel_error(losses.mse_grad(y_hat, y), num) < 1e-7


def test_mse_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"y_hat and y .*\(3,\).*\(2,\)"):
        losses.mse([1.0, 2.0, 3.0], [1.0, 2.0])


# -------------------------------------------------------------------------- L2 penalty
def test_l2_penalty_is_half_alpha_sum_of_squares():
    # (0.1 / 2) * (1 + 4 + 9 + 16) = 1.5
    assert losses.l2_penalty([[1.0, -2.0], [3.0, 4.0]], 0.1) == pytest.approx(1.5)


def test_l2_penalty_grad_matches_numerical(rng):
    W = rng.standard_normal((3, 4))
    num = numerical_gradient(lambda: losses.l2_penalty(W, 0.3), W)
    assert rel_error(losses.l2_penalty_grad(W, 0.3), num) < 1e-7


def test_l2_penalty_rejects_negative_alpha():
    with pytest.raises(ValueError, match="alpha"):
        losses.l2_penalty([1.0], -0.1)


# ----------------------------------------------------------------------------- softmax
def test_softmax_by_hand():
    # softmax([0, ln 2, ln 3]) = [1, 2, 3] / 6
    out = losses.softmax([[0.0, math.log(2), math.log(3)]])
    np.testing.assert_allclose(out, [[1 / 6, 2 / 6, 3 / 6]], rtol=1e-12)


def test_softmax_rows_sum_to_one(rng):
    p = losses.softmax(rng.standard_normal((6, 5)) * 10)
    np.testing.assert_allclose(p.sum(axis=1), np.ones(6), rtol=1e-12)
    assert (p > 0).all()


def test_softmax_is_shift_invariant(rng):
    a = rng.standard_normal((4, 3))
    shift = rng.standard_normal((4, 1)) * 100
    np.testing.assert_allclose(losses.softmax(a + shift), losses.softmax(a), rtol=1e-10)


def test_softmax_accepts_a_single_vector():
    np.testing.assert_allclose(losses.softmax([0.0, 0.0]), [0.5, 0.5])


@pytest.mark.parametrize("big", [1e4, 1e300, 1e308])
def test_softmax_is_exact_for_huge_scores(big):
    # the largest score takes all the probability; equal scores share it
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        p = losses.softmax([[big, -big, 0.0], [big, big, -big]])
    np.testing.assert_array_equal(p, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])


def test_log_softmax_is_exact_where_softmax_underflows():
    # log softmax([0, -1000]) = [-log(1 + e^-1000), -1000 - log(1 + e^-1000)] ≈ [0, -1000]
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out = losses.log_softmax([[0.0, -1000.0]])
    np.testing.assert_allclose(out, [[0.0, -1000.0]], rtol=1e-15, atol=0)


def test_log_softmax_equals_log_of_softmax(rng):
    a = rng.standard_normal((5, 4))
    np.testing.assert_allclose(losses.log_softmax(a), np.log(losses.softmax(a)), rtol=1e-12)


def test_softmax_does_not_modify_its_input(rng):
    a = rng.standard_normal((3, 4))
    before = a.copy()
    losses.softmax(a)
    losses.log_softmax(a)
    np.testing.assert_array_equal(a, before)


# ----------------------------------------------------------------------- cross-entropy
def test_cross_entropy_by_hand():
    # example 1: softmax([ln 1, ln 3]) = [1/4, 3/4], label 1 -> -log(3/4)
    # example 2: softmax([0, 0]) = [1/2, 1/2], label 0 -> log 2
    logits = [[0.0, math.log(3)], [0.0, 0.0]]
    expected = (-math.log(0.75) + math.log(2)) / 2
    assert losses.cross_entropy(logits, np.array([1, 0])) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_cross_entropy_of_near_zero_classifier_is_log_c(rng, n_classes):
    logits = 1e-9 * rng.standard_normal((8, n_classes))
    labels = rng.integers(0, n_classes, 8)
    assert losses.cross_entropy(logits, labels) == pytest.approx(math.log(n_classes), rel=1e-8)


@pytest.mark.parametrize(("n", "c", "seed"), [(1, 2, 0), (5, 3, 1), (16, 10, 2)])
def test_cross_entropy_grad_matches_numerical(n, c, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, c)) * 3
    labels = rng.integers(0, c, n)
    num = numerical_gradient(lambda: losses.cross_entropy(logits, labels), logits)
    assert rel_error(losses.cross_entropy_grad(logits, labels), num) < 1e-7


def test_cross_entropy_grad_is_yhat_minus_onehot_over_n():
    # the slides' ∂ℓ/∂a = ŷ − y with ŷ = [1/4, 3/4] and label 0, divided by N = 1
    grad = losses.cross_entropy_grad([[0.0, math.log(3)]], np.array([0]))
    np.testing.assert_allclose(grad, [[0.25 - 1, 0.75]], rtol=1e-12)


def test_stacking_a_batch_twice_leaves_mean_loss_and_grad_unchanged(rng):
    logits = rng.standard_normal((4, 3))
    labels = rng.integers(0, 3, 4)
    twice, labels2 = np.vstack([logits, logits]), np.concatenate([labels, labels])
    assert losses.cross_entropy(twice, labels2) == pytest.approx(
        losses.cross_entropy(logits, labels), rel=1e-12)
    # each row of the doubled batch gets half the gradient: N doubled, same per-row error
    g1 = losses.cross_entropy_grad(logits, labels)
    g2 = losses.cross_entropy_grad(twice, labels2)
    np.testing.assert_allclose(g2[:4] + g2[4:], g1, rtol=1e-12)
    assert losses.mse(np.tile([1.0, 2.0], 2), np.tile([0.0, 0.0], 2)) == pytest.approx(2.5)


@pytest.mark.parametrize("big", [1e4, 1e300])
def test_cross_entropy_is_finite_and_warning_free_for_huge_scores(big):
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        right = losses.cross_entropy([[big, -big]], np.array([0]))
        wrong = losses.cross_entropy([[big, -big]], np.array([1]))
        grad = losses.cross_entropy_grad([[big, -big]], np.array([1]))
    assert right == 0.0
    assert wrong == pytest.approx(2 * big)  # -log softmax = a_max - a_label
    np.testing.assert_array_equal(grad, [[1.0, -1.0]])


# -------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("logits", "labels", "error", "match"),
    [
        ([[0.0, 1.0]], np.array([2]), ValueError, "labels must lie in"),
        ([[0.0, 1.0]], np.array([-1]), ValueError, "labels must lie in"),
        ([[0.0, 1.0]], np.array([0.0]), TypeError, "labels must hold integer"),
        ([[0.0, 1.0]], np.array([0, 1]), ValueError, "labels has 2 labels but the batch has 1"),
        ([0.0, 1.0], np.array([0]), ValueError, r"logits must be 2-D, got shape \(2,\)"),
        (np.zeros((0, 3)), np.array([], dtype=int), ValueError, "logits must not be empty"),
        ([[np.nan, 1.0]], np.array([0]), ValueError, "logits contains NaN"),
        ([["a", "b"]], np.array([0]), TypeError, "logits must hold real numbers"),
    ],
)
def test_cross_entropy_rejects_bad_input(logits, labels, error, match):
    with pytest.raises(error, match=match):
        losses.cross_entropy(logits, labels)
    with pytest.raises(error, match=match):
        losses.cross_entropy_grad(logits, labels)
