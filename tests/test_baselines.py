import numpy as np
import pytest

from lib.baselines import DecisionTree, knn_predict
from lib.data import load_digits, load_iris, train_val_test_split


def test_knn_with_k1_returns_the_label_of_the_nearest_point():
    X_train = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    y_train = np.array([0, 1, 2])
    X = np.array([[1.0, 1.0], [9.0, -1.0], [-1.0, 8.0]])
    assert knn_predict(X_train, y_train, X, k=1).tolist() == [0, 1, 2]


def test_knn_majority_vote_and_tie_goes_to_the_closest_neighbour():
    X_train = np.array([[0.0], [1.0], [1.1], [5.0]])
    y_train = np.array([3, 1, 1, 3])
    # k = 3 at x = 0.2: neighbours 0 (3), 1 (1), 1.1 (1): majority 1
    assert knn_predict(X_train, y_train, np.array([[0.2]]), k=3).tolist() == [1]
    # k = 2 at x = 0.4: neighbours 0 (3) and 1 (1), a tie: the closer one, class 3
    assert knn_predict(X_train, y_train, np.array([[0.4]]), k=2).tolist() == [3]


def test_knn_on_its_own_training_points_with_k1_is_perfect():
    X, y = load_iris()
    assert (knn_predict(X, y, X, k=1) == y).all()


def test_knn_refuses_a_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        knn_predict(np.zeros((3, 2)), np.array([0, 1, 0]), np.zeros((1, 2)), k=4)


def test_tree_of_depth_0_predicts_the_majority_class():
    X = np.arange(5.0)[:, None]
    y = np.array([0, 2, 2, 1, 2])
    assert DecisionTree(max_depth=0).fit(X, y).predict(X).tolist() == [2] * 5


def test_tree_finds_the_threshold_that_separates_two_classes():
    X = np.array([[0.0, 5.0], [1.0, 3.0], [2.0, 9.0], [3.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    tree = DecisionTree(max_depth=1).fit(X, y)
    assert tree.nodes[0][:2] == (0, 1.5)            # feature 0 between 1 and 2
    assert tree.predict(np.array([[1.4, 0.0], [1.6, 0.0]])).tolist() == [0, 1]


def test_tree_needs_depth_2_for_xor_and_respects_max_depth():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 3)
    y = np.array([0, 1, 1, 0] * 3)
    deep = DecisionTree(max_depth=2).fit(X, y)
    assert (deep.predict(X) == y).all() and deep.depth == 2
    assert DecisionTree(max_depth=1).fit(X, y).depth <= 1


def test_trees_and_knn_are_reasonable_on_iris_and_digits():
    for (X, y), depth, target in [(load_iris(), 3, 0.85), (load_digits(), 8, 0.7)]:
        X_tr, y_tr, X_va, y_va, _, _ = train_val_test_split(X, y, rng=0)
        tree = DecisionTree(max_depth=depth).fit(X_tr, y_tr)
        assert np.mean(tree.predict(X_va) == y_va) > target
        assert np.mean(knn_predict(X_tr, y_tr, X_va, k=3) == y_va) > 0.9
