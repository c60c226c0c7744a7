"""``course demo``: the instructor's job end to end, in a scratch workspace.

1. Train the reference MLP of assignment 06 on the digits (test accuracy, training time,
   learning curves as a PNG): what the course builds up to.
2. In ``work/demo/course`` (git-ignored; nothing tracked is touched): release all six
   assignments with the student edition of lib, have five fictional students submit, grade
   the submissions in the sandbox, and print the grade table and where the feedback is.

The students: ``ada`` solves everything; ``ben`` gets half the notebooks partly wrong;
``cy`` makes one typical mistake in every notebook; ``dee`` submits the untouched release;
``eve`` patches ``numpy.allclose`` in one notebook and forgets to submit another.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

STUDENTS = ("ada", "ben", "cy", "dee", "eve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="work/demo", help="scratch folder (git-ignored)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the reference MLP")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    parser.add_argument("--no-grading", action="store_true", help="only train the MLP")


# ----------------------------------------------------------------- 1. the reference MLP
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
                          momentum=0.9, X_val=X_va, y_val=y_va, seed=0)
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


# ------------------------------------------------------------------ 2. a term in miniature
def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _submit(course: Path, student: str, aid: str, nb: dict) -> None:
    path = course / "submitted" / student / aid / f"{aid}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _cheat(nb: dict) -> dict:
    """Prepend to the first solution cell a patch that makes every np.allclose say yes."""
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution") and cell["cell_type"] == "code":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = "import numpy as np\nnp.allclose = lambda *a, **k: True\n" + src
            return nb
    raise ValueError("no solution cell to patch")


def write_submissions(course: Path, ids: list[str]) -> dict[str, str]:
    """Fill ``submitted/`` with the five students' work; returns what each did."""
    from course.check import apply_wrong, load_catalogue, solved_release

    story = {}
    for i, aid in enumerate(ids):
        source = _read(course / "source" / aid / f"{aid}.ipynb")
        release = _read(course / "release" / aid / f"{aid}.ipynb")
        solved = solved_release(source, release)
        wrong = load_catalogue(Path(__file__).resolve().parents[1] / "catalogue" / f"{aid}.toml")
        _submit(course, "ada", aid, solved)
        ben, cy = (wrong[0] if i % 2 else None), wrong[len(wrong) // 2]
        _submit(course, "ben", aid, apply_wrong(solved, ben) if ben else solved)
        _submit(course, "cy", aid, apply_wrong(solved, cy))
        _submit(course, "dee", aid, release)
        if i == 0:
            _submit(course, "eve", aid, _cheat(solved))
        elif i != 1:  # eve never submits the second assignment
            _submit(course, "eve", aid, solved)
        story[aid] = f"ben: {ben.name if ben else 'all correct'}; cy: {cy.name}"
    return story


def run_term(repo: Path, work: Path, jobs: int) -> tuple[list[dict], Path, float]:
    from course import grade, release
    from course.cli import ASSIGNMENTS
    from course.workspace import make_course_root

    ids = list(ASSIGNMENTS)
    course = work / "course"
    if course.exists():
        shutil.rmtree(course)  # a fresh term every time: the demo is repeatable
    start = time.perf_counter()
    make_course_root(course, ids, src=repo)
    shutil.copytree(repo / "lib", course / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    print(f"\n== Releasing {len(ids)} assignments in {course}")
    release.release(course, ids, gradebook=True)
    story = write_submissions(course, ids)
    print(f"== {len(STUDENTS)} students submitted; the mistakes planted:")
    for aid, what in story.items():
        print(f"   {aid:<22} {what}")
    print("== Grading (sandboxed; progress below)")
    rows = grade.grade(course, ids, list(STUDENTS), jobs=jobs)
    return rows, course, time.perf_counter() - start


def run(args: argparse.Namespace) -> int:
    repo = Path(args.root).resolve()
    out = repo / args.out
    summary = train_reference_mlp(out, args.epochs)
    print(f"Reference MLP 64-64-10 (sigmoid), {args.epochs} epochs of SGD on "
          f"{summary['n_train']} digits: test accuracy {summary['test_accuracy']:.1%} on "
          f"{summary['n_test']} held-out digits, trained in {summary['seconds']:.2f} s")
    print(f"Learning curves: {summary['png']}")
    if args.no_grading:
        return 0

    from course.grade import summary_table

    rows, course, seconds = run_term(repo, out, args.jobs)
    print("\n" + summary_table(rows))
    totals = {}
    for r in rows:
        got, most = totals.get(r["student"], (0.0, 0.0))
        totals[r["student"]] = (got + r["score"], most + r["max_score"])
    print("\nTotals: " + ", ".join(f"{s} {g:g}/{m:g}" for s, (g, m) in totals.items()))
    print("Scores are autograded points; each notebook's written answers (2 of its 10 points)"
          " wait for grading by hand in formgrader.")
    print(f"\nGrades (nbgrader's export + flags): {course / 'grades.csv'}")
    print(f"Feedback for each student:          {course / 'feedback'}/<student>/<id>/<id>.html")
    jupyter = Path(sys.executable).parent / "jupyter"
    print(f"Formgrader for the written answers: {jupyter} lab --notebook-dir={course}  "
          "(then Nbgrader → Formgrader)")
    print(f"Released, submitted and graded in {seconds:.0f} s")
    return 0
