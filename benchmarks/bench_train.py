"""Benchmark: training time of lib's reference models, beside PyTorch on the same work.

Run with ``make bench`` (or ``python benchmarks/bench_train.py --repeat 9``). Two workloads,
each trained by ``lib.optim.train`` and recording its full history (the loss of every batch,
the training loss and accuracy after every epoch):

- MLP 64-64-10, sigmoid, on the digits (1078 training rows), 30 epochs, B = 32, λ = 0.5,
  momentum 0.9;
- linear softmax on Iris (90 standardised training rows), 100 epochs, B = 16, λ = 0.1,
  momentum 0.9.

When PyTorch is installed (the ``compare`` extra) the same work runs in PyTorch CPU, float64,
one thread (``torch.set_num_threads(1)``): the same initial weights, the same mini-batches
(the permutations of ``numpy.random.default_rng(0)``, as in lib), ``torch.optim.SGD`` with
the same momentum, and the same history (``loss.item()`` per batch; loss and accuracy of the
whole training set after every epoch under ``torch.no_grad()``). lib and torch runs alternate
in one process, so the load of a shared machine hits both alike; each figure is the median of
``--repeat`` runs, with the minimum and maximum beside it, and the ratio lib / torch of the
medians is printed against issue 22's target (<= 1.0x). The last column checks that both did
the same work: the largest difference between their per-epoch training losses.

The BLAS thread count is fixed before numpy loads (OPENBLAS_NUM_THREADS=1, as ``make`` sets).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from lib import data, models, optim  # noqa: E402

try:
    import torch
except ImportError:  # the compare extra is not installed: lib alone
    torch = None

TARGET = 1.0  # issue 22, target 1: lib <= 1.0x PyTorch CPU


def mlp_digits():
    X, y = data.load_digits()
    X_tr, y_tr, _, _, X_te, y_te = data.train_val_test_split(X, y, rng=0)
    return {"make": lambda: models.MLP([64, 64, 10], seed=0), "X": X_tr, "y": y_tr,
            "X_test": X_te, "y_test": y_te,
            "fit": {"epochs": 30, "batch_size": 32, "lr": 0.5, "momentum": 0.9, "seed": 0}}


def softmax_iris():
    X, y = data.load_iris()
    X_tr, y_tr, _, _, X_te, y_te = data.train_val_test_split(X, y, rng=0)
    _, _, X_tr, X_te = data.standardize(X_tr, X_te)
    return {"make": lambda: models.SoftmaxClassifier(4, 3, seed=0), "X": X_tr, "y": y_tr,
            "X_test": X_te, "y_test": y_te,
            "fit": {"epochs": 100, "batch_size": 16, "lr": 0.1, "momentum": 0.9, "seed": 0}}


WORKLOADS = [("MLP 64-64-10, digits, 30 epochs", mlp_digits),
             ("softmax, iris, 100 epochs", softmax_iris)]


def run_lib(work):
    """Seconds of ``lib.optim.train``, its history, and the test accuracy."""
    model = work["make"]()
    start = time.perf_counter()
    history = optim.train(model, work["X"], work["y"], **work["fit"])
    seconds = time.perf_counter() - start
    return seconds, history, optim.accuracy(model, work["X_test"], work["y_test"])


def torch_net(model):
    """The torch twin of a lib model, with lib's initial weights (float64)."""
    p = model.params
    pairs = ([(p["W"], p["b"])] if "W" in p  # SoftmaxClassifier
             else [(p[f"W{k}"], p[f"b{k}"]) for k in range(1, len(p) // 2 + 1)])  # MLP
    layers = []
    for W, b in pairs:
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers[:-1])  # no activation after the last layer


def run_torch(work):
    """Seconds of the same training in PyTorch, its history, and the test accuracy."""
    fit = work["fit"]
    net = torch_net(work["make"]())
    F = torch.nn.functional
    X, y = torch.from_numpy(work["X"]), torch.from_numpy(work["y"])
    start = time.perf_counter()
    opt = torch.optim.SGD(net.parameters(), lr=fit["lr"], momentum=fit["momentum"])
    rng = np.random.default_rng(fit["seed"])
    n, batch = len(X), fit["batch_size"]
    history = {"batch_loss": [], "train_loss": [], "train_acc": []}
    for _ in range(fit["epochs"]):
        order = torch.from_numpy(rng.permutation(n))
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            opt.zero_grad()
            loss = F.cross_entropy(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
            history["batch_loss"].append(loss.item())
        with torch.no_grad():
            logits = net(X)
            history["train_loss"].append(F.cross_entropy(logits, y).item())
            history["train_acc"].append((logits.argmax(1) == y).double().mean().item())
    seconds = time.perf_counter() - start
    with torch.no_grad():
        pred = net(torch.from_numpy(work["X_test"])).argmax(1).numpy()
    return seconds, history, float(np.mean(pred == work["y_test"]))


def summary(times) -> str:
    return f"{statistics.median(times):9.3f} {min(times):7.3f} {max(times):7.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each (default 7)")
    parser.add_argument("--no-torch", action="store_true", help="time lib alone")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    use_torch = torch is not None and not args.no_torch
    if use_torch:
        torch.set_num_threads(1)
        print(f"lib beside PyTorch {torch.__version__} (float64, 1 thread), numpy "
              f"{np.__version__}; {args.repeat} interleaved runs each, medians")
    elif torch is None:
        print("PyTorch is not installed (the compare extra): timing lib alone, no ratio")
    print(f"{'benchmark':<36} {'':6} {'median s':>9} {'min':>7} {'max':>7}  test acc")
    for name, make in WORKLOADS:
        work = make()
        run_lib(work)  # warm-up: the data's caches, numpy's first calls
        if use_torch:
            run_torch(work)
        times = {"lib": [], "torch": []}
        results = {}
        for r in range(args.repeat):
            order = ["lib", "torch"] if r % 2 == 0 else ["torch", "lib"]
            for who in order:
                if who == "torch" and not use_torch:
                    continue
                seconds, history, acc = (run_lib if who == "lib" else run_torch)(work)
                times[who].append(seconds)
                results[who] = (history, acc)
        for who in ("lib", "torch") if use_torch else ("lib",):
            print(f"{name:<36} {who:<6} {summary(times[who])}  {results[who][1]:.1%}")
        if use_torch:
            ratio = statistics.median(times["lib"]) / statistics.median(times["torch"])
            diff = np.max(np.abs(np.subtract(results["lib"][0]["train_loss"],
                                             results["torch"][0]["train_loss"])))
            verdict = "met" if ratio <= TARGET else "NOT met"
            print(f"{'':<36} ratio lib/torch {ratio:5.2f}x (target <= {TARGET:.1f}x: {verdict});"
                  f" same work: max |Δ train_loss| = {diff:.1e}")


if __name__ == "__main__":
    main()
