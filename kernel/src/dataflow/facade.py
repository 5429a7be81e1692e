"""``DataFlow``: the object users hold — URL → dialect, models, generated nodes, options, plugins.

``DataFlow()`` with no URL uses ``DATABASE_URL`` if set, else an embedded SQLite file
(``dataflow.db`` in the working directory). Everything a plugin adds arrives through hooks: the
dialect for the URL's scheme, the nodes for each model, extra methods (``db.discover_schema``), the
schema manager that makes tables ready on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import itertools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import dataflow.loop  # noqa: F401 - imported first so that its atexit handler runs after ours
from dataflow import rawsql
from dataflow.dialect import LoopLocal, SQLDialect
from dataflow.errors import DataFlowError, did_you_mean
from dataflow.express import Express, ExpressSync
from dataflow.models import ModelSpec, check_name_clashes, model_spec_from_class, resolve_relations
from dataflow.nodes import Node, node_registry
from dataflow.options import KERNEL_OPTIONS, Options, check_options, missing_plugin
from dataflow.plugins import PluginManager
from dataflow.ready import ReadyTables, ReadyTablesLike
from dataflow.resolve import dialect_infos, resolve_dialect
from dataflow.scopes import ModelScope, scope_queries
from dataflow.transactions import Scope, TransactionBlock, activate, deactivate
from dataflow.types import DialectInfo
from dataflow.url import DatabaseURL, parse_url

__all__ = ["KERNEL_OPTIONS", "DataFlow", "run_in_background"]

DEFAULT_SQLITE_FILE = "dataflow.db"

_instance_numbers = itertools.count(1)

_live: set[DataFlow] = set()
"""Instances not yet closed: released at interpreter exit, before the background loop stops. Held
strongly: an open instance stays usable by its node names even when its maker kept no reference (the
node registry holds instances and their node classes weakly); ``close()`` lets it go."""
_EXIT_CLOSE_TIMEOUT = 5.0


def _close_at_exit() -> None:
    """Close every instance its user forgot to close, while the loop its pools live on still runs.

    Without this a driver's connections are finalised after the loop has stopped, and print
    "Exception ignored … Event loop is closed" (aiomysql) as the interpreter exits.
    """
    from dataflow.loop import run_sync

    for db in list(_live):
        with contextlib.suppress(Exception):  # exiting anyway: one failure must not stop the others
            run_sync(db.close_async(), timeout=_EXIT_CLOSE_TIMEOUT)
        with contextlib.suppress(Exception):
            db.dialect.close_sync()


# Registered after dataflow.loop's own handler (imported above), so it runs first: atexit is LIFO.
atexit.register(_close_at_exit)


KNOWN_PLUGIN_ATTRIBUTES = {
    "enable_test_mode": "dataflow-testing",
    "disable_test_mode": "dataflow-testing",
    "cleanup_stale_pools": "dataflow-testing",
    "cleanup_all_pools": "dataflow-testing",
    "get_cleanup_metrics": "dataflow-testing",
    "protection": "dataflow-protect",
    "audit_context": "dataflow-protect",
    "audit": "dataflow-protect",
    "_schema_cache": "dataflow-schema-cache",
}
"""Attributes first-party plugins add (``dataflow_db_methods`` / ``dataflow_class_methods``): when the
plugin is missing, the AttributeError names the package."""


def _no_attribute(owner: str, name: str) -> AttributeError:
    package = KNOWN_PLUGIN_ATTRIBUTES.get(name)
    if package is None:
        return AttributeError(f"{owner!r} object has no attribute {name!r}")
    return AttributeError(f"{owner}.{name} comes with the {package} plugin, which is not installed or is "
                          f"disabled (pip install {package}; `dataflow plugins list` shows its status).")


@functools.cache
def class_methods() -> dict[str, Any]:
    """The attributes plugins offer on the DataFlow class (``dataflow_class_methods``), process-wide."""
    from dataflow.runtime import default_manager

    methods: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for plugin, mapping in default_manager().call_isolated("dataflow_class_methods"):
        for key, value in mapping.items():
            if key in methods:
                raise DataFlowError("DF-404", f"Plugins {owners[key]!r} and {plugin!r} both add DataFlow.{key}.")
            methods[key], owners[key] = value, plugin
    return methods


class _DataFlowType(type):
    """DataFlow's metaclass: class attributes that plugins offer (``DataFlow.enable_test_mode()``)."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):  # introspection (copy, pickle, typing …) never loads plugins
            raise AttributeError(name)
        methods = class_methods()
        if name in methods:
            return methods[name]
        raise _no_attribute("DataFlow", name)


class DataFlow(metaclass=_DataFlowType):
    """A database, its models and their generated nodes.

    :param database_url: ``sqlite:///app.db``, ``postgresql://…``, ``mysql://…``; default
        ``DATABASE_URL`` or an embedded SQLite file.
    :param name: a name nodes can choose this instance by (``db_instance="main"``).
    :param plugins: an allow-list of plugin names (and/or plugin objects to register).
    :param disable_plugins: plugin names not to load.
    :param autoload: load installed plugins (False in tests that register their own).
    :param options: the spec's options (``auto_migrate``, ``pool_size`` …) and plugins' options.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        name: str | None = None,
        plugins: Iterable[Any] | None = None,
        disable_plugins: Iterable[str] = (),
        autoload: bool = True,
        **options: Any,
    ) -> None:
        if database_url is None:
            database_url = options.pop("url", None) or os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_FILE}"
        if name is not None and not isinstance(name, str):
            raise DataFlowError("DF-401", f"name= must be a string, got {type(name).__name__}.")
        self.name = name or f"dataflow-{next(_instance_numbers)}"
        self.plugins = PluginManager(autoload=autoload, plugins=plugins, disable=disable_plugins)
        declared = {o.name: o for _, o in self.plugins.collect("dataflow_options")}
        self.options: Options = check_options(options, declared, self.error)
        try:
            self.url: DatabaseURL = parse_url(database_url)
            self.error_mode = self.options.kernel.error_mode()
        except DataFlowError as exc:
            raise self.enhance(exc) from None
        self.models: dict[str, ModelSpec] = {}
        self._nodes: dict[str, type[Node]] = {}
        self.state: dict[str, Any] = {}
        self.model_scopes: dict[str, tuple[ModelScope, ...]] = {}
        """The scopes plugins put on each model (``dataflow_model_scope``), by model name."""
        self._closed = False
        kernel = self.options.kernel
        self.dialect: SQLDialect = resolve_dialect(self.plugins, self.url, kernel.dialect_options(), self.error)
        self._ready_tables: ReadyTablesLike = self.plugins.hook.dataflow_schema_cache(db=self) or ReadyTables()
        self._ensure_locks: LoopLocal[dict[str, asyncio.Lock]] = LoopLocal()
        self._wrap_connections = self.plugins.has_impls("dataflow_connection")
        self._methods = self._collect_methods()
        # Node types of this instance's plugins (plugin objects given in plugins= included) resolve by
        # name while it lives; the process-wide loader only sees the installed entry points.
        self.plugins.hook.dataflow_node_types(register=self._register_node_type)
        self.schema_manager = self.plugins.hook.dataflow_schema_manager(db=self)
        self.plugins.hook.dataflow_configure.call_historic(kwargs={"db": self})
        # After configure: a router may need what the plugins set up there.
        self.dialect.read_router = self.plugins.hook.dataflow_read_router(db=self)
        # After configure: a plugin may register a plugin object of its own on this instance there.
        self._wrap_nodes = self.plugins.has_impls("dataflow_execute_node")
        self._unwrapped_operations = self.plugins.operations_passed_through()
        self._wrappers_idle = self.plugins.node_wrappers_idle_checks()
        node_registry.add_instance(self)
        _live.add(self)

    # ---- construction --------------------------------------------------------------------
    def dialect_infos(self) -> list[tuple[str, DialectInfo]]:
        """(plugin name, DialectInfo) for every dialect the enabled plugins offer."""
        return dialect_infos(self.plugins)

    def make_dialect(self, url: DatabaseURL | str) -> SQLDialect:
        """A new dialect for ``url`` built as this instance's was (its plugins, its options, its filter
        operators), with pools of its own: a read replica's, for instance. The caller closes it."""
        try:
            parsed = url if isinstance(url, DatabaseURL) else parse_url(url)
        except DataFlowError as exc:
            raise self.enhance(exc) from None
        return resolve_dialect(self.plugins, parsed, self.options.kernel.dialect_options(), self.error)

    def _collect_methods(self) -> dict[str, Any]:
        methods: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for plugin, mapping in self.plugins.call_isolated("dataflow_db_methods", db=self,
                                                          on_error=self._methods_failed):
            for key, value in mapping.items():
                if key in methods:
                    raise self.error("DF-404", f"Plugins {owners[key]!r} and {plugin!r} both add db.{key}.")
                methods[key], owners[key] = value, plugin
        return methods

    def _methods_failed(self, plugin: str, exc: Exception) -> None:
        """A plugin's ``dataflow_db_methods`` raised: the instance would lack its methods, so it is not made."""
        raise self.error(
            "DF-405",
            f"The plugin {plugin!r} failed while adding its methods to the instance: {type(exc).__name__}: {exc}",
            plugin=plugin,
            solutions=[f"Disable the plugin (disable_plugins=[{plugin!r}]) or fix it; its traceback is chained."],
        ) from exc

    def __getattr__(self, name: str) -> Any:
        methods = self.__dict__.get("_methods")
        if methods is not None and name in methods:
            return methods[name]
        if not name.startswith("__") and name in class_methods():
            return class_methods()[name]
        raise _no_attribute("DataFlow", name)

    # ---- errors ------------------------------------------------------------------------------
    def error(self, code: str, message: str, *, solutions: Iterable[str] = (), **context: Any) -> DataFlowError:
        """A DataFlowError rendered in this instance's mode and enhanced by the plugins' hints."""
        return self.enhance(DataFlowError(code, message, context=context, solutions=solutions))

    def enhance(self, error: DataFlowError) -> DataFlowError:
        """Fold the plugins' hints into ``error`` (once) and set its rendering mode."""
        error.render_mode = getattr(self, "error_mode", None)
        if error.render_mode == "DISABLED":
            return error
        return self.plugins.apply_error_hints(error)

    # ---- models ------------------------------------------------------------------------------
    def model(self, cls: type | None = None, **kwargs: Any) -> Any:
        """Class decorator: register a model and generate its nodes (``@db.model``)."""
        if cls is None:
            return lambda c: self.model(c, **kwargs)
        try:
            spec = model_spec_from_class(cls)
        except DataFlowError as exc:
            raise self.enhance(exc) from None
        self.register_model(spec)
        cls.__dataflow_model__ = spec  # type: ignore[attr-defined]
        return cls

    def register_model(self, spec: ModelSpec) -> ModelSpec:
        """Register a ModelSpec (from a class or discovered) and generate its nodes."""
        if spec.name in self.models:
            raise self.error("DF-602", f"A model named {spec.name!r} is already registered on this instance.",
                             model=spec.name, solutions=["Give the model another class name, or use another instance."])
        needs = missing_plugin(spec.options, self.options)
        if needs is not None:
            raise self.error("DF-401", f"Model {spec.name} sets {needs[0]}=True, which needs the {needs[1]} plugin; "
                                       f"it is not installed or is disabled.", model=spec.name,
                             solutions=[f"pip install {needs[1]}, or enable it (`dataflow plugins list`)."])
        spec = self.plugins.call_chain("dataflow_register_model", spec, db=self)
        try:
            check_name_clashes(spec, self.models.values())  # plugins may have added columns
            spec = resolve_relations(spec, self.models)
        except DataFlowError as exc:
            raise self.enhance(exc) from None
        self._check_index_methods(spec)
        if spec.options.get("use_native_arrays") is True and not any(f.native_array for f in spec.fields) \
                and any(f.kind == "array" for f in spec.fields):
            # No plugin took the option: the lists would silently be JSON, which the model says it does not want.
            raise self.error("DF-407", f"Model {spec.name} asks for use_native_arrays, which comes with the "
                                       "dataflow-native-arrays plugin (not installed, or disabled).",
                             model=spec.name, solutions=["pip install dataflow-native-arrays (PostgreSQL only), or "
                                                         "remove use_native_arrays to store lists as JSON."])
        self.models[spec.name] = spec
        generated: list[str] = []

        def register(node_name: str, node_cls: type[Node]) -> None:
            node_cls.dataflow_instance = self
            self._nodes[node_name] = node_cls
            node_registry.add(node_name, node_cls, self)
            generated.append(node_name)

        self.plugins.hook.dataflow_generate_nodes(model=spec, db=self, register=register)
        self.state.setdefault("generated", {})[spec.name] = generated
        scopes = tuple(scope for _plugin, scope in self.plugins.results("dataflow_model_scope", model=spec, db=self))
        if scopes:
            self.model_scopes[spec.name] = scopes
            scope_queries(self.dialect, self.model_scopes)
        return spec

    def _check_index_methods(self, spec: ModelSpec) -> None:
        """DF-610 for an index ``"using"`` a method this database does not have (before any DDL)."""
        methods = self.dialect.index_methods
        for index in spec.indexes:
            if index.using is not None and index.using not in methods:
                available = ", ".join(sorted(methods)) or "none"
                raise self.error(
                    "DF-610",
                    f"Index {index.name!r} of {spec.name} asks for the index method {index.using!r}, which "
                    f"{self.dialect.name} does not have (methods it has: {available}).",
                    model=spec.name, index=index.name, using=index.using, dialect=self.dialect.name,
                    solutions=["Drop \"using\" from the index to get the database's default index, or declare "
                               "the index on a database that has the method (GIN: PostgreSQL)."])

    def _register_node_type(self, node_name: str, node_cls: type[Node]) -> None:
        self._nodes[node_name] = node_cls
        node_registry.add(node_name, node_cls, self)

    def get_model(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            raise self.error("DF-605", f"No model named {name!r} on this instance.{did_you_mean(name, self.models)}",
                             model=name) from None

    def list_models(self) -> list[str]:
        return list(self.models)

    def get_models(self) -> dict[str, ModelSpec]:
        return dict(self.models)

    def column_types(self, model: ModelSpec) -> dict[str, str]:
        """Column types for ``model``: plugins' ``dataflow_column_type`` first, then the dialect."""
        hook = self.plugins.hook.dataflow_column_type
        types = {}
        for field in model.fields:
            chosen = hook(field=field, dialect=self.dialect) if self.plugins.has_impls("dataflow_column_type") else None
            types[field.name] = chosen or self.dialect.column_type(field)
        return types

    # ---- schema --------------------------------------------------------------------------
    async def ensure_ready(self, model: ModelSpec) -> None:
        """Make ``model``'s table ready (create / add columns, per the options); remembered once known.

        One task per event loop and model does the work; the others wait for it. Without this, many
        tasks meeting a new table at once each hold a pooled connection while they queue for the
        schema, and the pool runs dry (DF-507) before any of them finishes.
        """
        if self._ready_tables.is_ready(model):
            return
        for relation in model.relations:  # a foreign key needs the table it refers to first
            target = self.models.get(relation.target)
            if target is not None and target.name != model.name:
                await self.ensure_ready(target)
        dialect = self.dialect
        scope = dialect.current_transaction()
        if scope is not None and not (dialect.schema_in_transaction
                                      or (scope.tx.held and dialect.transactional_ddl)):
            # Schema changes commit on their own (MySQL would commit the open transaction with them).
            # An instance transaction (TDD) on a database whose DDL is transactional makes them in
            # it instead, so that they are rolled back with it.
            token = activate({dialect: None})
            try:
                await self._ensure(model, None)
            finally:
                deactivate(token)
            return
        await self._ensure(model, scope)

    async def _ensure(self, model: ModelSpec, scope: Scope | None) -> None:
        locks = self._ensure_locks.get()
        if locks is None:
            locks = {}
            self._ensure_locks.set(locks)
        async with locks.setdefault(model.name, asyncio.Lock()):
            if self._ready_tables.is_ready(model):
                return
            await self.schema_manager.ensure(self, [model])
            if scope is None:
                self._ready_tables.mark_ready(model)
            elif scope.tx.held:
                # Every statement of the instance runs in an instance transaction: the table is ready
                # for all of them now, and gone again if what made it is rolled back.
                self._ready_tables.mark_ready(model)
                scope.on_rollback(lambda: self._ready_tables.invalidate(model.name))
            else:  # made inside the open transaction: ready once it commits, gone if it rolls back
                scope.tx.on_commit(lambda: self._ready_tables.mark_ready(model))

    def forget_schema(self, tables: Iterable[str] | None = None) -> None:
        """Forget that the models of ``tables`` (every model when None) are ready, in this instance and in
        every other instance of this process on the same database: their next operation checks the
        schema again. Migrations call it for the tables they change."""
        wanted = None if tables is None else set(tables)
        for db in [self, *(d for d in list(_live) if d is not self and d.url == self.url)]:
            for model in list(db.models.values()):
                if wanted is None or model.table in wanted:
                    db._ready_tables.invalidate(model.name)

    # ---- direct calls ------------------------------------------------------------------------
    @functools.cached_property
    def express(self) -> Express:
        """Direct calls of the generated nodes, without a workflow: ``await db.express.read("User", 1)``
        (see ``dataflow.express``)."""
        return Express(self)

    @functools.cached_property
    def express_sync(self) -> ExpressSync:
        """``db.express`` from synchronous code: ``db.express_sync.read("User", 1)``."""
        return ExpressSync(self.express)

    # ---- raw SQL -------------------------------------------------------------------------------
    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of one SQL statement as dicts: ``await db.fetch("SELECT … WHERE id = :id", {"id": 1})``.

        Named placeholders on every database, values always bound, in the current transaction when
        there is one; model fields decoded as the nodes decode them (see ``dataflow.rawsql``).
        """
        return await rawsql.fetch(self, sql, params)

    async def fetch_one(self, sql: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The first row of one SQL statement as a dict, or None."""
        return await rawsql.fetch_one(self, sql, params)

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one SQL statement; the number of rows it changed."""
        return await rawsql.execute(self, sql, params)

    def fetch_sync(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """``fetch`` from synchronous code (inside the caller's ``with db.transaction():``)."""
        from dataflow.loop import run_sync

        return run_sync(rawsql.fetch(self, sql, params))

    def fetch_one_sync(self, sql: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """``fetch_one`` from synchronous code."""
        from dataflow.loop import run_sync

        return run_sync(rawsql.fetch_one(self, sql, params))

    def execute_sync(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """``execute`` from synchronous code."""
        from dataflow.loop import run_sync

        return run_sync(rawsql.execute(self, sql, params))

    # ---- connections -------------------------------------------------------------------------
    def connection(self) -> Any:
        """``async with db.connection() as conn``: the connection of the transaction open here (this
        task or thread), else a pooled one — always the primary's, never a read replica's; as the plugins'
        ``dataflow_connection`` wrap it."""
        if self.dialect.read_router is not None:
            self.dialect.read_router.wrote()  # raw SQL may write: later reads here see it
        if not self._wrap_connections:
            return self.dialect.scoped_connection()
        return _PluginConnection(self)

    def transaction(self, isolation_level: str | None = None, *, timeout: float | None = None) -> TransactionBlock:
        """``with db.transaction():`` or ``async with db.transaction() as conn:`` — one transaction.

        Every node of this instance run inside it, by either runtime, uses its connection; an exception
        rolls everything back; a nested block is a savepoint. It belongs to the thread or task that
        opened it. ``isolation_level``: ``"READ_COMMITTED"``, ``"REPEATABLE_READ"`` or ``"SERIALIZABLE"``
        (None: the database's default; SQLite is always serializable). ``timeout``: seconds, checked
        before each statement and at commit (DF-805).
        """
        if self.dialect.read_router is not None:
            self.dialect.read_router.wrote()  # its reads run in it, on the primary, and so do later ones here
        return self.dialect.transaction(isolation_level, timeout=timeout)

    async def close_async(self) -> None:
        """Release every pool and connection of this instance."""
        _live.discard(self)
        for _plugin, result in self.plugins.call_isolated("dataflow_close", db=self):
            if hasattr(result, "__await__"):
                await result
        await self.dialect.close()

    def close(self) -> None:
        """Synchronous ``close_async`` (runs on DataFlow's background loop)."""
        from dataflow.loop import run_sync

        run_sync(self.close_async())
        self.dialect.close_sync()

    def __enter__(self) -> DataFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> DataFlow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close_async()

    def __repr__(self) -> str:
        return f"DataFlow(name={self.name!r}, url={str(self.url)!r}, models={list(self.models)})"


class _PluginConnection:
    """``db.connection()`` when plugins wrap connections: the dialect's scoped connection, handed out
    as the ``dataflow_connection`` implementations wrap it."""

    def __init__(self, db: DataFlow) -> None:
        self._db = db
        self._scoped: Any = None

    async def __aenter__(self) -> Any:
        self._scoped = self._db.dialect.scoped_connection()
        conn = await self._scoped.__aenter__()
        try:
            return self._db.plugins.call_chain("dataflow_connection", conn, db=self._db)
        except BaseException as exc:
            await self._scoped.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._scoped.__aexit__(*exc)


def run_in_background(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an async function of a plugin as a synchronous method (``db.discover_schema()``)."""
    from dataflow.loop import run_sync

    def call(*args: Any, **kwargs: Any) -> Any:
        return run_sync(fn(*args, **kwargs))

    call.__doc__ = fn.__doc__
    call.__name__ = getattr(fn, "__name__", "call")
    return call
