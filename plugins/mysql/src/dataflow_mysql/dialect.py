"""The MySQL / MariaDB dialect on aiomysql: types, SQL differences, fast paths and their fallbacks.

What differs from the kernel's generic SQL:

- Backquoted identifiers and ``%s`` placeholders (the driver binds values client-side; our SQL text
  never contains a value, so no ``%`` needs escaping).
- Tables are InnoDB, utf8mb4 with a binary NO PAD collation, so ``$eq``, ``$like``, ``$regex`` and
  unique indexes are case- and trailing-space-sensitive, as on PostgreSQL and SQLite.
- Strings are LONGTEXT, except the id and indexed fields: VARCHAR(255), since MySQL cannot index
  TEXT without a prefix length.
- Writes: multi-row ``INSERT … VALUES`` batches sized by ``max_allowed_packet``; conflicts skipped
  with ``ON DUPLICATE KEY UPDATE id = id`` (``INSERT IGNORE`` would also turn bad values into
  warnings); upserts with ``ON DUPLICATE KEY UPDATE``, whose affected-row count and info string tell
  inserted from updated rows without a pre-select.
- ``RETURNING`` where the server has it (MariaDB ≥ 10.5, INSERT and DELETE); elsewhere, and for
  UPDATE everywhere, rows are selected by their ids inside the same transaction.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from itertools import chain
from typing import Any

import pymysql.converters
from dataflow.dialect import Connection, DialectOptions, SQLBuilder, SQLDialect
from dataflow.errors import DataFlowError
from dataflow.models import FieldSpec, IndexSpec, ModelSpec
from dataflow.query import And, Cond, Delete, Expr, Insert, Or, Select, Update, Upsert
from dataflow.url import DatabaseURL
from dataflow.values import to_json

from dataflow_mysql.errors import translate
from dataflow_mysql.pool import MySQLConnection, PoolManager, ServerInfo

__all__ = ["MySQLDialect"]

_UTC = dt.UTC
_TYPES = {
    "str": "LONGTEXT",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "TINYINT(1)",
    "datetime": "DATETIME(6)",
    "date": "DATE",
    "decimal": "DECIMAL(65, 30)",
    "bytes": "LONGBLOB",
    "json": "JSON",
    "array": "JSON",
}
INDEXABLE_STR = "VARCHAR(255)"
"""The column type of a str id or a str field in an index."""

_MAX_STATEMENT = 8 * 1024 * 1024
"""Upper bound of one bulk statement, below ``max_allowed_packet`` (bigger buys nothing measurable)."""

# Bytes a value takes in statement text at most, per kind (variable-length kinds are measured).
_FIXED_WIDTH = {"int": 22, "float": 26, "bool": 3, "datetime": 30, "date": 14, "decimal": 72}


class Binary(bytearray):
    """Bytes on their way to the driver.

    aiomysql 0.3 escapes ``bytes`` with a PyMySQL function that PyMySQL ≥ 1.1 no longer provides
    (a TypeError at bind time); a value of this type takes PyMySQL's type-dispatched path instead,
    where it is registered below as a hex literal (``_binary X'…'``), which needs no escaping.
    """


def _escape_binary(value: Binary, mapping: Any = None) -> str:
    return f"_binary X'{value.hex()}'"


pymysql.converters.encoders.setdefault(Binary, _escape_binary)


def _binary_param(value: Any) -> Any:
    return None if value is None else Binary(value)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    """DATETIME has no zone: store UTC wall time (naive input is UTC, the kernel's rule)."""
    return value if value.tzinfo is None else value.astimezone(_UTC).replace(tzinfo=None)


def _decode_decimal(value: Any) -> decimal.Decimal:
    """DECIMAL(65, 30) pads 30 fractional digits: drop the trailing zeros (1.5 comes back as 1.5)."""
    text = format(value, "f") if isinstance(value, decimal.Decimal) else str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return decimal.Decimal(text)


def _json_text(value: Any) -> Any:
    return None if value is None else to_json(value)


def _datetime_param(value: Any) -> Any:
    return None if value is None else _naive_utc(value)


_BULK_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": _datetime_param,
    "json": _json_text,
    "array": _json_text,
    "bytes": _binary_param,
}
"""Per-kind conversions of bulk values; every other kind goes to the driver as it is."""


class MySQLDialect(SQLDialect):
    """MySQL and MariaDB: backquotes, ``%s``, InnoDB / utf8mb4 tables, server-aware fast paths."""

    name = "mysql"
    quote_char = "`"
    max_params = 65535
    use_returning: bool | None = None
    """Force (True / False) or auto-detect (None) the use of ``RETURNING``; tests force the fallback."""

    def __init__(self, url: DatabaseURL, options: DialectOptions) -> None:
        super().__init__(url, options)
        self.pools = PoolManager(url, options)

    # ---- connections ---------------------------------------------------------------------------
    def connection(self) -> Any:
        return self.pools.connection()

    def transaction(self) -> Any:
        return self.pools.transaction()

    async def close(self) -> None:
        await self.pools.close()

    def close_sync(self) -> None:
        self.pools.close_sync()

    @property
    def server(self) -> ServerInfo | None:
        return self.pools.server

    @property
    def supports_returning(self) -> bool:  # type: ignore[override, unused-ignore]  # a plain bool in SQLDialect
        if self.use_returning is not None:
            return self.use_returning
        return self.server is not None and self.server.has_returning

    async def server_version(self) -> str:
        await self.pools.pool()
        return self.server.version if self.server else ""

    def translate_error(self, exc: BaseException) -> DataFlowError:
        return translate(exc, self.pools.server_name)

    # ---- types and values ----------------------------------------------------------------------
    def placeholder(self, index: int) -> str:
        return "%s"

    def column_type(self, field: FieldSpec) -> str:
        if field.primary_key and field.kind == "str":
            return INDEXABLE_STR
        return _TYPES[field.kind]

    def id_column_sql(self, field: FieldSpec) -> str:
        if field.kind == "int":
            return f"{self.quote('id')} BIGINT AUTO_INCREMENT PRIMARY KEY"
        return f"{self.quote('id')} {INDEXABLE_STR} NOT NULL PRIMARY KEY"

    def encode(self, field: FieldSpec, value: Any) -> Any:
        if value is None:
            return None
        kind = field.kind
        if kind == "datetime":
            return _naive_utc(value)
        if kind == "json" or kind == "array":
            return to_json(value)
        if kind == "bytes":
            return Binary(value)
        return value

    def decoder(self, field: FieldSpec) -> Callable[[Any], Any] | None:
        if field.kind == "decimal":
            return _decode_decimal
        return super().decoder(field)

    def _indexed_types(self, model: ModelSpec, column_types: Mapping[str, str] | None) -> dict[str, str]:
        """Column types with indexed string fields narrowed to VARCHAR (our LONGTEXT cannot be indexed)."""
        types = dict(column_types or {})
        indexed = {name for index in model.indexes for name in index.fields}
        for field in model.fields:
            chosen = types.get(field.name) or self.column_type(field)
            if field.name in indexed and chosen == _TYPES["str"]:
                chosen = INDEXABLE_STR
            types[field.name] = chosen
        return types

    # ---- DDL -----------------------------------------------------------------------------------
    def table_suffix(self) -> str:
        collation = self.server.collation if self.server else "utf8mb4_bin"
        return f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"

    def create_table_sql(self, model: ModelSpec, column_types: Mapping[str, str] | None = None) -> list[str]:
        """One ``CREATE TABLE IF NOT EXISTS`` with its indexes inline, so creation is idempotent on MySQL
        too (which has no ``CREATE INDEX IF NOT EXISTS``)."""
        types = self._indexed_types(model, column_types)
        parts = [self.column_sql(f, types[f.name]) for f in model.fields]
        parts += [self._index_clause(index) for index in model.indexes]
        return [f"CREATE TABLE IF NOT EXISTS {self.quote(model.table)} ({', '.join(parts)}){self.table_suffix()}"]

    def _index_clause(self, index: IndexSpec) -> str:
        kind = "UNIQUE KEY" if index.unique else "KEY"
        return f"{kind} {self.quote(index.name)} ({', '.join(self.quote(f) for f in index.fields)})"

    def create_index_sql(self, model: ModelSpec, index: IndexSpec) -> str:
        unique = "UNIQUE " if index.unique else ""
        guard = "IF NOT EXISTS " if self.server is None or self.server.mariadb else ""
        cols = ", ".join(self.quote(f) for f in index.fields)
        return f"CREATE {unique}INDEX {guard}{self.quote(index.name)} ON {self.quote(model.table)} ({cols})"

    def add_column_sql(self, model: ModelSpec, field: FieldSpec, column_type: str | None = None) -> str:
        chosen = self._indexed_types(model, {field.name: column_type or self.column_type(field)})[field.name]
        guard = "IF NOT EXISTS " if self.server is not None and self.server.mariadb else ""
        return f"ALTER TABLE {self.quote(model.table)} ADD COLUMN {guard}{self.quote(field.name)} {chosen}"

    async def table_columns(self, conn: Connection, table: str) -> set[str] | None:
        rows = await conn.fetch(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = %s",
            [table],
        )
        return {r[0] for r in rows} or None

    # ---- filters and selects -------------------------------------------------------------------
    def compile_regex(self, b: SQLBuilder, column: str, pattern: str) -> str:
        # Case-sensitive through the column's binary collation, like PostgreSQL's ``~``.
        return f"{column} REGEXP {b.bind(pattern)}"

    def offset_without_limit(self) -> str:
        return "LIMIT 18446744073709551615"  # MySQL's documented "no limit" with an OFFSET

    def excluded(self, column: str) -> str:
        return f"VALUES({self.quote(column)})"

    # ---- inserts -------------------------------------------------------------------------------
    def _flat_params(self, model: ModelSpec, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Every value of every row, in order, as the driver wants it.

        Columns that need converting are rewritten in place through slice assignment (no per-row
        Python work), and a column holding one shared value (the created_at stamp) is converted once.
        """
        fields = model.field_map
        width = len(columns)
        flat = list(chain.from_iterable(rows))
        for i, name in enumerate(columns):
            fn = _BULK_ENCODERS.get(fields[name].kind)
            if fn is None:
                continue
            column = flat[i::width]
            if column and len(set(map(id, column))) == 1:
                flat[i::width] = [fn(column[0])] * len(column)
            else:
                flat[i::width] = list(map(fn, column))
        return flat

    def _packet_batches(self, model: ModelSpec, columns: Sequence[str], flat: Sequence[Any]) -> list[tuple[int, int]]:
        """Row ranges whose statements fit the server's ``max_allowed_packet`` (with room to spare)."""
        packet = self.server.max_allowed_packet if self.server else 4 * 1024 * 1024
        budget = max(64 * 1024, min(packet // 2, _MAX_STATEMENT))
        fields = model.field_map
        width = len(columns)
        n = len(flat) // width if width else 0
        fixed = 4 + sum(_FIXED_WIDTH.get(fields[c].kind, 0) + 2 for c in columns)
        variable = [i for i, c in enumerate(columns) if fields[c].kind not in _FIXED_WIDTH]
        if not variable:
            per = max(1, budget // fixed)
            return [(s, min(n, s + per)) for s in range(0, n, per)]
        # Worst case: 4 bytes per character of text, 2 per byte of binary (escaping).
        widths = []
        for i in variable:
            factor = 2 if fields[columns[i]].kind == "bytes" else 4
            widths.append([factor * len(v) + 3 if v is not None else 4 for v in flat[i::width]])
        sizes = [fixed + sum(w) for w in zip(*widths, strict=True)]
        batches: list[tuple[int, int]] = []
        start, used = 0, 0
        for i, size in enumerate(sizes):
            if used + size > budget and i > start:
                batches.append((start, i))
                start, used = i, 0
            used += size
        batches.append((start, n))
        return batches

    def _insert_sql(self, model: ModelSpec, columns: Sequence[str], count: int, suffix: str = "") -> str:
        marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        return f"{self.insert_head(model, columns)} VALUES {', '.join([marks] * count)}{suffix}"

    def _skip_sql(self) -> str:
        # Unlike INSERT IGNORE, this skips only duplicate keys; bad values still fail the statement.
        return f" ON DUPLICATE KEY UPDATE {self.quote('id')} = {self.quote('id')}"

    async def run_insert(self, conn: Connection, q: Insert) -> list[dict[str, Any]] | int:
        """Multi-row inserts sized by the packet limit; rows back by RETURNING or by id."""
        assert isinstance(conn, MySQLConnection)
        flat = self._flat_params(q.model, q.columns, q.rows)
        width = len(q.columns)
        suffix = self._skip_sql() if q.skip_conflicts else ""
        returning_sql = q.returning and self.supports_returning and not q.skip_conflicts
        if returning_sql:
            suffix += self.returning_sql(q.model)
        decode = self.row_decoder(q.model)
        records: list[dict[str, Any]] = []
        inserted = 0
        for start, end in self._packet_batches(q.model, q.columns, flat):
            sql = self._insert_sql(q.model, q.columns, end - start, suffix)
            params = flat[start * width : end * width]
            if returning_sql:
                records += [decode(r) for r in await conn.fetch(sql, params)]
            elif q.returning:
                ids = params[q.columns.index("id") :: width] if "id" in q.columns else None
                records += await self._insert_then_select(conn, q, ids, sql, params)
            else:
                inserted += (await conn.run(sql, params)).affected
        return records if q.returning else inserted

    async def _insert_then_select(self, conn: MySQLConnection, q: Insert, ids: list[Any] | None,
                                  sql: str, params: list[Any]) -> list[dict[str, Any]]:
        """Rows just inserted, without RETURNING: by the ids given, or by the generated id range."""
        id_field = q.model.id_field
        if ids is not None:
            existed: set[Any] = set()
            if q.skip_conflicts:
                found = await self.run_select(conn, Select(q.model, Cond(id_field, "in", tuple(ids))))
                existed = {r["id"] for r in found}
            await conn.run(sql, params)
            fresh = tuple(i for i in ids if i not in existed)
            if not fresh:
                return []
            stored = {r["id"]: r for r in await self.run_select(conn, Select(q.model, Cond(id_field, "in", fresh)))}
            return [stored[i] for i in fresh if i in stored]
        result = await conn.run(sql, params)
        if result.affected == 0:
            return []
        # A multi-row insert reserves consecutive ids (one block per statement, step
        # auto_increment_increment); LAST_INSERT_ID() is the first row actually inserted.
        where = Cond(id_field, "gte", result.last_id)
        return await self.run_select(conn, Select(q.model, where, (("id", False),), result.affected))

    # ---- updates and deletes -------------------------------------------------------------------
    def _by_ids(self, model: ModelSpec, ids: Sequence[Any]) -> Expr:
        return Cond(model.id_field, "in", tuple(ids))

    @staticmethod
    def _single_id(where: Expr | None) -> Any:
        """The id when the filter is exactly ``id = value`` (the single-row nodes' case), else None."""
        if isinstance(where, Cond) and where.op == "eq" and where.field.name == "id":
            return where.value
        return None

    async def _locked_ids(self, conn: Connection, model: ModelSpec, where: Expr | None) -> list[Any]:
        b = SQLBuilder(self)
        sql = f"SELECT {self.quote('id')} FROM {self.quote(model.table)}{self.compile_where(b, where)} FOR UPDATE"
        decode = self.decoder(model.id_field)
        return [decode(r[0]) if decode else r[0] for r in await conn.fetch(sql, b.params)]

    async def run_update(self, conn: Connection, q: Update) -> list[dict[str, Any]] | int:
        """UPDATE counts matched rows (as PostgreSQL and SQLite do); returning re-selects by id."""
        assert isinstance(conn, MySQLConnection)
        if not q.returning:
            sql, params = self.compile_update(q)
            return _matched(await conn.run(sql, params))
        one = self._single_id(q.where)
        async with _atomic(conn):
            if one is not None:
                ids = [one]
                sql, params = self.compile_update(Update(q.model, q.where, q.values))
                if _matched(await conn.run(sql, params)) == 0:
                    return []
            else:
                ids = await self._locked_ids(conn, q.model, q.where)
                if not ids:
                    return []
                sql, params = self.compile_update(Update(q.model, self._by_ids(q.model, ids), q.values))
                await conn.run(sql, params)
            return await self.run_select(conn, Select(q.model, self._by_ids(q.model, ids)))

    async def run_delete(self, conn: Connection, q: Delete) -> list[dict[str, Any]] | int:
        assert isinstance(conn, MySQLConnection)
        if not q.returning:
            sql, params = self.compile_delete(q)
            return (await conn.run(sql, params)).affected
        if self.supports_returning:
            return await super().run_delete(conn, q)
        async with _atomic(conn):
            ids = await self._locked_ids(conn, q.model, q.where)
            if not ids:
                return []
            rows = await self.run_select(conn, Select(q.model, self._by_ids(q.model, ids)))
            sql, params = self.compile_delete(Delete(q.model, self._by_ids(q.model, ids)))
            await conn.run(sql, params)
            return rows

    # ---- upserts -------------------------------------------------------------------------------
    def compile_upsert(self, q: Upsert, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
        """``INSERT … ON DUPLICATE KEY UPDATE`` (MySQL has no conflict target: any unique key counts)."""
        return self._upsert_sql(q, len(rows), self._flat_params(q.model, q.columns, rows))

    def _upsert_sql(self, q: Upsert, count: int, params: list[Any]) -> tuple[str, list[Any]]:
        b = SQLBuilder(self)
        sets = ", ".join(self.upsert_sets(b, q))
        return self._insert_sql(q.model, q.columns, count, f" ON DUPLICATE KEY UPDATE {sets}"), params + b.params

    async def run_upsert(self, conn: Connection, q: Upsert) -> list[dict[str, Any]] | tuple[int, int]:
        """Inserted vs updated from the server's own counts: per row 1 = inserted, 2 = updated,
        0 = found unchanged; the info string's ``Duplicates`` counts the updated ones."""
        assert isinstance(conn, MySQLConnection)
        flat = self._flat_params(q.model, q.columns, q.rows)
        width = len(q.columns)
        single = len(q.rows) == 1
        async with _atomic(conn) if q.returning else _nothing():
            # One row: its affected count says created or not. Several: note the keys that exist first.
            existing = await self.existing_keys(conn, q) if q.returning and not single else None
            inserted = 0
            for start, end in self._packet_batches(q.model, q.columns, flat):
                sql, params = self._upsert_sql(q, end - start, flat[start * width : end * width])
                inserted += _inserted(await conn.run(sql, params), end - start)
            if not q.returning:
                return inserted, len(q.rows) - inserted
            records = await self.run_select(conn, Select(q.model, self._keys_filter(q)))
        for record in records:
            key = tuple(record[c] for c in q.conflict_on)
            record["__created__"] = inserted == 1 if existing is None else key not in existing
        return records

    def _keys_filter(self, q: Upsert) -> Expr:
        fields = q.model.field_map
        positions = [q.columns.index(c) for c in q.conflict_on]
        alternatives: list[Expr] = []
        for row in q.rows:
            parts = tuple(Cond(fields[c], "eq", row[p]) for c, p in zip(q.conflict_on, positions, strict=True))
            alternatives.append(parts[0] if len(parts) == 1 else And(parts))
        return alternatives[0] if len(alternatives) == 1 else Or(tuple(alternatives))


def _matched(result: Any) -> int:
    """Rows an UPDATE matched (MySQL's affected rows counts only the rows it changed)."""
    return result.matched if result.matched is not None else result.affected


def _inserted(result: Any, rows: int) -> int:
    """Rows an ``INSERT … ON DUPLICATE KEY UPDATE`` inserted."""
    if rows == 1:
        return 1 if result.affected == 1 else 0
    if result.duplicates is not None:
        return result.affected - 2 * result.duplicates
    return max(0, 2 * rows - result.affected)  # no info string: assume every duplicate changed


@asynccontextmanager
async def _atomic(conn: MySQLConnection) -> AsyncIterator[None]:
    """A transaction around several statements, unless the caller already opened one."""
    if conn.in_transaction:
        yield
        return
    await conn.raw.begin()
    try:
        yield
    except BaseException:
        await conn.raw.rollback()
        raise
    await conn.raw.commit()


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield
