"""The runtime contract: what a runtime receives (a built Workflow, inputs) and returns.

``results, run_id = runtime.execute(workflow, parameters=...)``: ``results[node_id]`` is that node's
output dict. Runtimes themselves come from plugins (``dataflow_runtimes``); this module holds what
every runtime shares — how a node's parameters are assembled from its static values, templates,
incoming connections and per-run overrides, and how a node is invoked through the plugins' wrappers.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import attrs

from dataflow.errors import DataFlowError, did_you_mean
from dataflow.nodes import TEMPLATE, Node, NodeContext, node_registry
from dataflow.plugins import PluginManager
from dataflow.transactions import Scope
from dataflow.workflow import NodeEntry, Template, Workflow, get_path, set_path

__all__ = [
    "NodeObserver",
    "RunState",
    "RunTransaction",
    "Runtime",
    "check_run_context",
    "default_manager",
    "find_runtime_object",
    "invoke_node",
    "node_parameters",
    "observe_nodes",
    "run_context",
    "run_parameter_names",
    "start_node",
    "using_run_context",
]


class Runtime(Protocol):
    """What every runtime offers."""

    def execute(self, workflow: Workflow, parameters: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], str]:
        """Run ``workflow``; return ``(results by node id, run id)``."""

    async def execute_workflow_async(
        self, workflow: Workflow, inputs: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], str]:
        """Run ``workflow`` on the caller's event loop."""


@attrs.define
class RunTransaction:
    """A transaction a run holds for one DataFlow instance: for the whole run (``transaction=True``), or
    from a ``TransactionScopeNode`` to the node that ends it (``opened_by`` names that node)."""

    db: Any
    scope: Scope
    rollback_on_error: bool = True
    opened_by: str = ""


@attrs.define
class RunState:
    """One run of a workflow, as its nodes see it (``NodeContext.run``).

    ``transactions`` holds the transactions the run itself holds, by dialect: every node of that
    instance runs in it (a runtime activates ``scopes()`` around each node), and ``finish`` ends those
    still open when the run ends.
    """

    workflow: Workflow
    run_id: str
    inputs: Mapping[str, Any]
    transactions: dict[Any, RunTransaction] = attrs.field(factory=dict)

    def scopes(self) -> dict[Any, Scope]:
        return {dialect: held.scope for dialect, held in self.transactions.items()}

    async def begin(self, db: Any, *, isolation_level: Any = None, timeout: float | None = None,
                    rollback_on_error: bool = True, opened_by: str = "") -> RunTransaction:
        """Open a transaction on ``db`` for the rest of the run (a savepoint of one open around the run)."""
        scope = await db.dialect.transaction(isolation_level, timeout=timeout).open()
        held = self.transactions[db.dialect] = RunTransaction(db, scope, rollback_on_error, opened_by)
        return held

    async def end(self, held: RunTransaction, *, commit: bool) -> None:
        """Commit or roll back one of the run's transactions."""
        self.transactions.pop(held.db.dialect, None)
        await held.scope.close(None if commit else _RolledBack())

    async def finish(self, error: BaseException | None) -> list[RunTransaction]:
        """End every transaction still held: after success, commit them one after the other; after
        ``error``, roll back (those with ``rollback_on_error=False`` commit what succeeded).

        Returns the transactions rolled back. A commit that fails after another instance's committed
        is DF-804, naming both.
        """
        held, self.transactions = list(self.transactions.values()), {}
        committed: list[RunTransaction] = []
        rolled_back: list[RunTransaction] = []
        problem: BaseException | None = None
        for one in held:
            keep = problem is None and (error is None or not one.rollback_on_error)
            try:
                await one.scope.close(None if keep else (error or problem or _RolledBack()))
            except BaseException as exc:
                if keep:
                    problem = exc
                    rolled_back.append(one)
                continue
            (committed if keep else rolled_back).append(one)
        if problem is not None and error is None:  # after a failure, the run's own error is the one raised
            if committed:
                raise _committed_in_part(committed, rolled_back, problem) from problem
            raise problem
        return rolled_back


class _RolledBack(Exception):
    """Tells a scope to roll back (the run ended without committing it)."""


def _committed_in_part(committed: list[RunTransaction], lost: list[RunTransaction],
                       problem: BaseException) -> DataFlowError:
    names = ", ".join(repr(one.db.name) for one in committed)
    failed = ", ".join(repr(one.db.name) for one in lost)
    detail = f"{problem.code}: {problem.message}" if isinstance(problem, DataFlowError) else str(problem)
    return DataFlowError(
        "DF-804",
        f"The workflow's transactions committed only in part: {names} committed, then the commit of "
        f"{failed} failed ({detail}) and was rolled back.",
        context={"committed": names, "rolled_back": failed},
        solutions=["Keep a workflow that must be all-or-nothing on one DataFlow instance.",
                   "Make the second instance's writes idempotent, so that the workflow can be run again."],
    )


@functools.cache
def default_manager() -> PluginManager:
    """The plugin manager for things that belong to no DataFlow instance (runtimes, global nodes).

    Made on first use, never at import.
    """
    return PluginManager()


def find_runtime_object(name: str) -> Any:
    """``LocalRuntime`` and friends, from whichever enabled plugin offers them; DF-403 otherwise."""
    manager = default_manager()
    for _plugin, info in manager.collect("dataflow_runtimes"):
        if info.name == name:
            return info.factory
    if name.endswith("Node"):
        try:
            return node_registry.resolve(name)
        except DataFlowError:
            pass
    raise DataFlowError(
        "DF-403",
        f"No installed, enabled plugin provides {name}. Install dataflow-runtime (pip install dataflow-runtime).",
        solutions=["pip install dataflow-runtime",
                   "Check `dataflow plugins list`: the runtime plugin may be disabled."],
    )


def _render(template: Template, lookup: Any) -> Any:
    if template.whole:
        return lookup(*template.refs[0])
    return TEMPLATE.sub(lambda m: str(lookup(*(m.group(1) or m.group(2)).strip().partition(".")[::2])), template.text)


def node_parameters(
    workflow: Workflow,
    entry: NodeEntry,
    results: Mapping[str, Any],
    inputs: Mapping[str, Any],
) -> dict[str, Any]:
    """A node's parameters for this run: static values, then templates, connections, overrides.

    The built workflow is never changed: only the containers on the way to a template are copied
    (never the values beside them, which may be anything, the DataFlow object itself included).
    """
    params = dict(entry.params)
    override = inputs.get(entry.node_id)
    if entry.templates:

        def lookup(root: str, rest: str) -> Any:
            if root in workflow.nodes and root != entry.node_id:
                source = results.get(root)
                label = f"{root}.{rest}" if rest else root
            elif root in inputs:
                source = inputs[root]
                label = root
            else:
                raise DataFlowError(
                    "DF-101",
                    f"Template '${{{root}{'.' + rest if rest else ''}}}' in node {entry.node_id!r} names "
                    f"neither a node nor a run input.{did_you_mean(root, [*workflow.nodes, *inputs])}",
                    context={"node_id": entry.node_id, "template": root},
                    solutions=["Pass it in execute(..., parameters={...}) or name an upstream node."],
                )
            try:
                return get_path(source, rest)
            except (KeyError, IndexError, TypeError):
                raise DataFlowError(
                    "DF-201",
                    f"Template '{label}' in node {entry.node_id!r}: the value has no '{rest}'.",
                    context={"node_id": entry.node_id, "template": label},
                ) from None

        copied: set[int] = set()
        for template in entry.templates:
            if isinstance(override, Mapping) and template.location[0] in override:
                continue  # the run replaces this parameter: its template is not needed
            value = _render(template, lookup)
            holder: Any = params
            for step in template.location[:-1]:
                child = holder[step]
                if id(child) not in copied:
                    child = dict(child) if isinstance(child, Mapping) else list(child)
                    copied.add(id(child))
                    holder[step] = child
                holder = child
            holder[template.location[-1]] = value
    for conn in entry.incoming:
        try:
            value = get_path(results[conn.source], conn.source_output)
        except (KeyError, IndexError, TypeError):
            available = list(results.get(conn.source) or {}) if isinstance(results.get(conn.source), Mapping) else []
            raise DataFlowError(
                "DF-201",
                f"Connection {conn.source}.{conn.source_output} → {conn.target}.{conn.target_input}: "
                f"node {conn.source!r} has no output {conn.source_output!r}."
                f"{did_you_mean(conn.source_output, available)}",
                context={"source": conn.source, "output": conn.source_output, "target": conn.target,
                         "available": ", ".join(map(str, available))},
            ) from None
        if "." in conn.target_input:
            set_path(params, conn.target_input, value)
        else:
            params[conn.target_input] = value
    if isinstance(override, Mapping):
        params.update(override)
    return params


_run_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "dataflow_run_context", default=MappingProxyType({}))


def run_context() -> Mapping[str, Any]:
    """The keyword values of the workflow run in progress here (``runtime.execute(wf, tenant_id="acme")``
    gives ``{"tenant_id": "acme"}``); empty outside a run. Every node of the run, in any task, sees them."""
    return _run_context.get()


def run_parameter_names(instances: Iterable[Any]) -> dict[str, Any]:
    """The run keywords declared (``dataflow_run_parameters``) by the plugins of ``instances`` and the
    installed ones: name → ``OptionInfo``."""
    declared: dict[str, Any] = {}
    for manager in (*(db.plugins for db in instances), default_manager()):
        for info in _declared_run_parameters(manager):
            declared.setdefault(info.name, info)
    return declared


_run_parameters: weakref.WeakKeyDictionary[PluginManager, tuple[int, list[Any]]] = weakref.WeakKeyDictionary()


def _declared_run_parameters(manager: PluginManager) -> list[Any]:
    """One manager's declared run keywords, asked again only when its plugins change (runs pay nothing)."""
    plugins = len(manager.pm.get_plugins())
    known = _run_parameters.get(manager)
    if known is None or known[0] != plugins:
        known = _run_parameters[manager] = (plugins, [info for _p, info in manager.collect("dataflow_run_parameters")])
    return known[1]


def check_run_context(values: Mapping[str, Any], instances: Iterable[Any] = ()) -> None:
    """DF-102 for a run keyword (``runtime.execute(wf, tenant_id=...)``) that no plugin of ``instances``,
    nor any installed plugin, declares (``dataflow_run_parameters``), naming the closest declared one."""
    if not values:
        return
    declared = run_parameter_names(instances)
    for name in values:
        if name not in declared:
            raise DataFlowError(
                "DF-102",
                f"A workflow run takes no keyword {name!r}.{did_you_mean(name, declared)}",
                context={"parameter": name, "declared": ", ".join(sorted(declared))},
                solutions=["Run parameters go in parameters={...}; keywords such as tenant_id= come with the "
                           "plugin that declares them (`dataflow plugins list`)."],
            )


@contextlib.contextmanager
def using_run_context(values: Mapping[str, Any]) -> Iterator[None]:
    """Make ``values`` the run context (``run_context()``) inside the block, over any outer one; a
    runtime wraps each run in it, after ``check_run_context``."""
    if not values:
        yield
        return
    token = _run_context.set(MappingProxyType({**_run_context.get(), **values}))
    try:
        yield
    finally:
        _run_context.reset(token)


NodeObserver = Callable[[NodeContext, float, float, "BaseException | None"], None]
"""``observer(ctx, started, finished, error)``: told of each node run once it ends (``time.perf_counter``
times; ``error`` is what it raised, or None)."""

_observers: contextvars.ContextVar[tuple[NodeObserver, ...]] = contextvars.ContextVar("dataflow_node_observers",
                                                                                      default=())


@contextlib.contextmanager
def observe_nodes(observer: NodeObserver) -> Iterator[None]:
    """Tell ``observer`` of every node run started in this context (every node, bound to an instance
    or not, whichever runtime runs it), e.g. to time each node of a workflow::

        with observe_nodes(lambda ctx, start, end, error: timings.append((ctx.node_id, end - start))):
            runtime.execute(workflow)

    Observers see the run from outside and cannot change it; an observer that raises is a bug of its
    own and propagates. Costs nothing to runs outside the block.
    """
    token = _observers.set((*_observers.get(), observer))
    try:
        yield
    finally:
        _observers.reset(token)


def _idle(db: Any) -> bool:
    """True when every ``dataflow_execute_node`` wrapper of ``db`` says, by its ``passes_through_when``,
    that it would hand the node's coroutine back untouched now (so the hook call is skipped)."""
    checks = db._wrappers_idle
    if checks is None:
        return False
    for check in checks:  # noqa: SIM110  (a loop, not all() over a generator: on every write's path)
        if not check(db):
            return False
    return True


async def invoke_node(cls: type[Node], node_id: str, params: dict[str, Any], ctx: NodeContext) -> Any:
    """Run one node, through the ``dataflow_execute_node`` wrappers of its DataFlow instance."""
    return await start_node(cls, node_id, params, ctx)


def start_node(cls: type[Node], node_id: str, params: dict[str, Any], ctx: NodeContext) -> Awaitable[Any]:
    """``invoke_node``'s work begun now: the node made and handed to its instance's wrappers; returns
    what produces its output. For a runtime already running in the node's context (one coroutine fewer
    on every node's path); others await ``invoke_node``."""
    node = cls(node_id)
    db = cls.dataflow_instance
    observers = _observers.get()
    started = time.perf_counter() if observers else 0.0
    if db is not None and db._wrap_nodes and cls.operation not in db._unwrapped_operations and not _idle(db):
        coro = db.plugins.hook.dataflow_execute_node(node=node, params=params, ctx=ctx)
    else:
        coro = node.run(params, ctx)
    if not observers:
        return coro
    return _observed(coro, ctx, started, observers)


async def _observed(coro: Awaitable[Any], ctx: NodeContext, started: float, observers: tuple[NodeObserver, ...]) -> Any:
    error: BaseException | None = None
    try:
        return await coro
    except BaseException as exc:
        error = exc
        raise
    finally:
        finished = time.perf_counter()
        for observer in observers:
            observer(ctx, started, finished, error)
