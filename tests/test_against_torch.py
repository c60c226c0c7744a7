"""lib against PyTorch in float64 on random cases.

PyTorch is the independent reference DESIGN.md names: same layouts, mean losses,
``torch.optim.SGD``'s arithmetic. It is an optional extra (``pip install '.[compare]'``,
CPU wheel ``torch==2.13.0``), which CI installs: there (``CI=true``) a missing torch fails
the run; elsewhere these tests are skipped without it.
"""

import os

import numpy as np
import pytest

from lib import activations, data, layers, losses, models, optim

try:
    import torch
except ImportError:
    if os.environ.get("CI", "").lower() not in ("true", "1"):
        pytest.skip("torch is not installed (pip install '.[compare]')", allow_module_level=True)
    torch = None  # in CI: every test below fails, the rest of the suite still runs
F = torch.nn.functional if torch is not None else None


@pytest.fixture(autouse=True)
def _torch_is_installed():
    if torch is None:
        pytest.fail("CI must run the comparisons with PyTorch, but torch is not installed: "
                    "install the 'compare' extra (.ci/run does: pip install -e '.[test,compare]')")


def t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("seed", range(5))
def test_cross_entropy_and_its_gradient_match_torch(seed):
    rng = np.random.default_rng(seed)
    n, c = rng.integers(1, 20), rng.integers(2, 12)
    logits = rng.standard_normal((n, c)) * rng.choice([0.1, 1, 30])
    labels = rng.integers(0, c, n)
    a = t(logits)
    loss = F.cross_entropy(a, torch.tensor(labels))
    loss.backward()
    assert losses.cross_entropy(logits, labels) == pytest.approx(loss.item(), rel=1e-13)
    np.testing.assert_allclose(losses.cross_entropy_grad(logits, labels), a.grad.numpy(),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(losses.softmax(logits), F.softmax(a, 1).detach().numpy(),
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(losses.log_softmax(logits),
                               F.log_softmax(a, 1).detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_activations_and_derivatives_match_torch(name):
    z = np.concatenate([np.random.default_rng(0).standard_normal(50) * 5, [0.0, 40, -40]])
    zt = t(z)
    out = getattr(torch, name)(zt)
    out.sum().backward()
    f, f_grad = activations.ACTIVATIONS[name]
    np.testing.assert_allclose(f(z), out.detach().numpy(), rtol=1e-12, atol=1e-300)
    # 1 − tanh² cancels near saturation: a 1-ulp difference in tanh is all that differs
    np.testing.assert_allclose(f_grad(z), zt.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_dense_layer_matches_torch_linear():
    rng = np.random.default_rng(1)
    X, W, b, dout = (rng.standard_normal(s) for s in [(6, 4), (3, 4), (3,), (6, 3)])
    Xt, Wt, bt = t(X), t(W), t(b)
    out = F.linear(Xt, Wt, bt)
    out.backward(torch.tensor(dout))
    np.testing.assert_allclose(layers.dense_forward(X, W, b), out.detach().numpy(), rtol=1e-13)
    for mine, theirs in zip(layers.dense_backward(dout, X, W), (Xt, Wt, bt), strict=True):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_mlp_loss_and_grads_match_torch(activation):
    rng = np.random.default_rng(2)
    model = models.MLP([5, 7, 6, 4], activation=activation, seed=3)
    X, y = rng.standard_normal((9, 5)), rng.integers(0, 4, 9)
    params = {k: t(v) for k, v in model.params.items()}
    a = torch.tensor(X)
    for k in range(1, 4):
        a = F.linear(a, params[f"W{k}"], params[f"b{k}"])
        if k < 3:
            a = getattr(torch, activation)(a)
    wd = 0.05
    loss = F.cross_entropy(a, torch.tensor(y))
    loss = loss + 0.5 * wd * sum((params[f"W{k}"] ** 2).sum() for k in range(1, 4))
    loss.backward()
    mine, grads = model.loss_and_grads(X, y, wd)
    assert mine == pytest.approx(loss.item(), rel=1e-12)
    for k, p in params.items():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("momentum", "weight_decay"), [(0.0, 0.0), (0.9, 0.0), (0.9, 0.01),
                                                        (0.5, 0.1)])
def test_sgd_matches_torch_optim_sgd(momentum, weight_decay):
    rng = np.random.default_rng(4)
    W, b = rng.standard_normal((3, 2)), rng.standard_normal(3)
    mine = {"W": W.copy(), "b": b.copy()}
    theirs = [t(W), t(b)]
    opt = optim.SGD(mine, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    ref = torch.optim.SGD([{"params": [theirs[0]], "weight_decay": weight_decay},
                           {"params": [theirs[1]], "weight_decay": 0.0}],
                          lr=0.1, momentum=momentum)
    for _ in range(5):
        gW, gb = rng.standard_normal((3, 2)), rng.standard_normal(3)
        opt.step({"W": gW, "b": gb})
        theirs[0].grad, theirs[1].grad = torch.tensor(gW), torch.tensor(gb)
        ref.step()
    # the same formula; torch's kernels may round the last bit differently
    np.testing.assert_allclose(mine["W"], theirs[0].detach().numpy(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(mine["b"], theirs[1].detach().numpy(), rtol=1e-14, atol=1e-15)


# ------------------------------------------------ the compositions students use (02-06)
def _torch_run(params, decayed, forward, X, y, *, epochs, batch_size, lr, momentum,
               weight_decay, seed):
    """torch.optim.SGD on the batches lib.optim.train visits (same seed, same permutations).

    Weight decay only on the weights, as in lib. Returns the tensors and per-epoch losses.
    """
    tensors = {k: t(v) for k, v in params.items()}
    groups = [{"params": [tensors[k] for k in tensors if k in decayed],
               "weight_decay": weight_decay},
              {"params": [tensors[k] for k in tensors if k not in decayed],
               "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def full_loss():
        with torch.no_grad():
            penalty = sum((tensors[k] ** 2).sum() for k in decayed)
            return (F.cross_entropy(forward(tensors, Xt), yt) + 0.5 * weight_decay
                    * penalty).item()

    train_loss = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            idx = torch.tensor(order[start:start + batch_size])
            opt.zero_grad()
            F.cross_entropy(forward(tensors, Xt[idx]), yt[idx]).backward()
            opt.step()
        train_loss.append(full_loss())
    return tensors, train_loss


def _linear(p, X):
    return F.linear(X, p["W"], p["b"])


def _mlp_forward(activation, n_layers):
    def forward(p, a):
        for k in range(1, n_layers + 1):
            a = F.linear(a, p[f"W{k}"], p[f"b{k}"])
            if k < n_layers:
                a = getattr(torch, activation)(a)
        return a
    return forward


@pytest.mark.parametrize(("momentum", "weight_decay", "batch_size"),
                         [(0.0, 0.0, 7), (0.0, 0.05, 7), (0.9, 0.05, 16), (0.5, 0.3, 150)])
def test_softmax_classifier_with_train_matches_torch(momentum, weight_decay, batch_size):
    X, y = data.load_iris()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = models.SoftmaxClassifier(4, 3, seed=5)
    ref, ref_loss = _torch_run(model.params, {"W"}, _linear, X, y, epochs=4,
                               batch_size=batch_size, lr=0.1, momentum=momentum,
                               weight_decay=weight_decay, seed=3)
    history = optim.train(model, X, y, epochs=4, batch_size=batch_size, lr=0.1,
                          momentum=momentum, weight_decay=weight_decay, seed=3)
    for k, p in ref.items():
        np.testing.assert_allclose(model.params[k], p.detach().numpy(), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(history["train_loss"], ref_loss, rtol=1e-11)


@pytest.mark.parametrize(("activation", "momentum", "weight_decay"),
                         [("sigmoid", 0.0, 0.0), ("tanh", 0.9, 0.01), ("relu", 0.5, 0.1)])
def test_mlp_with_train_matches_torch(activation, momentum, weight_decay):
    X, y = data.make_xor(n_per_corner=10, seed=1)
    model = models.MLP([2, 6, 5, 2], activation=activation, seed=2)
    decayed = {k for k in model.params if k.startswith("W")}
    ref, ref_loss = _torch_run(model.params, decayed, _mlp_forward(activation, 3), X, y,
                               epochs=5, batch_size=8, lr=0.3, momentum=momentum,
                               weight_decay=weight_decay, seed=4)
    history = optim.train(model, X, y, epochs=5, batch_size=8, lr=0.3, momentum=momentum,
                          weight_decay=weight_decay, seed=4)
    for k, p in ref.items():
        np.testing.assert_allclose(model.params[k], p.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history["train_loss"], ref_loss, rtol=1e-10)


def test_mlp_with_sgd_by_hand_matches_torch():
    # The loop notebook 06 writes: loss_and_grads(α) then SGD without decay (α in the model's
    # gradient) is the same as torch with weight_decay=α.
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 3, 20)
    model = models.MLP([3, 4, 3], activation="tanh", seed=1)
    ref, _ = _torch_run(model.params, {"W1", "W2"}, _mlp_forward("tanh", 2), X, y, epochs=3,
                        batch_size=20, lr=0.5, momentum=0.0, weight_decay=0.2, seed=0)
    opt = optim.SGD(model.params, lr=0.5)
    for _ in range(3):
        opt.step(model.loss_and_grads(X, y, 0.2)[1])
    for k, p in ref.items():
        np.testing.assert_allclose(model.params[k], p.detach().numpy(), rtol=1e-11, atol=1e-13)
