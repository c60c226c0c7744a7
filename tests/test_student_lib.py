"""The student edition of lib in each release works where it reveals and refuses where not.

For the release of assignment k, every reference answer of the assignments before k must
run (a revealed answer that calls a withheld one would break the student's library), and
every answer of k and later must raise NotImplementedError. Each check runs in a fresh
interpreter whose only `lib` is the released copy.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course.config import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]

# One snippet per tag, exercising its references (and the earlier ones they rely on).
USES = {
    "01_gradient_descent": """
        from lib import losses, models, optim
        assert optim.gd_step(12.0, 6.0, 0.5) == 9.0
        assert optim.gradient_descent(lambda w: 2 * w, np.array([1.0]), 0.25, 2)[-1] == 0.25
        assert losses.mse([1.0], [0.0]) == 1.0 and losses.mse_grad([1.0], [0.0])[0] == 2.0
        assert models.linear_predict([1.0], 2.0, 1.0)[0] == 3.0
        assert models.linear_regression_grads([1.0], [3.0], 2.0, 1.0) == (0.0, 0.0)
    """,
    "02_minibatch_sgd": """
        from lib import data, optim
        X, y = np.arange(10.0)[:, None], np.arange(10) % 2
        assert len(data.train_val_test_split(X, y, rng=0)) == 6
        assert len(list(data.minibatches(X, y, 4, rng=0))) == 3

        class Mean:  # a model with the lib interface and nothing from later assignments
            params = {"W": np.zeros((2, 1)), "b": np.zeros(2)}
            def loss_and_grads(self, X, y, weight_decay=0.0):
                return 0.0, {"W": np.ones((2, 1)), "b": np.ones(2)}
            def predict(self, X):
                return np.zeros(len(X), dtype=int)

        h = optim.train(Mean(), X, y, epochs=2, batch_size=5, lr=0.1)
        assert len(h["batch_loss"]) == 4
    """,
    "03_regularization": """
        from lib import losses, models, optim
        assert models.polynomial_features([2.0], 2).tolist() == [[2.0, 4.0]]
        assert losses.l2_penalty([2.0], 1.0) == 2.0 and losses.l2_penalty_grad([2.0], 1.0)[0] == 2.0
        p = {"W": np.ones(1), "b": np.ones(1)}
        optim.SGD(p, lr=0.5, weight_decay=1.0).step({"W": np.zeros(1), "b": np.zeros(1)})
        assert p["W"][0] == 0.5 and p["b"][0] == 1.0
    """,
    "04_momentum": """
        from lib import optim
        p = {"W": np.zeros(1)}
        opt = optim.SGD(p, lr=1.0, momentum=0.5)
        opt.step({"W": np.ones(1)}); opt.step({"W": np.ones(1)})
        assert p["W"][0] == -2.5
        assert optim.momentum(lambda w: w, np.ones(1), 0.1, 0.9, 3).shape == (4, 1)
        assert optim.quadratic_rates([1.0, 4.0])["momentum_rate"] == 1 / 3
    """,
    "05_softmax": """
        from lib import data, losses, models, optim
        assert abs(losses.softmax([[0.0, 0.0]])[0, 0] - 0.5) < 1e-12
        assert losses.cross_entropy_grad([[0.0, 0.0]], np.array([0])).shape == (1, 2)
        X, y = data.load_iris()
        m = models.SoftmaxClassifier(4, 3, seed=0)
        optim.train(m, X, y, epochs=1, batch_size=50, lr=0.1, momentum=0.9, weight_decay=0.01)
        assert m.predict(X).shape == (150,)
    """,
    "06_mlp_backprop": """
        from lib import activations, data, layers, models, optim
        assert activations.relu_grad([1.0])[0] == 1.0
        one = np.ones((1, 1))
        assert layers.dense_backward(one, one, one)[1][0, 0] == 1
        X, y = data.make_xor(5, seed=0)
        optim.train(models.MLP([2, 4, 2], seed=0), X, y, epochs=1, batch_size=4, lr=0.1)
    """,
}

# Code that a notebook gives (no exercise, so no reference region): every edition runs it.
GIVEN = """
    from lib import data, gradcheck, models
    X, y = data.make_xor(5, seed=0)
    w, b, mistakes = models.perceptron_train(X, y, epochs=2)
    assert w.shape == (2,) and len(mistakes) == 2
    g = gradcheck.numerical_grads(lambda p: float(np.sum(p["a"] ** 2)), {"a": np.ones(2)})
    assert np.allclose(g["a"], 2.0)
"""


def _run(folder, code):
    script = ("import numpy as np, lib\n"
              f"assert lib.__file__.startswith({str(folder)!r}), lib.__file__\n"
              + textwrap.dedent(code))
    return subprocess.run([sys.executable, "-I", "-B", "-c", f"import sys; sys.path.insert(0, "
                           f"{str(folder)!r}); exec({script!r})"],
                          capture_output=True, text=True, cwd=folder, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("release", ASSIGNMENTS)
def test_student_edition_reveals_earlier_answers_and_withholds_the_rest(release):
    folder = ROOT / "release" / release
    assert (folder / "lib" / "__init__.py").exists()
    k = ASSIGNMENTS.index(release)
    for tag, code in USES.items():
        result = _run(folder, code)
        if ASSIGNMENTS.index(tag) < k:
            assert result.returncode == 0, f"{release}: {tag} should work\n{result.stderr}"
        else:
            assert "NotImplementedError" in result.stderr, f"{release}: {tag} is not withheld"


@pytest.mark.slow
@pytest.mark.parametrize("release", ASSIGNMENTS)
def test_every_edition_runs_the_given_code(release):
    result = _run(ROOT / "release" / release, GIVEN)
    assert result.returncode == 0, f"{release}: given code fails\n{result.stderr}"


@pytest.mark.slow
def test_snippets_pass_against_the_full_lib():
    for tag, code in {**USES, "given": GIVEN}.items():
        result = _run(ROOT, code)
        assert result.returncode == 0, f"{tag}\n{result.stderr}"
