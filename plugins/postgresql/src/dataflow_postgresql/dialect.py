"""The PostgreSQL dialect on asyncpg: one pool per event loop, binary COPY for bulk, native upsert.

What differs from the generic SQL of the kernel:

- ``$n`` placeholders, native types (TIMESTAMPTZ, NUMERIC, BYTEA, JSONB …); asyncpg already returns
  aware UTC datetimes, Decimals and bytes, so only JSON needs decoding on the way back.
- Pools: a connection pool per event loop (kernel ``LoopLocal``; ``pool.py``), made on first use and
  kept across ``LocalRuntime.execute`` calls; pools of closed loops are terminated, never reused.
- Fast paths: binary ``COPY`` for plain bulk inserts, ``INSERT … SELECT * FROM unnest($1::t[], …)``
  where ids must come back or conflicts be skipped (one statement, the same SQL text for any row
  count, so asyncpg's per-connection prepared-statement cache is hit; a column holding one value for
  every row, such as the batch's timestamps, bound once rather than as an array, and sent by COPY as
  the binary timestamp it is), ``ON CONFLICT … DO UPDATE``
  with ``xmax = 0`` to tell created rows from updated ones, ``= ANY($1)`` for ``$in``.
- Errors: SQLSTATEs mapped to DF codes (``errors.py``).

Portable mode (``DataFlow(url, postgres_compat="portable")``) is for PostgreSQL-compatible distributed
databases (CockroachDB, YugabyteDB, Citus): no binary COPY and no ``unnest`` arrays (multi-row
``INSERT … VALUES`` batches), upserts without the ``xmax`` trick (the conflict keys that exist are read
first, in the same transaction), the lease-row migration lock instead of advisory locks, and identity
sequences moved forward with ``setval``/``nextval`` only (no ``pg_sequence_last_value``).
``postgres_compat="auto"`` asks the server what it is (``version()``) at the first write and uses the
portable forms on CockroachDB and YugabyteDB, the native ones on PostgreSQL (Citus included).
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import json
import logging
import struct
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import asyncpg
from dataflow.aggregates import Aggregate
from dataflow.dialect import LIKE_ESCAPE, DialectOptions, LoopLocal, SQLBuilder, SQLDialect, like_pattern
from dataflow.errors import DataFlowError
from dataflow.models import FieldSpec, ModelSpec
from dataflow.query import ColumnBatch, Cond, Constant, Count, Delete, Insert, Select, Update, Upsert
from dataflow.rawsql import RawSQLSyntax
from dataflow.sqllog import StatementLog
from dataflow.transactions import current_scope
from dataflow.types import PoolInfo
from dataflow.url import DatabaseURL
from dataflow.values import to_json

from dataflow_postgresql.errors import pool_exhausted, translate
from dataflow_postgresql.pool import ConnectionPool, PoolTimeout
from dataflow_postgresql.schema import PostgreSQLSchema

__all__ = ["PGConnection", "PostgreSQLDialect"]

_TYPES = {
    "str": "TEXT",
    "int": "BIGINT",
    "float": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMPTZ",
    "date": "DATE",
    "decimal": "NUMERIC",
    "bytes": "BYTEA",
    "json": "JSONB",
    "array": "JSONB",
}
_UTC = dt.UTC
COPY_THRESHOLD = 32
"""From this many rows a plain insert goes through COPY (below it, one INSERT is fewer round trips)."""
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P03"})
"""SQLSTATEs of a server ending the session: administrator command, crash of another backend, shutdown."""
# DDL "IF NOT EXISTS" is not atomic in PostgreSQL: two sessions creating the same table at once can
# fail with a duplicate-object or catalog unique violation. The object exists afterwards, so retry.
_copying: contextvars.ContextVar[bool] = contextvars.ContextVar("dataflow_pg_copying", default=False)
"""True inside a COPY of this dialect (in the task running it)."""


class _QuietLostCopy(logging.Filter):
    """Drops asyncio's "socket.send() raised exception." for a COPY whose connection was lost.

    asyncpg keeps handing COPY data to a transport whose connection the server closed, and asyncio
    logs that line for every write past the fifth: a killed COPY printed hundreds. The failure itself
    reaches the caller as a DF-coded error; the same line from anyone else's code still shows.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_copying.get() and record.msg == "socket.send() raised exception.")


logging.getLogger("asyncio").addFilter(_QuietLostCopy())

_DDL_RACE_STATES = frozenset({"23505", "42P07", "42710"})
PORTABLE_FLAVORS = frozenset({"cockroachdb", "yugabytedb"})
"""Servers ``postgres_compat="auto"`` runs in portable mode."""


def _rowcount(status: str) -> int:
    """The row count at the end of a command status (``INSERT 0 5``, ``UPDATE 3``, ``COPY 10``)."""
    tail = status.rpartition(" ")[2]
    return int(tail) if tail.isdigit() else 0


def _naive_to_utc(value: Any) -> Any:
    # asyncpg reads a naive datetime in local time; the DataFlow rule is that naive means UTC.
    return value.replace(tzinfo=_UTC) if value is not None and value.tzinfo is None else value


_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=_UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def pg_timestamp(value: dt.datetime) -> int:
    """An aware datetime as PostgreSQL's binary TIMESTAMPTZ: microseconds since 2000-01-01 UTC."""
    return (value - _PG_EPOCH) // _MICROSECOND


def _decode_json(value: Any) -> Any:
    # JSONB arrives as text; a plugin-provided native column (TEXT[] …) arrives already decoded.
    return json.loads(value) if isinstance(value, str) else value


_INT4 = (-(2**31), 2**31 - 1)
_REAL_MAX = 3.4028234663852886e38


def native_array(field: FieldSpec, value: Any) -> list[Any]:
    """A list for a native array column (``TEXT[]``, ``INTEGER[]``, ``REAL[]``), its elements checked
    against the column's range: DF-102 naming the element, rather than the server's bare overflow."""
    items = list(value)
    if field.element_kind == "int":
        for item in items:
            if not _INT4[0] <= item <= _INT4[1]:
                raise _out_of_range(field, item, "INTEGER[] holds whole numbers from -2147483648 to 2147483647")
    elif field.element_kind == "float":
        for item in items:
            if abs(item) > _REAL_MAX:
                raise _out_of_range(field, item, "REAL[] holds numbers up to about 3.4e38 in size")
    return items


def _out_of_range(field: FieldSpec, item: Any, rule: str) -> DataFlowError:
    return DataFlowError("DF-102", f"Field '{field.name}' holds {item!r}, out of range: {rule}.",
                         context={"field": field.name},
                         solutions=["Store the list as JSON instead (leave use_native_arrays off for this model)."])


def _decode_real_array(value: Any) -> Any:
    """A REAL[] read back with each element's shortest decimal form (4.8 stays 4.8, not 4.800000190734863)."""
    if value is None:
        return None
    return [None if v is None else _shortest_float32(v) for v in value]


def _shortest_float32(value: float) -> float:
    stored = struct.pack("<f", value)
    for digits in range(6, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == stored:
            return candidate
    return value


def jsonb_text(value: Any) -> str:
    """JSON text whose numbers keep their Python type through JSONB.

    JSONB stores numbers as NUMERIC and prints them without an exponent, so ``1e300`` (a float) would
    come back as the int ``10**300``. A float whose JSON text has a positive exponent is written out
    in full with a fractional ``.0`` (its exact value: every such float is a whole number), which JSONB
    keeps as a decimal and ``json.loads`` reads back as that same float.
    """
    text = to_json(value)
    return text if "e+" not in text else _exact_json(value)


def _exact_json(value: Any) -> str:
    if isinstance(value, float):
        return format(value, ".1f") if "e+" in repr(value) else to_json(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json(_json_key(k))}:{_exact_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_exact_json(v) for v in value) + "]"
    return to_json(value)


def _json_key(key: Any) -> str:
    """A dict key as ``json.dumps`` writes it (keys are strings in JSON)."""
    return key if isinstance(key, str) else to_json(key).strip('"')


class PGConnection:
    """The kernel's Connection protocol over one pooled asyncpg connection (``raw``)."""

    __slots__ = ("log", "raw")

    def __init__(self, raw: Any, log: StatementLog) -> None:
        self.raw = raw
        self.log = log

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        return await self.log.wrap(self.raw.fetch(sql, *params), sql, params)

    async def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        """``(column names, rows)``, for raw SQL (``db.fetch``)."""
        records = await self.log.wrap(self.raw.fetch(sql, *params), sql, params)
        return (list(records[0].keys()) if records else []), records

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        try:
            return _rowcount(await self.log.wrap(self.raw.execute(sql, *params), sql, params))
        except asyncpg.PostgresError as exc:
            if (params or "IF NOT EXISTS" not in sql or getattr(exc, "sqlstate", None) not in _DDL_RACE_STATES
                    or self.raw.is_in_transaction()):
                raise
        return _rowcount(await self.log.wrap(self.raw.execute(sql), sql, params))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        width = len(rows[0]) if rows else 0
        await self.log.wrap(self.raw.executemany(sql, rows), sql, len(rows) * width, rows=len(rows))

    async def copy_rows(self, table: str, columns: Sequence[str], records: Any, count: int,
                        typed_by: tuple[str, str] | None = None) -> int:
        """Binary ``COPY`` of ``count`` rows into ``table``; the number copied.

        ``typed_by``: ``(query, copy statement)``, to encode the values by the result types of that
        query rather than by the table's columns (see ``PostgreSQLDialect.copy_stamped``).
        """
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)"
        if typed_by is None:
            step = self.raw.copy_records_to_table(table, records=records, columns=list(columns))
        else:
            step = self._copy_typed_by(typed_by[0], typed_by[1], records)
        return _rowcount(await self.log.wrap(step, sql, count * len(columns), rows=count))

    def copies_by_query(self) -> bool:
        """True when this asyncpg exposes what ``copy_rows(typed_by=…)`` uses: the statement preparation
        and COPY of ``copy_records_to_table`` (not public API; without them COPY goes the public way)."""
        return hasattr(self.raw, "_prepare") and hasattr(getattr(self.raw, "_protocol", None), "copy_in")

    async def result_types(self, query: str) -> list[str]:
        """The type names of ``query``'s result columns (prepared once per connection, as COPY does)."""
        statement = await self.raw._prepare(query, use_cache=True)
        return [attribute.type.name for attribute in statement.get_attributes()]

    async def _copy_typed_by(self, query: str, copy_sql: str, records: Any) -> str:
        # What copy_records_to_table does, with the codecs of ``query`` in place of its own
        # ``SELECT columns FROM table LIMIT 1``.
        statement = await self.raw._prepare(query, use_cache=True)
        status: str = await self.raw._protocol.copy_in(copy_sql, None, None, records, statement._state, None)
        return status


class _Lease:
    """``async with dialect.connection() as conn``: a class rather than a generator-based context
    manager, because it runs around every single-row operation."""

    __slots__ = ("dialect", "pool", "raw")

    def __init__(self, dialect: PostgreSQLDialect) -> None:
        self.dialect = dialect

    async def __aenter__(self) -> PGConnection:
        self.pool = self.dialect.loop_pool()
        self.raw = await self.dialect.acquire(self.pool)
        return PGConnection(self.raw, self.dialect.sql_log)

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.dialect.give_back(self.pool, self.raw, exc_type)


class PostgreSQLDialect(PostgreSQLSchema, SQLDialect):
    """PostgreSQL through asyncpg (see the module docstring for what it does differently)."""

    name = "postgresql"
    max_params = 32767
    transactional_ddl = True
    index_methods = frozenset({"btree", "hash", "gin", "gist", "brin", "spgist"})

    def __init__(self, url: DatabaseURL, options: DialectOptions) -> None:
        super().__init__(url, options)
        self._pools: LoopLocal[ConnectionPool] = LoopLocal()
        self.max_size = max(1, options.pool_size + options.max_overflow)
        self.pool_timeout = float(options.pool_timeout)
        self.connect_timeout = float(options.connect_timeout) or None
        rest = url.raw.strip().partition("://")[2]
        self.dsn = f"postgresql://{rest}"  # drops a "+asyncpg" driver suffix; asyncpg parses the rest
        self.target = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"
        self.compat = "native"
        self.server_flavor: str | None = None
        """What the server said it is (``postgresql``, ``cockroachdb``, ``yugabytedb``, ``citus``), once probed."""

    # ---- portable mode -------------------------------------------------------------------------
    def set_compat(self, mode: str) -> None:
        """``native`` (default), ``portable`` or ``auto`` (see the module docstring)."""
        self.compat = mode
        self.portable = mode == "portable"

    async def probe_server(self, conn: Any) -> str:
        """Ask the server what it is (once); in ``auto`` mode this decides portable mode."""
        if self.server_flavor is None:
            version = str((await conn.fetch("SELECT version()", []))[0][0])
            if "CockroachDB" in version:
                flavor = "cockroachdb"
            elif "-YB-" in version or "Yugabyte" in version:
                flavor = "yugabytedb"
            elif await conn.fetch("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus'", []):
                flavor = "citus"
            else:
                flavor = "postgresql"
            self.server_flavor = flavor
            if self.compat == "auto":
                self.portable = flavor in PORTABLE_FLAVORS
        return self.server_flavor

    async def _portable(self, conn: Any) -> bool:
        if self.compat == "auto" and self.server_flavor is None:
            await self.probe_server(conn)
        return self.portable

    # ---- connections -------------------------------------------------------------------------
    def loop_pool(self) -> ConnectionPool:
        """This event loop's pool (made on first use; pools of closed loops are terminated then)."""
        pool = self._pools.get()
        if pool is None or pool.closed:
            for stale in self._pools.pop_closed():
                stale.terminate()
            pool = ConnectionPool(self._connect, self.max_size)
            self._pools.set(pool)
        return pool

    async def pool(self) -> ConnectionPool:
        """``loop_pool()`` for callers that expect a coroutine."""
        return self.loop_pool()

    async def _connect(self) -> asyncpg.Connection:
        # asyncpg applies ``timeout`` per address it tries; the outer bound covers DNS and a host
        # name resolving to several addresses, so an unreachable server never hangs a caller.
        timeout = self.connect_timeout
        outer = None if timeout is None else timeout * 2 + 1
        settings = {}
        if self.options.statement_timeout > 0:
            settings["statement_timeout"] = str(max(1, round(self.options.statement_timeout * 1000)))
        return await asyncio.wait_for(asyncpg.connect(self.dsn, timeout=timeout, server_settings=settings),
                                      timeout=outer)

    async def dedicated_connection(self) -> asyncpg.Connection:
        """A connection outside the pool (the migration lock's session): DF-402 when unreachable."""
        try:
            return await self._connect()
        except Exception as exc:
            raise translate(exc, self.target) from exc

    async def acquire(self, pool: ConnectionPool) -> asyncpg.Connection:
        """A connection of ``pool``: DF-507 when none frees up in ``pool_timeout``, DF-402 when the
        server cannot be reached."""
        try:
            return await pool.acquire(self.pool_timeout)
        except PoolTimeout as exc:
            raise pool_exhausted(self.max_size, self.pool_timeout) from exc
        except Exception as exc:  # refused, login rejected, unknown database …
            raise translate(exc, self.target) from exc

    def connection(self) -> _Lease:
        """``async with dialect.connection() as conn``: a pooled connection of this event loop."""
        return _Lease(self)

    async def run(self, query: Any, conn: Any = None) -> Any:
        """Run a query description (the kernel's contract), on ``conn``, in the transaction open in this
        context, or on a pooled connection.

        The same error handling as the base class, without its generator-based context manager:
        this is the path of every single-row operation.
        """
        method = self._runners.get(type(query))
        if method is None:
            raise TypeError(f"not a query: {query!r}")
        if self.read_router is not None and (routed := self.read_router.route(query, conn)) is not None:
            return await routed
        pool = raw = None
        if conn is None:
            scope = current_scope(self)
            if scope is not None:
                return await scope.run(query)
            pool = self.loop_pool()
            raw = await self.acquire(pool)
            conn = PGConnection(raw, self.sql_log)
        try:
            result = await getattr(self, method)(conn, query)
        except BaseException as exc:
            if pool is not None:
                self.give_back(pool, raw, type(exc))
            if isinstance(exc, Exception) and not isinstance(exc, DataFlowError):
                return await self.recover(query, exc, None if pool is not None else conn)
            raise
        if pool is not None:
            pool.release(raw)
        return result

    # By name, so that overrides (here and in subclasses) are the ones called.
    _runners: ClassVar[dict[type, str]] = {
        Select: "run_select", Count: "run_count", Insert: "run_insert",
        Update: "run_update", Delete: "run_delete", Upsert: "run_upsert", Aggregate: "run_aggregate",
    }

    @staticmethod
    def give_back(pool: ConnectionPool, raw: asyncpg.Connection, exc_type: type[BaseException] | None) -> None:
        """Return a connection after use; one whose user was cancelled mid-query is terminated."""
        if exc_type is not None and issubclass(exc_type, asyncio.CancelledError | KeyboardInterrupt):
            pool.discard(raw)
        else:
            pool.release(raw)

    def lost_connection(self, exc: BaseException) -> bool:
        if isinstance(exc, asyncpg.ConnectionDoesNotExistError | ConnectionError):
            return True
        state = getattr(exc, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in _SESSION_ENDED):
            return True
        return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)

    def in_transaction(self, conn: Any) -> bool:
        return bool(conn.raw.is_in_transaction())

    async def close(self) -> None:
        """Close this loop's pool (idle connections politely), then terminate every other pool."""
        pool = self._pools.pop_current()
        if pool is not None:
            await pool.close(timeout=min(max(self.pool_timeout, 1.0), 10.0))
        self.close_sync()

    def close_sync(self) -> None:
        """Terminate the pools of every other loop (closed ones included); usable without a loop."""
        for loop, pool in self._pools.items():
            _terminate_on(loop, pool)
        self._pools.clear()

    # ---- pools, as the kernel lists them ------------------------------------------------------------
    lists_pools = True

    def list_pools(self) -> list[PoolInfo]:
        return [PoolInfo(self.pool_key(loop), id(loop), loop.is_closed(), pool.size, pool.size - len(pool._idle),
                         self._pools.created_at(loop))
                for loop, pool in self._pools.items() if not pool.closed]

    @property
    def pools_created(self) -> int:
        return self._pools.created

    async def close_pool(self, pool: PoolInfo, *, force: bool = False) -> None:
        for loop, held in self._pools.items():
            if id(loop) != pool.loop_id:
                continue
            self._pools.pop(loop)
            if force or loop.is_closed():
                _terminate_on(loop, held)
                return
            timeout = min(max(self.pool_timeout, 1.0), 10.0)
            if loop is asyncio.get_running_loop():
                await held.close(timeout=timeout)
            elif loop.is_running():  # another thread's loop (LocalRuntime's): it closes its own connections
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(held.close(timeout=timeout), loop))
            else:
                held.terminate()
            return

    def translate_error(self, exc: BaseException) -> DataFlowError:
        return translate(exc, self.target)

    async def server_version(self) -> str:
        async with self.connection() as conn:
            return str(await conn.raw.fetchval("SHOW server_version"))

    # ---- types and values ------------------------------------------------------------------
    def placeholder(self, index: int) -> str:
        return f"${index}"

    raw_sql = RawSQLSyntax(dollar_quotes=True, native_marks=r"\$\d+", arrays=True)
    reuses_placeholders = True

    def statement_refused(self, exc: BaseException) -> bool:
        # SQLSTATE class 42: syntax error or access rule violation (unknown column, function, type …).
        state = getattr(exc, "sqlstate", None)
        return (isinstance(state, str) and state.startswith("42") and state != "42P01") or (type(exc).__name__ in (
            "InterfaceError", "DataError") and "argument" in str(exc))

    def column_type(self, field: FieldSpec) -> str:
        return _TYPES[field.kind]

    def id_column_sql(self, field: FieldSpec) -> str:
        if field.kind == "int":
            return f"{self.quote('id')} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        return f"{self.quote('id')} TEXT PRIMARY KEY"

    def add_column_sql(self, model: ModelSpec, field: FieldSpec, column_type: str | None = None) -> str:
        # IF NOT EXISTS: two instances migrating the same table at once must not fail each other.
        return (f"ALTER TABLE {self.quote(model.table)} ADD COLUMN IF NOT EXISTS {self.quote(field.name)} "
                f"{column_type or self.column_type(field)}")

    def encode(self, field: FieldSpec, value: Any) -> Any:
        if value is None:
            return None
        kind = field.kind
        if kind == "datetime":
            return _naive_to_utc(value)
        if kind == "array" and field.native_array:
            return native_array(field, value)
        if kind == "json" or kind == "array":
            return jsonb_text(value)
        return value

    def decoder(self, field: FieldSpec) -> Callable[[Any], Any] | None:
        # asyncpg returns canonical values for everything else (aware UTC datetimes, Decimal, bytes …).
        if field.native_array and field.element_kind == "float":
            return _decode_real_array
        return _decode_json if field.kind in ("json", "array") else None

    # ---- filters -----------------------------------------------------------------------------
    def compile_cond(self, b: SQLBuilder, cond: Cond) -> str:
        op = cond.op
        if op in ("in", "nin") and cond.value:
            # One array parameter: the SQL text is the same for any list length (prepared-statement reuse).
            column = self.quote(cond.field.name)
            mark = b.bind([self.encode(cond.field, v) for v in cond.value])
            if op == "in":
                return f"{column} = ANY({mark})"
            return f"({column} <> ALL({mark}) OR {column} IS NULL)"
        if op in ("like", "ilike", "regex"):
            column = self.quote(cond.field.name)
            if cond.field.kind != "str":
                column += "::text"  # SQLite matches patterns against any column; so do we
            if op == "regex":
                return self.compile_regex(b, column, cond.value)
            return self.compile_like(b, column, cond.value, insensitive=op == "ilike")
        return super().compile_cond(b, cond)

    def list_operands(self, field: FieldSpec, values: Sequence[Any]) -> list[Any]:
        encode = self.encode
        return [[encode(field, v) for v in values]] if values else []

    def compile_like(self, b: SQLBuilder, column: str, pattern: str, *, insensitive: bool) -> str:
        return f"{column} {'ILIKE' if insensitive else 'LIKE'} {b.bind(like_pattern(pattern))} ESCAPE '{LIKE_ESCAPE}'"

    def offset_without_limit(self) -> str:
        return "LIMIT ALL"

    # ---- inserts -----------------------------------------------------------------------------
    def unnest_ok(self, model: ModelSpec, columns: Sequence[str]) -> bool:
        """Rows can be sent as one array per column (not for list fields: arrays of arrays flatten; not
        in portable mode, where multi-row ``VALUES`` is the form every compatible engine takes)."""
        if self.portable:
            return False
        fields = model.field_map
        return all(fields[c].kind != "array" for c in columns)

    def encoded_columns(self, model: ModelSpec, columns: Sequence[str],
                        rows: Sequence[tuple[Any, ...]]) -> list[Sequence[Any]]:
        """``rows`` turned column-wise (taken as they are from a ColumnBatch), each column encoded."""
        fields = model.field_map
        n = len(rows)
        # Constant columns are replaced by lists below, so the list holds any column form.
        data: list[Any] = list(rows.column_data) if isinstance(rows, ColumnBatch) else list(zip(*rows, strict=True))
        for index, name in enumerate(columns):
            field, column = fields[name], data[index]
            if isinstance(column, Constant):
                data[index] = [self.encode(field, column.value)] * n
            elif self.needs_encoding(field):
                encode = self.encode
                data[index] = [encode(field, v) for v in column]
        return data

    def rows_source(self, b: SQLBuilder, model: ModelSpec, columns: Sequence[str],
                    rows: Sequence[tuple[Any, ...]]) -> str:
        """``VALUES (…)`` for one row, ``SELECT * FROM unnest($1::t[], …)`` for many (multi-row ``VALUES``
        where arrays cannot carry them, and in portable mode), a column of one value bound once."""
        if len(rows) > 1 and self.unnest_ok(model, columns):
            if (isinstance(rows, ColumnBatch)  # with an array left to give the row count
                    and 0 < sum(isinstance(c, Constant) for c in rows.column_data) < len(columns)):
                return self._unnest_with_constants(b, model, columns, rows)
            fields = model.field_map
            arrays = ", ".join(f"{b.bind(values)}::{self.column_type(fields[name])}[]"
                               for name, values in zip(columns, self.encoded_columns(model, columns, rows),
                                                       strict=True))
            return f" SELECT * FROM unnest({arrays})"
        return " VALUES " + ", ".join(self.row_marks(b, model, columns, row) for row in rows)

    def _unnest_with_constants(self, b: SQLBuilder, model: ModelSpec, columns: Sequence[str], rows: ColumnBatch) -> str:
        """``SELECT u.c0, $k::t, … FROM unnest(…) AS u(c0, …)``: a column holding one value for every row
        (the batch's timestamps, a default) bound once, not as an array of that value (asyncpg encodes
        each element of an array: a datetime in Python-level steps)."""
        fields = model.field_map
        varying = [(name, c) for name, c in zip(columns, rows.column_data, strict=True) if not isinstance(c, Constant)]
        encoded = iter(self.encoded_columns(model, [name for name, _c in varying],
                                            ColumnBatch([c for _name, c in varying], len(rows))))
        arrays: list[str] = []
        selected: list[str] = []
        for name, column in zip(columns, rows.column_data, strict=True):
            kind = self.column_type(fields[name])
            if isinstance(column, Constant):
                selected.append(f"{b.bind(self.encode(fields[name], column.value))}::{kind}")
            else:
                selected.append(f"u.c{len(arrays)}")
                arrays.append(f"{b.bind(next(encoded))}::{kind}[]")
        aliases = ", ".join(f"c{i}" for i in range(len(arrays)))
        return f" SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) AS u({aliases})"

    def statement_batches(self, q: Insert | Upsert) -> Sequence[Sequence[tuple[Any, ...]]]:
        """All rows in one statement when they can go as arrays, else batches of VALUES rows."""
        if self.unnest_ok(q.model, q.columns):
            return [q.rows]
        return list(self.insert_batches(q))

    async def run_insert(self, conn: Any, q: Insert) -> list[dict[str, Any]] | int:
        if not q.rows:
            return [] if q.returning else 0
        portable = await self._portable(conn)
        if not q.returning and not q.skip_conflicts and len(q.rows) >= COPY_THRESHOLD and not portable:
            token = _copying.set(True)
            try:
                copied = await self.copy_stamped(conn, q)
                if copied < 0:
                    copied = await conn.copy_rows(
                        q.model.table, q.columns, self.encode_rows(q.model, q.columns, q.rows), len(q.rows))
                outcome: list[dict[str, Any]] | int = copied
            finally:
                _copying.reset(token)
        else:
            outcome = await self._insert_statements(conn, q)
        if "id" in q.columns and q.model.id_is_generated:
            await self.sync_identity(conn, q.model)
        return outcome

    async def copy_stamped(self, conn: Any, q: Insert) -> int:
        """COPY of rows whose datetime columns hold one value each (the batch's ``created_at`` and
        ``updated_at``), that value sent as the 8-byte integer it is in PostgreSQL's binary format;
        -1 when the rows are not such (or the columns not TIMESTAMPTZ): the caller copies them as usual.

        asyncpg turns every datetime into that integer in Python-level steps (time zone, subtraction,
        attribute reads), which took more time than the rest of a row: here it is computed once per
        column and written through the int8 codec, the same 8 bytes.
        """
        stamps = self.constant_stamps(q)
        if not stamps or not conn.copies_by_query():
            return -1
        table = self.quote(q.model.table)
        names = [self.quote(c) for c in q.columns]
        types = await conn.result_types(f"SELECT {', '.join(names)} FROM {table} LIMIT 1")
        if any(types[position] != "timestamptz" for position in stamps):
            return -1
        typed = ", ".join(f"NULL::int8 AS {name}" if i in stamps else name for i, name in enumerate(names))
        copy_sql = f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT binary)"
        n = len(q.rows)
        data = self.encoded_columns(q.model, q.columns, q.rows)
        for position, value in stamps.items():
            data[position] = [value] * n
        return int(await conn.copy_rows(q.model.table, q.columns, zip(*data, strict=True), n,
                                        typed_by=(f"SELECT {typed} FROM {table} LIMIT 1", copy_sql)))

    def constant_stamps(self, q: Insert) -> dict[int, int]:
        """``{position: PostgreSQL binary timestamp}`` of the datetime columns of ``q``'s column batch
        that hold one value for every row (none for rows given as tuples)."""
        rows = q.rows
        if not isinstance(rows, ColumnBatch):
            return {}
        fields = q.model.field_map
        found = {}
        for position, (name, column) in enumerate(zip(q.columns, rows.column_data, strict=True)):
            value = column.value if isinstance(column, Constant) else None
            if fields[name].kind == "datetime" and isinstance(value, dt.datetime):
                found[position] = pg_timestamp(_naive_to_utc(value))
        return found

    async def _insert_statements(self, conn: Any, q: Insert) -> list[dict[str, Any]] | int:
        decode = self.row_decoder(q.model)
        records: list[dict[str, Any]] = []
        inserted = 0
        for rows in self.statement_batches(q):
            b = SQLBuilder(self)
            sql = self.insert_head(q.model, q.columns) + self.rows_source(b, q.model, q.columns, rows)
            if q.skip_conflicts:
                sql += self.skip_conflicts_sql(q.model)
            if q.returning:
                records += [decode(r) for r in await conn.fetch(sql + self.returning_sql(q.model), b.params)]
            else:
                inserted += await conn.execute(sql, b.params)
        return records if q.returning else inserted

    async def sync_identity(self, conn: Any, model: ModelSpec) -> None:
        """After explicit ids went into a generated-id table, move its sequence past them.

        SQLite hands out max(id) + 1; an identity sequence would otherwise collide with the given ids.
        The sequence only ever moves forward.
        """
        table = self.quote(model.table)
        if self.portable:
            # Forward only without pg_sequence_last_value: nextval() (one number skipped) is the floor.
            await conn.fetch(
                f"SELECT setval(s.seq, GREATEST(s.m, nextval(s.seq))) FROM (SELECT pg_get_serial_sequence($1, 'id') "
                f"AS seq, MAX({self.quote('id')}) AS m FROM {table}) AS s WHERE s.seq IS NOT NULL AND s.m IS NOT NULL",
                [table],
            )
            return
        await conn.fetch(
            f"SELECT setval(s.seq, s.m) FROM (SELECT pg_get_serial_sequence($1, 'id') AS seq, "
            f"MAX({self.quote('id')}) AS m FROM {table}) AS s WHERE s.seq IS NOT NULL AND "
            "s.m >= COALESCE(pg_sequence_last_value(s.seq::regclass) + 1, 1)",
            [table],
        )

    # ---- upsert ------------------------------------------------------------------------------
    def compile_pg_upsert(self, q: Upsert, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
        """``INSERT … ON CONFLICT (…) DO UPDATE … RETURNING …, (xmax = 0)``: the last column is True
        for a row this statement inserted (an updated row version carries the updating xid in xmax)."""
        b = SQLBuilder(self)
        target = ", ".join(self.quote(c) for c in q.conflict_on)
        source = self.rows_source(b, q.model, q.columns, rows)
        sets = ", ".join(self.upsert_sets(b, q))
        table = self.quote(q.model.table)
        sql = (f"{self.insert_head(q.model, q.columns)}{source} ON CONFLICT ({target}) DO UPDATE SET {sets}")
        if q.returning:
            return f"{sql}{self.returning_sql(q.model)}, ({table}.xmax = 0)", b.params
        return (f"WITH r AS ({sql} RETURNING ({table}.xmax = 0) AS i) "
                "SELECT COUNT(*) FILTER (WHERE i), COUNT(*) FILTER (WHERE NOT i) FROM r"), b.params

    async def run_upsert(self, conn: Any, q: Upsert) -> list[dict[str, Any]] | tuple[int, int]:
        if await self._portable(conn):
            # The kernel's portable form: the existing conflict keys are read first (callers run
            # upserts in a transaction), then ON CONFLICT … DO UPDATE without the xmax column.
            outcome = await SQLDialect.run_upsert(self, conn, q)
            if "id" in q.columns and q.model.id_is_generated:
                await self.sync_identity(conn, q.model)
            return outcome
        records: list[dict[str, Any]] = []
        inserted = updated = 0
        decode = self.row_decoder(q.model)
        for rows in self.statement_batches(q):
            sql, params = self.compile_pg_upsert(q, rows)
            result = await conn.fetch(sql, params)
            if q.returning:
                for row in result:
                    record = decode(row)
                    record["__created__"] = bool(row[-1])
                    records.append(record)
            else:
                inserted += int(result[0][0])
                updated += int(result[0][1])
        if "id" in q.columns and q.model.id_is_generated:
            await self.sync_identity(conn, q.model)
        return records if q.returning else (inserted, updated)

    # ---- schema -----------------------------------------------------------------------------
    async def table_columns(self, conn: Any, table: str) -> set[str] | None:
        rows = await conn.fetch(
            "SELECT a.attname FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = $1 AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped",
            [table],
        )
        return {r[0] for r in rows} or None


def _terminate_on(loop: asyncio.AbstractEventLoop, pool: ConnectionPool) -> None:
    """Terminate ``pool`` now, or soon on its own loop's thread when that loop runs in another thread
    (asyncpg objects belong to their loop's thread)."""
    if loop.is_running() and not loop.is_closed() and _other_thread(loop):
        loop.call_soon_threadsafe(pool.terminate)
    else:
        pool.terminate()


def _other_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return True
