"""Shared pieces of the schema-contract suite modules (introspection, DDL, locks): async calls on the
dialect from synchronous tests, a model whose table is ready, and applying one schema change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from dataflow.facade import DataFlow
from dataflow.loop import run_sync
from dataflow.types import SchemaChange, TableSchema

T = TypeVar("T")


def on_conn(db: DataFlow, work: Callable[[Any], Awaitable[T]]) -> T:
    """``work(conn)`` on one of the instance's pooled connections, from synchronous test code."""

    async def go() -> T:
        async with db.dialect.connection() as conn:
            return await work(conn)

    return run_sync(go())


def table_of(db: DataFlow, name: str) -> TableSchema:
    """The live record of table ``name`` (it must exist)."""
    found = on_conn(db, lambda conn: db.dialect.introspect(conn, [name]))
    assert name in found, f"introspect() did not find the table {name!r}"
    return found[name]


def ready_model(make_model: Any, run_node: Any, cls: type, rows: list[dict[str, Any]] = ()) -> str:  # type: ignore[assignment]
    """Declare ``cls``, make its table (a count node), insert ``rows``; the table's name."""
    model = make_model(cls)
    run_node(f"{cls.__name__}CountNode", {})
    if rows:
        run_node(f"{cls.__name__}BulkCreateNode", {"data": rows})
    return str(model.__dataflow_model__.table)


def apply_change(db: DataFlow, change: SchemaChange) -> list[str]:
    """Run the DDL the dialect writes for ``change`` (in a transaction where DDL is transactional); its SQL."""
    return apply_statements(db, db.dialect.schema_change_sql(change))


def apply_statements(db: DataFlow, statements: list[str]) -> list[str]:
    """Run DDL statements as a migration does: prepared by the dialect, in one transaction where DDL is
    transactional, checked before the commit."""
    dialect = db.dialect

    async def go() -> None:
        async with dialect.prepare_schema_changes(statements) as own:
            if dialect.capabilities.transactional_ddl:
                async with dialect.transaction(connection=own) as conn:
                    for sql in statements:
                        await conn.execute(sql, [])
                    await dialect.verify_schema_changes(conn)
            else:
                async with dialect.connection() as conn:
                    for sql in statements:
                        await conn.execute(sql, [])

    run_sync(go())
    return statements


def needs(db: DataFlow, capability: str) -> None:
    """Skip unless the dialect declares ``capability`` (capabilities gate tests, never dialect names)."""
    if not getattr(db.dialect.capabilities, capability):
        pytest.skip(f"the {db.dialect.name} dialect declares no {capability}")
