"""The students of ``course demo``: their work (good, partial, wrong, a cheat), their own
Jupyter configuration, and what they do through nbgrader's exchange (fetch, submit, fetch
feedback).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path

from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeFetchFeedback, ExchangeSubmit
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from course.author.catalogue import apply_wrong, load_catalogue, solved_release

# The students' own written answers, one per notebook: good, partial, wrong (never the
# model answer of the source notebook, which is for graders).
ANSWERS = {
    "01_gradient_descent": {
        "good": "Each step multiplies w by (1 - λ/2). If |1 - λ/2| < 1, i.e. 0 < λ < 4, the "
                "distance to the minimum shrinks (for 2 < λ < 4 it flips sign each step but "
                "still shrinks). At λ = 4.5 the factor is -1.25: every step jumps over the "
                "minimum and lands further away, where the slope is steeper, so L explodes. "
                "For L = 5w² the gradient is 10w, the factor is 1 - 10λ, so I expect "
                "divergence already for λ > 0.2: the more curved the loss, the smaller λ.",
        "partial": "The step is too big so it overshoots the minimum and ends up higher "
                   "each time. Smaller learning rates work. For 5w² it would diverge "
                   "faster.",
        "wrong": "Because the gradient is computed wrongly for large λ, it points uphill "
                 "instead of downhill. A more curved loss needs a larger λ.",
    },
    "02_minibatch_sgd": {
        "good": "If we pick B and λ by the test loss, the test set becomes part of the "
                "training: we keep the setting that happens to do best on those particular "
                "examples, so its test loss is optimistically biased and no longer an "
                "estimate for new data. The same holds for the chosen setting's validation "
                "loss: it is the minimum over the grid, so it is biased low too. Only a set "
                "we never used for any decision, looked at once, gives an honest estimate.",
        "partial": "Using the test set for choosing hyperparameters is cheating because "
                   "the model has then seen the test data. The validation loss is fine "
                   "to report.",
        "wrong": "The test set is smaller, so its loss is noisier; that is why it is only "
                 "used once. Choosing by test loss would be just as good otherwise.",
    },
    "03_regularization": {
        "good": "Degree 1 has high bias: it cannot bend, so both its training and "
                "validation losses are high, and fresh noise would give almost the same "
                "line (low variance). Degree 9 passes through all 8 points: training loss "
                "near 0 but a large validation loss; with new noise the curve would change "
                "wildly between the points (high variance, low bias).",
        "partial": "Degree 9 overfits and degree 1 underfits. The degree-9 fit has a very "
                   "small training loss.",
        "wrong": "Degree 9 has high bias because it has many parameters, and degree 1 has "
                 "high variance. New data would not change the degree-9 fit.",
    },
    "04_momentum": {
        "good": "Momentum averages the gradients of past steps: along the steep direction "
                "they alternate in sign and cancel, along the shallow one they add up, so "
                "a step size that makes plain GD oscillate or diverge along the steep axis "
                "stays stable and moves faster along the flat one. As τ → 1 the velocity "
                "hardly decays: it keeps overshooting and oscillates around the minimum "
                "for a long time (in the limit it never settles).",
        "partial": "Momentum makes the optimizer faster because it keeps moving in the same "
                   "direction. With τ close to 1 it becomes slow.",
        "wrong": "Momentum allows larger steps because it multiplies the learning rate by "
                 "1/(1 - τ). When τ → 1 the steps become zero.",
    },
    "05_softmax": {
        "good": "Minimising the sum of -log ŷ_label maximises the product of the "
                "probabilities of the right labels, the likelihood of the data. The log "
                "turns the product into a sum and is very large for a confident mistake "
                "(ŷ_label near 0), whose gradient ŷ - y is then large, so it gets corrected "
                "most. Accuracy is piecewise constant in w: its gradient is 0 almost "
                "everywhere, so it cannot be optimised by gradient descent.",
        "partial": "It maximises the probability of the correct class. The log makes the "
                   "numbers easier to handle. Accuracy is not differentiable.",
        "wrong": "We minimise -log because the softmax output is always negative. Accuracy "
                 "would be better but is too slow to compute.",
    },
    "06_mlp_backprop": {
        "good": "With identity activations every layer is affine, and a composition of "
                "affine maps is affine: the network computes a = x W^T + b with "
                "W = W_N ... W_1 and one combined bias. So its decision boundaries are "
                "hyperplanes, a straight line in 2-D, which cannot separate XOR; extra "
                "layers add parameters but no expressive power.",
        "partial": "Without non-linear activations the MLP is just a linear model, so it "
                   "cannot learn XOR.",
        "wrong": "Non-linear activations make training faster; without them an MLP can "
                 "still learn XOR if it has enough layers.",
    },
}

_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def without_markers(nb: dict) -> dict:
    """A copy of nb whose code cells have no ``### BEGIN/END SOLUTION`` lines."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["source"] = _MARKER.sub("", _source(cell))
    return nb


def with_answer(nb: dict, text: str) -> dict:
    """A copy of nb whose written-answer cells (Markdown solution cells) hold ``text``."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "markdown" and meta.get("solution"):
            cell["source"] = text
    return nb


def _cheat(nb: dict) -> dict:
    """Prepend to the first solution cell a patch that makes every np.allclose say yes."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution") and cell["cell_type"] == "code":
            cell["source"] = "import numpy as np\nnp.allclose = lambda *a, **k: True\n" + \
                _source(cell)
            return nb
    raise ValueError("no solution cell to patch")


def student_work(repo: Path, source: dict, release: dict, aid: str, index: int) -> dict:
    """{student: (notebook or None, what they did)} for assignment number ``index``."""

    solved = solved_release(source, release)
    wrong = load_catalogue(repo / "catalogue" / f"{aid}.toml")
    answers = ANSWERS.get(aid, {})

    def done(nb: dict, kind: str) -> dict:
        return with_answer(without_markers(nb), answers[kind]) if answers else \
            without_markers(nb)

    ben, cy = (wrong[0] if index % 2 else None), wrong[len(wrong) // 2]
    work = {
        "ada": (done(solved, "good"), "all correct"),
        "ben": (done(apply_wrong(solved, ben) if ben else solved, "partial"),
                ben.name if ben else "all correct"),
        "cy": (done(apply_wrong(solved, cy), "wrong"), cy.name),
        "dee": (copy.deepcopy(release), "untouched"),
    }
    if index == 0:
        work["eve"] = (done(_cheat(solved), "good"), "patches numpy.allclose")
    elif index == 1:
        work["eve"] = (None, "does not submit")
    else:
        work["eve"] = (done(solved, "partial"), "late" if index == 2 else "all correct")
    return work

EXCHANGE_CONFIG = """
# --- Exchange (added by `course demo`): nbgrader's exchange in a local folder ---------------
c.Exchange.root = {root!r}
# On one machine every student is the instructor's OS user: nbgrader collect would warn that
# each submission "claims to be submitted by <student> but is owned by" that user.
c.ExchangeCollect.check_owner = False
"""

# The student's lab: nbgrader's Assignment List and Validate, none of the instructor's tools.
STUDENT_SERVER_CONFIG = {
    "ServerApp": {
        "jpserver_extensions": {
            "nbgrader.server_extensions.formgrader": False,
            "nbgrader.server_extensions.course_list": False,
            "nbgrader.server_extensions.assignment_list": True,
            "nbgrader.server_extensions.validate_assignment": True,
        }
    }
}

STUDENT_LAB_DISABLED = [
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyterlab/apputils-extension:announcements",  # offline: no "Jupyter news?" prompt
]


# The student's JupyterLab settings ({plugin id: settings}, as in the Settings Editor's JSON):
# feedback opens in the HTML viewer, untrusted, and needs nothing else (no script: its math
# is MathML, its plots are images), so the viewer's "Trust HTML" button only asks a question
# whose "yes" would let any HTML file's scripts act in the student's session.
STUDENT_LAB_SETTINGS = {
    "@jupyterlab/htmlviewer-extension:plugin": {"toolbar": [{"name": "trust", "disabled": True}]},
}

# The instructor's lab (`make lab`, `make lab-edit`): the user's own Jupyter configuration plus
# this one (JUPYTER_CONFIG_PATH), which switches the news prompt off as the student's does.
INSTRUCTOR_LAB_DISABLED = ["@jupyterlab/apputils-extension:announcements"]
# `make lab-edit` (JupyterLab on the repository, for editing source/): no formgrader, which
# would show no submissions there and create an empty gradebook.db in the repository.
EDIT_SERVER_CONFIG = {
    "ServerApp": {
        "jpserver_extensions": {
            "nbgrader.server_extensions.formgrader": False,
            "nbgrader.server_extensions.course_list": False,
        }
    }
}
EDIT_LAB_DISABLED = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list"]


def instructor_jupyter_config(cfg: Path | str, *, formgrader: bool = True) -> Path:
    """Write the Jupyter configuration directory ``cfg`` of the instructor's lab (added to the
    user's own with JUPYTER_CONFIG_PATH, so their settings stay): no "Jupyter news" prompt;
    with ``formgrader=False`` (editing in the repository) no formgrader and no course list
    either (Create Assignment and Validate stay). Returns ``cfg``."""
    cfg = Path(cfg)
    (cfg / "labconfig").mkdir(parents=True, exist_ok=True)
    disabled = INSTRUCTOR_LAB_DISABLED + ([] if formgrader else EDIT_LAB_DISABLED)
    (cfg / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": dict.fromkeys(disabled, True)}, indent=2) + "\n",
        encoding="utf-8")
    server = cfg / "jupyter_server_config.json"
    if formgrader:
        server.unlink(missing_ok=True)
    else:
        server.write_text(json.dumps(EDIT_SERVER_CONFIG, indent=2) + "\n", encoding="utf-8")
    return cfg


def use_exchange(course: Path, exchange: Path) -> None:
    """Name ``exchange`` in the course root's nbgrader_config.py (appended)."""
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)  # students (other users on a real machine) write their inbound
    with (course / "nbgrader_config.py").open("a", encoding="utf-8") as fh:
        fh.write(EXCHANGE_CONFIG.format(root=str(exchange)))


SUBMIT_IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]


def student_jupyter_config(home: Path, exchange: Path, student: str) -> Path:
    """Write ``<home>/.jupyter``: a student's JUPYTER_CONFIG_DIR; returns its path.

    nbgrader_config.py names the exchange, the student id (on one machine every student is
    the same OS user), a cache of their own and their home as the folder assignments are
    fetched to (nbgrader's Assignment List also reads ``nbgrader_config.py`` of the folder
    the lab starts in: start it in the home, never in a course root); the server and lab
    settings switch off formgrader, the course list and Create Assignment, so the lab shows
    the student's tools only (Assignment List, Validate); ``lab/user-settings`` holds
    STUDENT_LAB_SETTINGS (the HTML viewer, where feedback opens, without "Trust HTML").
    """
    cfg = home / ".jupyter"
    (cfg / "labconfig").mkdir(parents=True, exist_ok=True)
    (cfg / "nbgrader_config.py").write_text(
        "# A student's nbgrader configuration (written by `course demo`)\n"
        "c = get_config()  # noqa: F821\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        f"c.Exchange.cache = {str(home / '.nbgrader-cache')!r}\n"
        "# where Assignment List fetches to (absolute: the lab may start elsewhere)\n"
        f"c.Exchange.assignment_dir = {str(home)!r}\n"
        f"c.CourseDirectory.student_id = {student!r}\n"
        "# what nbgrader submit leaves out: JupyterLab's autosaved copies and caches (nbgrader's\n"
        "# default, spelled out: the course's tools leave .ipynb_checkpoints out as well)\n"
        f"c.CourseDirectory.ignore = {SUBMIT_IGNORE!r}\n",
        encoding="utf-8",
    )
    (cfg / "jupyter_server_config.json").write_text(
        json.dumps(STUDENT_SERVER_CONFIG, indent=2) + "\n", encoding="utf-8")
    (cfg / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": dict.fromkeys(STUDENT_LAB_DISABLED, True)},
                   indent=2) + "\n", encoding="utf-8")
    for plugin, settings in STUDENT_LAB_SETTINGS.items():  # JupyterLab's user settings
        extension, name = plugin.split(":")
        path = cfg / "lab" / "user-settings" / extension / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return cfg


def _student_config(home: Path, course_id: str, aid: str):
    cfg = Config(PyFileConfigLoader("nbgrader_config.py",
                                    path=str(home / ".jupyter")).load_config())
    cfg.CourseDirectory.course_id = course_id
    cfg.CourseDirectory.assignment_id = aid
    cfg.Exchange.assignment_dir = str(home)
    return cfg


def _exchange_op(kind, home: Path, course_id: str, aid: str, when: dt.datetime | None = None):
    """Run a student's exchange operation (fetch, submit, fetch feedback) as nbgrader does."""
    cfg = _student_config(home, course_id, aid)
    coursedir = CourseDirectory(config=cfg)
    op = kind(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg)
    if when is not None:  # the demo's calendar instead of the clock
        op.set_timestamp = lambda: setattr(op, "timestamp", when.strftime(op.timestamp_format))
    op.start()


def fetch(home: Path, course_id: str, aid: str) -> Path:
    _exchange_op(ExchangeFetchAssignment, home, course_id, aid)
    return home / aid


def submit(home: Path, course_id: str, aid: str, when: dt.datetime | None = None) -> None:
    _exchange_op(ExchangeSubmit, home, course_id, aid, when)


def fetch_feedback(home: Path, course_id: str, aid: str) -> list[Path]:
    _exchange_op(ExchangeFetchFeedback, home, course_id, aid)
    return sorted((home / aid / "feedback").glob("*/*.html"))
