"""Inspector plugin: adds ``dataflow analyze | debug | validate | perf | generate``.

The commands are registered by import path with their one-line help, so ``dataflow --help`` lists them
without importing their modules; each module loads when its command runs.
"""

from __future__ import annotations

from typing import Any

from dataflow.hookspecs import hookimpl

COMMANDS: dict[str, str] = {
    "analyze": "Analyze a workflow file: nodes, connections, cycles, validation (or its graph as Mermaid / DOT).",
    "debug": "Debug one node of a workflow file: its parameters and where each comes from, connections, issues.",
    "validate": "Validate a workflow file before it runs: structure, connections, parameters, types, cycles.",
    "perf": "Run a workflow file and time each node: shares, the bottleneck, a timeline (JSON or HTML report).",
    "generate": "Write a typed Python module per model: node-name constants and TypedDicts of parameters and outputs.",
}
"""Each command (``dataflow_inspector.cli:<name>``) and its one-line help."""


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    for name, summary in COMMANDS.items():
        app.command(f"dataflow_inspector.cli:{name}", name=name, help=summary)
