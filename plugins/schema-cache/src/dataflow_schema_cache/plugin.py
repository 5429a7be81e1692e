"""The schema-cache plugin's hooks.

- ``dataflow_options``: the spec's ``schema_cache_enabled``, ``schema_cache_ttl``,
  ``schema_cache_max_size`` and ``schema_cache_validation``;
- ``dataflow_schema_cache``: the instance's ``SchemaCache`` replaces the kernel's plain "ready" memo;
- ``dataflow_db_methods``: ``db._schema_cache`` (``clear()``, ``get_metrics()`` …);
- ``dataflow_configure``: with validation on, the schema manager is wrapped (``validate.py``).

Every migration this process applies invalidates the cache entries of its tables: the kernel's
``db.forget_schema(tables)``, which the migrate plugin calls, forgets them in whichever memo the
instance has.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from dataflow.hookspecs import hookimpl
from dataflow.types import OptionInfo

from dataflow_schema_cache.cache import SchemaCache
from dataflow_schema_cache.validate import ValidatingSchemaManager

STATE_KEY = "schema_cache"


@hookimpl
def dataflow_options() -> Iterable[OptionInfo]:
    return [
        OptionInfo("schema_cache_enabled", "Remember which tables are ready, so no operation checks twice.", True),
        OptionInfo("schema_cache_ttl", "Seconds before a cached table check expires (None: never).", None),
        OptionInfo("schema_cache_max_size", "Most tables the schema cache remembers (the longest-remembered "
                                            "is forgotten first).", 10000),
        OptionInfo("schema_cache_validation", "On expiry, compare a checksum of the live table; unchanged "
                                              "renews the entry without a migration check.", False),
    ]


def _checked(db: Any) -> dict[str, Any]:
    options = db.options
    enabled, ttl = options["schema_cache_enabled"], options["schema_cache_ttl"]
    max_size, validation = options["schema_cache_max_size"], options["schema_cache_validation"]
    for name, value in (("schema_cache_enabled", enabled), ("schema_cache_validation", validation)):
        if not isinstance(value, bool):
            raise db.error("DF-401", f"Option {name}= takes True or False, got {value!r}.", option=name)
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl)
                            or ttl <= 0):
        raise db.error("DF-401", f"Option schema_cache_ttl= takes a number of seconds above 0, or None, got {ttl!r}.",
                       option="schema_cache_ttl")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise db.error("DF-401", f"Option schema_cache_max_size= takes a whole number of at least 1, got "
                                 f"{max_size!r}.", option="schema_cache_max_size")
    return {"enabled": enabled, "ttl": None if ttl is None else float(ttl), "max_size": max_size,
            "validation": validation}


@hookimpl
def dataflow_schema_cache(db: Any) -> SchemaCache:
    cache = SchemaCache(**_checked(db))
    db.state[STATE_KEY] = cache
    return cache


@hookimpl
def dataflow_db_methods(db: Any) -> Mapping[str, Any]:
    cache = db.state.get(STATE_KEY)  # absent when another plugin's memo was chosen
    return {} if cache is None else {"_schema_cache": cache}


@hookimpl
def dataflow_configure(db: Any) -> None:
    cache = db.state.get(STATE_KEY)
    if cache is not None and cache.validation and cache.ttl is not None:
        db.schema_manager = ValidatingSchemaManager(db.schema_manager, cache)
