"""The report's figures (matplotlib, Agg), as ``data:`` URIs of SVG: offline, crisp when
zoomed, and self-contained (an ``<img>`` each, so the ids inside one SVG never clash with
another's)."""

from __future__ import annotations

import base64
import io
import math

PASSED, PARTIAL, FAILED = "#3a923a", "#e3a21a", "#c8412f"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "course-report", "font.size": 10,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def score_histogram(values: list[float], max_score: float, title: str) -> str:
    """Histogram of the submissions' scores, one bar per point (half points when a score
    has one), with the mean and median marked."""
    plt = _pyplot()
    top = max([max_score, *values, 1.0])
    step = 0.5 if any(abs(v * 2 - round(v * 2)) < 1e-9 and v % 1 for v in values) else 1.0
    step = step if top / step <= 40 else top / 20
    edges = [k * step - step / 2 for k in range(int(math.ceil(top / step)) + 2)]
    fig, ax = plt.subplots(figsize=(6.4, 2.9))
    ax.hist(values, bins=edges, color="#4a78b5", edgecolor="white")
    if values:
        mean = sum(values) / len(values)
        ordered = sorted(values)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        ax.axvline(mean, color="#222", linestyle="--", linewidth=1.2, zorder=3,
                   label=f"mean {mean:.2g}")
        ax.axvline(median, color="#e0218a", linestyle=":", linewidth=2, zorder=3,
                   label=f"median {median:.2g}")
        ax.legend(frameon=False, loc="upper left")
    ax.set_xlim(-step / 2 - 0.1, top + step / 2 + 0.1)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(f"points (of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.set_title(title, loc="left", fontsize=11)
    return _uri(fig)


def pass_rates(tests: list[dict], title: str) -> str:
    """One horizontal bar per test, the worst at the top: passed, partial, failed."""
    plt = _pyplot()
    labels = [t["test"] for t in tests]
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.34 * max(len(tests), 1)))
    y = list(range(len(tests)))[::-1]
    left = [0.0] * len(tests)
    for key, color, name in (("passed", PASSED, "passed"), ("partial", PARTIAL, "partial"),
                             ("failed", FAILED, "failed")):
        widths = [t[key] for t in tests]
        ax.barh(y, widths, left=left, color=color, label=name, height=0.7)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for yi, t in zip(y, tests, strict=True):
        rate = "–" if t["pass_rate"] is None else f"{t['pass_rate']:.0%}"
        ax.text(t["graded"] + 0.05, yi, f" {rate}", va="center", fontsize=9)
    ax.set_yticks(y, labels, fontsize=9)
    most = max([t["graded"] for t in tests] + [1])
    ax.set_xlim(0, most * 1.15 + 0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("submissions")
    ax.legend(frameon=False, ncols=3, loc="lower left", bbox_to_anchor=(0, 1.0))
    ax.set_title(title, loc="left", fontsize=11, pad=24)
    return _uri(fig)
