"""Interactive explorers: move a parameter of a slide (λ, B, degree, α, τ) with a slider.

``explore(plot, lr=(0.1, [0.01, 0.1, 1.0]))`` calls ``plot(lr=...)`` under a slider in a live
JupyterLab. Where widgets cannot render (nbgrader's autograde and validate, CI, exported
feedback) it draws one static figure at the defaults instead, so every reader sees a plot.

Static mode is chosen when any of these holds:

* ``NBGRADER_EXECUTION`` is set (nbgrader sets it while it executes a notebook);
* ``COURSE_STATIC_PLOTS`` is set to anything but ``""`` or ``"0"`` (the tests set it);
* ``ipywidgets`` cannot be imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt


def widgets_enabled() -> bool:
    """True when sliders can be shown (see the module docstring)."""
    if os.environ.get("NBGRADER_EXECUTION"):
        return False
    if os.environ.get("COURSE_STATIC_PLOTS", "") not in ("", "0"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _check_controls(controls: dict) -> dict:
    """name -> (default, options), validated; ValueError names the bad control."""
    checked = {}
    for name, spec in controls.items():
        if not (isinstance(spec, tuple) and len(spec) == 2):
            raise ValueError(
                f"control {name!r} must be a pair (default, options), got {spec!r}"
            )
        default, options = spec
        if not isinstance(options, Sequence) or isinstance(options, str) or not options:
            raise ValueError(f"options of control {name!r} must be a non-empty list")
        options = list(options)
        if default not in options:
            raise ValueError(
                f"default {default!r} of control {name!r} is not one of its options {options}"
            )
        checked[name] = (default, options)
    return checked


def explore(plot: Callable[..., object], /, **controls) -> None:
    """Call ``plot(**values)`` under one slider per control, or once at the defaults.

    plot: draws one figure with matplotlib (it need not call ``plt.show()``).
    controls: ``name=(default, options)``, e.g. ``lr=(0.1, [0.01, 0.03, 0.1, 0.3])``; a
    slider steps through ``options`` (numbers or strings) and starts at ``default``.
    """
    __tracebackhide__ = True  # IPython shows an error of plot() from the student's cell down
    controls = _check_controls(controls)
    defaults = {name: default for name, (default, _) in controls.items()}
    if not widgets_enabled():
        plot(**defaults)
        plt.show()
        return

    import ipywidgets as widgets

    def draw(**values):
        __tracebackhide__ = True
        plot(**values)
        plt.show()

    sliders = {
        name: widgets.SelectionSlider(
            options=options,
            value=default,
            description=name,
            continuous_update=False,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="60%"),
        )
        for name, (default, options) in controls.items()
    }
    widgets.interact(draw, **sliders)
