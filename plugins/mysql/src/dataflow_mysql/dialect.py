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
  UPDATE everywhere, rows are selected by their ids inside the same transaction. An UPDATE of the
  row with a given id (the single-row update node's) sends UPDATE and SELECT as one multi-statement
  text, wrapped in its own transaction when none is open: one round trip, atomic.
"""

from __future__ import annotations

import datetime as dt
import decimal
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from itertools import accumulate, chain, repeat
from operator import add, mul
from typing import Any

import attrs
import pymysql.converters
import pymysql.err
from dataflow.dialect import Connection, DialectOptions, SQLBuilder, SQLDialect
from dataflow.errors import DataFlowError
from dataflow.models import FieldSpec, IndexSpec, ModelSpec
from dataflow.query import And, Atomic, ColumnBatch, Cond, Constant, Delete, Expr, Insert, Select, Update, Upsert
from dataflow.rawsql import RawSQLSyntax
from dataflow.types import PoolInfo
from dataflow.url import DatabaseURL
from dataflow.values import to_json

from dataflow_mysql.errors import lost_connection, translate
from dataflow_mysql.pool import MySQLConnection, PoolManager, ServerInfo
from dataflow_mysql.schema import MySQLSchema

__all__ = ["MySQLDialect"]

_UTC = dt.UTC
_TYPES = {
    "str": "LONGTEXT",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "TINYINT(1)",
    "datetime": "DATETIME(6)",
    "date": "DATE",
    "decimal": "VARCHAR(67)",
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


_DECIMAL_SQL = "DECIMAL(65, 30)"
"""What decimals are compared and sorted as: MySQL's widest exact type (35 digits before the point, 30 after)."""
_DECIMAL_INTEGER_DIGITS = 35
_DECIMAL_FRACTION_DIGITS = 30


def _decimal_text(value: decimal.Decimal) -> str:
    """A decimal as the text stored, with its written digits; DF-102 beyond what DECIMAL(65, 30) compares.

    Decimals are stored as text because DECIMAL(65, 30) pads every value to 30 fractional digits,
    which loses the digits a value was written with (1.10 would read back as 1.1).
    """
    _sign, digits, exponent = value.as_tuple()
    fraction = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if fraction > _DECIMAL_FRACTION_DIGITS or len(digits) - fraction > _DECIMAL_INTEGER_DIGITS:
        raise DataFlowError(
            "DF-102",
            f"The decimal {value} has more digits than MySQL / MariaDB can compare exactly "
            f"({_DECIMAL_INTEGER_DIGITS} before the point, {_DECIMAL_FRACTION_DIGITS} after).",
            context={"value": str(value)},
            solutions=["Round the value, or keep it in a str field."],
        )
    return format(value, "f")


def _decode_decimal(value: Any) -> decimal.Decimal:
    """Stored text as it was written; a DECIMAL(65, 30) column of an older table pads 30 fractional
    digits, which are dropped (1.5 comes back as 1.5)."""
    if isinstance(value, str):
        return decimal.Decimal(value)
    text = format(value, "f") if isinstance(value, decimal.Decimal) else str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return decimal.Decimal(text)


def _decimal_param(value: Any) -> Any:
    return None if value is None else _decimal_text(value)


def _json_text(value: Any) -> Any:
    return None if value is None else to_json(value)


def _datetime_text(value: Any) -> Any:
    """A datetime as the very text PyMySQL would write for it (UTC wall time, microseconds when
    there are any): ``isoformat`` runs in C, PyMySQL's ``str.format`` per value costs several µs."""
    return None if value is None else _naive_utc(value).isoformat(" ")


_BULK_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": _datetime_text,
    "json": _json_text,
    "array": _json_text,
    "bytes": _binary_param,
    "decimal": _decimal_param,
}
"""Per-kind conversions of bulk values; every other kind goes to the driver as it is."""


class MySQLDialect(MySQLSchema, SQLDialect):
    """MySQL and MariaDB: backquotes, ``%s``, InnoDB / utf8mb4 tables, server-aware fast paths."""

    name = "mysql"
    quote_char = "`"
    max_params = 65535
    use_returning: bool | None = None
    """Force (True / False) or auto-detect (None) the use of ``RETURNING``; tests force the fallback."""

    def __init__(self, url: DatabaseURL, options: DialectOptions) -> None:
        super().__init__(url, options)
        self.pools = PoolManager(url, options, self.sql_log)

    # ---- connections ---------------------------------------------------------------------------
    def connection(self) -> Any:
        return self.pools.connection()

    # ---- transactions: the kernel's primitives (the driver's own begin / commit / rollback) -------
    async def begin_transaction(self, conn: Any, isolation_level: str | None) -> None:
        if isolation_level:  # applies to the next transaction only
            await conn.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation_level.replace('_', ' ')}", [])
        await conn.control("BEGIN")

    async def commit_transaction(self, conn: Any) -> None:
        await conn.control("COMMIT")

    async def rollback_transaction(self, conn: Any) -> None:
        await conn.control("ROLLBACK")

    async def close(self) -> None:
        await self.pools.close()

    def close_sync(self) -> None:
        self.pools.close_sync()

    async def dedicated_connection(self) -> MySQLConnection:
        """A connection outside the pool (the migration lock's session): DF-402 when unreachable."""
        import aiomysql

        try:
            return MySQLConnection(await aiomysql.connect(**self.pools.connect_kwargs()), self.pools.log)
        except Exception as exc:
            raise self.translate_error(exc) from exc

    # ---- pools, as the kernel lists them ------------------------------------------------------------
    lists_pools = True

    def list_pools(self) -> list[PoolInfo]:
        return [PoolInfo(self.pool_key(loop), id(loop), loop.is_closed(), pool.size, pool.size - pool.freesize,
                         created) for loop, pool, created in self.pools.loop_pools()]

    @property
    def pools_created(self) -> int:
        return self.pools.created

    async def close_pool(self, pool: PoolInfo, *, force: bool = False) -> None:
        await self.pools.close_loop_pool(pool.loop_id, force=force)

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

    def lost_connection(self, exc: BaseException) -> bool:
        return lost_connection(exc)

    def in_transaction(self, conn: Connection) -> bool:
        return isinstance(conn, MySQLConnection) and conn.in_transaction

    # ---- types and values ----------------------------------------------------------------------
    def placeholder(self, index: int) -> str:
        return "%s"

    raw_sql = RawSQLSyntax(backslash_escapes=True, hash_comments=True, backtick_identifiers=True,
                           double_percent=True)

    def statement_refused(self, exc: BaseException) -> bool:
        # 1064 syntax, 1054 unknown column, 1305 unknown function, 1582/1584 wrong arguments, 1052 ambiguous
        code = exc.args[0] if isinstance(exc, pymysql.err.MySQLError) and exc.args else None
        return code in (1064, 1054, 1305, 1582, 1584, 1052, 1149) or isinstance(exc, TypeError | KeyError | ValueError)

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
        if kind == "decimal":
            return _decimal_text(value)
        return value

    def decoder(self, field: FieldSpec) -> Callable[[Any], Any] | None:
        if field.kind == "decimal":
            return _decode_decimal
        return super().decoder(field)

    def _indexed_types(self, model: ModelSpec, column_types: Mapping[str, str] | None) -> dict[str, str]:
        """Column types with indexed string fields (foreign keys included) narrowed to VARCHAR (our LONGTEXT
        cannot be indexed)."""
        types = dict(column_types or {})
        indexed = {name for index in model.indexes for name in index.fields}
        indexed |= {relation.field for relation in model.relations}  # a foreign key column is indexed too
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
        parts += self.model_foreign_key_clauses(model)
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

    def order_column(self, field: FieldSpec) -> str:
        column = self.quote(field.name)
        # Decimals are stored as their written text; compare and sort them as numbers.
        return f"CAST({column} AS {_DECIMAL_SQL})" if field.kind == "decimal" else column

    def bind_compared(self, b: SQLBuilder, field: FieldSpec, value: Any) -> str:
        mark = b.bind_field(field, value)
        return f"CAST({mark} AS {_DECIMAL_SQL})" if field.kind == "decimal" else mark

    def numeric_column(self, field: FieldSpec) -> str:
        return self.order_column(field)  # decimals: CAST to DECIMAL(65, 30), exact

    def atomic_sql(self, b: SQLBuilder, field: FieldSpec, change: Atomic) -> str:
        if field.kind != "decimal":
            return super().atomic_sql(b, field, change)
        # Computed as DECIMAL(65, 30), exactly, and stored back as text without the 30-digit padding.
        operator = "+" if change.op == "add" else "*"
        computed = f"CAST({self.order_column(field)} {operator} {self.bind_compared(b, field, change.operand)} AS CHAR)"
        return f"TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {computed}))"

    def order_term(self, field: FieldSpec, descending: bool, nulls_first: bool) -> str:
        term = f"{self.order_column(field)} {'DESC' if descending else 'ASC'}"
        if not field.nullable:
            return term
        # MySQL has no NULLS FIRST / LAST (and puts NULLs first ascending): sort on "is NULL" first.
        return f"{self.quote(field.name)} IS NULL {'DESC' if nulls_first else 'ASC'}, {term}"

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
        if isinstance(rows, ColumnBatch):  # laid out column by column, never as a tuple per row
            n = len(rows)
            flat: list[Any] = [None] * (n * width)
            for i, column in enumerate(rows.column_data):
                if isinstance(column, Constant):
                    fn = _BULK_ENCODERS.get(fields[columns[i]].kind)
                    flat[i::width] = [fn(column.value) if fn else column.value] * n
                else:
                    flat[i::width] = column
        else:
            flat = list(chain.from_iterable(rows))
        for i, name in enumerate(columns):
            fn = _BULK_ENCODERS.get(fields[name].kind)
            if fn is None or (isinstance(rows, ColumnBatch) and isinstance(rows.column_data[i], Constant)):
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
        # Worst case: 4 bytes per character of text, 2 per byte of binary (escaping). Sizes are summed
        # column by column at C speed (map / accumulate), the cuts found by bisection.
        sizes: Sequence[int] = [fixed + 3 * len(variable)] * n
        for i in variable:
            factor = 2 if fields[columns[i]].kind == "bytes" else 4
            column = flat[i::width]
            if None in column:
                widths: Iterable[int] = [factor * len(v) if v is not None else 1 for v in column]
            else:
                widths = map(mul, map(len, column), repeat(factor))
            sizes = list(map(add, sizes, widths))
        ends = list(accumulate(sizes, initial=0))
        batches: list[tuple[int, int]] = []
        start = 0
        while start < n:
            end = max(start + 1, bisect_right(ends, ends[start] + budget) - 1)
            batches.append((start, end))
            start = end
        return batches or [(0, 0)]

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
        """The id when the filter pins it (``id = value``, alone or ANDed with more conditions: the
        single-row nodes' case), else None."""
        conditions = (where,) if isinstance(where, Cond) else where.items if isinstance(where, And) else ()
        for cond in conditions:
            if isinstance(cond, Cond) and cond.op == "eq" and cond.field.primary_key:
                return cond.value
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
        if one is not None:
            return await self._update_one(conn, q, one)
        async with _atomic(conn):
            ids = await self._locked_ids(conn, q.model, q.where)
            if not ids:
                return []
            sql, params = self.compile_update(Update(q.model, self._by_ids(q.model, ids), q.values))
            await conn.run(sql, params)
            return await self.run_select(conn, Select(q.model, self._by_ids(q.model, ids)))

    async def _update_one(self, conn: MySQLConnection, q: Update, one: Any) -> list[dict[str, Any]]:
        """The row of id ``one`` updated and read back in one round trip, atomically."""
        update_sql, params = self.compile_update(Update(q.model, q.where, q.values))
        select_sql, select_params = self.compile_select(Select(q.model, Cond(q.model.id_field, "eq", one)))
        began = not conn.in_transaction
        try:
            matched, rows = await conn.update_then_select(update_sql, select_sql, [*params, *select_params])
        except Exception as exc:
            if began and self.lost_connection(exc):
                # The text carried its own COMMIT, which may have run before the session ended.
                raise self.lost_error(exc, writing=True, table=q.model.table) from exc
            raise
        if not matched:
            return []
        decode = self.row_decoder(q.model)
        return [decode(row) for row in rows]

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
    # ``ON DUPLICATE KEY UPDATE`` has no conflict target: it fires on whichever unique key the row
    # clashes with first (the primary key, then the others in index order). Two rules make it act on
    # ``conflict_on`` alone, as the other databases do:
    # - its first assignment is a guard that sets the id to NULL (error 1048, turned into DF-704) when
    #   the row it found does not share the conflict key: another unique column clashed;
    # - a row whose conflict key is stored takes that row's id, so that a clash on the primary key
    #   means the same row (a row's id is never changed by an upsert anyway).
    def compile_upsert(self, q: Upsert, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
        """``INSERT … ON DUPLICATE KEY UPDATE`` guarded to act on ``conflict_on`` alone."""
        return self._upsert_sql(q, len(rows), self._flat_params(q.model, q.columns, rows))

    def _upsert_sql(self, q: Upsert, count: int, params: list[Any]) -> tuple[str, list[Any]]:
        b = SQLBuilder(self)
        same_key = " AND ".join(f"{self.quote(c)} <=> {self.excluded(c)}" for c in q.conflict_on)
        guard = f"{self.quote('id')} = IF({same_key}, {self.quote('id')}, NULL)"
        sets = ", ".join([guard, *self.upsert_changes(b, q)])
        return self._insert_sql(q.model, q.columns, count, f" ON DUPLICATE KEY UPDATE {sets}"), params + b.params

    async def run_upsert(self, conn: Connection, q: Upsert) -> list[dict[str, Any]] | tuple[int, int]:
        """Inserted vs updated from the server's own counts: per row 1 = inserted, 2 = updated,
        0 = found unchanged; the info string's ``Duplicates`` counts the updated ones."""
        assert isinstance(conn, MySQLConnection)
        single = len(q.rows) == 1
        try:
            async with _atomic(conn) if q.returning else _nothing():
                q = await self._adopt_stored_ids(conn, q)
                flat = self._flat_params(q.model, q.columns, q.rows)
                width = len(q.columns)
                # One row: its affected count says created or not. Several: note the keys that exist first.
                existing = await self.existing_keys(conn, q) if q.returning and not single else None
                inserted = 0
                for start, end in self._packet_batches(q.model, q.columns, flat):
                    sql, params = self._upsert_sql(q, end - start, flat[start * width : end * width])
                    inserted += _inserted(await conn.run(sql, params), end - start)
                if not q.returning:
                    return inserted, len(q.rows) - inserted
                records = await self._rows_by_keys(conn, q)
        except pymysql.err.IntegrityError as exc:
            if exc.args[:1] == (1048,) and f"'{q.model.id_field.name}'" in str(exc):
                raise _other_key_clash(q) from exc
            raise
        for record in records:
            key = tuple(record[c] for c in q.conflict_on)
            record["__created__"] = inserted == 1 if existing is None else key not in existing
        return records

    async def _adopt_stored_ids(self, conn: MySQLConnection, q: Upsert) -> Upsert:
        """``q`` with each row whose conflict key is stored carrying that stored row's id."""
        if "id" not in q.columns or "id" in q.conflict_on:
            return q
        width = len(q.conflict_on)
        stored = {row[:width]: row[width] for row in await self.fetch_by_keys(conn, q, (*q.conflict_on, "id"))}
        if not stored:
            return q
        at = q.columns.index("id")
        rows = [row if (found := stored.get(key)) is None else (*row[:at], found, *row[at + 1 :])
                for row, key in zip(q.rows, self.conflict_keys(q), strict=True)]
        return attrs.evolve(q, rows=rows)

    async def _rows_by_keys(self, conn: MySQLConnection, q: Upsert) -> list[dict[str, Any]]:
        decode = self.row_decoder(q.model)
        return [decode(row) for row in await self.fetch_by_keys(conn, q, q.model.column_names)]


def _other_key_clash(q: Upsert) -> DataFlowError:
    """DF-704 for an upsert row that clashes with a stored row on a unique column outside ``conflict_on``."""
    return DataFlowError(
        "DF-704",
        f"A row clashes on a unique column other than its conflict key ({', '.join(q.conflict_on)}) with "
        f"another stored {q.model.name}; an upsert only ever updates the row matching its conflict key.",
        context={"model": q.model.name, "conflict_on": ", ".join(q.conflict_on)},
        solutions=["Give the row values that are unique in every unique column.",
                   "Upsert on the unique column that clashes (conflict_on) if that row is meant."],
    )


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
    await conn.control("BEGIN")
    try:
        yield
    except BaseException:
        await conn.control("ROLLBACK")
        raise
    await conn.control("COMMIT")


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield
