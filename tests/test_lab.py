"""The instructor's lab as the guide names it: `make lab` on a term's course root.

A toy term (tests/fixtures/toy_course with a Markdown cell of math, released into a local
exchange, one student who fetches, submits late and is collected and graded, as `make demo`
does) is opened with `make lab COURSE=<root>`, literally the Makefile's target, on a free port.
Checked against the running server: formgrader lists the student's submission, the assignment
reads "released" (the root's exchange, not nbgrader's default), no gradebook appears outside
the course root, the late submission is late in the gradebook and not flagged, and JupyterLab's
checkpoints are not graded; in headless chromium, the grading page of that submission loads
every resource MathJax asks for (performance log: no 404) with the web font the server ships,
sets ŷ in it (the combining hat on the y, no fallback font) and says how late the submission
is; the lab itself shows no "Jupyter news" prompt.
`make lab` refuses a folder without a term (the repository) and `make lab-edit` starts
JupyterLab without formgrader.

Skipped without `make` (the Makefile is the thing under test); the browser checks are skipped
without chromium and chromedriver (Debian's chromium, chromium-driver) or selenium.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from lab_server import LabServer, environment

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COURSE_CHROMEDRIVER", "/usr/bin/chromedriver")
HAVE_BROWSER = os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)
AID, STUDENT = "toy", "sam"
MATH = r"The prediction is $\hat{y} = wx + b$ and the loss $L(w) = (\hat{y} - y)^2$."
DUE = dt.datetime(2026, 10, 12, 12, 0)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]


# a checkout may hold a gradebook.db of `course release` (without --no-gradebook) already
REPO_HAD_GRADEBOOK = (REPO / "gradebook.db").exists()


def make_argv(*args: str) -> list[str]:
    """``make ARGS`` with this Python's venv as the Makefile's BIN (and its set-up taken as
    done: ``-o``, the venv exists)."""
    return ["make", "--no-print-directory", "-o", ".venv/.installed", f"BIN={BIN}", *args]


def make_env() -> dict[str, str]:
    """The environment of make: no JUPYTER_CONFIG_DIR, the repository on PYTHONPATH."""
    return environment(drop={"JUPYTER_CONFIG_DIR"}, PYTHONPATH=str(REPO))


def make(*args: str, **kwargs) -> subprocess.Popen:
    """``make ARGS`` in the repository (make_argv, make_env)."""
    return subprocess.Popen(make_argv(*args), cwd=REPO, env=make_env(),
                            start_new_session=True, **kwargs)


# -- a term: the toy course, an exchange, a student who submits late, collected and graded --


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> Path:
    from adversarial import toy
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    from course.author.publish import release_to_exchange
    from course.commands import demo_students
    from course.config import load_config
    from course.grading.batch import grade

    base = tmp_path_factory.mktemp("term")
    math = nbformat.v4.new_markdown_cell(MATH)
    math["id"] = "math"
    course = toy.build_course(base / "course", extra_cells=[math])
    exchange = base / "exchange"
    demo_students.use_exchange(course, exchange)
    release_to_exchange(course, [AID])
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=AID) as gb:
        gb.update_or_create_student(STUDENT, first_name="Sam", last_name="Student")
        gb.update_or_create_assignment(AID, duedate=DUE)
    home = base / "students" / STUDENT
    home.mkdir(parents=True)
    demo_students.student_jupyter_config(home, exchange, STUDENT)
    demo_students.fetch(home, AID, AID)
    nbformat.write(toy.solved(course), home / AID / f"{AID}.ipynb")
    checkpoints = home / AID / ".ipynb_checkpoints"  # what JupyterLab leaves beside it
    checkpoints.mkdir()
    shutil.copy(home / AID / f"{AID}.ipynb", checkpoints / f"{AID}-checkpoint.ipynb")
    demo_students.submit(home, AID, AID, when=(DUE + dt.timedelta(hours=5)).replace(
        tzinfo=dt.UTC))
    out = NbGraderAPI(config=load_config(course)).collect(AID)
    assert out["success"], out
    submitted = course / "submitted" / STUDENT / AID
    assert not (submitted / ".ipynb_checkpoints").exists()  # nbgrader submit left it out
    shutil.copytree(checkpoints, submitted / ".ipynb_checkpoints")  # as a zip_collect may
    grade(course, [AID], [STUDENT], jobs=1, progress=False)
    return course


def lab_server(target: str, log: Path, **variables: str) -> LabServer:
    """`make lab COURSE=<root>` (or another lab target, with its make ``variables``) on
    127.0.0.1:<free port>: tests/lab_server.py's options go through LAB_ARGS."""
    return LabServer(make_argv(target, *(f"{k}={v}" for k, v in variables.items())), REPO,
                     log, env=make_env(), timeout=90)


@pytest.fixture(scope="module")
def lab(term, tmp_path_factory):
    server = lab_server("lab", tmp_path_factory.mktemp("lab") / "lab.log", COURSE=str(term))
    yield server
    server.stop()


# -- what formgrader shows ---------------------------------------------------------------


def test_make_lab_formgrader_shows_the_term(lab, term):
    assert lab.status("formgrader") == 200
    assignments = json.loads(lab.get("formgrader/api/assignments"))
    toy_assignment = next(a for a in assignments if a["name"] == AID)
    assert toy_assignment["status"] == "released"  # found in the root's exchange
    assert toy_assignment["num_submissions"] == 1
    submissions = json.loads(lab.get(f"formgrader/api/submissions/{AID}"))
    assert [(s["student"], s["autograded"]) for s in submissions] == [(STUDENT, True)]
    assert submissions[0]["last_name"] == "Student"
    assert submissions[0]["timestamp"].startswith("2026-10-12T17:00")  # 5 h after noon
    # no gradebook made in the repository (one from `course release` may be there already)
    assert (REPO / "gradebook.db").exists() == REPO_HAD_GRADEBOOK


def test_a_late_submission_reads_late_in_formgrader_and_the_gradebook(lab, term):
    """Submitted at 17:00 for a noon deadline: five hours late in the gradebook (the grading
    page's label says so); lateness is no flag, so neither formgrader's flag nor the course's
    flags (grades.csv) mark this honest submission."""
    from nbgrader.api import Gradebook

    from course.nbgrader_ext.flags import read_flags

    (notebook,) = json.loads(lab.get(f"formgrader/api/submitted_notebooks/{AID}/{AID}"))
    assert notebook["flagged"] is False
    with Gradebook(f"sqlite:///{term / 'gradebook.db'}", course_id=AID) as gb:
        assert gb.find_submission(AID, STUDENT).total_seconds_late == 5 * 3600
        assert read_flags(gb)[(STUDENT, AID)] == ""
    row = (term / "grades.csv").read_text(encoding="utf-8").splitlines()[1]
    assert row.startswith(f"{AID},2026-10-12 12:00:00,2026-10-12 17:00:00,{STUDENT},")


def test_checkpoints_are_not_graded(term):
    autograded = term / "autograded" / STUDENT / AID
    assert (autograded / f"{AID}.ipynb").is_file()
    assert not list(autograded.rglob("*checkpoint*"))


def test_make_lab_refuses_a_folder_without_a_term(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()  # noqa\n")
    proc = make("lab", f"COURSE={tmp_path}", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"no term in {tmp_path}" in out and "make demo" in out
    assert not (tmp_path / "gradebook.db").exists()
    if (REPO / "gradebook.db").exists():  # `course release` without --no-gradebook made a term
        pytest.skip("this checkout's root has a gradebook.db (a term): make lab opens it")
    proc = make("lab", "COURSE=.", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "no term in ." in out  # the repository has no term
    assert not (REPO / "gradebook.db").exists()


def test_make_lab_edit_has_no_formgrader(tmp_path):
    server = lab_server("lab-edit", tmp_path / "edit.log")
    try:
        assert server.status("formgrader") == 404
        assert server.status("lab") == 200
        page = server.get("lab")
        assert "@jupyter/nbgrader:formgrader" in _disabled(page)
        assert "@jupyterlab/apputils-extension:announcements" in _disabled(page)
    finally:
        server.stop()
    assert (REPO / "gradebook.db").exists() == REPO_HAD_GRADEBOOK  # none made in the repository


def _disabled(page: str) -> dict:
    """disabledExtensions of a JupyterLab page's page config."""
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                      page, re.S)
    assert found, "no jupyter-config-data in the lab's page"
    return json.loads(found.group(1)).get("disabledExtensions", {})


def test_make_lab_has_no_news_prompt(lab):
    assert "@jupyterlab/apputils-extension:announcements" in _disabled(lab.get("lab"))


# -- formgrader's math in a browser ------------------------------------------------------

# The leaves of a typeset formula: each span's own text, its font and its box.
LEAVES_JS = r"""
var prefix = arguments[0];
var jax = MathJax.Hub.getAllJax().filter(function (j) {
    return j.originalText.indexOf(prefix) === 0; })[0];
if (!jax) { return null; }
var frame = document.getElementById(jax.inputID + '-Frame'), leaves = [];
frame.querySelectorAll('span').forEach(function (s) {
    var own = Array.from(s.childNodes).filter(function (n) { return n.nodeType === 3; })
        .map(function (n) { return n.data; }).join('');
    if (own.trim()) { leaves.push({text: own, font: getComputedStyle(s).fontFamily}); }
});
return leaves;
"""


@pytest.fixture(scope="module")
def grading_page(lab):
    """The formgrader page of the student's notebook in headless chromium, once MathJax has
    typeset it: (the driver, {url: HTTP status} of every request the page made)."""
    if not HAVE_BROWSER:
        pytest.skip(f"no {CHROMIUM} / {CHROMEDRIVER} (Debian's chromium, chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    (notebook,) = json.loads(lab.get(f"formgrader/api/submitted_notebooks/{AID}/{AID}"))
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        # logged in as the instructor is, through a page of the server (its login cookie is
        # for every path; the one a formgrader page sets is for that page's folder only, as
        # nbgrader's handlers strip the base URL's "/", so the page's API calls need this)
        driver.get(lab.url("api/status"))
        driver.get(lab.url(f"formgrader/submissions/{notebook['id']}/"))
        deadline = time.monotonic() + 60
        while not driver.execute_script("return !!(window.MathJax && MathJax.loaded)"):
            assert time.monotonic() < deadline, "MathJax did not finish typesetting in 60 s"
            time.sleep(0.3)
        urls, status = {}, {}
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message["params"]
            if message["method"] == "Network.requestWillBeSent":
                urls[params["requestId"]] = params["request"]["url"]
            elif message["method"] == "Network.responseReceived":
                status[params["response"]["url"]] = params["response"]["status"]
            elif message["method"] == "Network.loadingFailed":
                status.setdefault(urls.get(params["requestId"], "?"), params["errorText"])
        yield driver, status
    finally:
        driver.quit()


@pytest.mark.browser
def test_formgrader_loads_every_mathjax_resource(grading_page):
    _, status = grading_page
    # MathJax's own "MathJax_Blank" @font-face points at about:blank on purpose (it measures
    # with it); everything from the server must load
    served = {url: code for url, code in status.items() if url.startswith("http")}
    failed = {url: code for url, code in served.items() if code not in (200, 304)}
    assert not failed, f"formgrader's page requests that failed: {failed}"
    mathjax = [url for url in served if "/static/jupyter_server_mathjax/" in url]
    assert any("MathJax.js" in url for url in mathjax), sorted(served)
    assert any("/fonts/STIX-Web/fontdata.js" in url for url in mathjax), mathjax
    assert any(url.split("?")[0].endswith(".woff") for url in mathjax), mathjax


@pytest.mark.browser
def test_formgrader_sets_y_hat_in_the_web_font(grading_page):
    driver, _ = grading_page
    assert driver.execute_script("return MathJax.OutputJax['HTML-CSS'].fontInUse") == \
        "STIX-Web"
    leaves = driver.execute_script(LEAVES_JS, r"\hat{y} = wx + b")
    assert leaves, "the formula \\hat{y} = wx + b was not typeset"
    y, hat = leaves[0], leaves[1]
    assert y["text"] == "\N{MATHEMATICAL ITALIC SMALL Y}"
    assert hat["text"].strip("\xa0") == "\N{COMBINING CIRCUMFLEX ACCENT}"  # set on the y
    fonts = {leaf["font"].split(",")[0].strip("'\"") for leaf in leaves}
    assert all(f.startswith("STIXMathJax_") for f in fonts), fonts  # no fallback font
    loaded = driver.execute_script(
        "return Array.from(document.fonts).filter(f => f.status === 'loaded')"
        ".map(f => f.family.replace(/['\"]/g, ''))")
    assert fonts <= set(loaded), (fonts, loaded)


@pytest.mark.browser
def test_formgrader_grading_page_says_late(grading_page):
    driver, _ = grading_page
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    label = WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".panel-heading .course-late"))
    assert [e.text for e in label] == ["late: submitted 5.0 h after the due date"]
