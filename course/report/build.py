"""``course report``'s work: read the term, compute the numbers, write the JSON and the page."""

from __future__ import annotations

import json
import os
from pathlib import Path

from course.report.gather import read_term
from course.report.page import render
from course.report.stats import term_stats

HTML_NAME, JSON_NAME = "report.html", "report.json"


def build(root: Path, ids: list[str] | None = None, *, names: bool = False) -> dict:
    """The report of the assignments ``ids`` (default: all with submissions) as a dict."""
    return term_stats(read_term(root, ids), names=names)


def write(report: dict, out: Path) -> tuple[Path, Path]:
    """``out/report.html`` and ``out/report.json`` (each replaced whole); their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = out / HTML_NAME, out / JSON_NAME
    texts = render(report), json.dumps(report, indent=1, ensure_ascii=False) + "\n"
    for path, text in zip(paths, texts, strict=True):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return paths
