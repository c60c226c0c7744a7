"""``course demo``: what an instructor sees first.

Trains the reference MLP of assignment 06 on the 8x8 digits, prints its test accuracy and
training time, and saves the learning curves as a PNG under ``work/demo/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="work/demo", help="scratch folder (git-ignored)")
    parser.add_argument("--epochs", type=int, default=30)


def train_reference_mlp(out: Path, epochs: int = 30) -> dict:
    """Train ``MLP([64, 64, 10])`` with SGD (λ = 0.5, τ = 0.9, B = 32); return a summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lib import data, models, optim, plots

    X, y = data.load_digits()
    X_tr, y_tr, X_va, y_va, X_te, y_te = data.train_val_test_split(X, y, rng=0)
    model = models.MLP([64, 64, 10], activation="sigmoid", seed=0)
    start = time.perf_counter()
    history = optim.train(model, X_tr, y_tr, epochs=epochs, batch_size=32, lr=0.5,
                          momentum=0.9, X_val=X_va, y_val=y_va, seed=0, progress=True)
    seconds = time.perf_counter() - start
    test_acc = optim.accuracy(model, X_te, y_te)  # the test set, used once, at the end

    plots.use_style()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    plots.loss_curves({"training": history["train_loss"], "validation": history["val_loss"]},
                      ax=ax_loss, title="MLP 64-64-10 on the digits: loss")
    plots.loss_curves({"training": history["train_acc"], "validation": history["val_acc"]},
                      ax=ax_acc, ylabel="accuracy", title=f"accuracy (test: {test_acc:.1%})")
    out.mkdir(parents=True, exist_ok=True)
    png = out / "mlp_digits_loss.png"
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return {"test_accuracy": test_acc, "seconds": seconds, "png": png,
            "n_train": len(y_tr), "n_test": len(y_te)}


def run(args: argparse.Namespace) -> int:
    out = Path(args.root) / args.out
    summary = train_reference_mlp(out, args.epochs)
    print(f"Reference MLP 64-64-10 (sigmoid), {args.epochs} epochs of SGD on "
          f"{summary['n_train']} digits: test accuracy {summary['test_accuracy']:.1%} on "
          f"{summary['n_test']} held-out digits, trained in {summary['seconds']:.2f} s")
    print(f"Learning curves: {summary['png']}")
    return 0
