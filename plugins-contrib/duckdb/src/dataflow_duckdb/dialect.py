"""The DuckDB dialect: DuckDB's synchronous driver run off the event loop, with writers taking turns.

Connections. A DataFlow instance opens its database once (``duckdb.connect``; DuckDB shares one
database object between every connect to the same file in a process) and hands out *cursors* of it:
each cursor is a DuckDB connection of its own, with its own transaction. Cursors are pooled per event
loop (kernel ``LoopLocal``). DuckDB's Python API blocks, so every statement runs in a worker thread
(a small pool shared by every DuckDB dialect of the process); the event loop only waits. A cancelled
caller interrupts its statement (``interrupt()``) and the connection is not reused. The statement
timeout is a timer on the loop that interrupts the statement (DF-512).

Writers take turns. DuckDB has optimistic concurrency: two transactions writing the same rows do not
wait for each other, the second to commit fails. DataFlow's nodes expect a writer to wait for another
(as on SQLite), so every write — a transaction from its BEGIN, an autocommit statement for its
duration — first takes the database's write turn (one per database file per process), waiting at most
``busy_timeout`` seconds (DF-508). Reads never wait: DuckDB gives each a consistent snapshot. A second
*process* cannot open the file at all while one has it open (DF-413). Transactions are therefore
SERIALIZABLE whatever level is asked for (``fixed_isolation_level``), and schema changes made inside
one run in it (``schema_in_transaction``; DuckDB's DDL is transactional).

What DuckDB does not have, and the dialect therefore refuses with DF-308: savepoints (so nested
``db.transaction()`` blocks and the savepoint nodes), ``ON DELETE CASCADE`` foreign keys.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import decimal
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
from dataflow.aggregates import Measure
from dataflow.dialect import LIKE_ESCAPE, LoopLocal, SQLBuilder, SQLDialect, like_pattern
from dataflow.errors import DataFlowError, short_repr
from dataflow.models import FieldSpec, ModelSpec
from dataflow.query import Atomic, Cond, Insert, Update, Upsert
from dataflow.rawsql import RawSQLSyntax
from dataflow.sqllog import StatementLog
from dataflow.transactions import current_scope
from dataflow.types import DialectOptions, PoolInfo
from dataflow.url import DatabaseURL

from dataflow_duckdb.errors import file_in_use, translate
from dataflow_duckdb.schema import DuckDBSchema

__all__ = ["DuckDBConnection", "DuckDBDialect"]

_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMPTZ",
    "date": "DATE",
    "decimal": "VARCHAR",
    "bytes": "BLOB",
    "json": "JSON",
    "array": "JSON",
}
"""Decimals are their exact text: DuckDB's DECIMAL holds 38 digits at a fixed scale, DataFlow's any
number of digits as given ("2.50" stays "2.50"). They compare and sort by ``decimal_key``."""

_READS = ("SELECT", "WITH", "PRAGMA", "SHOW", "DESCRIBE", "EXPLAIN", "SUMMARIZE", "FROM", "VALUES", "(")
"""Statements that only read: they run without the write turn."""
_TX_START = ("BEGIN", "START")
_TX_END = ("COMMIT", "ROLLBACK", "ABORT", "END")
_WORKERS = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="dataflow-duckdb")
"""Where DuckDB's blocking calls run (DuckDB releases the GIL while a statement runs)."""
_KEEP_IDLE = 4
"""Idle cursors kept per event loop."""


_ADD_COLUMN = re.compile(r'^\s*ALTER\s+TABLE\s+("(?:[^"]|"")+"|\w+)\s+ADD\s+COLUMN\b', re.I)


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _verb(sql: str) -> str:
    return sql.lstrip()[:9].upper()


# ---- the write turn ------------------------------------------------------------------------------
class WriteTurn:
    """One database's write turn: held by one writer at a time across every thread and event loop of the
    process. Writers wait in line (first come, first served), each on its own loop without blocking it;
    the writer giving the turn back hands it to the next in line directly.

    ``busy_timeout`` bounds how long one writer may keep the line waiting: a waiter gives up (DF-508) when
    the turn has not changed hands for that long, however long the line ahead of it moves.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._handovers = 0
        """How many times the turn was taken or passed on (a waiter sees the line move)."""
        self._line: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = collections.deque()

    @property
    def held(self) -> bool:
        return self._held

    async def take(self, timeout: float, busy: Callable[[], DataFlowError]) -> None:
        """Wait for the turn; ``busy()`` is raised once it stays with one holder for ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        with self._mutex:
            if not self._held:
                self._held = True
                self._handovers += 1
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._line.append((loop, waiter))
        try:
            while True:
                seen = self._handovers
                done, _ = await asyncio.wait({waiter}, timeout=timeout)
                if done:
                    return
                if self._handovers == seen:
                    raise busy()
        except BaseException:
            with self._mutex, contextlib.suppress(ValueError):
                self._line.remove((loop, waiter))
            if waiter.done() and not waiter.cancelled():
                self.give_back()  # handed over just as the wait ended: pass it on
            else:
                waiter.cancel()  # a hand-over already on its way passes the turn on
            raise

    def give_back(self) -> None:
        with self._mutex:
            self._handovers += 1
            while self._line:
                loop, waiter = self._line.popleft()
                if loop.is_closed() or waiter.done():
                    continue
                loop.call_soon_threadsafe(self._hand_over, waiter)
                return
            self._held = False

    def _hand_over(self, waiter: asyncio.Future[None]) -> None:
        """On the waiter's loop: the turn is its own now, unless it stopped waiting meanwhile."""
        if waiter.done():
            self.give_back()
        else:
            waiter.set_result(None)


_TURNS: dict[str, WriteTurn] = {}
_TURNS_LOCK = threading.Lock()


def _turn_for(path: str) -> WriteTurn:
    """The write turn of a database file (shared by every instance of the process on that file)."""
    with _TURNS_LOCK:
        turn = _TURNS.get(path)
        if turn is None:
            turn = _TURNS[path] = WriteTurn()
        return turn


# ---- decimals ------------------------------------------------------------------------------------
def decimal_text(value: decimal.Decimal) -> str:
    """A decimal as stored: plain notation with its digits kept (``1E+2`` → ``100``, ``-0.00`` → ``0.00``)."""
    text = format(value, "f")
    return text[1:] if text.startswith("-") and not value else text


def decimal_key_sql(operand: str) -> str:
    """SQL text whose byte order is the numeric order of the decimal text ``operand`` (stored or bound).

    Zero is ``'1'``; a positive value ``'2'``, the length of its integer digits (five digits) and its
    digits without leading or trailing zeros; a negative one ``'0'``, the complemented length and
    digits and a ``'~'`` that sorts after every digit. Equal values have equal keys at any scale.
    """
    absolute = f"ltrim({operand}, '-')"
    whole = f"ltrim(split_part({absolute}, '.', 1), '0')"
    fraction = f"rtrim(split_part({absolute}, '.', 2), '0')"
    return (f"(CASE WHEN {whole} = '' AND {fraction} = '' THEN '1' "
            f"WHEN starts_with({operand}, '-') THEN '0' || lpad(CAST(99999 - length({whole}) AS VARCHAR), 5, '0') "
            f"|| translate({whole} || {fraction}, '0123456789', '9876543210') || '~' "
            f"ELSE '2' || lpad(CAST(length({whole}) AS VARCHAR), 5, '0') || {whole} || {fraction} END)")


# ---- connections ---------------------------------------------------------------------------------
class DuckDBConnection:
    """The kernel's Connection protocol over one DuckDB cursor, each statement run in a worker thread."""

    __slots__ = ("broken", "dialect", "doomed", "in_transaction", "log", "raw", "turn_held")

    def __init__(self, raw: duckdb.DuckDBPyConnection, dialect: DuckDBDialect) -> None:
        self.raw = raw
        self.dialect = dialect
        self.log: StatementLog = dialect.sql_log
        self.in_transaction = False
        self.turn_held = False
        """This connection holds the database's write turn (for its open transaction)."""
        self.broken = False
        """A statement was interrupted by a cancellation: the connection is not reused."""
        self.doomed: DataFlowError | None = None
        """Why the open transaction can only be rolled back (a savepoint it could not return to)."""

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        return await self.log.wrap(self._statement(sql, params, _fetch_all), sql, params)

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        adding = _ADD_COLUMN.match(sql)
        if adding is not None and not params:
            return await self._add_column(sql, _unquote(adding.group(1)))
        return await self.log.wrap(self._statement(sql, params, _count), sql, params)

    async def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        """``(column names, rows)``, for raw SQL (``db.fetch``)."""
        named: tuple[list[str], list[Sequence[Any]]] = await self.log.wrap(
            self._statement(sql, params, _fetch_named), sql, params)
        return named

    async def _add_column(self, sql: str, table: str) -> int:
        """``ALTER TABLE … ADD COLUMN``, which DuckDB refuses on a table with indexes: the indexes are
        dropped and made again around it, in one transaction (so whoever adds a column — the kernel's
        basic schema manager, a user's own DDL — needs to know nothing of it)."""
        indexes = await self.fetch("SELECT index_name, sql FROM duckdb_indexes() WHERE table_name = $1 "
                                   "AND schema_name = current_schema() AND database_name = current_database()",
                                   [table])
        if not indexes:
            return await self.log.wrap(self._statement(sql, [], _count), sql, [])
        own = not self.in_transaction
        if own:
            await self.execute("BEGIN TRANSACTION", [])
        try:
            for name, _definition in indexes:
                await self.execute(f'DROP INDEX "{name.replace(chr(34), chr(34) * 2)}"', [])
            await self.log.wrap(self._statement(sql, [], _count), sql, [])
            for _name, definition in indexes:
                await self.execute(definition, [])
        except BaseException:
            if own:
                await self.execute("ROLLBACK", [])
            raise
        if own:
            await self.execute("COMMIT", [])
        return 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        width = len(rows[0]) if rows else 0
        await self.log.wrap(self._statement(sql, rows, _many), sql, len(rows) * width, rows=len(rows))

    async def _statement(self, sql: str, params: Any, how: Callable[..., Any]) -> Any:
        """Run one statement, taking the write turn first when it writes outside a transaction (or
        begins one: the turn is then held until COMMIT / ROLLBACK)."""
        verb = _verb(sql)
        dialect = self.dialect
        if verb.startswith(_TX_START):
            if not self.turn_held:
                await dialect.take_turn("another transaction")
                self.turn_held = True
            try:
                result = await self._call(sql, params, how)
            except BaseException:
                self._give_back_turn()
                raise
            self.in_transaction = True
            return result
        if verb.startswith(_TX_END):
            doomed, self.doomed = self.doomed, None
            try:
                if doomed is not None and verb.startswith(("COMMIT", "END")):
                    await self._call("ROLLBACK", [], how)
                    raise doomed
                return await self._call(sql, params, how)
            finally:
                self.in_transaction = False
                self._give_back_turn()
        if self.doomed is not None:
            raise self.doomed
        if self.in_transaction or self.turn_held or verb.startswith(_READS):
            return await self._call(sql, params, how)
        await dialect.take_turn("another writer")
        try:
            return await self._call(sql, params, how)
        finally:
            dialect.turn.give_back()

    def _give_back_turn(self) -> None:
        if self.turn_held:
            self.turn_held = False
            self.dialect.turn.give_back()

    async def _call(self, sql: str, params: Any, how: Callable[..., Any]) -> Any:
        """``how(raw, sql, params)`` in a worker thread, interrupted past the statement timeout (DF-512)
        or when the caller is cancelled (which then waits for the thread to stop)."""
        loop = asyncio.get_running_loop()
        raw = self.raw
        future = loop.run_in_executor(_WORKERS, how, raw, sql, params)
        timeout = self.dialect.options.statement_timeout
        timer = loop.call_later(timeout, raw.interrupt) if timeout > 0 else None
        started = time.monotonic()
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            self.broken = True
            with contextlib.suppress(Exception):
                raw.interrupt()
            with contextlib.suppress(BaseException):
                await future
            raise
        except duckdb.InterruptException as exc:
            if timer is not None and time.monotonic() - started >= timeout:
                raise statement_timed_out(timeout) from exc
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        """Close the cursor (rolling back what it had open) and give back a write turn it held."""
        with contextlib.suppress(Exception):
            self.raw.close()
        self.in_transaction = False
        self._give_back_turn()


def _fetch_all(raw: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[Any]:
    return raw.execute(sql, params).fetchall()


def _fetch_named(raw: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Any]]:
    cursor = raw.execute(sql, params)
    names = [column[0] for column in cursor.description or ()]
    return names, cursor.fetchall()


def _count(raw: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> int:
    """The rows a statement changed (DuckDB returns them as a one-row result of DML; DDL has none)."""
    raw.execute(sql, params)
    count = raw.rowcount
    if count is not None and count >= 0:
        return int(count)
    return 0


def _many(raw: duckdb.DuckDBPyConnection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    raw.executemany(sql, rows)


def no_savepoints(name: str) -> DataFlowError:
    """DF-308: a rollback to a savepoint, which DuckDB cannot make (the whole transaction is rolled back)."""
    return DataFlowError(
        "DF-308",
        f"DuckDB has no savepoints: the work since savepoint {name!r} cannot be undone on its own, so the whole "
        "transaction is rolled back (a nested block that failed, or a rollback-to-savepoint node).",
        context={"dialect": "duckdb", "capability": "savepoints", "savepoint": name},
        solutions=["On DuckDB, let a failure roll back the whole transaction and run it again.",
                   "Run work that may fail before the transaction, or in a transaction of its own."],
    )


def statement_timed_out(timeout: float) -> DataFlowError:
    return DataFlowError(
        "DF-512",
        f"The statement ran longer than statement_timeout ({timeout:g} s) and was stopped.",
        context={"statement_timeout": timeout},
        solutions=["Narrow the filter or add an index; or raise DataFlow(statement_timeout=…) (seconds, 0: none)."],
    )


class _Pool:
    """The idle cursors of one event loop, and how many are lent out."""

    __slots__ = ("idle", "lent", "loop", "released")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        """Held so that the pool of a loop that closed stays listed (stale) until it is released: the
        kernel's LoopLocal keys pools by their loop weakly."""
        self.idle: list[DuckDBConnection] = []
        self.lent = 0
        self.released = False

    def close(self) -> None:
        self.released = True
        for conn in self.idle:
            conn.close()
        self.idle.clear()


class _Lease:
    """``async with dialect.connection() as conn``: a pooled cursor of this event loop."""

    __slots__ = ("conn", "dialect", "pool")

    def __init__(self, dialect: DuckDBDialect) -> None:
        self.dialect = dialect

    async def __aenter__(self) -> DuckDBConnection:
        self.pool = pool = self.dialect.loop_pool()
        self.conn = pool.idle.pop() if pool.idle else await self.dialect.open_connection()
        pool.lent += 1
        return self.conn

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        pool, conn = self.pool, self.conn
        pool.lent -= 1
        # Left mid-transaction (a failed rollback: closing rolls it back), interrupted, or not wanted.
        if conn.in_transaction or conn.broken or pool.released or len(pool.idle) >= _KEEP_IDLE:
            conn.close()
        else:
            pool.idle.append(conn)


class DuckDBDialect(DuckDBSchema, SQLDialect):
    """DuckDB (see the module docstring)."""

    name = "duckdb"
    max_params = 30000
    schema_in_transaction = True
    transactional_ddl = True
    fixed_isolation_level = "SERIALIZABLE"

    def __init__(self, url: DatabaseURL, options: DialectOptions) -> None:
        super().__init__(url, options)
        self.memory = url.is_memory
        self.path = ":memory:" if self.memory else os.path.abspath(url.database)
        self.turn = WriteTurn() if self.memory else _turn_for(self.path)
        self.busy_timeout = float(options.busy_timeout)
        self._database: duckdb.DuckDBPyConnection | None = None
        self._opening = threading.Lock()
        self._pools: LoopLocal[_Pool] = LoopLocal()

    # ---- opening ---------------------------------------------------------------------------------
    def database(self) -> duckdb.DuckDBPyConnection:
        """The instance's database connection (opened on first use); cursors are made from it."""
        with self._opening:
            if self._database is None:
                try:
                    self._database = duckdb.connect(self.path)
                except duckdb.IOException as exc:
                    if "lock" in str(exc).lower():
                        raise file_in_use(self.path, str(exc)) from exc
                    raise self.translate_error(exc) from exc
                except duckdb.Error as exc:
                    raise self.translate_error(exc) from exc
            return self._database

    async def open_connection(self) -> DuckDBConnection:
        """A new cursor, set up in a worker thread (the first one opens the file)."""
        loop = asyncio.get_running_loop()
        raw = await loop.run_in_executor(_WORKERS, self._new_cursor)
        return DuckDBConnection(raw, self)

    def _new_cursor(self) -> duckdb.DuckDBPyConnection:
        raw = self.database().cursor()
        raw.execute("SET TimeZone = 'UTC'")
        return raw

    async def take_turn(self, waited_for: str) -> None:
        await self.turn.take(self.busy_timeout, lambda: self.busy(waited_for))

    def busy(self, waited_for: str) -> DataFlowError:
        return DataFlowError(
            "DF-508",
            f"DuckDB has one writer at a time, and {waited_for} held the write turn for longer than "
            f"busy_timeout ({self.busy_timeout:g} s).",
            context={"busy_timeout": self.busy_timeout, "dialect": "duckdb"},
            solutions=["Keep write transactions short.", "Wait longer: DataFlow(url, busy_timeout=30) (seconds)."],
        )

    # ---- connections and pools -------------------------------------------------------------------------
    def loop_pool(self) -> _Pool:
        pool = self._pools.get()
        if pool is None:
            for stale in self._pools.pop_closed():
                stale.close()
            pool = _Pool(asyncio.get_running_loop())
            self._pools.set(pool)
        return pool

    def connection(self) -> Any:
        """A pooled cursor of this loop; inside a transaction, the transaction's (as on SQLite: with one
        writer at a time, a write on another connection would wait for the transaction's own turn)."""
        scope = current_scope(self)
        if scope is not None:
            return scope.borrow()
        return _Lease(self)

    def transaction_connection(self) -> _Lease:
        return _Lease(self)

    async def begin_transaction(self, conn: Any, isolation_level: str | None) -> None:
        await conn.execute("BEGIN TRANSACTION", [])

    # DuckDB has no savepoints. A nested block (a savepoint) that ends normally needs none: its work
    # simply stays in the transaction. One that must be undone cannot be undone alone: the whole
    # transaction is doomed instead (rolled back at its end, whatever the caller then asks), so work
    # meant to be undone can never be committed.
    async def create_savepoint(self, conn: Any, name: str) -> None:
        return None

    async def release_savepoint(self, conn: Any, name: str) -> None:
        return None

    async def rollback_to_savepoint(self, conn: Any, name: str) -> None:
        conn.doomed = no_savepoints(name)
        raise conn.doomed

    def in_transaction(self, conn: Any) -> bool:
        return bool(getattr(conn, "in_transaction", False))

    async def run(self, query: Any, conn: Any = None) -> Any:
        if conn is None:
            scope = current_scope(self)
            if scope is not None:
                return await scope.run(query)
        return await super().run(query, conn)

    lists_pools = True

    def list_pools(self) -> list[PoolInfo]:
        return [PoolInfo(self.pool_key(loop), id(loop), loop.is_closed(), len(pool.idle) + pool.lent, pool.lent,
                         self._pools.created_at(loop))
                for loop, pool in self._pools.items() if not pool.released]

    @property
    def pools_created(self) -> int:
        return self._pools.created

    async def close_pool(self, pool: PoolInfo, *, force: bool = False) -> None:
        # Cursors belong to no loop: any thread may close them.
        for loop, held in self._pools.items():
            if id(loop) == pool.loop_id:
                self._pools.pop(loop)
                held.close()
                return

    async def close(self) -> None:
        self.close_sync()

    def close_sync(self) -> None:
        for _loop, pool in self._pools.items():
            pool.close()
        self._pools.clear()
        with self._opening:
            if self._database is not None:
                with contextlib.suppress(Exception):
                    self._database.close()
                self._database = None

    async def server_version(self) -> str:
        return str(duckdb.__version__)

    def translate_error(self, exc: BaseException) -> DataFlowError:
        return translate(exc, path=self.path, busy=self.busy("another writer"))

    async def recover(self, query: Any, exc: Exception, conn: Any) -> Any:
        if isinstance(exc, duckdb.InvalidInputException) and _regex_in(query):
            raise regex_refused(_regex_in(query) or "", f"is not a regular expression DuckDB (RE2) accepts: "
                                f"{str(exc).splitlines()[0]}") from exc
        return await super().recover(query, exc, conn)

    # ---- types and values ------------------------------------------------------------------------------
    def placeholder(self, index: int) -> str:
        # Numbered: a bound value may appear several times in one statement (the decimal key).
        return f"${index}"

    raw_sql = RawSQLSyntax(dollar_quotes=True, native_marks=r"\$\d+|\?")
    reuses_placeholders = True

    def statement_refused(self, exc: BaseException) -> bool:
        if isinstance(exc, duckdb.ParserException | duckdb.BinderException):
            return True
        text = str(exc).splitlines()[0] if str(exc) else ""
        return isinstance(exc, duckdb.CatalogException) and "Function" in text

    def column_type(self, field: FieldSpec) -> str:
        return _TYPES[field.kind]

    def sequence_name(self, table: str) -> str:
        """The sequence generating a table's integer ids."""
        return f"{table}_id_seq"

    def id_column_sql(self, field: FieldSpec) -> str:
        return f"{self.quote('id')} {'BIGINT' if field.kind == 'int' else 'VARCHAR'} PRIMARY KEY"

    def create_table_sql(self, model: ModelSpec, column_types: Mapping[str, str] | None = None) -> list[str]:
        """The table, its indexes, and before them the sequence its integer ids come from."""
        statements = super().create_table_sql(model, column_types)
        if model.id_is_generated and model.field_map["id"].kind == "int":
            sequence = self.sequence_name(model.table)
            plain = self.id_column_sql(model.field_map["id"])
            statements[0] = statements[0].replace(
                plain, f"{plain} DEFAULT nextval({self.literal(self.quote(sequence))})", 1)
            statements.insert(0, f"CREATE SEQUENCE IF NOT EXISTS {self.quote(sequence)}")
        return statements

    def encode(self, field: FieldSpec, value: Any) -> Any:
        if value is None:
            return None
        if field.kind == "decimal":
            return decimal_text(value) if isinstance(value, decimal.Decimal) else str(value)
        return super().encode(field, value)

    def needs_encoding(self, field: FieldSpec) -> bool:
        return field.kind in ("json", "array", "datetime", "decimal")

    def order_column(self, field: FieldSpec) -> str:
        column = self.quote(field.name)
        return decimal_key_sql(column) if field.kind == "decimal" else column

    def numeric_column(self, field: FieldSpec) -> str:
        # Sums and averages of decimals as DECIMAL(38, 18): exact within 20 digits before the point and 18 after.
        column = self.quote(field.name)
        return f"CAST({column} AS DECIMAL(38, 18))" if field.kind == "decimal" else column

    def measure_sql(self, m: Measure) -> str:
        if m.field is not None and m.field.kind == "decimal" and m.func in ("min", "max"):
            column = self.quote(m.field.name)  # the stored text of the smallest / largest value
            return f"arg_{m.func}({column}, {decimal_key_sql(column)})"
        return super().measure_sql(m)

    def measure_compared(self, m: Measure) -> str:
        sql = self.measure_sql(m)
        if m.kind == "decimal":
            return decimal_key_sql(f"CAST({sql} AS VARCHAR)")
        return sql

    def bind_compared(self, b: SQLBuilder, field: FieldSpec, value: Any) -> str:
        if field.kind == "decimal":
            return decimal_key_sql(f"CAST({b.bind_field(field, value)} AS VARCHAR)")
        return b.bind_field(field, value)

    # ---- filters ---------------------------------------------------------------------------------------
    def compile_cond(self, b: SQLBuilder, cond: Cond) -> str:
        if cond.op in ("like", "ilike", "regex"):
            column = self.quote(cond.field.name)
            if cond.field.kind != "str":
                column = f"CAST({column} AS VARCHAR)"  # patterns match any column's text, as on SQLite
            if cond.op == "regex":
                return self.compile_regex(b, column, cond.value)
            return self.compile_like(b, column, cond.value, insensitive=cond.op == "ilike")
        return super().compile_cond(b, cond)

    def compile_like(self, b: SQLBuilder, column: str, pattern: str, *, insensitive: bool) -> str:
        return f"{column} {'ILIKE' if insensitive else 'LIKE'} {b.bind(like_pattern(pattern))} ESCAPE '{LIKE_ESCAPE}'"

    def compile_regex(self, b: SQLBuilder, column: str, pattern: str) -> str:
        # RE2: matching takes time linear in the text, so no pattern can run away (no budget needed).
        return f"regexp_matches({column}, {b.bind(pattern)})"

    def offset_without_limit(self) -> str:
        return ""

    # ---- atomic updates of decimals ---------------------------------------------------------------------
    async def run_update(self, conn: Any, q: Update) -> list[dict[str, Any]] | int:
        """``$inc`` / ``$mul`` of a decimal field, exactly at any number of digits: DuckDB's DECIMAL holds 38,
        so the new values are computed in Python from the stored text, row by row, while this writer holds
        the write turn (no other writer can change the rows in between: nothing is lost)."""
        fields = q.model.field_map
        exact = {name: value for name, value in q.values.items()
                 if type(value) is Atomic and fields[name].kind == "decimal"}
        if not exact:
            return await super().run_update(conn, q)
        if conn.in_transaction:
            return await self._update_decimals(conn, q, exact)
        await conn.execute("BEGIN TRANSACTION", [])
        try:
            result = await self._update_decimals(conn, q, exact)
        except BaseException:
            await conn.execute("ROLLBACK", [])
            raise
        await conn.execute("COMMIT", [])
        return result

    async def _update_decimals(self, conn: Any, q: Update, exact: Mapping[str, Atomic]) -> list[dict[str, Any]] | int:
        fields = q.model.field_map
        b = SQLBuilder(self)
        names = list(exact)
        rows = await conn.fetch(f"SELECT {self.select_list(q.model, ('id', *names))} FROM {self.quote(q.model.table)}"
                                f"{self.compile_where(b, q.where)}", b.params)
        records: list[dict[str, Any]] = []
        with decimal.localcontext() as context:
            context.prec = 10_000
            for row_id, *stored in rows:
                values = dict(q.values)
                for name, text in zip(names, stored, strict=True):
                    change = exact[name]
                    if text is None:
                        values[name] = None
                        continue
                    current, operand = decimal.Decimal(text), decimal.Decimal(change.operand)
                    values[name] = current + operand if change.op == "add" else current * operand
                single = Update(q.model, Cond(fields["id"], "eq", row_id), values, q.returning)
                outcome = await super().run_update(conn, single)
                if isinstance(outcome, list):
                    records += outcome
        return records if q.returning else len(rows)

    # ---- inserts: ids from the table's sequence --------------------------------------------------------
    async def run_insert(self, conn: Any, q: Insert) -> list[dict[str, Any]] | int:
        if not q.rows:
            return [] if q.returning else 0
        outcome = await super().run_insert(conn, q)
        if "id" in q.columns and q.model.id_is_generated:
            await self.sync_sequence(conn, q.model)
        return outcome

    async def run_upsert(self, conn: Any, q: Upsert) -> list[dict[str, Any]] | tuple[int, int]:
        outcome = await super().run_upsert(conn, q)
        if "id" in q.columns and q.model.id_is_generated:
            await self.sync_sequence(conn, q.model)
        return outcome

    async def sync_sequence(self, conn: Any, model: ModelSpec) -> None:
        """After explicit ids went into a generated-id table, move its sequence past them (it only
        moves forward), so the next generated id is not one of theirs."""
        sequence = self.sequence_name(model.table)
        rows = await conn.fetch("SELECT last_value FROM duckdb_sequences() WHERE sequence_name = ? "
                                "AND schema_name = current_schema()", [sequence])
        if not rows:
            return
        last = rows[0][0]
        top = (await conn.fetch(f"SELECT MAX({self.quote('id')}) FROM {self.quote(model.table)}", []))[0][0]
        if top is not None and (last is None or top > last):
            await conn.fetch("SELECT setval(?, ?)", [sequence, int(top)])

    # ---- schema ------------------------------------------------------------------------------------------
    async def table_columns(self, conn: Any, table: str) -> set[str] | None:
        rows = await conn.fetch("SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                                "AND schema_name = current_schema() AND database_name = current_database()", [table])
        return {r[0] for r in rows} or None


def _regex_in(query: Any) -> str | None:
    """The pattern of a ``$regex`` condition in a query's filter, if it has one."""
    stack = [getattr(query, "where", None)]
    while stack:
        expr = stack.pop()
        if expr is None:
            continue
        if isinstance(expr, Cond):
            if expr.op == "regex":
                return str(expr.value)
            continue
        stack += [*getattr(expr, "items", ()), getattr(expr, "item", None)]
    return None


def regex_refused(pattern: str, why: str) -> DataFlowError:
    return DataFlowError("DF-107", f"The $regex pattern {short_repr(pattern)} {why}.", context={"pattern": pattern},
                         solutions=["DuckDB matches with RE2: no backreferences or lookaround; use $like, or "
                                    "rewrite the pattern without them."])

