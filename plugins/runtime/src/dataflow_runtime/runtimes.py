"""The workflow runtimes: run a built workflow's nodes in dependency order.

``AsyncLocalRuntime`` runs on the caller's event loop; nodes of one generation (nodes whose inputs
are all ready) run concurrently in an anyio task group. ``LocalRuntime`` is its synchronous face: it
runs the same coroutine on DataFlow's long-lived background loop, so connection pools survive from
one ``execute()`` to the next and no call ever meets a closed loop. A failing node always surfaces
as ``WorkflowExecutionError`` (DF-802) naming the node, with the cause chained.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from typing import Any

import anyio
from dataflow.errors import DataFlowError, WorkflowExecutionError, did_you_mean
from dataflow.loop import run_sync
from dataflow.nodes import NodeContext
from dataflow.runtime import default_manager, invoke_node, node_parameters
from dataflow.workflow import Workflow, WorkflowBuilder

__all__ = ["AsyncLocalRuntime", "LocalRuntime", "run_workflow"]

_RUN_PREFIX = uuid.uuid4().hex[:12]
_run_numbers = itertools.count(1)
"""Run ids: unique per process prefix plus a counter (cheaper than a uuid per run)."""

_RUNTIME_OPTIONS = frozenset({"debug", "persistent_mode", "max_concurrency", "enable_monitoring",
                              "enable_async", "connection_validation", "conditional_execution"})


def _as_workflow(workflow: Any) -> Workflow:
    if isinstance(workflow, Workflow):
        return workflow
    if isinstance(workflow, WorkflowBuilder):
        return workflow.build()
    raise DataFlowError("DF-801", f"A runtime executes a built workflow (WorkflowBuilder().build()), got "
                        f"{type(workflow).__name__}.", solutions=["Call .build() on the WorkflowBuilder."])


def _as_inputs(inputs: Any) -> Mapping[str, Any]:
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping):
        raise DataFlowError("DF-102", f"Workflow parameters must be a dict, got {type(inputs).__name__}.")
    return inputs


async def _run_node(workflow: Workflow, node_id: str, results: dict[str, Any], inputs: Mapping[str, Any],
                    run_id: str) -> None:
    entry = workflow.nodes[node_id]
    try:
        params = node_parameters(workflow, entry, results, inputs)
        output = await invoke_node(entry.cls, node_id, params, NodeContext(node_id, run_id, entry.type_name, inputs))
    except Exception as exc:
        error = WorkflowExecutionError(node_id, entry.type_name, exc)
        db = entry.cls.dataflow_instance
        if db is not None:
            db.enhance(error)  # the catalogue's DF-802 hints, rendered in the instance's mode
        elif error.effective_mode() != "DISABLED":
            default_manager().apply_error_hints(error)
        raise error from exc
    if not isinstance(output, Mapping):
        output = {"result": output}
    results[node_id] = output


async def run_workflow(workflow: Any, inputs: Any = None) -> tuple[dict[str, Any], str]:
    """Run every node of ``workflow``; return ``(results by node id, run id)``."""
    built = _as_workflow(workflow)
    given = _as_inputs(inputs)
    run_id = f"{_RUN_PREFIX}-{next(_run_numbers)}"
    results: dict[str, Any] = {}
    for generation in built.generations:
        if len(generation) == 1:
            await _run_node(built, generation[0], results, given, run_id)
            continue
        try:
            async with anyio.create_task_group() as group:
                for node_id in generation:
                    group.start_soon(_run_node, built, node_id, results, given, run_id)
        except BaseExceptionGroup as group_error:
            first = _first_error(group_error)
            raise first from first.__cause__  # "from None" would drop the node's chained cause
    return results, run_id


def _first_error(group: BaseExceptionGroup) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        return exc
    return group


def _check_options(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    for key in options:
        if key not in _RUNTIME_OPTIONS:
            raise DataFlowError("DF-401", f"Unknown {kind} option {key!r}.{did_you_mean(key, _RUNTIME_OPTIONS)}",
                                context={"option": key})
    return dict(options)


class AsyncLocalRuntime:
    """Runs workflows on the caller's event loop; reusable, safe to share between tasks."""

    def __init__(self, **options: Any) -> None:
        self.options = _check_options("AsyncLocalRuntime", options)

    async def execute_workflow_async(self, workflow: Any, inputs: Mapping[str, Any] | None = None,
                                     **kwargs: Any) -> tuple[dict[str, Any], str]:
        """Run ``workflow``; ``inputs`` feed ``${name}`` templates and per-node overrides."""
        return await run_workflow(workflow, inputs if inputs is not None else kwargs.get("parameters"))

    async def execute_async(self, workflow: Any, parameters: Mapping[str, Any] | None = None,
                            inputs: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], str]:
        return await run_workflow(workflow, parameters if parameters is not None else inputs)

    def execute(self, workflow: Any, parameters: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], str]:
        """Synchronous execution, for code that holds an AsyncLocalRuntime outside any loop."""
        return run_sync(run_workflow(workflow, parameters))


class LocalRuntime(AsyncLocalRuntime):
    """Runs workflows synchronously: ``results, run_id = LocalRuntime().execute(workflow)``."""

    def __init__(self, **options: Any) -> None:
        self.options = _check_options("LocalRuntime", options)

    def execute(self, workflow: Any, parameters: Mapping[str, Any] | None = None,
                inputs: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], str]:
        """Run ``workflow`` and wait; ``parameters`` feed ``${name}`` templates and per-node overrides."""
        return run_sync(run_workflow(workflow, parameters if parameters is not None else inputs))
