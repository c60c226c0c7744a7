"""lib against PyTorch in float64 on random cases (skipped where torch is not installed).

PyTorch is the independent reference DESIGN.md names: same layouts, mean losses,
``torch.optim.SGD``'s arithmetic. CI does not install it (several GB); a developer can run
these with ``pip install torch`` in the venv.
"""

import numpy as np
import pytest

from lib import activations, layers, losses, models, optim

torch = pytest.importorskip("torch")
F = torch.nn.functional


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
