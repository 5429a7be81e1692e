"""``schema_cache_validation``: a checksum of the live table, compared when a cache entry expires.

The instance's schema manager is wrapped: when a model's entry expired and holds a checksum, the live
table's checksum is taken again; unchanged, the entry is renewed without the schema manager (one
catalogue read instead of a migration check); changed, the schema manager runs as on first use. After
the schema manager made a table ready, the checksum of what it left is kept with the new entry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError

from dataflow_schema_cache.cache import SchemaCache, table_checksum

if TYPE_CHECKING:
    from dataflow.models import ModelSpec

__all__ = ["ValidatingSchemaManager", "live_checksum"]

log = logging.getLogger("dataflow.schema_cache")


async def live_checksum(db: Any, model: ModelSpec) -> str | None:
    """The checksum of ``model``'s live table (None when it does not exist), read on the connection
    the schema manager would use (the open transaction's, when there is one)."""
    dialect = db.dialect
    async with dialect.scoped_connection() as conn:
        try:
            found = await dialect.introspect(conn, [model.table])
        except DataFlowError as exc:
            if exc.code != "DF-303":
                raise
            names = await dialect.table_columns(conn, model.table)  # a dialect without introspection
            return None if names is None else table_checksum([(n,) for n in names], [])
    table = found.get(model.table)
    if table is None:
        return None
    return table_checksum([(c.name, c.type.lower(), c.nullable) for c in table.columns],
                          [(i.name, tuple(i.columns), i.unique) for i in table.indexes])


class ValidatingSchemaManager:
    """The instance's schema manager, asked only when a table's checksum changed (or on first use)."""

    def __init__(self, inner: Any, cache: SchemaCache) -> None:
        self.inner = inner
        self.cache = cache

    async def ensure(self, db: Any, models: Iterable[ModelSpec]) -> None:
        todo = []
        for model in models:
            stored = self.cache.stored_checksum(model)
            if stored is not None:
                live = await live_checksum(db, model)
                self.cache.validated(model, live == stored)
                if live == stored:
                    self.cache.record_checksum(model, stored)
                    continue
                log.info("Table %s of model %s changed since it was cached: checking it again", model.table,
                         model.name)
            todo.append(model)
        if not todo:
            return
        await self.inner.ensure(db, todo)
        for model in todo:
            checksum = await live_checksum(db, model)
            if checksum is not None:
                self.cache.record_checksum(model, checksum)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # whatever else the wrapped manager offers
