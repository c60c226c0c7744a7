"""lib.explorers: static fallback where widgets cannot render, sliders in a live notebook."""

import matplotlib

matplotlib.use("Agg")

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
