"""The options of ``DataFlow(...)``: one typed record for the kernel's, plus the options plugins declare.

``KernelOptions`` lists every option of the spec with its default, its type and whether it may be
negative, in one place (its fields' metadata), so checking, defaults and documentation cannot drift
apart. ``Options`` is what ``db.options`` holds: a read-only mapping of every option by name (the
kernel's and the plugins', for ``db.options["migration_lock_timeout"]``) with the kernel's record
typed at ``db.options.kernel``.

An unknown option is DF-401 naming the closest known one; an option of a first-party plugin that
is not installed names the package to install.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from dataflow.errors import DataFlowError, did_you_mean
from dataflow.types import DialectOptions, OptionInfo

__all__ = ["ERROR_MODES", "KERNEL_OPTIONS", "KNOWN_PLUGIN_OPTIONS", "PLUGIN_FLAGS", "KernelOptions", "Options",
           "check_options", "missing_plugin"]

ERROR_MODES = ("FULL", "MINIMAL", "DISABLED")


def _meta(help: str, types: tuple[type, ...] = (), *, non_negative: bool = False,
          choices: tuple[Any, ...] = (), optional: bool = False) -> dict[str, Any]:
    """A KernelOptions field's metadata: help text, accepted types, whether it must be >= 0, the only
    values allowed (when listed) and whether None is allowed (for a number that may be unset)."""
    return {"help": help, "types": types, "non_negative": non_negative, "choices": choices, "optional": optional}


def _option(default: Any, help: str, types: tuple[type, ...] = (), *, non_negative: bool = False,
            choices: tuple[Any, ...] = (), optional: bool = False) -> Any:
    return attrs.field(default=default, metadata=_meta(help, types, non_negative=non_negative, choices=choices,
                                                       optional=optional))


def _flag(default: bool, help: str) -> Any:
    return _option(default, help, (bool,))


def _count(default: int, help: str) -> Any:
    return _option(default, help, (int,), non_negative=True)


def _seconds(default: float, help: str) -> Any:
    return _option(default, help, (int, float), non_negative=True)


@attrs.frozen(kw_only=True)
class KernelOptions:
    """The options of the spec, accepted by name on every installation (API.md lists them)."""

    auto_migrate: bool = _flag(True, "Create missing tables and add missing columns on first use.")
    existing_schema_mode: bool = _flag(False, "Use the live schema as it is; validate models, change nothing.")
    enable_model_persistence: bool = _flag(False, "Keep model declarations across processes.")
    error_enhancement_mode: Any = attrs.field(default=None, metadata=_meta(
        "FULL, MINIMAL or DISABLED (default: DATAFLOW_ERROR_ENHANCER_MODE, else FULL)."))
    multi_tenant: bool = _flag(False, "Isolate rows by tenant.")
    enable_caching: bool = _flag(False, "Cache query results.")
    enable_metrics: bool = _flag(False, "Collect operation metrics.")
    pool_size: int = _count(10, "Connections kept open per event loop.")
    max_overflow: int = _count(10, "Extra connections allowed beyond pool_size under load.")
    pool_timeout: float = _seconds(30.0, "Seconds to wait for a free connection before DF-507.")
    pool_recycle: float = _seconds(3600, "Seconds after which a pooled connection is replaced.")
    connect_timeout: float = _seconds(10.0, "Seconds to wait for the server to accept a connection.")
    statement_timeout: float = _seconds(300.0, "Seconds one SQL statement may run before it is stopped "
                                               "(DF-512); 0: no limit.")
    busy_timeout: float = _seconds(5.0, "Seconds a write waits for another writer's lock before DF-508 "
                                        "(SQLite, one writer at a time).")
    echo: bool | str = _option(False, "Log every SQL statement to stderr (the dataflow.sql logger at DEBUG); "
                                      '"values" also shows the bound values.', (bool, str),
                               choices=(False, True, "values"))
    slow_query_ms: float | None = _option(None, "Log statements taking at least this many milliseconds at "
                                                "WARNING (dataflow.sql logger).", (int, float),
                                          non_negative=True, optional=True)
    debug: bool = _flag(False, "Verbose diagnostics.")

    def dialect_options(self) -> DialectOptions:
        """What the dialect is built with."""
        return DialectOptions(self.pool_size, self.max_overflow, float(self.pool_timeout),
                              float(self.connect_timeout), self.echo, float(self.statement_timeout),
                              schema_changes=bool(self.auto_migrate) and not self.existing_schema_mode,
                              slow_query_ms=None if self.slow_query_ms is None else float(self.slow_query_ms),
                              busy_timeout=float(self.busy_timeout))

    def error_mode(self) -> str:
        """The rendering mode of errors: the option, else ``DATAFLOW_ERROR_ENHANCER_MODE``, else FULL."""
        mode = self.error_enhancement_mode or os.environ.get("DATAFLOW_ERROR_ENHANCER_MODE") or "FULL"
        if not isinstance(mode, str) or mode.upper() not in ERROR_MODES:
            raise DataFlowError("DF-401", f"error_enhancement_mode must be FULL, MINIMAL or DISABLED, got {mode!r}.",
                                context={"option": "error_enhancement_mode"})
        return mode.upper()


_KERNEL_FIELDS: dict[str, attrs.Attribute[Any]] = {f.name: f for f in attrs.fields(KernelOptions)}

KERNEL_OPTIONS: Mapping[str, Any] = {name: field.default for name, field in _KERNEL_FIELDS.items()}
"""Every kernel option and its default."""

KNOWN_PLUGIN_OPTIONS = {
    "test_mode": "dataflow-testing",
    "test_mode_aggressive_cleanup": "dataflow-testing",
    "tdd_mode": "dataflow-testing",
    "use_native_arrays": "dataflow-native-arrays",
    "schema_cache_enabled": "dataflow-schema-cache",
    "schema_cache_ttl": "dataflow-schema-cache",
    "schema_cache_max_size": "dataflow-schema-cache",
    "schema_cache_validation": "dataflow-schema-cache",
    "tenant_field": "dataflow-tenancy",
    "tenant_isolation": "dataflow-tenancy",
    "write_protection": "dataflow-protect",
    "audit_log": "dataflow-protect",
    "audit_table": "dataflow-protect",
}
"""Options of first-party plugins that may not be installed: the error names the package."""


PLUGIN_FLAGS = {"multi_tenant": ("tenant_field", "dataflow-tenancy")}
"""Flags of the spec (``DataFlow(multi_tenant=True)``, ``__dataflow__ = {"multi_tenant": True}``) that
only a plugin carries out: flag → (an option that plugin declares, its package). Set while the plugin
is absent or disabled, they are DF-401: a database that silently ignored ``multi_tenant`` would
serve every tenant's rows to every other."""


def missing_plugin(flags: Mapping[str, Any], declared: Mapping[str, Any] | frozenset[str]) -> tuple[str, str] | None:
    """``(flag, package)`` for the first flag set true in ``flags`` whose plugin did not declare its
    option in ``declared``; None when every flag set has its plugin."""
    for flag, (marker, package) in PLUGIN_FLAGS.items():
        if flags.get(flag) and marker not in declared:
            return flag, package
    return None


class Options(Mapping[str, Any]):
    """Every option of one instance by name (read-only), with the kernel's typed at ``.kernel``."""

    __slots__ = ("_values", "kernel")

    def __init__(self, kernel: KernelOptions, plugin_values: Mapping[str, Any]) -> None:
        self.kernel = kernel
        self._values: dict[str, Any] = {**attrs.asdict(kernel, recurse=False), **plugin_values}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Options({self._values!r})"


def _check_value(name: str, value: Any, error: Callable[..., DataFlowError]) -> None:
    field = _KERNEL_FIELDS[name]
    types: tuple[type, ...] = field.metadata["types"]
    if types and value is not None and (
        not isinstance(value, types) or (bool not in types and isinstance(value, bool))
    ):
        raise error("DF-401", f"Option {name}= expects {' or '.join(t.__name__ for t in types)}, "
                              f"got {type(value).__name__}.", option=name, value=value)
    if field.metadata["non_negative"] and ((value is None and not field.metadata["optional"])
                                           or (value is not None and value < 0)):
        # None is refused too (pools and caches need a size), unless the option may be unset.
        raise error("DF-401", f"Option {name}= must not be negative, got {value!r}.", option=name)
    choices = field.metadata["choices"]
    if choices and not any(value is c or (isinstance(c, str) and value == c) for c in choices):
        raise error("DF-401", f"Option {name}= must be one of {', '.join(map(repr, choices))}, got {value!r}.",
                    option=name)


def check_options(given: Mapping[str, Any], declared: Mapping[str, OptionInfo],
                  error: Callable[..., DataFlowError]) -> Options:
    """The instance's options from what the caller ``given`` and the options plugins ``declared``.

    ``error(code, message, **context)`` makes the DataFlowError raised for a bad option (the instance
    enhances it with the plugins' hints).
    """
    known = {**KERNEL_OPTIONS, **{name: info.default for name, info in declared.items()}}
    for name, value in given.items():
        if name in _KERNEL_FIELDS:
            _check_value(name, value, error)
        elif name in declared:
            continue
        elif name in KNOWN_PLUGIN_OPTIONS:
            raise error("DF-401", f"Option {name}= belongs to a plugin that is not installed or not enabled: "
                                  f"install {KNOWN_PLUGIN_OPTIONS[name]}.", option=name)
        else:
            raise error("DF-401", f"Unknown DataFlow option {name!r}.{did_you_mean(name, known)}", option=name,
                        solutions=[f"Known options: {', '.join(sorted(known))}."])
    needs = missing_plugin(given, declared)
    if needs is not None:
        raise error("DF-401", f"{needs[0]}=True needs the {needs[1]} plugin, which is not installed or is disabled "
                              f"(without it every query would be unfiltered).", option=needs[0],
                    solutions=[f"pip install {needs[1]}, or enable it (`dataflow plugins list` shows why it is off)."])
    kernel = KernelOptions(**{k: v for k, v in given.items() if k in _KERNEL_FIELDS})
    plugin_values = {name: given.get(name, info.default) for name, info in declared.items()
                     if name not in _KERNEL_FIELDS}
    return Options(kernel, plugin_values)
