"""lib.explorers: static fallback where widgets cannot render, sliders in a live notebook."""

import matplotlib

matplotlib.use("Agg")

import re
from pathlib import Path

import pytest

from lib import explorers


def test_static_mode_draws_once_at_the_defaults(monkeypatch):
    monkeypatch.setenv("COURSE_STATIC_PLOTS", "1")
    calls = []
    explorers.explore(lambda **kw: calls.append(kw), lr=(0.1, [0.01, 0.1, 1.0]),
                      degree=(3, [1, 3, 9]))
    assert calls == [{"lr": 0.1, "degree": 3}]


def test_nbgrader_execution_means_static(monkeypatch):
    monkeypatch.delenv("COURSE_STATIC_PLOTS", raising=False)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert not explorers.widgets_enabled()


def test_live_mode_builds_one_slider_per_control(monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.delenv("COURSE_STATIC_PLOTS", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    import ipywidgets

    seen = {}

    def fake_interact(fn, **sliders):
        seen.update(sliders)
        fn(**{k: s.value for k, s in sliders.items()})

    monkeypatch.setattr(ipywidgets, "interact", fake_interact)
    calls = []
    explorers.explore(lambda **kw: calls.append(kw), tau=(0.5, [0.0, 0.5, 0.9]))
    assert list(seen) == ["tau"] and list(seen["tau"].options) == [0.0, 0.5, 0.9]
    assert calls == [{"tau": 0.5}]


@pytest.mark.parametrize("spec", [0.1, (0.5, []), (0.2, [0.1, 0.3]), (1, "abc")])
def test_bad_control_is_a_clear_error(spec):
    with pytest.raises(ValueError, match="control 'lr'|of control 'lr'"):
        explorers.explore(lambda **kw: None, lr=spec)


@pytest.mark.slow  # a kernel
def test_an_error_in_the_plot_shows_the_student_s_code_not_the_explorer(monkeypatch):
    """In the student's kernel, a plot function that raises shows a traceback of the cell
    and the plot function: explore's own frames are hidden (``__tracebackhide__``). The
    kernel draws the static figure (as when notebooks run headless), where the error is the
    cell's; with widgets it is shown in the widget's output."""
    monkeypatch.setenv("COURSE_STATIC_PLOTS", "1")  # the kernel inherits it
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    code = ("from lib.explorers import explore\n\n"
            "def plot(lr):\n    raise ValueError(f'no plot at lr={lr}')\n\n"
            "explore(plot, lr=(0.1, [0.01, 0.1]))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    root = Path(__file__).resolve().parents[1]
    with pytest.raises(CellExecutionError):
        NotebookClient(nb, timeout=60, kernel_name="python3",
                       resources={"metadata": {"path": str(root)}}).execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))  # no colours
    assert error.ename == "ValueError" and "no plot at lr=0.1" in error.evalue
    assert "raise ValueError" in shown  # the student's plot function
    assert "explorers.py" not in shown, shown
