"""Live schema facts for the risk engine and the enterprise migration system, from the dialect's contract.

The rules, the analysers and the schema snapshots all need the same facts: which tables exist, their
columns, indexes, constraints and triggers, the foreign keys and views that depend on them, how many
rows they hold and which server runs them. Every one comes from the instance's dialect
(``SQLDialect.introspect``, ``views``, ``foreign_keys_to``, ``estimate_rows`` … see
docs/plugin-authors.md), so any dialect that implements the contract gets risk assessment; a few
counts (NULLs, duplicates, orphans) are plain SQL. Every value is a bound parameter; identifiers in
SQL text are quoted by the dialect.

``Catalog(db, schema=...)`` reads one schema (namespace) of the database: the connection's own by
default, or another one (a staging copy).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError
from dataflow.schema import ROW_COUNT_CAP
from dataflow.types import (
    CheckSchema,
    ColumnSchema,
    ForeignKeySchema,
    IndexSchema,
    ServerInfo,
    TableSchema,
    TriggerSchema,
    ViewSchema,
)

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = [
    "ROW_COUNT_CAP",
    "Catalog",
    "CheckInfo",
    "ColumnInfo",
    "ForeignKeyInfo",
    "IndexInfo",
    "ServerVersion",
    "TableInfo",
    "TriggerInfo",
    "ViewInfo",
    "catalog_for",
]

# The records are the kernel's (``dataflow.types``); these names are kept for code written against them.
TableInfo = TableSchema
ColumnInfo = ColumnSchema
IndexInfo = IndexSchema
ForeignKeyInfo = ForeignKeySchema
CheckInfo = CheckSchema
ViewInfo = ViewSchema
TriggerInfo = TriggerSchema
ServerVersion = ServerInfo


class Catalog:
    """The catalogue of one DataFlow instance's database (one schema of it), through its dialect.

    :param db: the instance.
    :param schema: the namespace to read (None: the connection's own).
    """

    def __init__(self, db: DataFlow, schema: str | None = None) -> None:
        self.db = db
        self.dialect = db.dialect
        self.schema = schema
        self._server: ServerInfo | None = None

    @property
    def capabilities(self) -> Any:
        return self.dialect.capabilities

    @property
    def transactional_ddl(self) -> bool:
        return bool(self.dialect.capabilities.transactional_ddl)

    # ---- plumbing ----------------------------------------------------------------------------
    def sql(self, text: str) -> str:
        """Write queries with ``?`` markers; this puts the dialect's placeholders in."""
        counter = iter(range(1, 1000))
        return re.sub(r"\?", lambda _m: self.dialect.placeholder(next(counter)), text)

    def q(self, name: str) -> str:
        return self.dialect.quote(name)

    def qualified(self, table: str) -> str:
        """The table name as SQL text, inside this catalogue's schema when it has one."""
        return self.dialect.qualify(table, self.schema)

    @contextlib.contextmanager
    def translated_errors(self) -> Iterator[None]:
        """Driver exceptions raised inside become the dialect's DataFlowError (enhanced by the instance);
        DataFlowErrors, cancellation and KeyboardInterrupt pass through unchanged."""
        try:
            yield
        except DataFlowError as exc:
            self.db.enhance(exc)
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise self.db.enhance(self.dialect.translate_error(exc)) from exc

    async def fetch(self, text: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        with self.translated_errors():
            async with self.dialect.connection() as conn:
                return list(await conn.fetch(self.sql(text), list(params)))

    async def execute(self, statements: Sequence[str], *, transaction: bool = True) -> None:
        """Run DDL statements as a migration does: prepared by the dialect, in one transaction where the
        database makes DDL transactional (and ``transaction``), checked before the commit. Afterwards
        (whatever the outcome) every model's table is checked again on its next use (``forget_schema``)."""
        try:
            await self._execute(statements, transaction=transaction)
        finally:
            self.db.forget_schema()

    async def _execute(self, statements: Sequence[str], *, transaction: bool) -> None:
        with self.translated_errors():
            async with self.dialect.prepare_schema_changes(statements) as own:
                if transaction and self.transactional_ddl:
                    async with self.dialect.transaction(connection=own) as conn:
                        for statement in statements:
                            await conn.execute(statement, [])
                        await self.dialect.verify_schema_changes(conn)
                    return
                async with (contextlib.nullcontext(own) if own is not None else self.dialect.connection()) as conn:
                    for statement in statements:
                        await conn.execute(statement, [])

    async def _on_conn(self, work: Any) -> Any:
        with self.translated_errors():
            async with self.dialect.connection() as conn:
                return await work(conn)

    # ---- facts -----------------------------------------------------------------------------------
    async def server_version(self) -> ServerInfo:
        if self._server is None:
            self._server = await self.dialect.server_info()
        return self._server

    async def tables(self) -> list[str]:
        """Every table of the schema, sorted."""
        return list(await self._on_conn(lambda conn: self.dialect.table_names(conn, schema=self.schema)))

    async def table(self, name: str) -> TableSchema | None:
        found = await self._on_conn(lambda conn: self.dialect.introspect(conn, [name], schema=self.schema))
        return found.get(name)

    async def snapshot_tables(self, names: Sequence[str] | None = None) -> dict[str, TableSchema]:
        """The tables named (every table when None), read in one go."""
        found = await self._on_conn(lambda conn: self.dialect.introspect(conn, names, schema=self.schema))
        return dict(sorted(found.items()))

    async def table_exists(self, table: str) -> bool:
        return await self.table(table) is not None

    async def views(self) -> list[ViewSchema]:
        return list(await self._on_conn(lambda conn: self.dialect.views(conn, schema=self.schema)))

    async def referencing_fks(self, table: str, column: str | None = None) -> list[ForeignKeySchema]:
        """Foreign keys (of any table, self-references included) that point at ``table`` (/ ``column``)."""
        found = await self._on_conn(lambda conn: self.dialect.foreign_keys_to(conn, table, schema=self.schema))
        return [fk for fk in found if column is None or column in fk.ref_columns]

    async def dependent_views(self, table: str, column: str | None = None) -> list[ViewSchema]:
        return list(await self._on_conn(
            lambda conn: self.dialect.dependent_views(conn, table, column, schema=self.schema)))

    async def routines_referencing(self, name: str) -> list[str]:
        return list(await self._on_conn(lambda conn: self.dialect.routines_referencing(conn, name, schema=self.schema)))

    async def row_count(self, table: str, cap: int = ROW_COUNT_CAP) -> int:
        """Rows in ``table``, counted up to ``cap`` (a bounded scan, never the whole of a huge table)."""
        estimate = await self._on_conn(lambda conn: self.dialect.estimate_rows(conn, table, cap=cap,
                                                                               schema=self.schema))
        return int(estimate.rows)

    async def null_count(self, table: str, column: str) -> int:
        rows = await self.fetch(f"SELECT COUNT(*) FROM {self.qualified(table)} WHERE {self.q(column)} IS NULL")
        return int(rows[0][0])

    async def duplicate_count(self, table: str, columns: Sequence[str]) -> int:
        """How many values of ``columns`` occur more than once (what a UNIQUE constraint would reject)."""
        cols = ", ".join(self.q(c) for c in columns)
        not_null = " AND ".join(f"{self.q(c)} IS NOT NULL" for c in columns)
        rows = await self.fetch(
            f"SELECT COUNT(*) FROM (SELECT {cols} FROM {self.qualified(table)} WHERE {not_null} "
            f"GROUP BY {cols} HAVING COUNT(*) > 1) AS d"
        )
        return int(rows[0][0])

    async def orphan_count(self, table: str, columns: Sequence[str], ref_table: str, ref_columns: Sequence[str]) -> int:
        """Rows whose ``columns`` point at no row of ``ref_table`` (what a new foreign key would reject)."""
        join = " AND ".join(f"r.{self.q(rc)} = t.{self.q(c)}" for c, rc in zip(columns, ref_columns, strict=True))
        present = " AND ".join(f"t.{self.q(c)} IS NOT NULL" for c in columns)
        rows = await self.fetch(
            f"SELECT COUNT(*) FROM {self.qualified(table)} t WHERE {present} AND NOT EXISTS "
            f"(SELECT 1 FROM {self.qualified(ref_table)} r WHERE {join})"
        )
        return int(rows[0][0])


def catalog_for(db: DataFlow, schema: str | None = None) -> Catalog:
    """The catalogue of ``db`` (any dialect that implements the schema contract)."""
    return Catalog(db, schema)
