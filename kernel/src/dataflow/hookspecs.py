"""The extension contract: every hook a DataFlow plugin can implement.

Hooks are synchronous (pluggy has no async hooks): where work is asynchronous, a hook returns an
object or a coroutine and the async work happens inside it. Call hooks with keyword arguments;
an implementation may take fewer arguments than the spec lists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from cyclopts import App

    from dataflow.dialect import OperatorCompiler, SQLDialect
    from dataflow.errors import DataFlowError, ErrorHint
    from dataflow.facade import DataFlow
    from dataflow.models import FieldSpec, ModelSpec
    from dataflow.nodes import Node, NodeContext
    from dataflow.ready import ReadyTablesLike
    from dataflow.routing import ReadRouter
    from dataflow.scopes import ModelScope
    from dataflow.types import (
        DialectInfo,
        MigrationPlan,
        MigrationStep,
        OptionInfo,
        RiskFinding,
        RuntimeInfo,
        SchemaManager,
    )

PROJECT = "dataflow"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

PER_PLUGIN_HOOKS = frozenset({
    "dataflow_options", "dataflow_db_methods", "dataflow_class_methods", "dataflow_close", "dataflow_dialects",
    "dataflow_filter_operators", "dataflow_register_model", "dataflow_runtimes", "dataflow_migration_steps",
    "dataflow_assess_migration", "dataflow_error_hints", "dataflow_register_commands", "dataflow_connection",
    "dataflow_model_scope", "dataflow_run_parameters",
})
"""Hooks DataFlow calls plugin by plugin (to know who gave what, or to isolate failures): a wrapper
(``@hookimpl(wrapper=True)``) on one of them is refused when the plugin is registered."""


# -------------------------------------------------------------------------------------------------
# Instance set-up
# -------------------------------------------------------------------------------------------------


@hookspec(historic=True)
def dataflow_configure(db: DataFlow) -> None:
    """A DataFlow instance was made; read your options from ``db.options``.

    :param db: the new instance.

    Historic: a plugin registered later on the instance is still called.

    Example::

        @hookimpl
        def dataflow_configure(db):
            db.state["audit"] = db.options.get("audit_table", "audit_log")
    """


@hookspec
def dataflow_options() -> Iterable[OptionInfo] | None:
    """Declare the ``DataFlow(...)`` options this plugin understands.

    An option no plugin declares is a DF-401 error naming the closest known option.

    Example::

        @hookimpl
        def dataflow_options():
            return [OptionInfo("schema_cache_ttl", "Seconds before a cached table check expires.", None)]
    """


@hookspec
def dataflow_db_methods(db: DataFlow) -> Mapping[str, Any] | None:
    """Methods or attributes this plugin adds to a DataFlow instance (``db.discover_schema`` …).

    :param db: the instance.

    Two plugins offering the same name is an error naming both.
    """


@hookspec
def dataflow_class_methods() -> Mapping[str, Any] | None:
    """Functions this plugin offers on the ``DataFlow`` class itself (``DataFlow.enable_test_mode()``).

    Process-wide: they are looked up, on first use of such a name, among the installed and enabled
    plugins (environment and plugin files decide, as for runtimes). Two plugins offering the same
    name is an error naming both.

    Example::

        @hookimpl
        def dataflow_class_methods():
            return {"enable_audit": enable_audit, "disable_audit": disable_audit}
    """


@hookspec
def dataflow_close(db: DataFlow) -> Coroutine[Any, Any, None] | None:
    """The instance is closing: release what the plugin holds. May return a coroutine to await."""


# -------------------------------------------------------------------------------------------------
# Dialects
# -------------------------------------------------------------------------------------------------


@hookspec
def dataflow_dialects() -> Iterable[DialectInfo] | None:
    """Offer database dialects, each with the URL schemes it serves and a factory.

    Example::

        @hookimpl
        def dataflow_dialects():
            return [DialectInfo("duckdb", ("duckdb",), DuckDBDialect, package="dataflow-duckdb")]
    """


@hookspec(firstresult=True)
def dataflow_read_router(db: DataFlow) -> ReadRouter | None:
    """A router shown every statement of ``db``'s dialect, which may run reads elsewhere (replicas).

    Stops at the first non-None result. See ``dataflow.routing.ReadRouter``: ``route(query, conn)``
    returns a coroutine running a read elsewhere, or None to run the statement on the primary.

    Example::

        @hookimpl
        def dataflow_read_router(db):
            return ReplicaRouter(db) if db.options.get("read_replicas") else None
    """


@hookspec(firstresult=True)
def dataflow_column_type(field: FieldSpec, dialect: SQLDialect) -> str | None:
    """The column type for ``field`` on ``dialect``, or None to leave it to the dialect.

    Stops at the first non-None result.
    """


@hookspec
def dataflow_filter_operators(dialect: SQLDialect) -> Mapping[str, OperatorCompiler] | None:
    """Extra filter operators (``{"$contains": compiler}``) this plugin compiles on ``dialect``."""


# -------------------------------------------------------------------------------------------------
# Models and nodes
# -------------------------------------------------------------------------------------------------


@hookspec
def dataflow_register_model(model: ModelSpec, db: DataFlow) -> ModelSpec | None:
    """A model is being registered: return an amended spec (for example with a tenant column), or None.

    Implementations are called in turn, each seeing the previous one's result.
    """


@hookspec
def dataflow_generate_nodes(model: ModelSpec, db: DataFlow, register: Callable[[str, type[Node]], None]) -> None:
    """Generate node classes for a registered model and pass each to ``register(name, cls)``.

    Example::

        @hookimpl
        def dataflow_generate_nodes(model, db, register):
            register(f"{model.name}ArchiveNode", make_archive_node(model, db))
    """


@hookspec
def dataflow_model_scope(model: ModelSpec, db: DataFlow) -> ModelScope | None:
    """A scope for ``model`` on ``db`` (``dataflow.scopes.ModelScope``), or None to leave it alone.

    Asked once per model, when it is registered (after its nodes are generated). The scope's
    ``node_params(node, params)`` amends the parameters of every node of the model before the node
    reads them; its ``query(query)`` amends or refuses (raises a ``DataFlowError``) every query the
    instance's dialect runs on the model's table, whoever built it. Several plugins' scopes apply in
    plugin-name order, each seeing the previous one's result; a model nobody scopes costs nothing.

    Example::

        @hookimpl
        def dataflow_model_scope(model, db):
            if model.options.get("read_only"):
                return ReadOnlyScope(model)  # its query() raises on Insert / Update / Delete / Upsert
    """


@hookspec
def dataflow_node_types(register: Callable[[str, type[Node]], None]) -> None:
    """Register node types that belong to no model (``PythonCodeNode`` …) with ``register(name, cls)``."""


@hookspec(firstresult=True)
def dataflow_execute_node(node: Node, params: dict[str, Any], ctx: NodeContext) -> Coroutine[Any, Any, Any] | None:
    """Run a node: return the coroutine that produces its output dict. Stops at the first result.

    Wrappers (``@hookimpl(wrapper=True)``) receive the inner coroutine from ``yield`` and return a
    coroutine wrapping it: timing, write protection, tenancy, schema caching.

    A wrapper that hands some operations' coroutines back untouched says which on its function
    (``dataflow_execute_node.passes_through = frozenset({"read", "list"})``): nodes of an operation
    every implementation passes through run without the hook call (reads pay nothing for a plugin
    that only guards writes). One whose wrapping depends on the instance's state says when it is idle
    (``dataflow_execute_node.passes_through_when = fn``, ``fn(db) -> bool``, asked before each node): while
    every implementation's answers True, the instance's nodes run without the hook call too (writes pay
    nothing for write protection that has no rule).
    """


@hookspec
def dataflow_connection(connection: Any, db: DataFlow) -> Any | None:
    """A connection ``db.connection()`` hands out: return an object to hand out instead, or None.

    The object wraps ``connection`` and offers the same ``fetch`` / ``execute`` / ``executemany``
    (write protection refuses raw writes there). Implementations are chained: each receives the
    previous one's result as ``connection``.
    """


@hookspec
def dataflow_run_parameters() -> Iterable[OptionInfo] | None:
    """Keyword arguments a workflow run accepts beside its parameters (``runtime.execute(wf, tenant_id="acme")``).

    Nodes and plugins read a run's values with ``dataflow.runtime.run_context()``. A keyword no
    enabled plugin declares is a DF-102 naming the closest declared one.

    Example::

        @hookimpl
        def dataflow_run_parameters():
            return [OptionInfo("tenant_id", "The tenant every node of the run acts for.")]
    """


@hookspec
def dataflow_runtimes() -> Iterable[RuntimeInfo] | None:
    """Offer runtimes (``LocalRuntime`` …) by name."""


# -------------------------------------------------------------------------------------------------
# Schema and migrations
# -------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def dataflow_schema_manager(db: DataFlow) -> SchemaManager | None:
    """An object whose ``async ensure(db, models)`` makes the tables of ``models`` ready.

    Stops at the first non-None result; the kernel's own (create missing tables, add missing
    columns) is used when no plugin offers one.
    """


@hookspec(firstresult=True)
def dataflow_schema_cache(db: DataFlow) -> ReadyTablesLike | None:
    """The memo of which models' tables are ready: an object with ``is_ready(model)``,
    ``mark_ready(model)`` and ``invalidate(model_name=None)``, thread-safe.

    Stops at the first non-None result; the kernel's plain memo (``dataflow.ready.ReadyTables``) is
    used when no plugin offers one.
    """


@hookspec
def dataflow_migration_steps(plan: MigrationPlan, db: DataFlow) -> Iterable[MigrationStep] | None:
    """Extra steps for a migration plan (return the steps to append; their SQL from ``db.dialect``).

    :param plan: the plan as the planner made it (its steps, rename candidates, follow-ups).
    :param db: the instance being migrated.

    Called in isolation: a failing plugin is logged and planning goes on.
    """


@hookspec
def dataflow_assess_migration(
    plan: MigrationPlan, db: DataFlow
) -> Iterable[RiskFinding] | Awaitable[Iterable[RiskFinding]] | None:
    """Risk findings for a migration plan before it is applied (or an awaitable of them, to ask the database).

    :param plan: the plan, each finding's ``step_index`` pointing into ``plan.steps``.
    :param db: the instance being migrated.

    Called in isolation: a failing plugin is logged; the migrate plugin's baseline findings still
    guard destructive steps.
    """


@hookspec(firstresult=True)
def dataflow_migration_lock(db: DataFlow, scope: str) -> AbstractAsyncContextManager[Any] | None:
    """An async context manager holding the migration lock for ``scope``. Stops at the first result.

    Without any implementation the migrate plugin holds the dialect's own primitive
    (``db.dialect.migration_lock``). An implementation holds that primitive too (adding what it
    likes around it): auto-migration checks it, not the implementation, where one write transaction
    is as exclusive as the lock (``SchemaDialect.lock_kept_free``: SQLite's new tables).
    """


# -------------------------------------------------------------------------------------------------
# Errors and the command line
# -------------------------------------------------------------------------------------------------


@hookspec
def dataflow_error_hints(error: DataFlowError) -> Iterable[ErrorHint] | None:
    """Hints (title, causes, solutions) for ``error``.

    Each provider is called in isolation: one that fails never hides the error. Hints are applied
    in plugin-name order and the kernel's own win on a clash.
    """


@hookspec
def dataflow_register_commands(app: App) -> None:
    """Add commands to the ``dataflow`` CLI (a cyclopts ``App``).

    Register by import path, with a one-line summary for the listing: the command's module then loads
    only when the command runs, so ``dataflow --help`` stays fast (the command's own ``--help`` shows
    its docstring).

    Example::

        @hookimpl
        def dataflow_register_commands(app):
            app.command("acme_dataflow_hello.cli:hello", name="hello", help="Print a greeting.")
    """
