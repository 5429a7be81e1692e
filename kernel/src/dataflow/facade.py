"""``DataFlow``: the object users hold — URL → dialect, models, generated nodes, options, plugins.

``DataFlow()`` with no URL uses ``DATABASE_URL`` if set, else an embedded SQLite file
(``dataflow.db`` in the working directory). Everything a plugin adds arrives through hooks: the
dialect for the URL's scheme, the nodes for each model, extra methods (``db.discover_schema``), the
schema manager that makes tables ready on first use.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dataflow.dialect import DialectInfo, DialectOptions, LoopLocal, SQLDialect
from dataflow.errors import DataFlowError, did_you_mean, redact_url
from dataflow.models import ModelSpec, check_name_clashes, model_spec_from_class
from dataflow.nodes import Node, node_registry
from dataflow.plugins import OptionInfo, PluginManager
from dataflow.url import DatabaseURL, parse_url

__all__ = ["KERNEL_OPTIONS", "DataFlow", "SchemaCache"]

DEFAULT_SQLITE_FILE = "dataflow.db"

KERNEL_OPTIONS: dict[str, Any] = {
    "auto_migrate": True,
    "existing_schema_mode": False,
    "enable_model_persistence": False,
    "test_mode": None,
    "test_mode_aggressive_cleanup": False,
    "schema_cache_enabled": True,
    "schema_cache_ttl": None,
    "schema_cache_max_size": 10000,
    "schema_cache_validation": False,
    "error_enhancement_mode": None,
    "multi_tenant": False,
    "enable_caching": False,
    "enable_metrics": False,
    "tdd_mode": False,
    "pool_size": 10,
    "max_overflow": 10,
    "pool_timeout": 30.0,
    "pool_recycle": 3600,
    "connect_timeout": 10.0,
    "echo": False,
    "debug": False,
}
"""The options of the spec, accepted by name on every installation."""

KNOWN_PLUGIN_OPTIONS = {
    "use_native_arrays": "dataflow-native-arrays",
    "tenant_field": "dataflow-tenancy",
    "write_protection": "dataflow-protect",
    "audit_log": "dataflow-protect",
}
"""Options of first-party plugins that may not be installed: the error names the package."""

_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "auto_migrate": (bool,),
    "existing_schema_mode": (bool,),
    "enable_model_persistence": (bool,),
    "test_mode_aggressive_cleanup": (bool,),
    "schema_cache_enabled": (bool,),
    "schema_cache_validation": (bool,),
    "multi_tenant": (bool,),
    "enable_caching": (bool,),
    "enable_metrics": (bool,),
    "tdd_mode": (bool,),
    "echo": (bool,),
    "debug": (bool,),
    "pool_size": (int,),
    "max_overflow": (int,),
    "schema_cache_max_size": (int,),
    "pool_recycle": (int, float),
    "pool_timeout": (int, float),
    "connect_timeout": (int, float),
}

_NUMBER_OPTIONS = ("pool_size", "max_overflow", "pool_timeout", "connect_timeout", "pool_recycle",
                   "schema_cache_max_size")
"""Options that must be a non-negative number (None included in the refusal: pools need a size)."""

_instance_numbers = itertools.count(1)


class SchemaCache:
    """Which models' tables are known to be ready, so no operation checks the schema twice.

    Thread-safe; honours ``schema_cache_ttl`` (seconds, None = forever) and ``schema_cache_max_size``.
    """

    def __init__(self, *, enabled: bool = True, ttl: float | None = None, max_size: int = 10000) -> None:
        self.enabled = enabled
        self.ttl = ttl
        self.max_size = max_size
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    def is_ready(self, model: ModelSpec) -> bool:
        entry = self._entries.get(model.name) if self.enabled else None
        if entry is not None and entry[0] == model.table and (
            self.ttl is None or time.monotonic() - entry[1] < self.ttl
        ):
            self.hits += 1
            return True
        self.misses += 1
        return False

    def mark_ready(self, model: ModelSpec) -> None:
        if not self.enabled:
            return
        with self._lock:
            if len(self._entries) >= self.max_size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[model.name] = (model.table, time.monotonic())

    def invalidate(self, model_name: str | None = None) -> None:
        with self._lock:
            if model_name is None:
                self._entries.clear()
            else:
                self._entries.pop(model_name, None)

    def clear(self) -> None:
        self.invalidate()

    def get_metrics(self) -> dict[str, Any]:
        total = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / total if total else 0.0,
            "cached_tables": len(self._entries),
            "enabled": self.enabled,
        }


class DataFlow:
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
        self.options = self._check_options(options)
        try:
            self.url: DatabaseURL = parse_url(database_url)
        except DataFlowError as exc:
            raise self.enhance(exc) from None
        self.models: dict[str, ModelSpec] = {}
        self._nodes: dict[str, type[Node]] = {}
        self.state: dict[str, Any] = {}
        self._closed = False
        mode = self.options["error_enhancement_mode"] or os.environ.get("DATAFLOW_ERROR_ENHANCER_MODE") or "FULL"
        self.error_mode = self._check_mode(mode)
        self._schema_cache = SchemaCache(
            enabled=self.options["schema_cache_enabled"],
            ttl=self.options["schema_cache_ttl"],
            max_size=self.options["schema_cache_max_size"],
        )
        self.dialect: SQLDialect = self._make_dialect()
        self._ensure_locks: LoopLocal[dict[str, asyncio.Lock]] = LoopLocal()
        self._wrap_nodes = self.plugins.has_impls("dataflow_execute_node")
        self._methods = self._collect_methods()
        # Node types of this instance's plugins (plugin objects given in plugins= included) resolve by
        # name while it lives; the process-wide loader only sees the installed entry points.
        self.plugins.hook.dataflow_node_types(register=self._register_node_type)
        self.schema_manager = self.plugins.hook.dataflow_schema_manager(db=self)
        self.plugins.hook.dataflow_configure.call_historic(kwargs={"db": self})
        node_registry.add_instance(self)

    # ---- construction --------------------------------------------------------------------
    def _check_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        declared: dict[str, OptionInfo] = {o.name: o for _, o in self.plugins.collect("dataflow_options")}
        known = {**KERNEL_OPTIONS, **{n: o.default for n, o in declared.items()}}
        for key, value in given.items():
            if key in known:
                expected = _OPTION_TYPES.get(key)
                if expected and value is not None and (
                    not isinstance(value, expected) or (bool not in expected and isinstance(value, bool))
                ):
                    raise self.error(
                        "DF-401",
                        f"Option {key}= expects {' or '.join(t.__name__ for t in expected)}, "
                        f"got {type(value).__name__}.",
                        option=key,
                        value=value,
                    )
                if key in _NUMBER_OPTIONS and (value is None or value < 0):
                    raise self.error("DF-401", f"Option {key}= must not be negative, got {value!r}.", option=key)
                continue
            if key in KNOWN_PLUGIN_OPTIONS:
                raise self.error(
                    "DF-401",
                    f"Option {key}= belongs to a plugin that is not installed or not enabled: "
                    f"install {KNOWN_PLUGIN_OPTIONS[key]}.",
                    option=key,
                )
            raise self.error(
                "DF-401",
                f"Unknown DataFlow option {key!r}.{did_you_mean(key, known)}",
                option=key,
                solutions=[f"Known options: {', '.join(sorted(known))}."],
            )
        return {**known, **given}

    def _check_mode(self, mode: Any) -> str:
        if not isinstance(mode, str) or mode.upper() not in ("FULL", "MINIMAL", "DISABLED"):
            raise self.error("DF-401", f"error_enhancement_mode must be FULL, MINIMAL or DISABLED, got {mode!r}.",
                             option="error_enhancement_mode")
        return mode.upper()

    def dialect_infos(self) -> list[tuple[str, DialectInfo]]:
        """(plugin name, DialectInfo) for every dialect the enabled plugins offer."""
        return self.plugins.collect("dataflow_dialects")

    def _make_dialect(self) -> SQLDialect:
        scheme = self.url.scheme
        infos = self.dialect_infos()
        for plugin, info in infos:
            if scheme in info.schemes:
                if not info.available:
                    raise self.error(
                        "DF-403",
                        f"The {info.name} dialect (plugin {plugin!r}) is installed but unavailable: {info.reason}.",
                        url=str(self.url),
                        solutions=[f"Install its driver: pip install {info.package or plugin}."],
                    )
                dialect = info.factory(self.url, self._dialect_options())
                compilers = self.plugins.call_isolated("dataflow_filter_operators", dialect=dialect)
                for _, mapping in compilers:
                    dialect.operators.update(mapping)
                return dialect
        package = {"postgresql": "dataflow-postgresql", "postgres": "dataflow-postgresql",
                   "mysql": "dataflow-mysql", "mariadb": "dataflow-mysql", "sqlite": "dataflow-sqlite",
                   "duckdb": "dataflow-duckdb"}.get(scheme)
        offered = sorted({s for _, info in infos for s in info.schemes})
        hint = f" Install {package} (pip install {package})." if package else did_you_mean(scheme, offered)
        solutions = [f"pip install {package or 'the plugin for ' + scheme}",
                     "Check `dataflow plugins list`: the plugin may be disabled."]
        disabled = [st for st in self.plugins.statuses.values() if st.status == "disabled" and package
                    and st.distribution == package]
        if disabled:
            # Installed but switched off: installing again would not help, enabling would.
            off = disabled[0]
            hint = f" {package} is installed but its plugin {off.name!r} is disabled ({off.reason})."
            solutions = [f"Enable it where it was disabled ({off.reason}), e.g. `dataflow plugins enable {off.name}`."]
        raise self.error(
            "DF-403",
            f"No installed, enabled plugin provides the {scheme!r} dialect.{hint}",
            url=redact_url(self.url.raw),
            offered=", ".join(offered) or "none",
            solutions=solutions,
        )

    def _dialect_options(self) -> DialectOptions:
        o = self.options
        return DialectOptions(o["pool_size"], o["max_overflow"], float(o["pool_timeout"]),
                              float(o["connect_timeout"]), o["echo"])

    def _collect_methods(self) -> dict[str, Any]:
        methods: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for plugin, mapping in self.plugins.call_isolated("dataflow_db_methods", db=self):
            for key, value in mapping.items():
                if key in methods:
                    raise self.error("DF-404", f"Plugins {owners[key]!r} and {plugin!r} both add db.{key}.")
                methods[key], owners[key] = value, plugin
        return methods

    def __getattr__(self, name: str) -> Any:
        methods = self.__dict__.get("_methods")
        if methods is not None and name in methods:
            return methods[name]
        raise AttributeError(f"'DataFlow' object has no attribute {name!r}")

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
        spec = self.plugins.call_chain("dataflow_register_model", spec, db=self)
        try:
            check_name_clashes(spec, self.models.values())  # plugins may have added columns
        except DataFlowError as exc:
            raise self.enhance(exc) from None
        self.models[spec.name] = spec
        generated: list[str] = []

        def register(node_name: str, node_cls: type[Node]) -> None:
            node_cls.dataflow_instance = self
            self._nodes[node_name] = node_cls
            node_registry.add(node_name, node_cls, self)
            generated.append(node_name)

        self.plugins.hook.dataflow_generate_nodes(model=spec, db=self, register=register)
        self.state.setdefault("generated", {})[spec.name] = generated
        return spec

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
        """Make ``model``'s table ready (create / add columns, per the options); cached once known.

        One task per event loop and model does the work; the others wait for it. Without this, many
        tasks meeting a new table at once each hold a pooled connection while they queue for the
        schema, and the pool runs dry (DF-507) before any of them finishes.
        """
        if self._schema_cache.is_ready(model):
            return
        locks = self._ensure_locks.get()
        if locks is None:
            locks = {}
            self._ensure_locks.set(locks)
        async with locks.setdefault(model.name, asyncio.Lock()):
            if self._schema_cache.is_ready(model):
                return
            await self.schema_manager.ensure(self, [model])
            self._schema_cache.mark_ready(model)

    # ---- connections -------------------------------------------------------------------------
    def connection(self) -> Any:
        return self.dialect.connection()

    def transaction(self) -> Any:
        """``async with db.transaction() as conn``: statements of nodes given ``conn`` share it."""
        return self.dialect.transaction()

    async def close_async(self) -> None:
        """Release every pool and connection of this instance."""
        for _plugin, result in self.plugins.call_isolated("dataflow_close", db=self):
            if hasattr(result, "__await__"):
                await result
        await self.dialect.close()

    cleanup_all_pools = close_async

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


def run_in_background(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an async function of a plugin as a synchronous method (``db.discover_schema()``)."""
    from dataflow.loop import run_sync

    def call(*args: Any, **kwargs: Any) -> Any:
        return run_sync(fn(*args, **kwargs))

    call.__doc__ = fn.__doc__
    call.__name__ = getattr(fn, "__name__", "call")
    return call
