"""lib.plots: each function draws what it is given (checked on the artists, then rendered)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_loss_curves_draws_one_labelled_line_per_curve(tmp_path):
    ax = plots.loss_curves({"train": [3, 2, 1], "val": [4, 3, 3]}, title="t", logy=True)
    assert [line.get_label() for line in ax.get_lines()] == ["train", "val"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])  # epochs from 1
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    ax.figure.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_loss_curves_uses_given_x_values():
    ax = plots.loss_curves({"sgd": [1.0, 0.5]}, x={"sgd": [10, 20]}, xlabel="gradient evals")
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [10, 20])
    assert ax.get_xlabel() == "gradient evals"


def test_decision_regions_colours_the_plane_by_the_prediction():
    X = np.array([[-1.0, 0.0], [1.0, 0.0]])
    y = np.array([0, 1])
    seen = []

    def predict(G):
        seen.append(G.shape)
        return (G[:, 0] > 0).astype(int)

    ax = plots.decision_regions(predict, X, y, resolution=30, class_names=["left", "right"])
    assert seen == [(900, 2)]  # one call on the whole grid
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["left", "right"]


def test_decision_regions_refuses_points_not_in_the_plane():
    with pytest.raises(ValueError, match=r"X must be \(N, 2\)"):
        plots.decision_regions(lambda G: G[:, 0], np.zeros((3, 3)), np.zeros(3, dtype=int))


def test_contour_paths_draws_every_trajectory():
    path = np.array([[1.0, 1.0], [0.5, 0.2], [0.0, 0.0]])
    ax = plots.contour_paths(lambda w: w @ w, {"GD": path}, xlim=(-1, 1), ylim=(-1, 1),
                             resolution=20)
    (line,) = ax.get_lines()
    assert line.get_label() == "GD"
    np.testing.assert_array_equal(line.get_xydata(), path)


def test_show_digits_marks_wrong_predictions_in_red():
    axes = plots.show_digits(np.zeros((2, 64)), [3, 5], predictions=[3, 8], ncols=2)
    assert axes[0].get_title() == "3 → 3" and axes[1].get_title() == "5 → 8"
    assert axes[1].title.get_color() == "tab:red" and axes[0].title.get_color() == "k"


def test_show_templates_draws_each_row_with_one_symmetric_scale():
    W = np.zeros((3, 64))
    W[0, 0], W[2, 63] = 2.0, -1.0
    axes = plots.show_templates(W, ["a", "b", "c"], ncols=3)
    images = [ax.images[0] for ax in axes[:3]]
    assert [ax.get_title() for ax in axes[:3]] == ["a", "b", "c"]
    assert all(im.get_clim() == (-2.0, 2.0) for im in images)
    assert images[0].get_array()[0, 0] == 2.0 and images[2].get_array()[7, 7] == -1.0
    plt.close("all")


def test_show_templates_refuses_rows_that_are_not_images():
    with pytest.raises(ValueError, match="must be"):
        plots.show_templates(np.zeros((2, 10)))
