"""A term in a real browser: Debian's chromium, headless, driven by Selenium.

The toy course (tests/fixtures/toy_course, with a heading and a sentence of math, a cell that
warns and a plot of the student's function added) is published into a local nbgrader
exchange, as `make demo` does. A student, in a JupyterLab of their own (the student
configuration of course.commands.demo_students: no instructor tools), fetches it in
*Assignment List*, types the solutions and a written answer, runs the notebook and sees the
plot, validates, submits, and presses *Fetch Feedback* too early. The instructor collects
(`nbgrader collect`), autogrades (`course grade`), opens formgrader as the instructor's guide
says (JupyterLab started in the course root, *Nbgrader -> Formgrader*, the assignment's
submissions: INSTRUCTOR_LAB), sees the submission listed, grades the written answer and
releases the feedback (`nbgrader generate_feedback`, `nbgrader release_feedback`). The
student fetches the feedback and opens it as the student's guide says (*view feedback*, then
the page in the file browser): it shows the score and the plot, no hidden test, no raw TeX,
no path of the grader's machine, and needs no *Trust HTML*. Formgrader loads every MathJax
resource it asks for (chromium's network log and the server's log). Last, the instructor
opens a source notebook in their JupyterLab and saves it unchanged: `course release` then
writes the same bytes as before.

Each step leaves a screenshot in work/screenshots/ (git-ignored; steps.txt has the time of
each); the assertions are on what the page shows. Skipped, with the reason, where chromium,
chromedriver or selenium are missing (`.ci/run` installs them).
"""

from __future__ import annotations

import difflib
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

# Debian's packages chromium and chromium-driver (overridable, e.g. to see the skip)
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COURSE_CHROMEDRIVER", "/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "work" / "screenshots"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
                       reason=f"no {CHROMIUM} / {CHROMEDRIVER} (Debian packages chromium and "
                       "chromium-driver; .ci/run installs them)"),
]

from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

COURSE_ID, AID, STUDENT = "toy", "toy", "sam"
ANSWER = "Adding nothing leaves the total unchanged: 0 is the neutral element of addition."
PLOT_CELL = (  # as the course's notebooks plot: inline, so that grading keeps the figure
    "%matplotlib inline\nimport matplotlib.pyplot as plt\n\n"
    "xs = np.linspace(-2.0, 2.0, 9)\n"
    'plt.plot(xs, double(xs), "o-", label="double(x)")\n'
    'plt.title("Your double")\nplt.legend()\nplt.show()'
)
MATH_CELL = (  # a heading and a sentence with math, as the course's notebooks have them
    "## Doubling: $\\hat{y} = 2x$\n\n"
    "For $x \\in \\mathbb{R}^N$ the double is $\\hat{y}_i = 2 x_i$, so that "
    "$\\frac{\\hat{y}_i}{x_i} = 2$ wherever $x_i \\neq 0$."
)
WARN_CELL = (  # its warning names the file of the cell, a temporary file of ipykernel's
    'import warnings\n\nwarnings.warn("a huge x doubles to inf", stacklevel=1)'
)
HIDDEN = ["np.arange(3.0)", "np.ones(4)", "type(grading.call(total"]
RAW_TEX = re.compile(r"\$|\\[A-Za-z]+")  # a $ of $...$, or a TeX command such as \hat
SCRATCH = ("course-nb-", "/tmp/", "ipykernel_", ".venv", "site-packages")  # the grader's paths
MATHML = "http://www.w3.org/1998/Math/MathML"

# How each lab is started: the commands of the guides, run in the folder they name, plus the
# options a test needs (a port, a token, no browser, offline: tests/lab_server.py's HARNESS)
# and nothing else.
# docs/instructor-guide.md, "Written answers in formgrader": formgrader is *Nbgrader ->
# Formgrader* in the instructor's lab, `make lab COURSE=<course root>` (JupyterLab started in
# the course root), then the assignment's submissions (Manage Assignments, "# Submissions").
# If the guide names another command for it, change this. (tests/test_lab.py checks the
# target itself.)
INSTRUCTOR_LAB = ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed",
                  f"BIN={Path(sys.executable).parent}", "lab", "COURSE={cwd}"]
# `make lab-student`: `jupyter lab` in the student's home, JUPYTER_CONFIG_DIR=<home>/.jupyter
STUDENT_LAB = ["jupyter", "lab"]  # in the student's home


# -- the course, the exchange, two JupyterLabs ---------------------------------------------


def _build_course(tmp: Path) -> dict:
    """The toy course with a plot cell, released, in a local exchange; a student's home."""
    from adversarial import toy
    from nbgrader.api import Gradebook

    from course.author.publish import publish
    from course.commands.demo_students import student_jupyter_config, use_exchange

    course = tmp / "course"
    shutil.copytree(toy.FIXTURE / "source", course / "source")
    shutil.copy(toy.FIXTURE / "nbgrader_config.py", course / "nbgrader_config.py")
    src = course / "source" / AID / f"{AID}.ipynb"
    nb = nbformat.read(src, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {})
              .get("grade_id") == "test_double")
    plot = nbformat.v4.new_code_cell(PLOT_CELL)
    plot["id"] = "plot_double"
    warn = nbformat.v4.new_code_cell(WARN_CELL)
    warn["id"] = "warn_double"
    nb.cells[at + 1:at + 1] = [plot, warn]
    math = nbformat.v4.new_markdown_cell(MATH_CELL)
    math["id"] = "math_double"
    nb.cells.insert(next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {})
                         .get("grade_id") == "double"), math)
    nbformat.write(nb, src)
    with (course / "nbgrader_config.py").open("a") as fh:
        fh.write(f'\nc.StudentLib.order = ["{AID}"]\n')
        fh.write(_feedback_config())
    exchange = tmp / "exchange"
    use_exchange(course, exchange)
    os.environ["PATH"] = toy.venv_env()["PATH"]
    from nbgrader.apps import NbGraderAPI

    from course.config import load_config

    api = NbGraderAPI(config=load_config(course))
    out = api.generate_assignment(AID, force=True)
    assert out["success"], (out.get("log"), out.get("error"))
    shutil.copytree(toy.FIXTURE / "student_lib" / "lib", course / "release" / AID / "lib")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        gb.update_or_create_student(STUDENT, first_name="Sam", last_name="Student")
    publish(course, tmp / "published", [AID], exchange=True)
    home = tmp / "students" / STUDENT
    home.mkdir(parents=True)
    config = student_jupyter_config(home, exchange, STUDENT)
    return {"course": course, "exchange": exchange, "home": home, "config": config, "api": api}


def _feedback_config() -> str:
    """The course's feedback settings (nbgrader_config.py of the repository), as config
    lines: the toy course's own configuration covers grading only."""
    from course.config import load_config

    cfg = load_config(REPO)
    sections = {"GenerateFeedback", "HTMLExporter"}
    for name in cfg.GenerateFeedback.get("preprocessors", []):
        sections.add(name.rsplit(".", 1)[-1])
    lines = ["\n# the course's feedback settings\n"]
    for section in sorted(sections & set(cfg)):
        for key, value in cfg[section].items():
            lines.append(f"c.{section}.{key} = {value!r}\n")
    return "".join(lines)


def _lab(argv: list[str], cwd: Path, config_dir: Path, log: Path, *,
         pythonpath: bool = True) -> LabServer:
    """``argv`` (a ``jupyter lab`` command, or a make target with ``{cwd}`` in its arguments)
    started in ``cwd`` by tests/lab_server.py (its HARNESS options: on 127.0.0.1 with a token,
    no browser, offline), with ``config_dir`` as its Jupyter configuration and runtime folder
    and without this process's COURSE_STATIC_PLOTS and MPLBACKEND. ``pythonpath=False`` drops
    PYTHONPATH (a student's kernel must import the ``lib`` beside the notebook, never the
    repository's)."""
    drop = {"COURSE_STATIC_PLOTS", "JUPYTER_CONFIG_DIR", "MPLBACKEND"}
    if not pythonpath:
        drop.add("PYTHONPATH")
    env = environment(drop, JUPYTER_CONFIG_DIR=str(config_dir),
                      JUPYTER_RUNTIME_DIR=str(config_dir / "runtime"),
                      PATH=os.path.dirname(sys.executable) + os.pathsep
                      + os.environ.get("PATH", ""))
    if argv[0] == "make":
        argv = [argv[0], *(a.format(cwd=cwd) for a in argv[1:])]
    return LabServer(argv, cwd, log, env=env)


# -- the browser -----------------------------------------------------------------------------


class Browser:
    def __init__(self):
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        options.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1000"):
            options.add_argument(flag)
        # the network log: every response's status, for the MathJax check
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True,
                                                             "enablePage": False})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(60)
        self._urls: dict[str, str] = {}
        self.n = 0
        self.steps: list[tuple[str, float]] = []
        self.t0 = time.monotonic()

    def shot(self, name: str) -> Path:
        self.n += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.n:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.steps.append((path.name, time.monotonic() - self.t0))
        return path

    def wait(self, condition, timeout: float = 30, what: str = ""):
        try:
            return WebDriverWait(self.driver, timeout, ignored_exceptions=(
                StaleElementReferenceException,)).until(condition)
        except TimeoutException:
            self.shot(f"timeout-{re.sub(r'[^a-z0-9]+', '-', what.lower())[:40]}")
            raise AssertionError(f"timed out waiting for {what}") from None

    def find_text(self, css: str, text: str, timeout: float = 30):
        """The first visible element matching css whose text contains text."""
        def found(d):
            for el in d.find_elements(By.CSS_SELECTOR, css):
                if el.is_displayed() and text in el.text:
                    return el
            return False
        return self.wait(found, timeout, f"{css} with {text!r}")

    def click_text(self, css: str, text: str, timeout: float = 30):
        """Click the element find_text finds; found again if JupyterLab re-rendered it between
        finding and clicking (a stale element)."""
        def clicked(d):
            self.find_text(css, text, timeout).click()
            return True
        return self.wait(clicked, timeout, f"a click on {css} with {text!r}")

    def network(self) -> list[tuple[str, int | str]]:
        """(url, HTTP status, or the error of a failed load) of each request answered since
        the last call, in every frame of the tab."""
        out = []
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            params = msg.get("params", {})
            if msg["method"] == "Network.requestWillBeSent":
                self._urls[params["requestId"]] = params["request"]["url"]
            elif msg["method"] == "Network.responseReceived":
                out.append((params["response"]["url"], params["response"]["status"]))
            elif msg["method"] == "Network.loadingFailed" and not params.get("canceled"):
                out.append((self._urls.get(params["requestId"], "?"), params["errorText"]))
        return out

    def body(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def assignment_list(self) -> None:
        """Show Assignment List: its tab if the lab restored it, else Nbgrader -> Assignment
        List, as a student would (JupyterLab does not always restore nbgrader's tab on a
        reload)."""
        try:
            self.click_text(".lm-TabBar-tabLabel", "Assignments", 10)
        except AssertionError:
            self.menu("Nbgrader", "Assignment List")
        self.find_text(".lm-TabBar-tab.lm-mod-current", "Assignments")

    def menu(self, top: str, item: str | None = None) -> list[str]:
        """Open the menu ``top`` (and click ``item``); returns the labels of its items."""
        self.click_text(".lm-MenuBar-itemLabel", top)
        labels_css = ".lm-Menu-content .lm-Menu-itemLabel"
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, labels_css), 10, f"menu {top}")
        labels = [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, labels_css)
                  if e.is_displayed()]
        if item is not None:
            self.click_text(labels_css, item)
        return labels

    def quit(self):
        self.driver.quit()


def _type_into_cell(b: Browser, contains: str, text: str) -> None:
    """Click into the code cell whose source contains ``contains``, select the stub line
    (the last line, from its indentation) and type ``text`` over it."""
    cell = b.find_text(".jp-CodeCell .cm-content", contains)
    cell.click()
    actions = webdriver.ActionChains(b.driver)
    actions.key_down(Keys.CONTROL).send_keys(Keys.END).key_up(Keys.CONTROL)
    actions.key_down(Keys.SHIFT).send_keys(Keys.HOME).key_up(Keys.SHIFT)
    actions.send_keys(text).perform()
    b.wait(lambda d: text in cell.text, 10, f"typed {text!r}")


def _notebook_idle(d) -> bool:
    # a running cell shows "[*]:" as its prompt
    return not [p for p in d.find_elements(By.CSS_SELECTOR, ".jp-InputPrompt")
                if "*" in p.text]


# -- the test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("term")
    built = _build_course(tmp)
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    labs = []
    try:
        student = _lab(STUDENT_LAB, built["home"], built["config"], tmp / "student-lab.log",
                       pythonpath=False)
        labs.append(student)
        instructor_cfg = tmp / "instructor-jupyter"  # the instructor's own: empty
        instructor_cfg.mkdir()
        instructor = _lab(INSTRUCTOR_LAB, built["course"], instructor_cfg,
                          tmp / "instructor-lab.log")
        labs.append(instructor)
        browser = Browser()
        try:
            # what the term saw, for the checks after it (the feedback page, formgrader's
            # network log)
            yield {**built, "student": student, "instructor": instructor, "browser": browser,
                   "seen": {}}
        finally:
            browser.quit()
            (SHOTS / "steps.txt").write_text(
                "".join(f"{t:6.1f} s  {name}\n" for name, t in browser.steps))
    finally:
        for lab in labs:
            lab.stop()


def test_a_term_in_the_browser(term):
    b, student, home = term["browser"], term["student"], term["home"]
    d = b.driver

    # 1. The student's lab: Assignment List, and no instructor tools in the Nbgrader menu.
    d.get(student.url("lab"))
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel"), 60, "the lab")
    labels = b.menu("Nbgrader")
    b.shot("student-nbgrader-menu")
    assert "Assignment List" in labels
    assert not [x for x in labels if "Formgrader" in x or "Course List" in x], labels
    b.click_text(".lm-Menu-content .lm-Menu-itemLabel", "Assignment List")
    fetch = b.find_text("#released_assignments_list button, .nbgrader-released button",
                        "Fetch", 30)
    assert "toy" in b.find_text("#released_assignments_list", "toy").text
    assert "Create Assignment" not in b.body()
    b.shot("student-assignment-list-released")

    # 2. Fetch.
    fetch.click()
    b.find_text("#fetched_assignments_list", AID, 30)
    b.wait(lambda d: (home / AID / f"{AID}.ipynb").is_file(), 10, "the fetched notebook")
    b.shot("student-fetched")

    # 3. Open the notebook, type the solutions and the written answer, run it all.
    d.get(student.url(f"lab/tree/{AID}/{AID}.ipynb"))
    b.find_text(".jp-CodeCell .cm-content", "def double", 60)
    _type_into_cell(b, "def double", "return 2.0 * np.asarray(x, dtype=np.float64)")
    _type_into_cell(b, "def total", "return float(np.sum(x))")
    answer = b.find_text(".jp-MarkdownCell .jp-RenderedMarkdown", "YOUR ANSWER HERE")
    webdriver.ActionChains(d).double_click(answer).perform()
    editor = b.find_text(".jp-MarkdownCell .cm-content", "YOUR ANSWER HERE")
    editor.click()
    webdriver.ActionChains(d).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL) \
        .send_keys(ANSWER).perform()
    b.shot("student-typed")
    b.menu("Run", "Run All Cells")
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img"), 60,
           "the plot")
    b.wait(_notebook_idle, 60, "all cells run")
    img = d.find_element(By.CSS_SELECTOR, ".jp-OutputArea-output img")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    assert img.is_displayed() and img.size["width"] > 200
    errors = d.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type="
                             "'application/vnd.jupyter.stderr']")
    assert not [e for e in errors if "Error" in e.text]
    b.shot("student-ran-plot")
    webdriver.ActionChains(d).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL) \
        .perform()
    b.wait(lambda d: ANSWER in (home / AID / f"{AID}.ipynb").read_text(), 20, "saved")

    # 4. Validate: success.
    b.click_text(".jp-Toolbar button, .jp-Toolbar .jp-ToolbarButtonComponent", "Validate")
    dialog = b.find_text(".jp-Dialog-content", "Success", 120)
    assert "passes all the tests" in dialog.text or "Success" in dialog.text
    b.shot("student-validated")
    b.click_text(".jp-Dialog-button", "Ok")
    webdriver.ActionChains(d).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL) \
        .perform()

    # 5. Submit, in Assignment List (its tab is still open).
    b.assignment_list()
    b.click_text("#fetched_assignments_list button", "Submit", 30)
    submitted = b.find_text("#submitted_assignments_list", AID, 60)
    assert re.search(r"\d{4}-\d{2}-\d{2}", submitted.text), submitted.text  # its timestamp
    b.shot("student-submitted")

    # 5b. Fetch Feedback before any grading: nothing to fetch, and the list says nothing
    # either (the student's guide warns of it).
    b.click_text("#submitted_assignments_list button", "Fetch Feedback", 30)
    b.wait(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR,
                                                 "#submitted_assignments_list button")
                      if e.text == "Fetch Feedback" and e.is_enabled()], 30,
           "Fetch Feedback done")
    early = d.find_element(By.CSS_SELECTOR, "#submitted_assignments_list").text
    assert "view feedback" not in early and "feedback available" not in early, early
    assert not (home / AID / "feedback").exists()
    b.shot("student-fetch-feedback-too-early")

    # 6. The instructor collects and autogrades (the commands of the instructor's guide).
    from course.grading import batch as grade

    course, api = term["course"], term["api"]
    out = api.collect(AID)
    assert out["success"], (out.get("log"), out.get("error"))
    assert (course / "submitted" / STUDENT / AID / f"{AID}.ipynb").is_file()
    rows = grade.grade(course, [AID], [STUDENT], jobs=1, progress=False)
    assert rows[0]["score"] == 4.0, rows  # both autograded tests pass

    # 7. ... opens formgrader as the instructor's guide says (INSTRUCTOR_LAB: JupyterLab in
    # the course root, then Nbgrader -> Formgrader -> Manage Submissions): the page lists the
    # course's submission ...
    inst, seen = term["instructor"], term["seen"]
    student_tab = d.current_window_handle
    d.switch_to.new_window("tab")  # the instructor's browser tab
    d.get(inst.url("lab"))  # logs in (a cookie for formgrader's API calls)
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel"), 60, "the lab")
    b.network()  # the lab's own requests: not formgrader's
    labels = b.menu("Nbgrader")
    assert "Formgrader" in labels, labels  # the instructor's lab has it
    b.shot("instructor-nbgrader-menu")
    b.click_text(".lm-Menu-content .lm-Menu-itemLabel", "Formgrader")
    frame = b.wait(lambda d: [f for f in d.find_elements(By.CSS_SELECTOR, "iframe")
                              if f.is_displayed() and "formgrader" in (f.get_attribute("src")
                                                                       or "")], 30,
                   "formgrader's panel")[0]
    d.switch_to.frame(frame)
    # Manage Assignments, the number under "# Submissions": the assignment's submissions
    b.find_text("body", "Manage Assignments", 30)
    b.wait(lambda d: [a for a in d.find_elements(
        By.CSS_SELECTOR, f'a[href*="manage_submissions/{AID}"]') if a.is_displayed()], 30,
        "the link of the submissions")[0].click()

    def students_listed(d):
        return [r.text for r in d.find_elements(By.CSS_SELECTOR, "tbody tr")
                if r.is_displayed() and "Sam" in r.text]
    try:
        listed = WebDriverWait(d, 60, ignored_exceptions=(
            StaleElementReferenceException,)).until(students_listed)
    except TimeoutException:
        listed = []
    page = b.body()
    d.switch_to.default_content()
    b.shot("instructor-formgrader-manage-submissions")
    assert listed and "Student" in listed[0], (  # the gradebook's name, not "None, None"
        "formgrader, opened as docs/instructor-guide.md says, does not list the course's "
        f"submission of {STUDENT}; it shows: {page[:800]}")
    # ... and grades the written answer there (formgrader's own pages, in the tab)
    d.get(inst.url(f"formgrader/gradebook/{AID}/{AID}"))  # Manual Grading
    b.click_text("a", "Submission #1", 30)
    b.find_text("body", ANSWER[:30], 60)
    # formgrader's script fills in the autograded scores once it is ready
    b.wait(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "input.score")
                      if "2" in (e.get_attribute("value"), e.get_attribute("placeholder"))],
           30, "formgrader ready")
    # the question's math is typeset offline (MathJax from the server, not a CDN); wait for
    # it before clicking: typesetting moves the page
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".MathJax_CHTML, .MathJax, .MathJax_SVG"),
           30, "formgrader typesets the question's math")
    b.wait(lambda d: d.execute_script(
        "return !window.MathJax || !MathJax.Hub || MathJax.Hub.queue.pending === 0"), 30,
        "MathJax finished")
    for _attempt in range(3):
        full = [e for e in d.find_elements(By.CSS_SELECTOR, "button")
                if e.is_displayed() and e.text == "Full credit"]
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", full[-1])
        full[-1].click()  # the written answer's, the last graded cell
        try:
            WebDriverWait(d, 10).until(lambda d: _manual_score(course) == 1.0)
            break
        except TimeoutException:
            continue
    b.wait(lambda d: _manual_score(course) == 1.0, 5, "the manual grade saved")
    b.wait(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "input.score")
                      if e.is_displayed() and e.get_attribute("value") in ("1", "1.0")], 10,
           "the written answer's score shown")
    b.shot("instructor-formgrader-manual-grade")
    seen["formgrader_network"] = b.network()

    # 8. ... and releases the feedback.
    out = api.generate_feedback(AID)
    assert out["success"], (out.get("log"), out.get("error"))
    out = api.release_feedback(AID)
    assert out["success"], (out.get("log"), out.get("error"))
    d.close()
    d.switch_to.window(student_tab)

    # 9. The student fetches the feedback and opens it as the student's guide says: Fetch
    # Feedback, view feedback (the file browser shows feedback/<time stamp>/), then a
    # double-click on the page there. It opens in JupyterLab's HTML viewer.
    d.get(student.url("lab"))
    b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel"), 60, "the lab")
    b.assignment_list()
    b.click_text("#submitted_assignments_list button", "Fetch Feedback", 30)
    view = b.find_text("#submitted_assignments_list a", "view feedback", 60)
    b.shot("student-feedback-fetched")
    html = sorted((home / AID / "feedback").glob("*/*"))
    assert [p.name for p in html] == [f"{AID}.html"], html  # one file, named as the notebook
    view.click()
    b.find_text(".jp-BreadCrumbs", "feedback", 30)  # the file browser is in feedback/...
    item = b.find_text(".jp-DirListing-item", f"{AID}.html", 30)
    listing = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".jp-DirListing-item")
               if e.is_displayed()]
    assert len(listing) == 1, listing
    b.shot("student-view-feedback-file-browser")
    webdriver.ActionChains(d).double_click(item).perform()
    frame = b.wait(lambda d: [f for f in d.find_elements(By.CSS_SELECTOR,
                                                          ".jp-HTMLViewer iframe")
                              if f.is_displayed()], 30, "the HTML viewer")[0]
    toolbar = " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR,
                                                        ".jp-HTMLViewer .jp-Toolbar"))
    d.switch_to.frame(frame)
    b.find_text("body", "Score", 30)
    text = b.body()
    source = d.page_source
    assert re.search(r"5(\.0)?\s*/\s*5", text), text[:500]
    for line in HIDDEN:
        assert line not in text and line not in source, line
    seen["feedback"] = _feedback_page(d)
    seen["feedback"]["toolbar"] = toolbar
    plots = [i for i in d.find_elements(By.CSS_SELECTOR, ".output_png img, img")
             if i.size["width"] > 200]
    d.switch_to.default_content()
    b.shot("student-feedback")
    assert plots, ("the feedback has no plot; the graded plot cell's outputs: "
                   f"{_graded_outputs(term['course'], 'plot_double')}")
    d.switch_to.frame(frame)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", plots[0])
    assert plots[0].is_displayed()
    d.switch_to.default_content()
    b.shot("student-feedback-plot")


_FEEDBACK_JS = """
const ns = arguments[0], heading = 'h1, h2, h3, h4, h5, h6';
const isMathML = m => m.namespaceURI === ns;
const heads = [...document.querySelectorAll(heading)];
const prose = [...document.querySelectorAll('.jp-RenderedMarkdown, .text_cell_render')];
const foreign = [...document.querySelectorAll('*')].filter(
    e => e.localName.includes(':') || (e.localName === 'math' && !isMathML(e)));
return {
  headings: heads.map(h => [h.innerText, h.querySelectorAll('math').length,
                            [...h.querySelectorAll('math')].every(isMathML)]),
  prose: prose.map(p => p.innerText),
  foreign: foreign.map(e => e.localName + (e.closest(heading) ? ' in a heading' : '')),
  text: document.body.textContent,
  scripts: [...document.scripts].filter(s => !s.type || /script|module/.test(s.type))
      .map(s => s.src || s.textContent.slice(0, 80)),
};
"""


def _feedback_page(d) -> dict:
    """What the feedback page (the current frame) shows: each heading's text, number of
    math elements and whether all of them are MathML; the rendered Markdown's text; elements
    a browser does not know (``ns0:math``); the page's whole text; its scripts."""
    return d.execute_script(_FEEDBACK_JS, MATHML)


def _manual_score(course: Path) -> float | None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        grade = gb.find_grade("why_empty", AID, AID, STUDENT)
        return grade.manual_score


def _graded_outputs(course: Path, cell_id: str) -> list:
    nb = nbformat.read(course / "autograded" / STUDENT / AID / f"{AID}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return [(o.output_type, sorted(o.get("data", {})), o.get("text", "")[:300])
            for o in cell.get("outputs", [])]


def test_the_feedback_page_has_no_raw_tex_and_no_scratch_path(term):
    """The feedback page the student opened above: math in headings and prose is MathML (a
    browser shows ``<ns0:math>`` as its bare letters), no ``$`` or TeX command is left, and
    no path of the grading machine (its scratch folder, ipykernel's cell files, a virtual
    environment) shows, in a heading, the prose or any output."""
    page = term["seen"].get("feedback")
    assert page, "the term above did not reach the feedback page"
    problems = []
    heads = [h for h in page["headings"] if "Doubling" in h[0]]
    assert heads, f"the heading with math is not on the page: {page['headings']}"
    text, n_math, all_mathml = heads[0]
    if not (n_math and all_mathml):
        problems.append(f"heading {text!r}: its math is not MathML ({n_math} math elements)")
    assert [p for p in page["prose"] if "empty array" in p], page["prose"]  # the question
    for where, texts in (("heading", [h[0] for h in page["headings"]]),
                         ("prose", page["prose"])):
        problems += [f"{where} {t.strip()[:120]!r}: raw TeX {RAW_TEX.search(t)[0]!r}"
                     for t in texts if RAW_TEX.search(t)]
    problems += [f"{e}: an element no browser knows (not MathML)"
                 for e in sorted(set(page["foreign"]))]
    shown = page["text"].replace("<python>/site-packages/", "<python>/")  # the neutral name
    for path in SCRATCH:
        at = shown.find(path)
        if at >= 0:
            problems.append(f"a path of the grader: {shown[max(0, at - 60):at + 60]!r}")
    assert not problems, "\n".join(problems)


def test_the_feedback_needs_no_trust(term):
    """The student's lab (STUDENT_LAB_SETTINGS of course.commands.demo_students) opens the
    feedback in the HTML viewer without a "Trust HTML" button, and the page needs none: it
    has no script (its math is MathML, its plots are images; the term above saw them)."""
    page = term["seen"].get("feedback")
    assert page, "the term above did not reach the feedback page"
    assert "Trust HTML" not in page["toolbar"], page["toolbar"]
    assert not page["scripts"], page["scripts"]


def test_formgrader_loads_every_mathjax_resource(term):
    """Formgrader's pages above (the list of submissions, the grading page that typesets the
    question): every MathJax file the browser asked for arrived (chromium's network log),
    and the server logged no 404 for one."""
    net = term["seen"].get("formgrader_network")
    assert net is not None, "the term above did not reach formgrader's grading page"
    mathjax = [(url, status) for url, status in net if "mathjax" in url.lower()]
    assert mathjax, f"formgrader loaded no MathJax file: {sorted({u for u, _ in net})[:20]}"
    failed = [f"{status} {url}" for url, status in mathjax if status not in (200, 304)]
    logged = [line for line in term["instructor"].log_path.read_text().splitlines()
              if " 404 " in line and "mathjax" in line.lower()]
    assert not failed and not logged, "\n".join(failed + logged)


def test_grading_on_submission_in_the_browser(term):
    """After the term above: the instructor starts `course serve`; the student submits again
    in Assignment List and, seconds later, Fetch Feedback shows this submission's page."""
    from course.service.exchange import parse_name
    from course.service.queue import read_queue
    from course.service.status import wait_running

    b, student, course = term["browser"], term["student"], term["course"]
    d = b.driver
    log = open(course.parent / "serve.out", "ab")  # closed below
    service = subprocess.Popen(
        [sys.executable, "-m", "course.cli", "--root", str(course), "serve", "--poll", "0.5",
         "--jobs", "1", "--skip-existing"], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
             f"{os.environ.get('PATH', '')}"})
    try:
        wait_running(course, service)
        d.get(student.url("lab"))
        b.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel"), 60,
               "the lab")
        b.assignment_list()
        b.click_text("#fetched_assignments_list button", "Submit", 30)
        submitted_at = time.time()
        b.wait(lambda d: len(re.findall(r"\d{4}-\d{2}-\d{2}", d.find_element(
            By.CSS_SELECTOR, "#submitted_assignments_list").text)) >= 2, 60,
            "the second submission listed")
        b.shot("student-submitted-again")
        graded = b.wait(lambda d: [e for e in read_queue(course / "gradebook.db")
                                   if e.state == "done" and e.arrived >= submitted_at - 5],
                        120, "course serve graded the new submission")
        assert graded[0].score == 4.0 and graded[0].counted, graded
        waited = time.time() - submitted_at
        buttons = [e for e in d.find_elements(By.CSS_SELECTOR,
                                              "#submitted_assignments_list button")
                   if "Fetch Feedback" in e.text]
        buttons[0].click()
        b.wait(lambda d: len([a for a in d.find_elements(
            By.CSS_SELECTOR, "#submitted_assignments_list a") if "view feedback" in a.text])
            >= 2, 60, "feedback of both submissions")
        b.shot("student-feedback-on-submission")
        stamp = parse_name(graded[0].key)[2]
        assert (term["home"] / AID / "feedback" / stamp / f"{AID}.html").is_file()
        assert waited < 60, f"feedback took {waited:.0f} s"
    finally:
        service.terminate()
        service.wait(timeout=60)
        log.close()


def test_release_unchanged_after_a_save_in_the_instructors_lab(term):
    """The instructor's guide: edit source/ in JupyterLab, then `course release`. Opening a
    source notebook there and saving it without a change (Ctrl+S) leaves release/ as it was,
    byte for byte."""
    from adversarial import toy

    b, inst, course = term["browser"], term["instructor"], term["course"]
    d = b.driver
    # `course release` makes the student edition from the course's lib (the toy's, copied
    # in only now: the term above graded without one)
    shutil.copytree(toy.FIXTURE / "student_lib" / "lib", course / "lib", dirs_exist_ok=True)

    def release() -> dict[str, bytes]:
        out = subprocess.run(
            [sys.executable, "-m", "course.cli", "--root", str(course), "release",
             "--no-gradebook", AID], capture_output=True, text=True, timeout=300,
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                 f"{os.environ.get('PATH', '')}"})
        assert out.returncode == 0, out.stdout + out.stderr
        return {p.relative_to(course / "release").as_posix(): p.read_bytes()
                for p in sorted((course / "release").rglob("*")) if p.is_file()}

    before = release()
    src = course / "source" / AID / f"{AID}.ipynb"
    unsaved, mtime = src.read_bytes(), src.stat().st_mtime_ns
    d.switch_to.new_window("tab")
    d.get(inst.url(f"lab/tree/source/{AID}/{AID}.ipynb"))
    cell = b.find_text(".jp-CodeCell .cm-content", "def double", 60)
    # the kernel has answered: JupyterLab writes its language_info into the notebook
    b.wait(lambda d: [e for e in d.find_elements(
        By.CSS_SELECTOR, '.jp-Notebook-ExecutionIndicator[data-status="idle"]')
        if e.is_displayed()], 60, "the kernel")
    cell.click()
    # JupyterLab merges the kernel's language_info into the notebook some time after the kernel
    # is idle: save again (Ctrl+S, nothing edited) until a save has rewritten the file
    for _ in range(10):
        webdriver.ActionChains(d).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL) \
            .perform()
        b.wait(lambda d, m=mtime: src.stat().st_mtime_ns != m, 30, "JupyterLab saved it")
        mtime = src.stat().st_mtime_ns
        if src.read_bytes() != unsaved:
            break
        time.sleep(2)
    b.shot("instructor-saved-source-unchanged")
    assert src.read_bytes() != unsaved, "JupyterLab's saves wrote the same bytes: no check"
    after = release()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    diff = [line for name in changed for line in difflib.unified_diff(
        before.get(name, b"").decode(errors="replace").splitlines(),
        after.get(name, b"").decode(errors="replace").splitlines(),
        f"release/{name} before", "after the save", n=0, lineterm="")]
    assert not changed, ("course release after a save without change in JupyterLab changed "
                         f"release/{', release/'.join(changed)}:\n" + "\n".join(diff[:40]))
