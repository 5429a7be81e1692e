"""A workflow's graph as Mermaid or Graphviz DOT text (``dataflow analyze --format mermaid|dot``), for
docs and pull requests: a box per node (its id and type), an arrow per connection (solid) or template
(dashed) labelled with what flows, broken ones in red."""

from __future__ import annotations

from dataflow_inspector.inspector import Inspector

__all__ = ["to_dot", "to_mermaid"]


def _flow_label(source_output: str, target_input: str) -> str:
    return source_output if source_output == target_input else f"{source_output} → {target_input}"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(inspector: Inspector) -> str:
    """A ``flowchart`` (paste it into a Markdown ``mermaid`` block)."""
    alias = {node_id: f"n{i}" for i, node_id in enumerate(inspector.node_ids)}
    lines = ["flowchart TD"]
    for node_id in inspector.node_ids:
        lines.append(f'    {alias[node_id]}["{_mermaid_text(node_id)}<br/><small>'
                     f'{_mermaid_text(inspector.type_label(node_id))}</small>"]')
    broken: list[int] = []
    for edge, info in enumerate(inspector.connections()):
        if info.source not in alias:
            alias[info.source] = f"n{len(alias)}"
            lines.append(f'    {alias[info.source]}["{_mermaid_text(info.source)}<br/><small>missing</small>"]')
        arrow = "-.->" if info.kind == "template" else "-->"
        label = _mermaid_text(_flow_label(info.source_output, info.target_input))
        lines.append(f'    {alias[info.source]} {arrow}|"{label}"| {alias[info.target]}')
        if not info.is_valid:
            broken.append(edge)
    for node_id in inspector.errors_by_node():
        lines.append(f"    style {alias[node_id]} stroke:#d64541,stroke-width:2px")
    if broken:
        lines.append(f"    linkStyle {','.join(map(str, broken))} stroke:#d64541,stroke-width:2px")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(inspector: Inspector) -> str:
    """A ``digraph`` (render it with ``dot -Tsvg``)."""
    with_errors = inspector.errors_by_node()
    lines = ["digraph workflow {", "    rankdir=LR;",
             '    node [shape=box, style="rounded,filled", fillcolor="#f4f6f9", fontname="Helvetica"];',
             '    edge [fontname="Helvetica", fontsize=10];']
    known = set(inspector.node_ids)
    for node_id in inspector.node_ids:
        colour = ', color="#d64541", penwidth=2' if node_id in with_errors else ""
        lines.append(f'    "{_dot_text(node_id)}" [label="{_dot_text(node_id)}\\n'
                     f'{_dot_text(inspector.type_label(node_id))}"{colour}];')
    for info in inspector.connections():
        if info.source not in known:
            known.add(info.source)
            lines.append(f'    "{_dot_text(info.source)}" [label="{_dot_text(info.source)}\\nmissing", '
                         'style="dashed", color="#d64541"];')
        style = ", style=dashed" if info.kind == "template" else ""
        colour = ', color="#d64541", fontcolor="#d64541"' if not info.is_valid else ""
        lines.append(f'    "{_dot_text(info.source)}" -> "{_dot_text(info.target)}" '
                     f'[label="{_dot_text(_flow_label(info.source_output, info.target_input))}"{style}{colour}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
