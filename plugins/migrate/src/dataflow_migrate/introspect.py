"""Live-schema introspection for migrations: the dialect reads its own catalogue into ``dataflow.types`` records.

Introspection is read-only: it never issues DDL. DataFlow's own bookkeeping tables are never
planned against and never discovered as models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dataflow.errors import DataFlowError
from dataflow.locking import LEASE_TABLE
from dataflow.types import TableSchema

__all__ = ["INTERNAL_TABLES", "introspect", "list_tables"]

INTERNAL_TABLES = frozenset({"dataflow_migrations", "dataflow_migration_locks", "dataflow_model_registry", LEASE_TABLE})
"""DataFlow's own bookkeeping tables: never planned against, never discovered as models."""


async def introspect(db: Any, tables: Iterable[str] | None = None, conn: Any = None) -> dict[str, TableSchema]:
    """The live schema of ``tables`` (all user tables when None), keyed by table name.

    Runs on ``conn`` when given (inside a migration's transaction), else on a pooled connection.
    Driver errors come out as DF-coded errors.
    """
    dialect = db.dialect
    wanted = None if tables is None else list(dict.fromkeys(tables))
    try:
        if conn is not None:
            return await dialect.introspect(conn, wanted)
        async with dialect.connection() as fresh:
            return await dialect.introspect(fresh, wanted)
    except DataFlowError as exc:
        db.enhance(exc)  # DF-303 from a dialect without introspection gets the instance's hints
        raise
    except Exception as exc:
        raise db.enhance(dialect.translate_error(exc)) from exc


async def list_tables(db: Any) -> list[str]:
    """Every user table name (DataFlow's own bookkeeping tables excluded), sorted."""
    return sorted(name for name in await introspect(db) if name not in INTERNAL_TABLES)
