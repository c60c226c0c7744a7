"""What students get, and nothing else (``course publish DEST``).

The instructor's repository (this one) holds every solution, every hidden test and the full
``lib``: it is private. Students get a *publication* instead::

    DEST/README.md              how to work and hand in (the student README)
    DEST/requirements.txt       the packages a student installs
    DEST/release/<id>/          <id>.ipynb, README.md and lib/ (the student edition of <id>)

copied from the course root's ``release/<id>/`` (made by ``course release``). Options:

- ``git``: DEST is (or becomes) a git repository and the publication is committed to it,
  one commit per publication, for students to ``git clone`` / ``git pull``;
- ``zip``: also write ``DEST.zip``;
- ``exchange``: also run nbgrader's ``release_assignment`` for each id, into the exchange
  configured in ``nbgrader_config.py`` (``c.Exchange.root``), so that students fetch it in
  JupyterLab's *Assignment List* or with ``nbgrader fetch_assignment``.

The published tree is checked with the release's own leak check
(:mod:`course.author.leaks`): no file of it holds a line of a solution, hidden test or
withheld ``lib`` reference of an assignment it holds. The student edition released with a
later assignment reveals the references of the earlier ones, so publishing ``02`` beside
``01`` reveals ``01``'s answers: ``course publish`` refuses that unless ``01`` is named with
``--closed`` (its deadline has passed).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import zipfile
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

from course.author.leaks import find_leaks, lib_secrets, notebook_secrets, released_lines
from course.author.studentlib import LIB, student_lib_config
from course.config import assignments, check_ids, load_config, source_notebook
from course.errors import ReleaseError

log = logging.getLogger("course.publish")

HEADER = "# Course materials for students"

STUDENT_README = """\
{header}: {course}

This folder (or repository) is what students of the course get: one folder per released
assignment, `release/<id>/`, with the notebook `<id>.ipynb`, a README and `lib/`, your
edition of the course library. It holds no solutions and no hidden tests. (The instructor's
course repository is private; you never need it.)

Assignments here: {ids}.

## Set up (once)

Python 3.11 or later:

    python3 -m venv .venv
    .venv/bin/pip install -r requirements.txt

## Work

    .venv/bin/jupyter lab

Open `release/<id>/<id>.ipynb` from its own folder (so that `import lib` finds the `lib/`
beside it), implement the exercises, answer the written questions, run the test cells, then
*Kernel → Restart Kernel and Run All Cells* and press **Validate**.

## Hand in

If your course uses nbgrader's exchange (on JupyterHub, or a shared folder your instructor
names), use *Nbgrader → Assignment List* in JupyterLab: **Fetch** the assignment, work on the
copy it puts in your home, **Submit** it, and later **Fetch Feedback**. Otherwise hand in
`<id>.ipynb` as your instructor says. See the student's guide of the course for details.

## Feedback

Once your instructor has released it, **Fetch Feedback** in *Assignment List* adds
*(view feedback)* after your submission's time stamp (before that it changes nothing on the
screen: try again later). *view feedback* moves the file browser to
`<id>/feedback/<time stamp>/`; double-click `<id>.html` there. The page needs no
*Trust HTML* (it has no scripts): leave it untrusted.
"""


STUDENT_REQUIREMENTS = Path("requirements") / "student.txt"  # made by `make lock`
PACKAGE_REPOSITORY = Path(__file__).resolve().parents[2]  # where an editable install runs from


def requirements(root: Path) -> str:
    """What a student installs: ``requirements/student.txt`` (the students' packages at the
    versions of the course's lock, no instructor tool) of the course root, or else of the
    repository this package runs from (a course root of its own, as ``make demo`` makes)."""
    for base in (root, PACKAGE_REPOSITORY):
        path = base / STUDENT_REQUIREMENTS
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise PublishError(f"{root / STUDENT_REQUIREMENTS} not found: run `make lock` in the "
                       "course's repository")


class PublishError(ReleaseError):
    """The publication cannot be made (missing release, leak, foreign DEST, ...)."""


def _check_dest(dest: Path) -> None:
    """DEST must be new, empty, or an earlier publication (never someone's folder)."""
    if not dest.exists():
        return
    if not dest.is_dir():
        raise PublishError(f"{dest} exists and is not a folder")
    content = [p for p in dest.iterdir() if p.name != ".git"]
    if not content:
        return
    readme = dest / "README.md"
    if not (readme.is_file() and readme.read_text(encoding="utf-8").startswith(HEADER)):
        raise PublishError(
            f"{dest} is not empty and is not an earlier `course publish` (its README.md does "
            "not start with the publication's header): choose a new folder"
        )


def own_secrets(root: Path, aid: str) -> dict[str, str]:
    """{line: where} of the secrets of ``aid`` itself: its solutions and hidden tests (not
    also public in its notebook) and the lib regions tagged ``aid`` (not lib utility code)."""
    sec, pub = notebook_secrets(source_notebook(root, aid))
    lib_sec, _, lib_utility = lib_secrets(root / LIB, {aid})
    out = {line: f"source/{aid} (solution or hidden test)" for line in sec - pub}
    for line in lib_sec - pub - lib_utility:
        out.setdefault(line, f"lib (reference region {aid})")
    return out


def tree_leaks(root: Path, dest: Path, ids: list[str], closed: list[str]) -> list[str]:
    """Leaks in the published tree ``dest``: one message per (secret line, file).

    Each ``release/<id>/`` is checked as ``course release`` checks it (the secrets of ``id``
    and of every later assignment). Then every file of the tree is checked against the own
    secrets of each held id that is not ``closed``: a line of ``release/<b>/`` is allowed
    only if it is public in ``b``'s notebook, lib code outside any region, or a lib region
    that ``b`` reveals *and* that belongs to a closed assignment. So a later assignment's
    edition of lib cannot reveal the answers of an assignment that is still open.
    """
    cfg = load_config(root)
    order = student_lib_config(cfg).order
    leaks = []
    for aid in ids:
        leaks += find_leaks(root, aid, release_root=dest / "release", cfg=cfg)
    allowed: dict[str, set[str]] = {}
    for b in ids:
        revealed_closed = (set(order) - student_lib_config(cfg).withheld(b)) & set(closed)
        _, lib_ok, lib_utility = lib_secrets(root / LIB, set(order) - revealed_closed)
        allowed[b] = notebook_secrets(source_notebook(root, b))[1] | lib_ok | lib_utility
    seen = set()
    lines = [(line, rel) for line, rel in released_lines(dest) if not rel.startswith(".git/")]
    for aid in ids:
        if aid in closed:
            continue
        secrets = own_secrets(root, aid)
        for line, rel in lines:
            parts = rel.split("/")
            held = parts[1] if parts[0] == "release" and len(parts) > 2 else None
            if held == aid or line not in secrets or line in allowed.get(held, set()):
                continue  # release/<aid>/ itself is checked above, against its own text
            if (line, rel) not in seen:
                seen.add((line, rel))
                leaks.append(f"{rel}: {line!r} from {secrets[line]} (open: {aid})")
    return leaks


def _git_commit(dest: Path, ids: list[str]) -> str:
    git = ["git", "-C", str(dest), "-c", "user.name=course publish",
           "-c", "user.email=course-publish@localhost", "-c", "commit.gpgsign=false"]
    if not (dest / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    subprocess.run([*git, "add", "-A", "."], check=True)
    status = subprocess.run([*git, "status", "--porcelain"], check=True,
                            capture_output=True, text=True).stdout
    if status.strip():
        subprocess.run([*git, "commit", "-q", "-m", f"Publish {', '.join(ids)}"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def release_to_exchange(root: Path, ids: list[str]) -> Path:
    """nbgrader release_assignment ID for each id, into the configured exchange; its root."""
    cfg = Config(load_config(root))
    cfg.ExchangeReleaseAssignment.force = True  # publishing again replaces what was there
    api = NbGraderAPI(config=cfg)
    for aid in ids:
        out = api.release_assignment(aid)
        if not out["success"]:
            raise PublishError(f"nbgrader release_assignment {aid} failed:\n{out['log']}"
                               f"{out.get('error') or ''}")
    exchange = cfg.Exchange.get("root", "/srv/nbgrader/exchange")
    return Path(exchange)


def publish(
    root: Path,
    dest: Path,
    ids: list[str] | None = None,
    *,
    closed: list[str] | None = None,
    git: bool = False,
    zip_: bool = False,
    exchange: bool = False,
) -> dict:
    """Write the publication of ``ids`` (default: all) to ``dest``; returns what was done."""
    root, dest = Path(root).resolve(), Path(dest).resolve()
    known = assignments(root)
    ids = check_ids(ids, known)
    closed = check_ids(closed, known) if closed else []
    if dest == root or root.is_relative_to(dest):
        raise PublishError(f"{dest} holds the course root: publish to a folder of its own")
    missing = [a for a in ids if not (root / "release" / a / f"{a}.ipynb").is_file()]
    if missing:
        raise PublishError(f"no release of {', '.join(missing)} in {root / 'release'} "
                           "(run `course release` first)")
    no_lib = [a for a in ids if not (root / "release" / a / "lib").is_dir()]
    if no_lib:
        raise PublishError(f"release/{no_lib[0]}/ has no lib/ (its student edition): run "
                           "`course release` in a course root that has lib/")
    _check_dest(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for p in dest.iterdir():  # a publication replaces the previous one (git history stays)
        if p.name != ".git":
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")
    for aid in ids:
        shutil.copytree(root / "release" / aid, dest / "release" / aid, ignore=ignore)
    course_id = load_config(root).CourseDirectory.get("course_id", "")
    readme = STUDENT_README.format(header=HEADER, course=course_id or root.name,
                                   ids=", ".join(f"`{a}`" for a in ids))
    (dest / "README.md").write_text(readme, encoding="utf-8")
    (dest / "requirements.txt").write_text(requirements(root), encoding="utf-8")
    leaks = tree_leaks(root, dest, ids, closed)
    if leaks:
        shutil.rmtree(dest / "release")  # never leave a leaking tree behind
        shown = "\n  ".join(leaks[:10])
        raise PublishError(
            f"the publication leaks {len(leaks)} secret line(s) (nothing was published):\n"
            f"  {shown}\nA later assignment's lib reveals the answers of earlier ones: "
            "publish those with --closed ID once their deadline has passed."
        )
    done: dict = {"dest": dest, "ids": ids}
    if git:
        done["commit"] = _git_commit(dest, ids)
    if zip_:
        done["zip"] = Path(shutil.make_archive(str(dest), "zip", root_dir=dest.parent,
                                               base_dir=dest.name))
        # the archive must not carry the git history of DEST
        if (dest / ".git").exists():
            tmp = done["zip"].with_suffix(".tmp")
            with zipfile.ZipFile(done["zip"]) as src, zipfile.ZipFile(tmp, "w") as out:
                for item in src.infolist():
                    if f"{dest.name}/.git/" not in item.filename + "/":
                        out.writestr(item, src.read(item))
            tmp.replace(done["zip"])
    if exchange:
        done["exchange"] = release_to_exchange(root, ids)
    return done
