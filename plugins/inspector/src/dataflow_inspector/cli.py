"""``dataflow analyze | debug | validate | perf | generate``: the Inspector on the command line.

Each command takes a workflow file (see ``dataflow_inspector.loading``: a Python file defining a
``WorkflowBuilder`` or built workflow, ``--workflow NAME`` picking one of several). Reports are rich
text; ``--json`` prints them for scripts. Exit status: 0 when everything passed, 1 when problems were
found (or the timed run failed), 2 for a usage error (a file without a workflow, an unknown node: a
DF-coded error printed by the ``dataflow`` entry point).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from cyclopts import Parameter
from dataflow.cli import ModelsOption

__all__ = ["analyze", "debug", "generate", "perf", "validate"]

# The options the commands share, with their help in one place.
FileArgument = Annotated[Path, Parameter(help="A Python file defining a WorkflowBuilder (or a built workflow).")]
WorkflowOption = Annotated[str | None, Parameter(
    help="The name of the workflow in the file, when it defines several (a variable or a function).")]
JsonFlag = Annotated[bool, Parameter(name="--json", negative=(), help="Print the report as JSON, for scripts.")]
Flag = Parameter(negative=())
"""A flag without a ``--no-`` twin."""


def _print(renderables: list[Any]) -> None:
    from rich.console import Console

    console = Console(emoji=False)  # no ":name:" in reports is an emoji; its 3,000-entry table stays unloaded
    for renderable in renderables:
        console.print(renderable)


def _emit(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


@contextlib.contextmanager
def _load(file: Path, workflow: str | None) -> Iterator[tuple[Any, Any, str]]:
    """The file's workflow, an Inspector of it and a title; the DataFlow instances the file made are
    closed afterwards."""
    from dataflow_inspector.inspector import Inspector
    from dataflow_inspector.loading import load_workflow

    loaded = load_workflow(file, workflow)
    try:
        yield loaded, Inspector(loaded.workflow, parameters=loaded.parameters), f"{file} ({loaded.name})"
    finally:
        for db in loaded.instances:
            db.close()


def analyze(file: FileArgument, *, workflow: WorkflowOption = None,
            format: Literal["text", "mermaid", "dot"] = "text", json_output: JsonFlag = False) -> int:
    """Analyze a workflow file: nodes, connections, cycles, validation, the order nodes run in.

    Exit status 0 when the workflow has no error, 1 when it has some.

    Parameters
    ----------
    format
        ``text`` (the report), or the workflow's graph as ``mermaid`` or Graphviz ``dot`` text.
    """
    with _load(file, workflow) as (loaded, inspector, title):
        return _analyze(loaded, inspector, title, format, json_output)


def _analyze(loaded: Any, inspector: Any, title: str, format: str, json_output: bool) -> int:
    if format != "text":
        from dataflow_inspector.graph import to_dot, to_mermaid

        print((to_mermaid if format == "mermaid" else to_dot)(inspector), end="")
    elif json_output:
        _emit({"file": str(loaded.path), "workflow": loaded.name, "summary": inspector.workflow_summary(),
               "execution_order": inspector.execution_order(),
               "connections": [c.to_dict() for c in inspector.connections()],
               "cycles": inspector.detect_cycles(), "unreachable": inspector.unreachable_nodes(),
               "problems": [p.to_dict() for p in inspector.problems()]})
    else:
        from dataflow_inspector.report import analysis

        _print(analysis(inspector, title))
    return 0 if inspector.is_valid() else 1


def validate(file: FileArgument, *, strict: Annotated[bool, Flag] = False, workflow: WorkflowOption = None,
             json_output: JsonFlag = False) -> int:
    """Validate a workflow file before it runs: structure, connections, parameters, types, cycles.

    Exit status 0 when it passes, 1 when it has errors (or, with --strict, warnings), 2 when the file
    gives no workflow.

    Parameters
    ----------
    strict
        Fail on warnings too (the user guide lists them).
    """
    with _load(file, workflow) as (loaded, inspector, title):
        if json_output:
            _emit({"file": str(file), "workflow": loaded.name, **inspector.validate(strict=strict)})
        else:
            from dataflow_inspector.report import validation

            _print(validation(inspector, title, strict=strict))
        return 0 if inspector.is_valid(strict=strict) else 1


def debug(file: FileArgument, *, node: Annotated[str | None, Parameter(
              help="The node to report on (default: every node that has a problem).")] = None,
          workflow: WorkflowOption = None, json_output: JsonFlag = False) -> int:
    """Debug a node of a workflow file: its parameters and where each comes from, connections, issues."""
    with _load(file, workflow) as (_loaded, inspector, title):
        return _debug(inspector, title, node, json_output)


def _debug(inspector: Any, title: str, node: str | None, json_output: bool) -> int:
    from dataflow_inspector.report import node_report

    if node is not None:
        infos = [inspector.node_info(node)]
    else:
        troubled = {node_id for p in inspector.problems() for node_id in p.nodes}
        infos = [inspector.node_info(n) for n in inspector.node_ids if n in troubled]
    if json_output:
        _emit([info.to_dict() for info in infos])
    elif not infos:
        _print([f"No node of {title} has a problem ({len(inspector.node_ids)} nodes); "
                "--node ID reports on one."])
    else:
        _print([part for info in infos for part in node_report(info)])
    failing = any(p.severity == "error" for info in infos for p in info.problems)
    return 1 if failing else 0


def perf(file: FileArgument, *, profile: Annotated[bool, Flag] = False, output: Annotated[Path | None, Parameter(
             help="Also write the report: report.json, or report.html (a timeline to look at).")] = None,
         workflow: WorkflowOption = None, json_output: JsonFlag = False) -> int:
    """Run a workflow file once and time each node: shares of the run, the bottleneck, a timeline.

    The run uses the database the file configures, with the file's ``parameters``. Exit status 1 when
    the workflow cannot run or a node fails (the report then shows what ran).

    Parameters
    ----------
    profile
        Also run under cProfile and list the functions that took the most time.
    """
    from dataflow.errors import DataFlowError
    from dataflow.workflow import WorkflowBuilder

    from dataflow_inspector.perf import profile_workflow

    if output is not None and output.suffix.lower() not in (".json", ".html", ".htm"):
        raise DataFlowError("DF-713", f"--output {str(output)!r}: perf writes .json or .html reports.",
                            context={"file": str(output)}, solutions=["Name the report report.json or report.html."])
    with _load(file, workflow) as (loaded, inspector, title):
        if not inspector.is_valid():
            from dataflow_inspector.report import validation

            _print([f"{title} cannot run: fix these first.", *validation(inspector, title, strict=False)])
            return 1
        built = loaded.workflow.build() if isinstance(loaded.workflow, WorkflowBuilder) else loaded.workflow
        report = profile_workflow(built, loaded.parameters, profile=profile, close=tuple(loaded.instances))
    data = {"file": str(file), "workflow": loaded.name, **report.to_dict()}
    if output is not None:
        if output.suffix.lower() == ".json":
            output.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        else:
            from dataflow_inspector.html import render_html

            output.write_text(render_html(report, built, f"Performance report — {title}"), encoding="utf-8")
    if json_output:
        _emit(data)
    else:
        from dataflow_inspector.report import perf_report

        _print(perf_report(report, title) + ([f"Report written to {output}"] if output is not None else []))
    return 1 if report.error else 0


def generate(model: Annotated[tuple[str, ...], Parameter(
                 help="The models to write a module for (default: every model).")] = (), *,
             output: Annotated[Path, Parameter(help="The folder to write the modules into.")] = Path("."),
             models: ModelsOption = None, json_output: JsonFlag = False) -> int:
    """Write a typed Python module per model: node-name constants, TypedDicts of parameters and outputs.

    An editor then completes node names, fields and parameters, and mypy flags a misspelt one.
    """
    from dataflow.cli import import_models
    from dataflow.errors import DataFlowError
    from dataflow.facade import DataFlow

    from dataflow_inspector.generate import write_modules

    if models is None:
        raise DataFlowError("DF-401", "generate needs --models: the module or file declaring the models.",
                            solutions=["dataflow generate User --models app.models --output nodes/"])
    module = import_models(models)
    instances = [v for v in vars(module).values() if isinstance(v, DataFlow)]
    written = write_modules(instances, model, output, origin=models)
    if json_output:
        _emit({"written": [str(p) for p in written]})
    else:
        _print([f"Wrote {p}" for p in written])
    return 0
