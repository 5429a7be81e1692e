"""The SQLite dialect on aiosqlite: a shared connection per event loop, and one per open transaction.

Statements outside a transaction (autocommit) share one connection per loop (each aiosqlite
connection owns a thread), serialised by a lock; reads in WAL mode never wait for the file. A
transaction gets a connection of its own (kept for reuse afterwards), so reads of other tasks go on
while it is open and never see its uncommitted rows.

SQLite has one writer at a time. Within a process, writers queue on an asyncio lock (transactions
and autocommit writes alike); across processes, SQLite's own busy handler waits. Either way a writer
waits at most ``busy_timeout`` seconds (``DataFlow(busy_timeout=5)``, the default) and then gets
DF-508, never a hang. Every transaction is ``BEGIN IMMEDIATE`` (it takes the write lock when it
starts) and SERIALIZABLE, whatever isolation level is asked for: SQLite has no other. Schema changes
made inside a transaction run in it (``schema_in_transaction``): another connection would wait for
the transaction's own write lock.

Short statements run in the event loop's own thread (see ``_inline``): reads of committed rows
on a WAL reader connection, and updates and deletes by primary key on a writer connection, each
stopped by SQLite's progress handler past a small budget (``INLINE_STEPS``) and then run the usual
way in aiosqlite's thread. Handing a statement to that thread and back costs more than SQLite
spends on such a statement.

``:memory:`` becomes a shared-cache URI so that every connection of one DataFlow instance sees the
same database; there a transaction holds the loop's one connection for as long as it is open.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import attrs
import regex
from dataflow.aggregates import Aggregate, Measure
from dataflow.dialect import LIKE_ESCAPE, LoopLocal, SQLBuilder, SQLDialect, like_pattern, like_tokens
from dataflow.errors import DataFlowError, short_repr
from dataflow.models import FieldSpec
from dataflow.query import And, Atomic, ColumnBatch, Cond, Count, Delete, Insert, Select, Update, Upsert
from dataflow.rawsql import RawSQLSyntax
from dataflow.sqllog import StatementLog
from dataflow.transactions import current_scope
from dataflow.types import PoolInfo
from dataflow.values import to_json

from dataflow_sqlite import decimals
from dataflow_sqlite.errors import translate
from dataflow_sqlite.schema import SQLiteSchema

__all__ = ["SQLiteDialect"]

_TYPES = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "bool": "INTEGER",
    "datetime": "TEXT",
    "date": "TEXT",
    "decimal": "TEXT",
    "bytes": "BLOB",
    "json": "TEXT",
    "array": "TEXT",
}
_UTC = dt.UTC
_SINGLE_STATEMENT = (Select, Count, Aggregate)
_INLINE_WRITES = (Update, Delete)
_SETTINGS = ("PRAGMA foreign_keys = ON", "PRAGMA case_sensitive_like = ON")
"""What every connection of the dialect sets, aiosqlite's and the inline ones alike."""
_FILE_SYNC = "PRAGMA synchronous = NORMAL"
"""Every connection to a WAL file (not a ``:memory:`` URI) syncs at checkpoints only."""
_INLINE_IN_VALUES = 1000
"""``$in`` lists longer than this are sent as one JSON array (``json_each``), not one placeholder each."""
_LARGEST_ROWID = 2**63 - 1
"""Past this rowid SQLite picks new rowids at random (see ``SQLiteDialect._rowid_mark``)."""
_INLINE_BUSY_TIMEOUT = 0.05
"""Seconds an inline read may wait on a busy file before it goes through aiosqlite instead."""
INLINE_STEPS = 20_000
"""SQLite VM instructions a statement may take in the event loop's thread (some tenths of a
millisecond); past them SQLite stops it (changing nothing) and it runs again in aiosqlite's thread,
where its SQL then always goes. Counted, not timed: the same statement gets the same answer on a
busy machine."""
_OVERRAN_KEPT = 512
"""Statements (SQL texts) remembered as too long to run inline; past this many the memory restarts."""
_INLINE_WRITES_PER_CHECKPOINT = 200
"""One inline-eligible write in this many goes through aiosqlite's connection, whose commit runs
SQLite's automatic WAL checkpoint there (the inline writer never checkpoints: it would block the loop)."""


def _by_key(where: Any) -> bool:
    """A filter ``id = value`` (possibly ANDed with other equalities, such as a tenant's): at most one
    row, found by the primary key's index."""
    if type(where) is And:
        by_key = False
        for c in where.items:  # a loop, not all() / any() over generators: every scoped read comes here
            if type(c) is not Cond or c.op != "eq":
                return False
            by_key = by_key or c.field.primary_key
        return by_key
    return type(where) is Cond and where.op == "eq" and where.field.primary_key


def _close_reader(state: _LoopState) -> None:
    for inline in (state.reader, state.writer_inline):
        if inline is not None:
            inline.close()
    state.reader = state.writer_inline = None


async def _close_state(state: _LoopState) -> None:
    """Close every connection of a loop's state, on that loop (the shared one once its user is done)."""
    state.released = True
    _close_reader(state)
    for spare in state.spare:
        await spare.raw.close()
    state.spare.clear()
    if state.conn is not None:
        async with state.lock:
            if state.conn is not None:
                await state.conn.raw.close()
                state.conn = None


async def _stop_state(state: _LoopState) -> None:
    """Stop every connection of a loop's state from the running loop, whatever the state's own loop
    (closed, or busy elsewhere), waiting until each connection's thread has closed it: a stop left
    unawaited would be answered on a loop that may have closed by then."""
    state.released = True
    _close_reader(state)
    connections = [*state.spare, *([state.conn] if state.conn is not None else [])]
    state.spare.clear()
    state.conn = None
    for conn in connections:
        stopped = conn.raw.stop()
        if stopped is not None:
            await stopped


def _release_state(state: _LoopState) -> None:
    """Stop every connection of a loop's state without that loop (it may be closed)."""
    state.released = True
    _close_reader(state)
    for spare in state.spare:
        spare.raw.stop()
    state.spare.clear()
    if state.conn is not None:
        state.conn.raw.stop()
        state.conn = None


REGEX_MATCH_BUDGET = 0.1
"""Seconds one ``$regex`` match may take on SQLite, where it runs in Python (the ``regex`` module,
which releases the GIL while it matches); past it the statement stops with DF-107."""
_PROGRESS_STEPS = 1000
"""SQLite VM instructions between two checks of the statement's deadline."""


def regex_refused(pattern: str, why: str) -> DataFlowError:
    return DataFlowError(
        "DF-107",
        f"The $regex pattern {short_repr(pattern)} {why}.",
        context={"pattern": pattern, "budget_seconds": REGEX_MATCH_BUDGET},
        solutions=["Anchor the pattern and avoid nested quantifiers such as (a+)+, or use $like."],
    )


class _Guard:
    """One connection's limits: the running statement's deadline (checked by SQLite's progress
    handler, which stops the statement) and the budget of each ``$regex`` match (SQLite's REGEXP)."""

    __slots__ = ("deadline", "failure")

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.failure: DataFlowError | None = None

    def expired(self) -> bool:
        """SQLite's progress handler: a true answer interrupts the running statement."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def regexp(self, pattern: str, value: Any) -> bool:
        if value is None:
            return False
        try:
            return regex.search(pattern, str(value), timeout=REGEX_MATCH_BUDGET, concurrent=True) is not None
        except TimeoutError:
            self.failure = regex_refused(pattern, f"took longer than {REGEX_MATCH_BUDGET} s to match one value "
                                                  "(the match budget)")
            raise
        except regex.error as exc:
            self.failure = regex_refused(pattern, f"is not a valid regular expression ({exc})")
            raise


def _run_counted(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    """Run one statement in the connection's own thread; the rows it changed."""
    cursor = conn.execute(sql, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


class _InlineBudget(_Guard):
    """The guard of a connection used in the event loop's thread: a statement stops past
    ``INLINE_STEPS`` VM instructions, or at its first ``$regex`` match (Python code that may take
    up to its own budget, too long to hold the loop); ``overran`` then says it belongs elsewhere."""

    __slots__ = ("overran", "steps")

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0
        self.overran = False

    def expired(self) -> bool:
        self.steps += 1
        if self.steps * _PROGRESS_STEPS > INLINE_STEPS:
            self.overran = True
        return self.overran

    def regexp(self, pattern: str, value: Any) -> bool:
        self.overran = True
        raise TimeoutError("$regex runs in aiosqlite's thread")


class _InlineConnection(sqlite3.Connection):
    """A connection used in the event loop's thread, with its budget."""

    guard: _InlineBudget


def _prepare(conn: sqlite3.Connection, guard: _Guard, progress: bool) -> None:
    """Register DataFlow's SQL functions on a connection (in the thread that uses it); ``progress``:
    the guard's deadline is enforced by SQLite's progress handler."""
    conn.create_function("regexp", 2, guard.regexp, deterministic=True)
    if progress:
        conn.set_progress_handler(guard.expired, _PROGRESS_STEPS)
    conn.create_function("df_lower", 1, _lower, deterministic=True)
    conn.create_function("df_decimal_key", 1, decimal_key, deterministic=True)
    decimals.register(conn)


class SQLiteConnection:
    """The kernel's Connection protocol over one aiosqlite connection, each statement time-bounded."""

    __slots__ = ("guard", "log", "raw", "timeout")

    def __init__(self, raw: aiosqlite.Connection, guard: _Guard, timeout: float, log: StatementLog) -> None:
        self.raw = raw
        self.guard = guard
        self.timeout = timeout
        self.log = log

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        return list(await self._bounded(self.log.wrap(self.raw.execute_fetchall(sql, params), sql, params)))

    async def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        """``(column names, rows)``, for raw SQL (``db.fetch``)."""
        cursor = await self._bounded(self.log.wrap(self.raw.execute(sql, params), sql, params))
        try:
            names = [column[0] for column in cursor.description or ()]
            rows = await self._bounded(cursor.fetchall())
        finally:
            await cursor.close()
        return names, list(rows)

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        # Statement, row count and cursor close in one trip to the connection's thread (aiosqlite's
        # execute + close are two hand-overs each way).
        step = self.raw._execute(_run_counted, self.raw._conn, sql, params)
        return int(await self._bounded(self.log.wrap(step, sql, params)))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.executemany_counted(sql, rows)

    async def executemany_counted(self, sql: str, rows: Sequence[Sequence[Any]] | Any, count: int | None = None,
                                  width: int = 0) -> int:
        """``executemany`` returning the rows changed; ``count`` rows of ``width`` values when ``rows``
        is an iterator (for the log)."""
        count = len(rows) if count is None else count
        cursor = await self.log.wrap(self.raw.executemany(sql, rows), sql, count * width, rows=count)
        changed = cursor.rowcount
        await cursor.close()
        return int(changed)

    async def _bounded(self, step: Any) -> Any:
        """Run one statement under the statement timeout; a stopped statement is DF-512, a refused
        ``$regex`` DF-107 (raw ``OperationalError``s otherwise: the dialect translates them)."""
        guard = self.guard
        guard.failure = None
        guard.deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        try:
            return await step
        except sqlite3.OperationalError as exc:
            failure, guard.failure = guard.failure, None
            if failure is not None:
                raise failure from exc
            if "interrupted" in str(exc) and guard.deadline is not None and guard.expired():
                raise statement_timed_out(self.timeout) from exc
            raise
        finally:
            guard.deadline = None


def statement_timed_out(timeout: float) -> DataFlowError:
    return DataFlowError(
        "DF-512",
        f"The statement ran longer than statement_timeout ({timeout:g} s) and was stopped.",
        context={"statement_timeout": timeout},
        solutions=["Narrow the filter or add an index; or raise DataFlow(statement_timeout=…) (seconds, 0: none)."],
    )


class _LoopState:
    """The connections of one event loop and the locks that serialise their users."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.conn: SQLiteConnection | None = None
        self.reader: _InlineConnection | None = None
        """A read-only connection used in the loop's own thread for short reads."""
        self.writer_inline: _InlineConnection | None = None
        """A connection used in the loop's own thread for updates and deletes by primary key."""
        self.inline_writes = 0
        """Inline-eligible writes so far (every ``_INLINE_WRITES_PER_CHECKPOINT``-th goes through aiosqlite)."""
        self.writer = asyncio.Lock()
        """Held by the one writer of this loop (a transaction, or an autocommit write)."""
        self.spare: list[SQLiteConnection] = []
        """Transaction connections not in use, kept for the next transaction."""
        self.lent = 0
        """Transaction connections in use right now."""
        self.released = False
        """The state was released (its pool closed): a connection coming back is stopped, not kept."""

    @property
    def connections(self) -> int:
        return ((self.conn is not None) + (self.reader is not None) + (self.writer_inline is not None)
                + len(self.spare) + self.lent)


_SPARE_CONNECTIONS = 2


def busy(timeout: float, waited_for: str) -> DataFlowError:
    return DataFlowError(
        "DF-508",
        f"SQLite allows one writer at a time, and {waited_for} held the write lock for longer than "
        f"busy_timeout ({timeout:g} s).",
        context={"busy_timeout": timeout},
        solutions=["Keep write transactions short.",
                   "Wait longer: DataFlow(url, busy_timeout=30) (seconds)."],
    )


def _execute_when_free(conn: sqlite3.Connection, sql: str, deadline: float) -> None:
    """Run ``sql``, trying again until ``deadline`` while SQLite answers SQLITE_BUSY without waiting.

    Two connections that switch a new file to WAL at the same moment: one of them gets "database is
    locked" at once, SQLite's busy handler not being asked for that lock, so ``busy_timeout`` alone does
    not cover it (seen with two instances' first operations on one new file)."""
    pause = 0.001
    while True:
        try:
            conn.execute(sql)
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() >= deadline:
                raise
        time.sleep(pause)  # in the connection's own thread, never the event loop's
        pause = min(pause * 2, 0.05)


async def _take(lock: asyncio.Lock, timeout: float, waited_for: str) -> None:
    """Acquire ``lock``, waiting at most ``timeout`` seconds (DF-508 after that)."""
    if not lock.locked():
        await lock.acquire()
        return
    try:
        await asyncio.wait_for(lock.acquire(), timeout)
    except TimeoutError:
        raise busy(timeout, waited_for) from None


class _Borrow:
    """``async with dialect.connection()``: the loop's connection, held under its lock.

    A plain class rather than a generator-based context manager: this sits on every query's path.
    """

    __slots__ = ("dialect", "state")

    def __init__(self, dialect: SQLiteDialect, state: _LoopState) -> None:
        self.dialect = dialect
        self.state = state

    async def __aenter__(self) -> SQLiteConnection:
        state = self.state
        if self.dialect.shared_cache:  # a transaction may hold the one connection: wait at most busy_timeout
            await _take(state.lock, self.dialect.busy_timeout, "another transaction")
        else:
            await state.lock.acquire()
        try:
            if state.conn is None:
                state.conn = await self.dialect._open()
        except BaseException:
            state.lock.release()
            raise
        return state.conn

    async def __aexit__(self, *exc: object) -> None:
        self.state.lock.release()


class SQLiteDialect(SQLiteSchema, SQLDialect):
    """SQLite: quoted identifiers, ``?`` placeholders, JSON and datetimes as text."""

    name = "sqlite"
    max_params = 32766
    raw_sql = RawSQLSyntax(backtick_identifiers=True, bracket_identifiers=True,
                           native_marks=r"\?\d*|(?<![\w$])[@$][A-Za-z_]\w*")
    schema_in_transaction = True
    exclusive_writes = True  # BEGIN IMMEDIATE holds the file's one write lock until the transaction ends
    transactional_ddl = True
    fixed_isolation_level = "SERIALIZABLE"

    def __init__(self, url: Any, options: Any) -> None:
        super().__init__(url, options)
        self._states: LoopLocal[_LoopState] = LoopLocal()
        if url.is_memory:
            self.path = f"file:dataflow-memory-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self.uri = True
        else:
            self.path = url.database if url.database.startswith("file:") else os.path.abspath(url.database)
            self.uri = url.database.startswith("file:")
        self.busy_timeout = float(options.busy_timeout)
        # Shared-cache memory databases lock per table rather than use WAL: no inline reads there, and
        # a transaction uses the loop's one connection.
        self.shared_cache = self.uri and "mode=memory" in self.path
        self.inline_reads = not self.uri
        self._anchor: sqlite3.Connection | None = None
        self._overran: set[str] = set()
        """SQL texts that once ran past ``INLINE_STEPS`` in the loop's thread: they go to aiosqlite's."""
        self._legacy_tables: dict[str, bool] = {}
        """Per table: True when it was made without AUTOINCREMENT (see ``run_insert``)."""

    # ---- connections -------------------------------------------------------------------------
    async def _open(self) -> SQLiteConnection:
        if self.uri and "mode=memory" in self.path and self._anchor is None:
            # An in-memory database lives while one connection is open: keep one for the instance.
            self._anchor = sqlite3.connect(self.path, uri=True, check_same_thread=False)
        try:
            raw = aiosqlite.connect(self.path, uri=self.uri, isolation_level=None, timeout=self.busy_timeout,
                                    check_same_thread=False)
            thread = getattr(raw, "_thread", None)
            if thread is not None:
                thread.daemon = True  # an instance nobody closed must not keep the interpreter alive
            await raw
        except sqlite3.Error as exc:
            raise DataFlowError(
                "DF-402",
                f"Cannot open the SQLite database {self.path!r}: {exc}.",
                context={"path": self.path},
                solutions=["Check that the directory exists and is writable."],
            ) from exc
        pragmas = [*_SETTINGS, f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}"]
        if not self.uri:
            pragmas += ["PRAGMA journal_mode = WAL", _FILE_SYNC]
        guard = _Guard()
        progress = self.options.statement_timeout > 0

        deadline = time.monotonic() + self.busy_timeout

        def set_up(conn: sqlite3.Connection) -> None:
            for pragma in pragmas:
                _execute_when_free(conn, pragma, deadline)
            _prepare(conn, guard, progress)

        # One trip to the connection's thread instead of one per setting: each trip is a thread
        # hand-over both ways, and a new instance's first operation opens two connections.
        try:
            await raw._execute(set_up, raw._conn)
        except sqlite3.Error as exc:  # a file still busy past busy_timeout: DF-508, not the driver's error
            await raw.close()
            raise self.translate_error(exc) from exc
        return SQLiteConnection(raw, guard, self.options.statement_timeout, self.sql_log)

    def _state(self) -> _LoopState:
        state = self._states.get()
        if state is None:
            for stale in self._states.pop_closed():
                _release_state(stale)
            state = _LoopState()
            self._states.set(state)
        return state

    def connection(self) -> Any:
        """The loop's shared connection; inside a transaction, the transaction's (see the module docstring)."""
        scope = current_scope(self)
        if scope is not None:
            return scope.borrow()
        return _Borrow(self, self._state())

    async def run(self, query: Any, conn: Any = None) -> Any:
        """Reads skip the shared connection's lock when it is free; writes queue for the write lock.

        Only autocommit statements run on the shared connection, so a read there never sees another
        task's uncommitted rows (transactions have connections of their own).
        """
        if self.read_router is not None and (routed := self.read_router.route(query, conn)) is not None:
            return await routed
        if conn is None:
            scope = current_scope(self)
            if scope is not None:
                return await scope.run(query)
            state = self._state()
            if type(query) not in _SINGLE_STATEMENT:
                if self.shared_cache:
                    return await super().run(query)
                if (self.inline_reads and type(query) in _INLINE_WRITES and state.conn is not None
                        and not state.writer.locked() and _by_key(query.where)):
                    state.inline_writes += 1
                    if state.inline_writes % _INLINE_WRITES_PER_CHECKPOINT:
                        done = self._write_inline(state, query)
                        if done is not None:
                            return done
                await _take(state.writer, self.busy_timeout, "another writer of this process")
                try:
                    return await super().run(query)
                finally:
                    state.writer.release()
            if state.conn is not None:
                if self.inline_reads and type(query) is Select:
                    rows = self._read_inline(state, query)
                    if rows is not None:
                        return rows
                if not state.lock.locked():
                    conn = state.conn
        return await super().run(query, conn)

    def _read_inline(self, state: _LoopState, query: Select) -> list[dict[str, Any]] | None:
        """A read in the loop's thread on a WAL reader connection, or None: run it the usual way.

        A WAL reader sees only committed rows, never another task's open transaction. A busy file
        (a checkpoint) or a read longer than the budget also means None, having blocked the loop no
        longer than that.
        """
        sql, params = self.compile_select(query)
        if sql in self._overran:
            return None
        reader = state.reader
        if reader is None:
            try:
                reader = state.reader = self._inline_connection(_INLINE_BUSY_TIMEOUT, "PRAGMA query_only = ON")
            except sqlite3.Error:
                return None
        fetched = self._inline(reader, sql, params)
        if fetched is None:
            return None
        if len(fetched) < 2:
            decode = self.row_decoder(query.model, query.columns)
            return [decode(row) for row in fetched]
        return self.decode_rows(query.model, fetched, query.columns)

    def _write_inline(self, state: _LoopState, query: Update | Delete) -> list[dict[str, Any]] | int | None:
        """An update or delete by primary key (at most one row) in the loop's thread, or None: run it
        the usual way. Called only while no writer of this loop holds the write lock; the connection
        waits for no other process (busy: None at once), and a statement stopped by the budget (a
        trigger or a cascade doing more) changed nothing, being its own transaction."""
        writer = state.writer_inline
        if writer is None:
            try:
                # Checkpoints stay on aiosqlite's connections (see _INLINE_WRITES_PER_CHECKPOINT).
                writer = state.writer_inline = self._inline_connection(0, "PRAGMA wal_autocheckpoint = 0")
            except sqlite3.Error:
                return None
        sql, params = self.compile_update(query) if isinstance(query, Update) else self.compile_delete(query)
        if sql in self._overran:
            return None
        if not query.returning:
            before = writer.total_changes
            if self._inline(writer, sql, params) is None:
                return None
            return writer.total_changes - before
        fetched = self._inline(writer, sql, params)
        if fetched is None:
            return None
        decode = self.row_decoder(query.model)
        return [decode(row) for row in fetched]

    def _inline_connection(self, busy_timeout: float, pragma: str) -> _InlineConnection:
        """A connection for statements run in the loop's thread, with the SQL functions of every
        connection and the inline budget as its progress handler."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout,
                               factory=_InlineConnection)
        try:
            for setting in (*_SETTINGS, _FILE_SYNC, pragma):
                conn.execute(setting)
            conn.guard = _InlineBudget()
            _prepare(conn, conn.guard, True)
        except BaseException:
            conn.close()
            raise
        return conn

    def _inline(self, conn: _InlineConnection, sql: str, params: Sequence[Any]) -> list[Any] | None:
        """``sql``'s rows, run now in this thread within ``INLINE_STEPS``; None when it could not run
        here (busy file, over budget, or an error the usual path reports in its own terms)."""
        guard = conn.guard
        guard.steps = 0
        guard.overran = False
        log = self.sql_log
        started = time.perf_counter() if log.on() else None
        try:
            fetched = conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            if guard.overran:
                if len(self._overran) >= _OVERRAN_KEPT:
                    self._overran.clear()
                self._overran.add(sql)
            return None
        except Exception as exc:  # as on the aiosqlite path: no raw driver error reaches a user
            raise self.translate_error(exc) from exc
        if started is not None:
            log.record(sql, params, started)
        return fetched

    # ---- transactions: the kernel's primitives --------------------------------------------------
    def transaction_connection(self) -> Any:
        if self.shared_cache:
            return _Borrow(self, self._state())
        return self._own_connection()

    @asynccontextmanager
    async def _own_connection(self) -> AsyncIterator[SQLiteConnection]:
        """A connection for one transaction, while this loop's write lock is held (the next writer waits)."""
        state = self._state()
        await _take(state.writer, self.busy_timeout, "another transaction of this process")
        try:
            conn = state.spare.pop() if state.spare else await self._open()
            reusable = False
            state.lent += 1
            try:
                yield conn
                reusable = not conn.raw.in_transaction and not state.released
            finally:
                state.lent -= 1
                if reusable and len(state.spare) < _SPARE_CONNECTIONS:
                    state.spare.append(conn)
                else:  # left mid-transaction (a failed rollback, a cancellation), or its pool closed
                    conn.raw.stop()
        finally:
            state.writer.release()

    async def begin_transaction(self, conn: Any, isolation_level: str | None) -> None:
        # IMMEDIATE takes the write lock now, waiting up to busy_timeout for another process's writer.
        await conn.execute("BEGIN IMMEDIATE", [])

    async def close(self) -> None:
        current = self._states.pop_current()
        if current is not None:
            await _close_state(current)
        self.close_sync()

    # ---- pools, as the kernel lists them: a loop's connections -----------------------------------
    lists_pools = True

    def list_pools(self) -> list[PoolInfo]:
        return [PoolInfo(self.pool_key(loop), id(loop), loop.is_closed(), state.connections,
                         state.lent + state.lock.locked(), self._states.created_at(loop))
                for loop, state in self._states.items() if state.connections]

    @property
    def pools_created(self) -> int:
        return self._states.created

    async def close_pool(self, pool: PoolInfo, *, force: bool = False) -> None:
        for loop, state in self._states.items():
            if id(loop) != pool.loop_id:
                continue
            self._states.pop(loop)
            if force or loop.is_closed() or not loop.is_running():
                await _stop_state(state)
            elif loop is asyncio.get_running_loop():
                await _close_state(state)
            else:  # another thread's loop (LocalRuntime's): it closes its own connections
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_close_state(state), loop))
            return

    def close_sync(self) -> None:
        for _loop, state in self._states.items():
            _release_state(state)
        self._states.clear()
        if self._anchor is not None:
            self._anchor.close()
            self._anchor = None

    async def server_version(self) -> str:
        return sqlite3.sqlite_version

    # ---- types and values ------------------------------------------------------------------
    def column_type(self, field: FieldSpec) -> str:
        return _TYPES[field.kind]

    def id_column_sql(self, field: FieldSpec) -> str:
        if field.kind == "int":
            # AUTOINCREMENT: without it SQLite hands out max(id) + 1, reusing the ids of deleted rows.
            return f"{self.quote('id')} INTEGER PRIMARY KEY AUTOINCREMENT"
        return f"{self.quote('id')} TEXT PRIMARY KEY"

    def encode(self, field: FieldSpec, value: Any) -> Any:
        if value is None:
            return None
        kind = field.kind
        if kind == "datetime":
            return encode_datetime(value)
        if kind == "bool":
            return 1 if value else 0
        if kind == "decimal" or kind == "date":
            return str(value) if kind == "decimal" else value.isoformat()
        return super().encode(field, value)

    def compile_cond(self, b: SQLBuilder, cond: Cond) -> str:
        if cond.op in ("in", "nin") and len(cond.value) > _INLINE_IN_VALUES and cond.field.kind != "bytes":
            # One JSON array parameter instead of a placeholder per value: SQLite allows 32,766
            # placeholders per statement, and a long IN list costs more to parse than json_each.
            field = cond.field
            column, compared = self.quote(field.name), self.order_column(field)
            subquery = f"(SELECT value FROM json_each({b.bind(self._json_operands(field, cond.value))}))"
            if cond.op == "in":
                return f"{compared} IN {subquery}"
            return f"({compared} NOT IN {subquery} OR {column} IS NULL)"
        return super().compile_cond(b, cond)

    def _json_operands(self, field: FieldSpec, values: Sequence[Any]) -> str:
        """Values compared with ``field``'s ``order_column``, as one JSON array (for ``json_each``)."""
        if field.kind in ("str", "int", "float"):  # sent as they are (a bulk upsert's 50,000 keys)
            return to_json(list(values))
        return to_json([decimal_key(v) if field.kind == "decimal" else self.encode(field, v) for v in values])

    async def count_stored(self, conn: Any, q: Upsert, keys: Sequence[Sequence[Any]]) -> int:
        """Many one-field keys in one statement: the JSON array of keys joined to the table, each key
        looked up in the index (``IN (SELECT … json_each)`` first builds a temporary index of them all,
        several times slower for 50,000 keys)."""
        field = q.model.field_map[q.conflict_on[0]]
        if len(keys) != 1 or len(keys[0]) <= _INLINE_IN_VALUES or field.kind == "bytes":
            return await super().count_stored(conn, q, keys)
        compared = f"t.{self.quote(field.name)}"
        if field.kind == "decimal":
            compared = f"df_decimal_key({compared})"
        sql = f"SELECT COUNT(*) FROM json_each(?) AS k JOIN {self.quote(q.model.table)} AS t ON {compared} = k.value"
        return int((await conn.fetch(sql, [self._json_operands(field, keys[0])]))[0][0])

    def order_column(self, field: FieldSpec) -> str:
        # Decimals are stored as their exact text; they are compared and sorted by a key whose text
        # order is their numeric order ("9.5" < "100", "1.10" = "1.1"), exactly, at any precision.
        column = self.quote(field.name)
        return f"df_decimal_key({column})" if field.kind == "decimal" else column

    def bind_compared(self, b: SQLBuilder, field: FieldSpec, value: Any) -> str:
        if field.kind == "decimal":
            return b.bind(decimal_key(value))
        return b.bind_field(field, value)

    def atomic_sql(self, b: SQLBuilder, field: FieldSpec, change: Atomic) -> str:
        if field.kind != "decimal":
            return super().atomic_sql(b, field, change)
        function = "df_decimal_add" if change.op == "add" else "df_decimal_mul"
        return f"{function}({self.quote(field.name)}, {b.bind_field(field, change.operand)})"

    def measure_sql(self, m: Measure) -> str:
        if m.field is None or m.field.kind != "decimal" or m.func not in ("sum", "avg", "min", "max"):
            return super().measure_sql(m)
        return f"df_decimal_{m.func}({self.quote(m.field.name)})"  # exact, on the stored text

    def measure_compared(self, m: Measure) -> str:
        sql = self.measure_sql(m)
        return f"df_decimal_key({sql})" if m.kind == "decimal" else sql

    def row_in(self, columns: str, tuples: str) -> str:
        return f"({columns}) IN (VALUES {tuples})"

    def compile_regex(self, b: SQLBuilder, column: str, pattern: str) -> str:
        try:
            regex.compile(pattern)  # an invalid pattern is refused before any SQL runs
        except regex.error as exc:
            raise regex_refused(pattern, f"is not a valid regular expression ({exc})") from None
        return f"{column} REGEXP {b.bind(pattern)}"

    def compile_like(self, b: SQLBuilder, column: str, pattern: str, *, insensitive: bool) -> str:
        if insensitive:
            # SQLite's LOWER folds ASCII only; the other databases fold every letter ('É' → 'é').
            mark = b.bind(like_pattern(pattern))
            return f"df_lower({column}) LIKE df_lower({mark}) ESCAPE '{LIKE_ESCAPE}'"
        # PRAGMA case_sensitive_like does not reliably survive connection set-up (it is lost
        # depending on the order of the WAL switch), so case-sensitive $like is GLOB, which always is.
        return f"{column} GLOB {b.bind(like_to_glob(pattern))}"

    def needs_encoding(self, field: FieldSpec) -> bool:
        # Booleans too: sqlite3 binds an exact int directly but looks for an adapter for every bool
        # (a bool is an int subclass), a seventh of the time of a 50,000-row insert of five columns.
        return field.kind in ("json", "array", "datetime", "date", "decimal", "bool")

    def encode_column(self, field: FieldSpec, column: Sequence[Any]) -> list[Any]:
        if field.kind == "bool":
            try:
                return list(map(int, column))  # canonical bools: int() is encode()'s 1 / 0, at C speed
            except TypeError:  # a None among them (an optional field)
                pass
        return super().encode_column(field, column)

    # ---- generated ids in tables made without AUTOINCREMENT --------------------------------------
    # Tables DataFlow creates declare AUTOINCREMENT. A table made before (or by hand) lets SQLite hand
    # out max(id) + 1, which reuses the id of a deleted last row; for those, ids are given explicitly
    # from the larger of max(id) and a high-water mark kept where SQLite keeps its own,
    # ``sqlite_sequence`` (which SQLite uses itself should the table later be rebuilt AUTOINCREMENT).

    async def run_insert(self, conn: Any, q: Insert) -> list[dict[str, Any]] | int:
        if await self._lacks_autoincrement(conn, q):
            return await self._keeping_ids_fresh(conn, q, self._run_insert)
        return await self._run_insert(conn, q)

    async def run_upsert(self, conn: Any, q: Upsert) -> list[dict[str, Any]] | tuple[int, int]:
        if await self._lacks_autoincrement(conn, q):
            return await self._keeping_ids_fresh(conn, q, self._run_upsert)
        return await self._run_upsert(conn, q)

    async def _run_upsert(self, conn: Any, q: Upsert) -> list[dict[str, Any]] | tuple[int, int]:
        """Rows without RETURNING, updated from the rows themselves: one ``executemany`` of a one-row
        ``INSERT … ON CONFLICT (…) DO UPDATE`` (SQLite runs it in C; no statement text per row)."""
        if q.returning or q.update or len(q.rows) < 2:
            return await super().run_upsert(conn, q)
        mark = await self._rowid_mark(conn, q) if len(q.rows) > _INLINE_IN_VALUES else None
        if mark is None:
            keys = self.distinct_keys(q)
            stored = await self.count_stored(conn, q, keys)
        marks = ", ".join("?" * len(q.columns))
        target = ", ".join(self.quote(c) for c in q.conflict_on)
        sets = ", ".join(self.upsert_sets(SQLBuilder(self), q))
        sql = f"{self.insert_head(q.model, q.columns)} VALUES ({marks}) ON CONFLICT ({target}) DO UPDATE SET {sets}"
        await conn.executemany_counted(sql, self.encode_rows(q.model, q.columns, q.rows), len(q.rows), len(q.columns))
        if mark is not None:
            new = f"SELECT COUNT(*) FROM {self.quote(q.model.table)} WHERE _rowid_ > ?"
            inserted = int((await conn.fetch(new, [mark]))[0][0])
            return inserted, len(q.rows) - inserted
        return len(keys[0]) - stored, len(q.rows) - len(keys[0]) + stored

    async def _rowid_mark(self, conn: Any, q: Upsert) -> int | None:
        """The table's largest rowid before an upsert, when the rows it inserts are then exactly those
        above it; None when they may not be (the stored keys are counted before it instead).

        SQLite gives a new row the largest rowid plus one (below the largest possible rowid), and an
        update keeps a row's rowid: counting the rows above the mark afterwards is a range scan of the
        new rows, where counting the stored keys beforehand probes the key index once per row. Only
        for a rowid table whose rowid is no column of its own (no ``INTEGER PRIMARY KEY``, no column
        named like the rowid), that no trigger writes through and that declares no ``ON CONFLICT
        REPLACE``. Callers run upserts in a transaction, so no other writer comes in between.
        """
        table = q.model.table
        ((sql, unusable),) = await conn.fetch(
            "SELECT (SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1), "
            "EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1) "
            "OR EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE lower(name) IN ('rowid', '_rowid_', 'oid') "
            "OR (pk > 0 AND upper(type) = 'INTEGER'))", [table])
        declared = "".join(str(sql).upper().split())
        # ON CONFLICT REPLACE in the table's constraints deletes rows, new ones of this statement included.
        if sql is None or unusable or "WITHOUTROWID" in declared or "CONFLICTREPLACE" in declared:
            return None
        ((mark,),) = await conn.fetch(f"SELECT COALESCE(MAX(_rowid_), 0) FROM {self.quote(table)}", [])
        return None if int(mark) > _LARGEST_ROWID - len(q.rows) else int(mark)

    async def _lacks_autoincrement(self, conn: Any, q: Insert | Upsert) -> bool:
        """True when ``q`` writes rows with generated ids into a table made without AUTOINCREMENT."""
        if not q.model.id_is_generated or not q.rows:
            return False
        table = q.model.table
        legacy = self._legacy_tables.get(table)
        if legacy is None:
            rows = await conn.fetch("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table])
            legacy = self._legacy_tables[table] = bool(rows) and "AUTOINCREMENT" not in str(rows[0][0]).upper()
        return legacy

    async def _keeping_ids_fresh(self, conn: Any, q: Any, run: Any) -> Any:
        """Run ``q`` with ids above every id the table has held, then record the new high-water mark
        (ids the caller gave raise it too, as they do SQLite's own).

        SQLite makes ``sqlite_sequence`` with the first AUTOINCREMENT table of a database; where there
        is none yet, one is made and dropped to get it, unless the instance may not change the schema
        (``existing_schema_mode``), where the ids are then SQLite's own.
        """
        table = q.model.table
        async with _atomic(conn):
            if not await conn.fetch("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'", []):
                if not self.options.schema_changes:
                    return await run(conn, q)
                await conn.execute('CREATE TABLE "dataflow_sequence_seed" (id INTEGER PRIMARY KEY AUTOINCREMENT)', [])
                await conn.execute('DROP TABLE "dataflow_sequence_seed"', [])
            ((high,),) = await conn.fetch(
                f"SELECT MAX(COALESCE((SELECT MAX(seq) FROM sqlite_sequence WHERE name = ?), 0), "
                f"COALESCE((SELECT MAX({self.quote('id')}) FROM {self.quote(table)}), 0))", [table])
            high = int(high)
            if "id" in q.columns:
                at = q.columns.index("id")
                result = await run(conn, q)
                last = max([high, *(row[at] for row in q.rows if row[at] is not None)])
            else:
                first, count = high + 1, len(q.rows)
                ids = range(first, first + count)
                rows = q.rows
                if isinstance(rows, ColumnBatch):
                    rows = ColumnBatch([list(ids), *rows.column_data], count)
                else:
                    rows = [(i, *row) for i, row in zip(ids, rows, strict=True)]
                result = await run(conn, attrs.evolve(q, columns=("id", *q.columns), rows=rows))
                last = first + count - 1
            if not await conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", [last, table]):
                await conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", [table, last])
        return result

    async def _run_insert(self, conn: Any, q: Insert) -> list[dict[str, Any]] | int:
        """Rows without RETURNING go through one ``executemany`` (SQLite's fastest path)."""
        if q.returning or len(q.rows) < 2:
            return await super().run_insert(conn, q)
        conflict = " OR IGNORE" if q.skip_conflicts else ""
        marks = ", ".join("?" * len(q.columns))
        cols = ", ".join(self.quote(c) for c in q.columns)
        sql = f"INSERT{conflict} INTO {self.quote(q.model.table)} ({cols}) VALUES ({marks})"
        return await conn.executemany_counted(sql, self.encode_rows(q.model, q.columns, q.rows), len(q.rows),
                                              len(q.columns))

    # ---- schema -----------------------------------------------------------------------------
    async def table_columns(self, conn: Any, table: str) -> set[str] | None:
        rows = await conn.fetch("SELECT name FROM pragma_table_info(?)", [table])
        return {r[0] for r in rows} or None

    # ---- errors ------------------------------------------------------------------------------
    def statement_refused(self, exc: BaseException) -> bool:
        text = str(exc)
        if isinstance(exc, sqlite3.ProgrammingError):
            return True  # "Incorrect number of bindings", "You can only execute one statement at a time" …
        return isinstance(exc, sqlite3.OperationalError) and text.startswith(
            ("near ", "syntax error", "no such column", "no such function", "incomplete input", "unrecognized token",
             "wrong number of arguments", "ambiguous column", "misuse of aggregate", "unknown"))

    def translate_error(self, exc: BaseException) -> DataFlowError:
        """From SQLite's own result codes (``errors.py``)."""
        return translate(exc, busy(self.busy_timeout, "another connection (another process, or one outside "
                                                      "DataFlow)"))


@asynccontextmanager
async def _atomic(conn: SQLiteConnection) -> AsyncIterator[None]:
    """A transaction around several statements, unless the caller already opened one."""
    if conn.raw.in_transaction:
        yield
        return
    await conn.execute("BEGIN IMMEDIATE", ())
    try:
        yield
    except BaseException:
        await conn.execute("ROLLBACK", ())
        raise
    await conn.execute("COMMIT", ())


_GLOB_LITERAL = {"*": "[*]", "?": "[?]", "[": "[[]"}
_GLOB_WILDCARD = {"%": "*", "_": "?"}


def like_to_glob(pattern: str) -> str:
    """A ``$like`` pattern (the kernel's ``like_tokens`` rule) as the GLOB pattern matching the same strings."""
    return "".join(_GLOB_WILDCARD[ch] if wild else _GLOB_LITERAL.get(ch, ch) for ch, wild in like_tokens(pattern))


_KEY_BIAS = 10**6
"""Added to a decimal's exponent in its key (Python's Decimal exponents stay within ±999,999)."""
_NINES_COMPLEMENT = str.maketrans("0123456789", "9876543210")


def decimal_key(value: Any) -> str | None:
    """Text whose byte order is the numeric order of a decimal (stored text, a Decimal, or a number).

    Zero is ``"1"``; a positive value is ``"2"``, its biased exponent and its significant digits; a
    negative one ``"0"``, the complemented exponent and digits and a ``"~"`` that sorts after every
    digit. Trailing zeros are dropped, so equal values have equal keys whatever their scale.
    """
    if value is None:
        return None
    try:
        number = value if isinstance(value, decimal.Decimal) else decimal.Decimal(
            value if isinstance(value, str | int) else repr(value))
    except (decimal.InvalidOperation, TypeError, ValueError):
        return None
    if not number.is_finite():
        return None
    if not number:
        return "1"
    digits = "".join(map(str, number.as_tuple().digits)).rstrip("0")
    exponent = number.adjusted()
    if number < 0:
        return f"0{_KEY_BIAS - exponent:07d}{digits.translate(_NINES_COMPLEMENT)}~"
    return f"2{_KEY_BIAS + exponent:07d}{digits}"


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def encode_datetime(value: dt.datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so that text order is time order."""
    aware = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    if aware.microsecond:  # isoformat() writes them all then, and costs less without its keyword
        return aware.isoformat()
    return aware.isoformat(timespec="microseconds")
