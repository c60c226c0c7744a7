"""Benchmark: training time of the reference models (median of several runs).

Run with ``make bench``. The machine is shared and noisy, so each figure is the median of
``--repeat`` runs, with the minimum and maximum beside it.
"""

from __future__ import annotations

import argparse
import statistics
import time

from lib import data, models, optim


def mlp_digits() -> float:
    X, y = data.load_digits()
    X_tr, y_tr, *_ = data.train_val_test_split(X, y, rng=0)
    model = models.MLP([64, 64, 10], seed=0)
    optim.train(model, X_tr, y_tr, epochs=30, batch_size=32, lr=0.5, momentum=0.9, seed=0)
    return optim.accuracy(model, *data.train_val_test_split(X, y, rng=0)[4:])


def softmax_iris() -> float:
    X, y = data.load_iris()
    X_tr, y_tr, _, _, X_te, y_te = data.train_val_test_split(X, y, rng=0)
    _, _, X_tr, X_te = data.standardize(X_tr, X_te)
    model = models.SoftmaxClassifier(4, 3, seed=0)
    optim.train(model, X_tr, y_tr, epochs=100, batch_size=16, lr=0.1, momentum=0.9, seed=0)
    return optim.accuracy(model, X_te, y_te)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'benchmark':<36} {'median s':>9} {'min':>7} {'max':>7}  result")
    for name, fn in [("MLP 64-64-10, digits, 30 epochs", mlp_digits),
                     ("softmax, iris, 100 epochs", softmax_iris)]:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
        print(f"{name:<36} {statistics.median(times):9.3f} {min(times):7.3f} {max(times):7.3f}"
              f"  test accuracy {result:.1%}")


if __name__ == "__main__":
    main()
