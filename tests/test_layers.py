"""lib.layers: the dense layer by hand and its backward pass against centred differences."""

import numpy as np
import pytest

from lib import layers
from lib.gradcheck import numerical_gradient, rel_error


def test_dense_forward_by_hand():
    # out_nm = Σ_d X_nd W_md + b_m: [1, 2]·[1, 0] + 1 = 2; [1, 2]·[0, 1] - 1 = 1; ...
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (M=3, D=2), torch.nn.Linear's layout
    b = np.array([1.0, -1.0, 0.0])
    np.testing.assert_array_equal(layers.dense_forward(X, W, b), [[2.0, 1.0, 3.0], [4.0, 3.0, 7.0]])


@pytest.mark.parametrize(("n", "d", "m", "seed"), [(1, 1, 1, 0), (4, 3, 5, 1), (7, 6, 2, 2)])
def test_dense_backward_matches_numerical(n, d, m, seed):
    rng = np.random.default_rng(seed)
    X, W, b = rng.standard_normal((n, d)), rng.standard_normal((m, d)), rng.standard_normal(m)
    dout = rng.standard_normal((n, m))

    def loss():  # L = Σ dout ⊙ out has ∂L/∂out = dout
        return np.sum(dout * layers.dense_forward(X, W, b))

    dX, dW, db = layers.dense_backward(dout, X, W)
    assert rel_error(dX, numerical_gradient(loss, X)) < 1e-7
    assert rel_error(dW, numerical_gradient(loss, W)) < 1e-7
    assert rel_error(db, numerical_gradient(loss, b)) < 1e-7


def test_dense_backward_shapes():
    dX, dW, db = layers.dense_backward(np.ones((4, 3)), np.ones((4, 2)), np.ones((3, 2)))
    assert (dX.shape, dW.shape, db.shape) == ((4, 2), (3, 2), (3,))


def test_dense_forward_names_the_mismatch():
    with pytest.raises(ValueError, match=r"X has 3 features but W expects 2.*\(4, 3\).*\(5, 2\)"):
        layers.dense_forward(np.ones((4, 3)), np.ones((5, 2)), np.ones(5))
    with pytest.raises(ValueError, match=r"b must have shape \(5,\)"):
        layers.dense_forward(np.ones((4, 2)), np.ones((5, 2)), np.ones(3))


def test_dense_backward_rejects_wrong_dout_shape():
    with pytest.raises(ValueError, match=r"dout must have shape \(N, M\) = \(4, 3\)"):
        layers.dense_backward(np.ones((3, 4)), np.ones((4, 2)), np.ones((3, 2)))
