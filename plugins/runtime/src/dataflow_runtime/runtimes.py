"""The workflow runtimes: run a built workflow's nodes in the order it allows.

A node starts as soon as every node it waits for is done (``NodeEntry.waits_for``: its connections
and templates, and the order rule that keeps two nodes of one DataFlow instance in the order they
were added when one of them writes). Nodes that may overlap run concurrently in an asyncio task group;
a node whose completion readies exactly one next node hands over to it in the same task, so a chain
costs no task at all. ``max_concurrency=N`` bounds how many nodes run at once; ``max_concurrency=1``
runs them one at a time, in the order added (``Workflow.order``).

``AsyncLocalRuntime`` runs on the caller's event loop. ``LocalRuntime`` is its synchronous face: it
runs the same coroutine on DataFlow's long-lived background loop (in the caller's context, so a
``with db.transaction():`` around ``execute()`` covers the nodes), so connection pools survive from
one ``execute()`` to the next and no call ever meets a closed loop. A failing node always surfaces
as ``WorkflowExecutionError`` (DF-802) naming the node, with the cause chained.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any

from dataflow.errors import DataFlowError, WorkflowExecutionError, did_you_mean
from dataflow.loop import run_sync
from dataflow.nodes import NodeContext
from dataflow.routing import running
from dataflow.runtime import (
    RunState,
    check_run_context,
    default_manager,
    node_parameters,
    start_node,
    using_run_context,
)
from dataflow.transactions import activate, deactivate
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
    if type(inputs) is not dict and not isinstance(inputs, Mapping):  # dict first: the ABC check costs more
        raise DataFlowError("DF-102", f"Workflow parameters must be a dict, got {type(inputs).__name__}.")
    return inputs


async def _run_node(state: RunState, node_id: str, results: dict[str, Any]) -> None:
    workflow = state.workflow
    entry = workflow.nodes[node_id]
    try:
        params = node_parameters(workflow, entry, results, state.inputs)
        ctx = NodeContext(node_id, state.run_id, entry.type_name, state.inputs, state)
        if state.transactions:
            output = await _in_run_transactions(state, entry.cls, node_id, params, ctx)
        else:
            output = await start_node(entry.cls, node_id, params, ctx)
    except Exception as exc:
        error = WorkflowExecutionError(node_id, entry.type_name, exc)
        db = entry.cls.dataflow_instance
        if db is not None:
            db.enhance(error)  # the catalogue's DF-802 hints, rendered in the instance's mode
        elif error.effective_mode() != "DISABLED":
            default_manager().apply_error_hints(error)
        raise error from exc
    if type(output) is not dict and not isinstance(output, Mapping):  # dict first: the ABC check costs more
        output = {"result": output}
    results[node_id] = output


async def _in_run_transactions(state: RunState, cls: Any, node_id: str, params: dict[str, Any],
                               ctx: NodeContext) -> Any:
    """Run a node inside the transactions the run holds (and, where a scope keeps going after a failed
    node, inside a savepoint of its own, so that its writes are undone alone)."""
    token = activate(state.scopes())
    try:
        db = cls.dataflow_instance
        held = state.transactions.get(db.dialect) if db is not None else None
        if held is not None and not held.rollback_on_error:
            async with db.dialect.transaction():
                return await start_node(cls, node_id, params, ctx)
        return await start_node(cls, node_id, params, ctx)
    finally:
        deactivate(token)


async def run_workflow(workflow: Any, inputs: Any = None, *, max_concurrency: int | None = None,
                       transaction: bool = False,
                       context: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """Run every node of ``workflow``; return ``(results by node id, run id)``.

    ``transaction=True``: one transaction per DataFlow instance the nodes declare they touch, committed
    one after the other once the last node has succeeded; after a failure all are rolled back and the
    DF-802 says so. ``context``: the run's keywords (``tenant_id=`` …) that plugins declare
    (``dataflow_run_parameters``); nodes read them with ``dataflow.runtime.run_context()``.
    """
    built = _as_workflow(workflow)
    given = _as_inputs(inputs)
    try:
        built.check_inputs(given)
        check_run_context(context or {}, built.instances)
    except DataFlowError as exc:
        if exc.effective_mode() != "DISABLED":  # hints from the process-wide plugins, as build() gives them
            default_manager().apply_error_hints(exc)
        raise
    if not context:  # the usual run: no context to set (nor a generator-based block to enter)
        return await _run(built, given, max_concurrency, transaction)
    with using_run_context(context):
        return await _run(built, given, max_concurrency, transaction)


async def _run(built: Workflow, given: Mapping[str, Any], max_concurrency: int | None,
               transaction: bool) -> tuple[dict[str, Any], str]:
    state = RunState(built, f"{_RUN_PREFIX}-{next(_run_numbers)}", given)
    results: dict[str, Any] = {}
    with running(state):  # read-your-writes knows the run and who started it
        try:
            if transaction:
                for db in built.instances:
                    await state.begin(db)
            if max_concurrency == 1 or len(built.nodes) == 1 or _chooses_instance_late(built, given):
                # One node needs no task group (whose set-up is a measurable share of a one-row read).
                for node_id in built.order:
                    await _run_node(state, node_id, results)
            elif built.nodes:
                await _run_concurrently(state, results, max_concurrency)
        except BaseException as exc:
            rolled_back = await state.finish(exc)
            if isinstance(exc, WorkflowExecutionError) and rolled_back:
                if transaction:
                    exc.mark_rolled_back()
                else:
                    opened = ", ".join(repr(held.opened_by) for held in rolled_back)
                    exc.mark_rolled_back(f"The transaction opened by {opened} was rolled back.")
            raise
        if state.transactions:
            await state.finish(None)
        return results, state.run_id


def _chooses_instance_late(built: Workflow, given: Mapping[str, Any]) -> bool:
    """A run parameter that picks a node's ``db_instance`` changes what it touches after build():
    such a run keeps the whole order added rather than trust the order computed at build()."""
    return any(isinstance(given.get(node_id), Mapping) and "db_instance" in given[node_id] for node_id in built.nodes)


async def _run_concurrently(state: RunState, results: dict[str, Any], limit: int | None) -> None:
    # asyncio's own TaskGroup, not anyio's: a node run here is one task, and anyio's task start-up (cancel
    # scope, wrapper coroutine, task name) cost ~40 % of a 1,000-node run of nodes that do nothing. The
    # semantics the runtime relies on are the same: the first failure cancels the rest and the group raises
    # them together.
    nodes = state.workflow.nodes
    waiting = {node_id: len(entry.waits_for) for node_id, entry in nodes.items()}
    ready = [node_id for node_id in state.workflow.order if not waiting[node_id]]
    limiter = asyncio.Semaphore(limit) if limit else None

    async def chain(node_id: str | None) -> None:
        while node_id is not None:
            if limiter is None:
                await _run_node(state, node_id, results)
            else:
                async with limiter:
                    await _run_node(state, node_id, results)
            follow: str | None = None
            for nxt in nodes[node_id].dependents:
                waiting[nxt] -= 1
                if not waiting[nxt]:
                    if follow is None:
                        follow = nxt
                    else:
                        group.create_task(chain(nxt))
            node_id = follow

    try:
        async with asyncio.TaskGroup() as group:
            for node_id in ready[1:]:
                group.create_task(chain(node_id))
            await chain(ready[0])
    except BaseExceptionGroup as group_error:
        first = _first_error(group_error)
        raise first from first.__cause__  # "from None" would drop the node's chained cause


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
    limit = options.get("max_concurrency")
    if limit is not None and (type(limit) is not int or limit < 1):
        raise DataFlowError("DF-401", f"{kind}: max_concurrency must be a whole number ≥ 1 (or None), got {limit!r}.",
                            context={"option": "max_concurrency"})
    return dict(options)


class AsyncLocalRuntime:
    """Runs workflows on the caller's event loop; reusable, safe to share between tasks.

    :param max_concurrency: at most this many nodes at once (1: one at a time, in the order added).

    Every ``execute`` method takes ``transaction=True``: all the workflow's writes commit together
    after its last node succeeds, or none are kept (see ``run_workflow``).
    """

    def __init__(self, **options: Any) -> None:
        self.options = _check_options(type(self).__name__, options)

    def _run(self, workflow: Any, inputs: Any, transaction: Any,
             context: Mapping[str, Any]) -> Coroutine[Any, Any, tuple[dict[str, Any], str]]:
        if not isinstance(transaction, bool):
            raise DataFlowError("DF-102", f"transaction= takes True or False, got {transaction!r}.",
                                context={"parameter": "transaction"})
        return run_workflow(workflow, inputs, max_concurrency=self.options.get("max_concurrency"),
                            transaction=transaction, context=context)

    async def execute_workflow_async(self, workflow: Any, inputs: Mapping[str, Any] | None = None, *,
                                     transaction: bool = False, **kwargs: Any) -> tuple[dict[str, Any], str]:
        """Run ``workflow``; ``inputs`` feed ``${name}`` templates and per-node overrides; other keywords
        (``tenant_id=`` …) are the run's context (see ``run_workflow``)."""
        parameters = kwargs.pop("parameters", None)
        return await self._run(workflow, inputs if inputs is not None else parameters, transaction, kwargs)

    async def execute_async(self, workflow: Any, parameters: Mapping[str, Any] | None = None,
                            inputs: Mapping[str, Any] | None = None, *,
                            transaction: bool = False, **context: Any) -> tuple[dict[str, Any], str]:
        return await self._run(workflow, parameters if parameters is not None else inputs, transaction, context)

    def execute(self, workflow: Any, parameters: Mapping[str, Any] | None = None,
                inputs: Mapping[str, Any] | None = None, *, transaction: bool = False,
                **context: Any) -> tuple[dict[str, Any], str]:
        """Run ``workflow`` and wait (on DataFlow's background loop, in the caller's context);
        ``parameters`` feed ``${name}`` templates and per-node overrides; other keywords (``tenant_id=``
        …) are the run's context, declared by plugins (``dataflow_run_parameters``)."""
        return run_sync(self._run(workflow, parameters if parameters is not None else inputs, transaction, context))


class LocalRuntime(AsyncLocalRuntime):
    """Runs workflows synchronously: ``results, run_id = LocalRuntime().execute(workflow)``."""
