"""Rich renderings of the inspector's reports (the commands print these; ``--json`` prints the dicts)."""

from __future__ import annotations

from typing import Any

from dataflow_inspector.inspector import CATEGORIES, Inspector, NodeInfo, Problem
from dataflow_inspector.perf import PerfReport

__all__ = ["analysis", "node_report", "perf_report", "validation"]

_PASSED, _FAILED = "[green]PASSED[/]", "[red]FAILED[/]"
_SUCCESS = {
    "structure": "every node type known, every node reachable",
    "connections": "{connections} connections, {templates} templates",
    "parameters": "all required parameters present",
    "types": "all type constraints satisfied",
    "cycles": "no circular dependencies",
}


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _problem_lines(problems: list[Problem]) -> list[str]:
    lines = []
    for problem in problems:
        if problem.severity == "error":
            lines.append(f"  [red]✗[/] [bold]{problem.code or ''}[/] {_escape(problem.message)}")
            lines += [f"      [dim]fix:[/] {_escape(s)}" for s in problem.solutions[:1]]
        else:
            lines.append(f"  [yellow]![/] [bold]{problem.kind}[/] {_escape(problem.message)}")
    return lines


def analysis(inspector: Inspector, title: str) -> list[Any]:
    """``dataflow analyze``: the summary, the nodes in execution order, the problems."""
    from rich.table import Table

    summary = inspector.workflow_summary()
    verdict = _PASSED if summary["is_valid"] else (
        f"{_FAILED} ({summary['errors']} errors, {summary['warnings']} warnings: `dataflow validate` for details)")
    templates = f" (+ {summary['templates']} templates)" if summary["templates"] else ""
    lines = [f"[bold]Workflow Analysis Report[/] — {_escape(title)}",
             f"- Nodes: {summary['nodes']}",
             f"- Connections: {summary['connections']}{templates}",
             f"- Cycles: {summary['cycles']}",
             f"- Validation: {verdict}",
             f"- Shape: {summary['levels']} levels; up to {summary['widest_level']} nodes may run at once"]
    if summary["models"]:
        lines.append(f"- Models: {', '.join(summary['models'])}")
    if summary["run_inputs"]:
        lines.append(f"- Run inputs: {', '.join(summary['run_inputs'])}")
    table = Table(title="Nodes, in execution order", title_justify="left")
    for column in ("#", "node", "type", "waits for", "feeds", "uses"):
        table.add_column(column)
    feeds: dict[str, set[str]] = {}
    for info in inspector.connections():
        feeds.setdefault(info.source, set()).add(info.target)
    order = inspector.execution_order()
    stuck = [n for n in inspector.node_ids if n not in order]
    for index, node_id in enumerate([*order, *stuck], 1):
        waits = ", ".join(n if why == "data" else f"{n} (order)"
                          for n, why in inspector.waits_for(node_id).items()) or "—"
        label = str(index) if node_id in order else "[red]never[/]"
        table.add_row(label, _escape(node_id), _escape(inspector.type_label(node_id)), _escape(waits),
                      _escape(", ".join(sorted(feeds.get(node_id, ()))) or "—"),
                      _escape(inspector.touches_label(node_id)))
    out: list[Any] = ["\n".join(lines), table]
    if inspector.problems():
        out.append("\n".join(["Problems:", *_problem_lines(inspector.problems())]))
    return out


def validation(inspector: Inspector, title: str, *, strict: bool) -> list[Any]:
    """``dataflow validate``: a verdict per category, then each problem with its fix."""
    report = inspector.validate(strict=strict)
    summary = inspector.workflow_summary()
    lines = [f"[bold]Workflow Validation Report[/] — {_escape(title)}" + (" [dim](strict)[/]" if strict else "")]
    for name in CATEGORIES:
        category = report["categories"][name]
        errors, warnings = len(category["errors"]), len(category["warnings"])
        if category["passed"]:
            detail = _SUCCESS[name].format(**summary)
            if warnings:
                detail += f"; {warnings} warning{'s' if warnings > 1 else ''}"
            lines.append(f"- {name.title()}: {_PASSED} ({detail})")
        else:
            counts = [f"{errors} error{'s' if errors != 1 else ''}"] if errors else []
            if warnings:
                counts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
            lines.append(f"- {name.title()}: {_FAILED} ({', '.join(counts)})")
    overall = "[green]PASSED ✓[/]" if report["is_valid"] else "[red]FAILED ✗[/]"
    lines.append(f"- Overall: {overall}")
    problems = inspector.problems()
    if problems:
        lines += ["", *_problem_lines(problems)]
        if inspector.warnings and not strict:
            lines.append("  [dim]Warnings do not fail validation; --strict makes them failures.[/]")
    return ["\n".join(lines)]


def node_report(info: NodeInfo) -> list[Any]:
    """``dataflow debug --node``: the node, its parameters and where each comes from, its flows, issues."""
    from rich.table import Table

    errors = [p for p in info.problems if p.severity == "error"]
    given = [p.name for p in info.parameters if p.origin not in ("missing", "default")]
    lines = [f"[bold]Node Debug Report: {_escape(info.node_id)}[/]",
             f"- Type: {_escape(info.type_name)}" + (f" (model {info.model}, instance {info.instance})"
                                                     if info.model else ""),
             f"- Does: {_escape(info.description)}",
             f"- Uses: {_escape(info.touches)}",
             f"- Parameters: {_escape(', '.join(given)) or 'none given'}",
             f"- Connections: {len(info.outgoing)} outgoing, {len(info.incoming)} incoming",
             f"- Waits for: {_escape(', '.join(info.waits_for)) or 'nothing'}",
             f"- Validation: {_FAILED if errors else _PASSED}",
             f"- Potential Issues: {'None' if not info.problems else len(info.problems)}"]
    out: list[Any] = ["\n".join(lines)]
    table = Table(title="Parameters", title_justify="left")
    for column in ("name", "type", "required", "from", "value"):
        table.add_column(column, overflow="fold")
    for param in info.parameters:
        origin = {"missing": "[red]missing[/]", "not given": "[dim]not given[/]"}.get(param.origin, param.origin)
        table.add_row(_escape(param.name), _escape(param.type or "?"), "yes" if param.required else "",
                      origin, _escape(param.value or ""))
    out.append(table)
    if info.outputs:
        used = {c.source_output.partition(".")[0]: c.target_path for c in info.outgoing}
        outputs = Table(title="Outputs", title_justify="left")
        for column in ("name", "type", "used by"):
            outputs.add_column(column)
        for name, kind in info.outputs.items():
            outputs.add_row(_escape(name), _escape(kind or "?"), _escape(used.get(name, "—")))
        out.append(outputs)
    flows = [f"  in:  {_escape(c.show())}" for c in info.incoming] + [f"  out: {_escape(c.show())}"
                                                                       for c in info.outgoing]
    if flows:
        out.append("\n".join(["Connections:", *flows]))
    if info.problems:
        out.append("\n".join(["Potential issues:", *_problem_lines(list(info.problems))]))
    return out


def perf_report(report: PerfReport, title: str) -> list[Any]:
    """``dataflow perf``: total, per-node timings with shares, the bottleneck and critical path."""
    from rich.table import Table

    lines = [f"[bold]Performance Analysis Report[/] — {_escape(title)}",
             f"- Total Runtime: {report.total:.3f}s (from the first node's start; start-up before it "
             f"{report.startup:.3f}s)", f"- Nodes run: {len(report.nodes)}, at most "
             f"{report.max_concurrency} at once"]
    if report.error:
        lines.append(f"- [red]The run failed[/]: {_escape(report.error)}")
    if report.not_run:
        lines.append(f"- Never started: {_escape(', '.join(report.not_run))}")
    lines.append("- Node Timings:")
    for timing in sorted(report.nodes, key=lambda t: t.duration, reverse=True):
        lines.append(f"  - {_escape(timing.node_id)}: {timing.duration:.3f}s ({timing.share:.0%})"
                     + (" [red]failed[/]" if timing.error else ""))
    if report.bottleneck:
        share = next(t.share for t in report.nodes if t.node_id == report.bottleneck)
        lines.append(f"- Bottleneck: {_escape(report.bottleneck)} ({share:.0%} of the run, on the critical path)")
        lines.append(f"- Critical path: {_escape(' → '.join(report.critical_path))}")
    out: list[Any] = ["\n".join(lines)]
    table = Table(title="Timeline (seconds from the start)", title_justify="left")
    for column in ("node", "type", "ready", "start", "end", "waited for", "ran alongside"):
        table.add_column(column, overflow="fold")
    for timing in report.nodes:
        waited = f"{timing.waited_for[0]} ({timing.waited_for[1]})" if timing.waited_for else "—"
        table.add_row(_escape(timing.node_id), _escape(timing.type_name), f"{timing.ready:.3f}",
                      f"{timing.start:.3f}", f"{timing.end:.3f}", _escape(waited),
                      _escape(", ".join(timing.concurrent_with)) or "—")
    out.append(table)
    if report.profile:
        hot = Table(title="Where the time went (cProfile, by time in the function itself)", title_justify="left")
        for column in ("function", "calls", "own s", "with callees s"):
            hot.add_column(column, overflow="fold")
        for row in report.profile:
            hot.add_row(_escape(str(row["function"])), str(row["calls"]), f"{row['own_s']:.4f}",
                        f"{row['cumulative_s']:.4f}")
        out.append(hot)
    return out
