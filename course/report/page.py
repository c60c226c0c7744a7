"""The report as one offline HTML page: no script, no external URL (figures are ``data:``
URIs, the style is inline), every text from the gradebook or a notebook escaped."""

from __future__ import annotations

from html import escape

from course.report import figures

TOP_FAILURES = 12  # failure groups shown per assignment (the JSON has them all)

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232b;
 max-width:1080px;margin:24px auto;padding:0 20px}
h1{font-size:26px;margin-bottom:2px} h2{font-size:21px;border-bottom:2px solid #d6dbe3;
 padding-bottom:4px;margin-top:44px} h3{font-size:16px;margin:22px 0 6px}
.sub{color:#5b6573;margin-top:0} table{border-collapse:collapse;margin:6px 0 10px}
th,td{padding:4px 10px;border-bottom:1px solid #e3e7ed;text-align:left;vertical-align:top}
th{background:#f3f5f8;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums} td.n{white-space:nowrap}
code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f3f5f8;padding:1px 4px;
 border-radius:3px;word-break:break-word} .bad{color:#b0341f;font-weight:600}
.ok{color:#2e7d32} .note{color:#5b6573;font-size:13px} .cards{display:flex;gap:12px;
 flex-wrap:wrap;margin:10px 0} .card{border:1px solid #d6dbe3;border-radius:6px;
 padding:6px 14px;min-width:110px} .card b{display:block;font-size:20px}
code.t{white-space:nowrap;word-break:normal}
.fig{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start} img{max-width:100%}
"""


def _e(value) -> str:
    return escape(str(value), quote=True)


def _pct(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def _num(x) -> str:
    return "–" if x is None else f"{x:.3g}"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _grade(rate) -> str:
    """CSS class of a pass rate: red below 60 %, green from 90 %."""
    return "" if rate is None else "bad" if rate < 0.6 else "ok" if rate >= 0.9 else ""


def _label(a: dict, notebook: str, cell: str) -> str:
    """A cell's name, with its notebook's when the assignment has several."""
    where = f"{_e(notebook)}: " if len(a["notebooks"]) > 1 else ""
    return f"{where}<code class='t'>{_e(cell)}</code>"


def _who(rows) -> str:
    return ", ".join(_e(r["name"] if r["name"] == r["id"] else f"{r['name']} ({r['id']})")
                     for r in rows)


def _table(head: list[str], rows: list[list[str]], numeric=()) -> str:
    cls = lambda k: ' class="n"' if k in numeric else ""  # noqa: E731
    out = ["<table><tr>", *(f"<th{cls(k)}>{h}</th>" for k, h in enumerate(head)), "</tr>"]
    for row in rows:
        out += ["<tr>", *(f"<td{cls(k)}>{c}</td>" for k, c in enumerate(row)), "</tr>"]
    return "".join(out) + "</table>"


def render(report: dict) -> str:
    names = report["names"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Class report: {_e(report['course_id'])}</title><style>{CSS}</style></head>",
        f"<body><h1>Class report: {_e(report['course_id'])}</h1>",
        f"<p class='sub'>From the gradebook and the autograded notebooks, "
        f"{_e(report['generated_at'])}. "
        + ("Student names are shown (<code>--names</code>)." if names else
           "No student is named (<code>course report --names</code> shows who).") + "</p>",
        overview(report["assignments"]),
        *(section(a, names) for a in report["assignments"]),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def overview(assignments: list[dict]) -> str:
    if not assignments:
        return "<p>No assignment has a submission in the gradebook yet.</p>"
    rows = []
    for a in assignments:
        s = a["scores"]
        worst = a["tests"][0] if a["tests"] else None
        rows.append([
            f"<a href='#{_e(a['id'])}'>{_e(a['id'])}</a>",
            f"{a['submitted']} / {a['enrolled']}",
            f"{_num(s['mean'])} / {a['max_score']:g}", _num(s["median"]),
            (f"<code>{_e(worst['test'])}</code> {_pct(worst['pass_rate'])}" if worst else "–"),
            str(a["to_grade"]["count"]), str(a["late"]["count"]),
            str(a["missing"]["count"]) + (f" (+{a['pending']['count']} not graded yet)"
                                          if a["pending"]["count"] else ""),
            str(a["flags"]["count"]),
        ])
    return "<h2>Overview</h2>" + _table(
        ["assignment", "submitted", "mean", "median", "worst test (pass rate)",
         "to grade by hand", "late", "missing", "flagged"], rows, numeric={1, 2, 3, 5, 6, 7, 8})


def _cards(a: dict) -> str:
    s = a["scores"]
    items = [("submitted", f"{a['submitted']} of {a['enrolled']}"),
             ("mean score", f"{_num(s['mean'])} / {a['max_score']:g}"),
             ("median", _num(s["median"])),
             ("to grade by hand", a["to_grade"]["count"]), ("late", a["late"]["count"]),
             ("missing", a["missing"]["count"]), ("flagged", a["flags"]["count"])]
    return "<div class='cards'>" + "".join(
        f"<div class='card'><b>{_e(v)}</b>{_e(k)}</div>" for k, v in items) + "</div>"


def section(a: dict, names: bool) -> str:
    due = f"due {_e(a['duedate'].replace('T', ' '))} UTC" if a["duedate"] else "no due date"
    out = [f"<h2 id='{_e(a['id'])}'>{_e(a['id'])}</h2>",
           f"<p class='sub'>{due}; notebooks: {_e(', '.join(a['notebooks']))}</p>", _cards(a)]
    out.append(scores(a))
    out.append(tests(a, names))
    out.append(failures(a, names))
    out.append(to_grade(a, names))
    out.append(late_missing(a, names))
    out.append(flags(a, names))
    if names:
        out.append(roster(a))
    return "\n".join(out)


def scores(a: dict) -> str:
    s = a["scores"]
    if not s["count"]:
        return "<h3>Scores</h3><p>No submission is graded yet.</p>"
    img = figures.score_histogram(s["values"], a["max_score"], f"{a['id']}: total scores")
    note = (f" <span class='bad'>{s['provisional']} of {s['count']} are provisional</span>: "
            "they hold answers not graded by hand yet (counted as 0)." if s["provisional"]
            else "")
    return (f"<h3>Scores</h3><p>{_n(s['count'], 'graded submission')}: "
            f"mean {_num(s['mean'])}, "
            f"median {_num(s['median'])}, from {_num(s['min'])} to {_num(s['max'])} of "
            f"{a['max_score']:g} points.{note}</p><div class='fig'><img alt='histogram of "
            f"the scores of {_e(a['id'])}' src='{img}'></div>")


def tests(a: dict, names: bool) -> str:
    rows_in = a["tests"]
    if not rows_in:
        return "<h3>Tests</h3><p>This assignment has no autograded test.</p>"
    img = figures.pass_rates(rows_in, f"{a['id']}: autograded tests, worst first")
    head = ["test", "points", "passed", "partial", "failed", "of them not attempted",
            "pass rate", "failed in hidden tests only"]
    if names:
        head.append("did not pass")
    rows = []
    for t in rows_in:
        fails = t["graded"] - t["passed"]
        where = t["failed_where"]
        hidden = f"{where['hidden']} of {fails}" if fails else "–"
        rate = _pct(t["pass_rate"])
        row = [_label(a, t["notebook"], t["test"]), f"{t['points']:g}",
               str(t["passed"]), str(t["partial"]), str(t["failed"]), str(t["not_attempted"]),
               f"<span class='{_grade(t['pass_rate'])}'>{rate}</span>",
               hidden]
        if names:
            row.append(_who(t["students_not_passed"]))
        rows.append(row)
    return ("<h3>Tests, worst first</h3><div class='fig'><img alt='pass rate of each test' "
            f"src='{img}'></div>" + _table(head, rows, numeric={1, 2, 3, 4, 5, 6, 7})
            + "<p class='note'>Passed: all the test's points; failed: none; <i>not "
              "attempted</i>: the stub's <code>NotImplementedError</code>. <i>Failed in "
              "hidden tests only</i>: the visible tests (what <i>Validate</i> shows the "
              "student) passed and a hidden one failed.</p>")


def failures(a: dict, names: bool) -> str:
    groups = a["failures"]
    if not groups:
        return "<h3>Most common failures</h3><p>No test failed.</p>"
    head = ["students", "failure (numbers as #)", "for example", "in tests"]
    if names:
        head.append("who")
    rows = []
    for g in groups[:TOP_FAILURES]:
        where = ", ".join(f"{n} {k}" for k, n in sorted(g["where"].items()))
        tests = "<br>".join(_label(a, t["notebook"], t["test"])
                            + (f" ×{t['count']}" if t["count"] > 1 else "") for t in g["tests"])
        row = [str(g["students_count"]), f"<code>{_e(g['message'])}</code>",
               f"<code>{_e(g['example'])}</code>" if g["example"]
               and not g["message"].endswith(g["example"]) else "–",
               f"{tests}<br><span class='note'>{_n(g['count'], 'failure')}: {_e(where)}</span>"]
        if names:
            row.append(_who(g["students"]))
        rows.append(row)
    more = (f"<p class='note'>{len(groups) - TOP_FAILURES} more in the JSON.</p>"
            if len(groups) > TOP_FAILURES else "")
    return "<h3>Most common failures</h3>" + _table(head, rows, numeric={0}) + more


def to_grade(a: dict, names: bool) -> str:
    tg = a["to_grade"]
    head = ["cell", "kind", "points", "still to grade"]
    if names:
        head.append("whose")
    rows = []
    for c in tg["cells"]:
        row = [_label(a, c["notebook"], c["cell"]), _e(c["kind"]),
               f"{c['points']:g}", f"<span class='{'bad' if c['count'] else 'ok'}'>"
               f"{c['count']}</span>"]
        if names:
            row.append(_who(c["students"]))
        rows.append(row)
    lead = (f"<p>{_n(tg['count'], 'answer')} (in {_n(tg['submissions'], 'submission')}) "
            "still to grade by hand in formgrader (<i>Manual Grading</i>).</p>"
            if tg["count"] else
            "<p>Every answer is graded.</p>")
    return "<h3>To grade by hand</h3>" + lead + (_table(head, rows, {2, 3}) if rows else "")


def late_missing(a: dict, names: bool) -> str:
    lt, miss, pend = a["late"], a["missing"], a["pending"]
    out = ["<h3>Late and missing</h3><p>"]
    if lt["count"]:
        hours = ", ".join(f"{h:.1f} h" for h in lt["hours"])
        penalty = f"; penalty {lt['penalty']:g} points in all" if lt["penalty"] else ""
        out.append(f"{lt['count']} late ({hours} after the deadline{penalty})")
        if names:
            out.append(": " + ", ".join(f"{_who([r])} {r['hours']:.1f} h" for r in lt["students"]))
        out.append(". ")
    else:
        out.append("None late. ")
    out.append(f"{miss['count']} of {a['enrolled']} students of the gradebook did not submit"
               + (": " + _who(miss["students"]) if names and miss["count"] else "") + ". ")
    if pend["count"]:
        out.append(f"{pend['count']} collected but not graded yet (run <code>course grade "
                   f"{_e(a['id'])}</code>)" + (": " + _who(pend["students"]) if names else "")
                   + ".")
    return "".join(out) + "</p>"


def flags(a: dict, names: bool) -> str:
    fl = a["flags"]
    if not fl["count"]:
        return "<h3>Flags</h3><p>No submission is flagged.</p>"
    rows = [[str(r["count"]), _e(r["flag"])] for r in fl["reasons"]]
    out = (f"<h3>Flags</h3><p>{_n(fl['count'], 'flagged submission')} to review (the "
           "reasons, also "
           "in the <code>flags</code> column of <code>grades.csv</code>):</p>"
           + _table(["submissions", "reason"], rows, {0}))
    if names:
        out += _table(["student", "flags"], [[_who([r]), _e("; ".join(r["flags"]))]
                                             for r in fl["students"]])
    return out


def roster(a: dict) -> str:
    """Every student's outcome (only with ``--names``)."""
    rows = []
    for r in a["students"]:
        late = f"{r['hours_late']:.1f} h" if r["hours_late"] else ""
        score = "–" if r["score"] is None else f"{r['score']:g}"
        rows.append([_who([r]), _e(r["status"]), score, late,
                     str(r["to_grade"] or ""), _e("; ".join(r["flags"]))])
    return "<h3>Students</h3>" + _table(
        ["student", "status", f"score (of {a['max_score']:g})", "late", "to grade", "flags"],
        rows, numeric={2, 3, 4})
