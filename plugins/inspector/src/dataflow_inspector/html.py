"""The ``perf --output report.html`` page: one self-contained file (inline CSS and SVG, no script, no
network) with a timeline of the nodes — when each became ready, queued, ran, which ran side by side,
which one it waited for — the critical path, and the table of timings."""

from __future__ import annotations

import html
from typing import Any

from dataflow.workflow import Workflow

from dataflow_inspector.perf import NodeTiming, PerfReport

__all__ = ["render_html"]

_ROW = 30
_LABEL = 190
_PLOT = 760
_TOP = 34
_COLOURS = {"writes": "#3b6fd8", "reads": "#2e9e6a", "no database": "#8a5cc8", "declares nothing": "#7a7f87",
            "failed": "#d64541"}
_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 28px 36px;
       background: #fafbfc; }
h1 { font-size: 21px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.sub { color: #5b6472; margin-bottom: 18px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid #e2e6ec; border-radius: 8px; padding: 10px 14px; min-width: 130px; }
.card b { display: block; font-size: 19px; } .card span { color: #5b6472; font-size: 12px; }
.panel { background: #fff; border: 1px solid #e2e6ec; border-radius: 8px; padding: 12px 14px; overflow-x: auto; }
.legend span { display: inline-block; margin-right: 16px; font-size: 12px; color: #3a4250; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 5px;
            vertical-align: -1px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eef0f3; vertical-align: top; }
th { color: #5b6472; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { background: #e8ecf2; border-radius: 3px; height: 8px; width: 120px; display: inline-block; }
.bar i { display: block; height: 8px; border-radius: 3px; background: #3b6fd8; }
.error { background: #fdecec; border: 1px solid #f3b9b7; color: #8a1f1b; border-radius: 8px; padding: 10px 14px; }
.crit { font-weight: 600; } code { font-size: 12.5px; }
"""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def _kind(built: Workflow, timing: NodeTiming) -> str:
    if timing.error:
        return "failed"
    touches = built.nodes[timing.node_id].touches
    if touches is None or any(t.db is None for t in touches):
        return "declares nothing"
    if not touches:
        return "no database"
    return "writes" if any(t.writes for t in touches) else "reads"


def _tick_step(total_ms: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000):
        if total_ms / step <= 10:
            return step
    return 120000


def _timeline(report: PerfReport, built: Workflow) -> str:
    rows = list(report.nodes)
    total = max([report.total, *(t.end for t in rows)]) or 1e-9
    scale = _PLOT / total
    height = _TOP + _ROW * len(rows) + 52
    width = _LABEL + _PLOT + 120
    row_of = {t.node_id: i for i, t in enumerate(rows)}
    critical = set(report.critical_path)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="Timeline of the nodes">',
           '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" '
           'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#9aa3af"/></marker></defs>']
    step_ms = _tick_step(total * 1000)
    tick = 0.0
    while tick <= total * 1000 + 1e-9:
        x = _LABEL + tick / 1000 * scale
        out.append(f'<line x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{_TOP + _ROW * len(rows)}" '
                   'stroke="#eceff3"/>')
        label = f"{tick:g} ms" if step_ms < 1000 else f"{tick / 1000:g} s"
        out.append(f'<text x="{x:.1f}" y="{_TOP - 12}" font-size="11" fill="#7a8391" '
                   f'text-anchor="middle">{label}</text>')
        tick += step_ms
    for i, timing in enumerate(rows):
        y = _TOP + i * _ROW
        if i % 2:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{_ROW}" fill="#f4f6f9"/>')
        weight = "700" if timing.node_id in critical else "400"
        out.append(f'<text x="{_LABEL - 10}" y="{y + 19}" font-size="12.5" font-weight="{weight}" '
                   f'text-anchor="end" fill="#1d2330">{html.escape(timing.node_id)}</text>')
    for timing in rows:
        if timing.waited_for and timing.waited_for[0] in row_of:
            source = rows[row_of[timing.waited_for[0]]]
            x1, y1 = _LABEL + source.end * scale, _TOP + row_of[source.node_id] * _ROW + _ROW / 2
            x2, y2 = _LABEL + timing.start * scale, _TOP + row_of[timing.node_id] * _ROW + _ROW / 2
            dash = ' stroke-dasharray="3 3"' if timing.waited_for[1] == "order" else ""
            out.append(f'<path d="M{x1:.1f},{y1:.1f} C{x1 + 14:.1f},{y1:.1f} {x2 - 14:.1f},{y2:.1f} '
                       f'{x2 - 1:.1f},{y2:.1f}" fill="none" stroke="#9aa3af" stroke-width="1.2"{dash} '
                       'marker-end="url(#arrow)"/>')
    for i, timing in enumerate(rows):
        y = _TOP + i * _ROW
        colour = _COLOURS[_kind(built, timing)]
        if timing.queued * scale >= 1:
            out.append(f'<line x1="{_LABEL + timing.ready * scale:.1f}" y1="{y + _ROW / 2}" '
                       f'x2="{_LABEL + timing.start * scale:.1f}" y2="{y + _ROW / 2}" stroke="{colour}" '
                       'stroke-width="2" stroke-dasharray="2 3" opacity="0.6"/>')
        x, bar = _LABEL + timing.start * scale, max(2.0, timing.duration * scale)
        outline = ' stroke="#1d2330" stroke-width="1.5"' if timing.node_id in report.critical_path else ""
        if timing.waited_for:
            why = "its output" if timing.waited_for[1] == "data" else "order rule"
            waited = f"waited for {timing.waited_for[0]} ({why})"
        else:
            waited = "waited for nothing"
        alongside = ", ".join(timing.concurrent_with) or "nothing"
        tooltip = (f"{timing.node_id} ({timing.type_name})\nstart {_ms(timing.start)}, took {_ms(timing.duration)} "
                   f"({timing.share:.0%} of the run)\n{waited}; queued {_ms(timing.queued)}\n"
                   f"ran alongside: {alongside}")
        out.append(f'<rect x="{x:.1f}" y="{y + 7}" width="{bar:.1f}" height="{_ROW - 14}" rx="3" '
                   f'fill="{colour}"{outline}><title>{html.escape(tooltip)}</title></rect>')
        out.append(f'<text x="{x + bar + 6:.1f}" y="{y + 19}" font-size="11.5" fill="#3a4250">'
                   f'{_ms(timing.duration)} · {timing.share:.0%}</text>')
    # How many nodes ran at each moment, under the rows.
    base = _TOP + _ROW * len(rows) + 34
    spans = sorted([(t.start, 1) for t in rows] + [(t.end, -1) for t in rows])
    points, running = [f"{_LABEL},{base}"], 0
    peak = max(report.max_concurrency, 1)
    for at, step in spans:
        points.append(f"{_LABEL + at * scale:.1f},{base - running * 22 / peak:.1f}")
        running += step
        points.append(f"{_LABEL + at * scale:.1f},{base - running * 22 / peak:.1f}")
    points.append(f"{_LABEL + _PLOT},{base}")
    out.append(f'<polygon points="{" ".join(points)}" fill="#c9d6ef" stroke="#3b6fd8" stroke-width="1"/>')
    out.append(f'<text x="{_LABEL - 10}" y="{base - 6}" font-size="11" text-anchor="end" fill="#5b6472">'
               f'nodes running (max {report.max_concurrency})</text>')
    out.append("</svg>")
    return "\n".join(out)


def _table(report: PerfReport) -> str:
    critical = set(report.critical_path)
    lines = ["<table><tr><th>node</th><th>type</th><th>start</th><th>took</th><th>share of the run</th>"
             "<th>waited for</th><th>ran alongside</th></tr>"]
    for timing in sorted(report.nodes, key=lambda t: t.duration, reverse=True):
        waited = (f"{html.escape(timing.waited_for[0])} ({'output' if timing.waited_for[1] == 'data' else 'order'})"
                  if timing.waited_for else "—")
        if timing.queued >= 0.0005:
            waited += f", then queued {_ms(timing.queued)}"
        name = html.escape(timing.node_id) + (" ⚑" if timing.node_id == report.bottleneck else "")
        error = f'<br><span style="color:#b3261e">{html.escape(timing.error)}</span>' if timing.error else ""
        lines.append(
            f'<tr><td class="{"crit" if timing.node_id in critical else ""}">{name}{error}</td>'
            f"<td><code>{html.escape(timing.type_name)}</code></td><td class=num>{_ms(timing.start)}</td>"
            f"<td class=num>{_ms(timing.duration)}</td>"
            f'<td><span class="bar"><i style="width:{min(100.0, timing.share * 100):.1f}%"></i></span> '
            f"{timing.share:.0%}</td><td>{waited}</td>"
            f"<td>{html.escape(', '.join(timing.concurrent_with)) or '—'}</td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _profile(report: PerfReport) -> str:
    if not report.profile:
        return ""
    rows = "".join(f"<tr><td><code>{html.escape(str(r['function']))}</code></td><td class=num>{r['calls']}</td>"
                   f"<td class=num>{_ms(r['own_s'])}</td><td class=num>{_ms(r['cumulative_s'])}</td></tr>"
                   for r in report.profile)
    return ("<h2>Where the time went (cProfile, by time in the function itself)</h2><div class=panel><table>"
            "<tr><th>function</th><th>calls</th><th>own</th><th>with callees</th></tr>" + rows + "</table></div>")


def render_html(report: PerfReport, built: Workflow, title: str) -> str:
    """The whole page, as text."""
    bottleneck = next((t for t in report.nodes if t.node_id == report.bottleneck), None)
    cards = [("total run", _ms(report.total)), ("start-up before the first node", _ms(report.startup)),
             ("nodes run", str(len(report.nodes))),
             ("most at once", str(report.max_concurrency))]
    if bottleneck is not None:
        cards.append(("bottleneck", f"{bottleneck.node_id} · {bottleneck.share:.0%}"))
    legend = "".join(f'<span><i style="background:{c}"></i>{html.escape(k)}</span>' for k, c in _COLOURS.items())
    path = " → ".join(report.critical_path) or "—"
    parts: list[Any] = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<div class=sub>run {html.escape(report.run_id or "(failed)")} · critical path: '
        f"<b>{html.escape(path)}</b></div>",
        "<div class=cards>" + "".join(f"<div class=card><b>{html.escape(v)}</b><span>{k}</span></div>"
                                      for k, v in cards) + "</div>",
    ]
    if report.error:
        parts.append(f"<h2>The run failed</h2><div class=error>{html.escape(report.error)}</div>")
    if report.not_run:
        parts.append(f"<p>Never started: {html.escape(', '.join(report.not_run))}.</p>")
    parts += [
        "<h2>Timeline</h2><div class=panel>",
        f"<div class=legend>{legend}<span>bold outline: critical path</span>"
        "<span>arrow: the node it waited for (dashed: order rule)</span>"
        "<span>dotted line: ready, waiting to start</span></div>",
        _timeline(report, built), "</div>",
        "<h2>Nodes, slowest first</h2><div class=panel>", _table(report), "</div>",
        _profile(report),
        "</body></html>",
    ]
    return "\n".join(parts)
