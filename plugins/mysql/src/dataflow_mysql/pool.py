"""Connections for the MySQL / MariaDB dialect: one aiomysql pool per event loop.

aiomysql connections belong to the loop they were opened on, so each running loop gets its own pool
(kernel ``LoopLocal``). ``LocalRuntime`` runs every workflow on one long-lived background loop, so
its pool survives from one ``execute()`` to the next; a new loop (``asyncio.run``, a test's loop)
gets a fresh pool and never meets a stale one. Pools of loops that have closed are released the next
time a pool is made, and by ``close()`` / ``close_sync()``.

The first pool also detects the server once: MySQL or MariaDB, its version (which decides whether
``RETURNING`` exists), ``max_allowed_packet`` (which sizes bulk statements) and the auto-increment
step (which turns ``LAST_INSERT_ID()`` into the ids of a multi-row insert).

The hot single-row update goes around aiomysql's per-statement machinery (a cursor, a result object,
objects per packet: a large share of a quick statement's time): its text is sent and its replies parsed
from the stream without a cursor (``MySQLConnection.exchange``), and a free connection is taken from
and given back to the pool without aiomysql's lock and wake-up task when nobody else is waiting.
Both lean on aiomysql internals (``_execute_command``, ``_reader``, the pool's free list and
condition), as this module already did for closing pools on loops that have gone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import aiomysql
import attrs
import pymysql.err
from dataflow.dialect import DialectOptions, LoopLocal, idle_socket_readable
from dataflow.errors import DataFlowError
from dataflow.sqllog import StatementLog
from dataflow.url import DatabaseURL
from pymysql.connections import TEXT_TYPES, FieldDescriptorPacket
from pymysql.constants import COMMAND, CR, FIELD_TYPE, SERVER_STATUS
from pymysql.converters import through

from dataflow_mysql.errors import pool_exhausted, translate

__all__ = ["MySQLConnection", "PoolManager", "QuietCursor", "Reply", "Result", "ServerInfo"]

T = TypeVar("T")

# Strict, predictable sessions whatever the server's defaults: UTC for NOW(), errors instead of
# silent truncation, no ANSI_QUOTES (identifiers are backquoted, strings single-quoted) and no
# NO_BACKSLASH_ESCAPES (the driver escapes with backslashes). NO_AUTO_VALUE_ON_ZERO stores an
# explicit id 0 as 0, as PostgreSQL and SQLite do.
SESSION_SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO"
INIT_COMMAND = f"SET time_zone = '+00:00', sql_mode = '{SESSION_SQL_MODE}'"

_MATCHED = re.compile(rb"Rows matched: (\d+)")
_DUPLICATES = re.compile(rb"Duplicates: (\d+)")
_CLOSE_TIMEOUT = 5.0
_MORE_RESULTS = SERVER_STATUS.SERVER_MORE_RESULTS_EXISTS
_BINARY_CHARSET = 63
_MAX_PACKET = 0xFFFFFF
_CHUNK = 65536
"""Bytes asked of the stream at a time (a packet known to be larger is read whole)."""
_Converters = tuple[tuple[str | None, Any], ...]
_COLUMN_CONVERTERS: dict[tuple[bytes, ...], _Converters] = {}
"""Per result shape (its column-definition packets, byte for byte), how each column's text is decoded."""
_COLUMN_CONVERTERS_MAX = 256


@attrs.frozen
class ServerInfo:
    """What the dialect needs to know about the server, detected once."""

    version: str
    mariadb: bool
    version_tuple: tuple[int, ...]
    max_allowed_packet: int
    autoinc_step: int

    @property
    def name(self) -> str:
        return "MariaDB" if self.mariadb else "MySQL"

    @property
    def has_returning(self) -> bool:
        """INSERT … RETURNING and DELETE … RETURNING (MariaDB ≥ 10.5; MySQL has neither)."""
        return self.mariadb and self.version_tuple >= (10, 5)

    @property
    def collation(self) -> str:
        """A binary (case-sensitive), NO PAD collation, so that 'a' and 'a ' differ as they do elsewhere."""
        if self.mariadb:
            return "utf8mb4_nopad_bin"
        return "utf8mb4_0900_bin" if self.version_tuple >= (8, 0) else "utf8mb4_bin"

    @classmethod
    def parse(cls, version: str, max_allowed_packet: int, autoinc_step: int) -> ServerInfo:
        numbers = tuple(int(n) for n in re.findall(r"\d+", version.split("-")[0])[:3])
        return cls(version, "mariadb" in version.lower(), numbers, int(max_allowed_packet), int(autoinc_step or 1))


@attrs.frozen
class Reply:
    """One statement's reply in an exchange: affected rows (rows, for a result set), the OK packet's
    info string, and the rows of a result set (None for an OK packet)."""

    affected: int
    message: bytes
    rows: list[tuple[Any, ...]] | None


@attrs.frozen
class Result:
    """What a statement reported: affected rows, the first generated id, matched / duplicate counts."""

    affected: int
    last_id: int
    matched: int | None
    duplicates: int | None


class MySQLConnection:
    """The kernel's Connection protocol over one aiomysql connection.

    The driver binds parameters itself (client-side escaping of ``%s`` placeholders); a statement
    without parameters is sent as is, so its text is never run through ``%`` formatting.
    """

    __slots__ = ("log", "packet", "raw")

    def __init__(self, raw: aiomysql.Connection, log: StatementLog, packet: int | None = None) -> None:
        self.raw = raw
        self.log = log
        self.packet = packet
        """The server's ``max_allowed_packet`` (bytes), when known."""

    async def _send(self, cursor: Any, sql: str, params: Sequence[Any]) -> None:
        """Execute on ``cursor`` (see ``_guarded``)."""
        await self._guarded(cursor.execute(sql, params or None), sql, params)

    async def _guarded(self, step: Awaitable[T], sql: str, params: Sequence[Any]) -> T:
        """Await ``step`` (sending ``sql``), logged; a statement the server cut off for being larger
        than its packet limit is DF-102 naming ``max_allowed_packet`` (the driver only sees a broken
        exchange: "Packet sequence number wrong", "server has gone away")."""
        try:
            return await self.log.wrap(step, sql, params)
        except (pymysql.err.MySQLError, OSError) as exc:
            size = _statement_size(sql, params)
            if self.packet and size > self.packet:
                raise too_large(size, self.packet) from exc
            raise

    async def exchange(self, sql: str, params: Sequence[Any]) -> list[Reply]:
        """Send ``sql`` (one statement or several, ``%s`` bound as a cursor binds them) and read each
        statement's reply, without a cursor.

        aiomysql's cursor makes several objects per statement and per packet (result, column
        descriptions, packet wrappers); this reads the connection's stream in chunks and splits it
        into packets itself (``_Replies``: sequence checks, error packets raised as the driver's, a
        lost session closed and raised as usual) and decodes rows as PyMySQL does, with each result
        shape's column converters worked out once.
        """
        raw = self.raw
        text = sql % tuple(map(raw.escape, params)) if params else sql
        return await self._guarded(self._exchange(text.encode(raw.encoding, "surrogateescape")), sql, params)

    async def _exchange(self, text: bytes) -> list[Reply]:
        raw = self.raw
        await raw._execute_command(COMMAND.COM_QUERY, text)
        replies = _Replies(self)
        reader = raw._reader
        try:
            need = 4
            while need:
                try:
                    chunk = await (reader.readexactly(need) if need > _CHUNK else reader.read(_CHUNK))
                except (asyncio.IncompleteReadError, OSError) as exc:
                    raise _lost(raw, exc) from exc
                if not chunk:
                    raise _lost(raw, None)
                need = replies.feed(chunk)
        except pymysql.err.MySQLError:
            # An error reply ends the exchange (the server runs none of the statements after it); a
            # lost session or a broken sequence closed the connection already.
            raise
        except BaseException:
            raw.close()  # stopped halfway: the replies left unread would be taken for the next statement's
            raise
        raw._next_seq_id = replies.seq
        if replies.leftover:
            raw.close()  # a server only sends unasked when it ends the session (its goodbye)
        return replies.replies

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        cursor = await self.raw.cursor()
        await self._send(cursor, sql, params)
        rows = await cursor.fetchall()
        await _refuse_regex_limits(cursor, sql, params)
        await cursor.close()
        return list(rows)

    async def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        """``(column names, rows)``, for raw SQL (``db.fetch``)."""
        cursor = await self.raw.cursor()
        try:
            await self._send(cursor, sql, params)
            names = [column[0] for column in cursor.description or ()]
            rows = await cursor.fetchall()
        finally:
            await cursor.close()
        return names, list(rows)

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        return (await self.run(sql, params)).affected

    async def run(self, sql: str, params: Sequence[Any]) -> Result:
        """Execute and return the full report (the info string carries matched / duplicate counts)."""
        cursor = await self.raw.cursor()
        await self._send(cursor, sql, params)
        result = cursor._result  # the OK packet; aiomysql exposes its info string only here
        await _refuse_regex_limits(cursor, sql, params)
        await cursor.close()
        message = getattr(result, "message", b"") or b""
        matched = _MATCHED.search(message)
        duplicates = _DUPLICATES.search(message)
        return Result(
            cursor.rowcount if cursor.rowcount >= 0 else 0,
            cursor.lastrowid or 0,
            int(matched.group(1)) if matched else None,
            int(duplicates.group(1)) if duplicates else None,
        )

    async def update_then_select(self, update: str, select: str, params: Sequence[Any]) -> tuple[int, list[Any]]:
        """``update`` then ``select`` in one round trip (one multi-statement text, in a transaction
        of its own unless one is open): the rows the UPDATE matched and the SELECT's rows.

        MariaDB has no ``UPDATE … RETURNING``; this reads the row back without a second exchange.
        A failed statement stops the text there, so the transaction it began is rolled back.
        """
        own = not self.in_transaction
        sql = f"START TRANSACTION; {update}; {select}; COMMIT" if own else f"{update}; {select}"
        try:
            replies = await self.exchange(sql, params)
        except BaseException:
            if own:
                with suppress(Exception):
                    await self.raw.rollback()
            raise
        at = 1 if own else 0  # START TRANSACTION's reply comes first
        changed, selected = replies[at], replies[at + 1]
        found = _MATCHED.search(changed.message)
        return int(found.group(1)) if found else changed.affected, selected.rows or []

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        cursor = await self.raw.cursor()
        width = len(rows[0]) if rows else 0
        await self.log.wrap(cursor.executemany(sql, rows), sql, len(rows) * width, rows=len(rows))
        await cursor.close()

    async def control(self, sql: str) -> None:
        """``BEGIN``, ``COMMIT`` or ``ROLLBACK`` (through aiomysql's own calls, which keep its state)."""
        step = {"BEGIN": self.raw.begin, "COMMIT": self.raw.commit, "ROLLBACK": self.raw.rollback}[sql]()
        await self.log.wrap(step, sql, 0)

    @property
    def in_transaction(self) -> bool:
        return bool(self.raw.get_transaction_status())


class _Replies:
    """The replies of one exchange, parsed from its bytes as they arrive: OK packets and text-protocol
    result sets (column definitions, an EOF packet, rows, an EOF packet), as PyMySQL reads them."""

    __slots__ = ("conn", "converters", "count", "leftover", "part", "pending", "replies", "rows", "seq", "shape")

    def __init__(self, conn: MySQLConnection) -> None:
        self.conn = conn
        self.replies: list[Reply] = []
        # The reply is numbered on from the command's packets: one for most, more for a command of
        # 16 MiB or more (a server whose max_allowed_packet is above that accepts it).
        self.seq = conn.raw._next_seq_id
        self.pending = b""  # the start of a packet whose rest has not arrived yet
        self.part = b""  # a payload the server split at 16 MiB, so far
        self.leftover = False
        self._next_reply()

    def _next_reply(self) -> None:
        self.count = -1  # no result set under way
        self.shape: list[bytes] = []
        self.converters: _Converters | None = None
        self.rows: list[tuple[Any, ...]] = []

    def feed(self, chunk: bytes) -> int:
        """Take ``chunk``; how many more bytes are needed at least (0: the exchange is complete)."""
        data = self.pending + chunk if self.pending else chunk
        end = len(data)
        at = 0
        while True:
            if end - at < 4:
                self.pending = data[at:]
                return 4 - (end - at)
            size = data[at] | data[at + 1] << 8 | data[at + 2] << 16
            if end - at - 4 < size:
                self.pending = data[at:]
                return size + 4 - (end - at)
            if data[at + 3] != self.seq:
                raise _out_of_sequence(self.conn.raw, data[at + 3], self.seq)
            self.seq = (self.seq + 1) & 0xFF
            payload = data[at + 4 : at + 4 + size]
            at += 4 + size
            if size == _MAX_PACKET:  # the payload goes on in the next packet
                self.part += payload
                continue
            if self.part:
                payload, self.part = self.part + payload, b""
            if self._packet(payload):
                self.pending = b""
                self.leftover = at < end
                return 0

    def _packet(self, payload: bytes) -> bool:
        """Take one packet's payload; True when it was the exchange's last."""
        first = payload[0]
        if first == 0xFF:
            pymysql.err.raise_mysql_exception(payload)
        if self.count < 0:
            if first == 0:  # OK: affected rows, insert id, status, warning count, info string
                affected, at = _length(payload, 1)
                _insert_id, at = _length(payload, at)
                self.replies.append(Reply(affected, payload[at + 4 :], None))
                return self._ended(payload[at] | payload[at + 1] << 8)
            self.count = _length(payload, 0)[0]  # a result set of this many columns
        elif len(self.shape) < self.count:
            self.shape.append(payload)
        elif self.converters is None:  # the EOF packet after the column definitions
            self.converters = _column_converters(self.conn.raw, tuple(self.shape))
        elif first == 0xFE and len(payload) < 9:  # EOF: warning count, status
            self.replies.append(Reply(len(self.rows), b"", self.rows))
            return self._ended(payload[3] | payload[4] << 8)
        else:
            self.rows.append(_row(payload, self.converters))
        return False

    def _ended(self, status: int) -> bool:
        self.conn.raw.server_status = status
        self._next_reply()
        return not status & _MORE_RESULTS


def _column_converters(raw: aiomysql.Connection, shape: tuple[bytes, ...]) -> _Converters:
    """Each column's text encoding and converter, chosen as aiomysql's cursor chooses them; kept per
    shape for every connection alike (all are opened with ``PoolManager.connect_kwargs``: one charset,
    the default decoders)."""
    found = _COLUMN_CONVERTERS.get(shape)
    if found is not None:
        return found
    chosen = []
    for data in shape:
        field = FieldDescriptorPacket(data, raw.encoding)
        kind = field.type_code
        encoding: str | None
        if not raw.use_unicode:
            encoding = None
        elif kind == FIELD_TYPE.JSON:
            encoding = raw.encoding
        elif kind in TEXT_TYPES:
            encoding = None if field.charsetnr == _BINARY_CHARSET else raw.encoding
        else:
            encoding = "ascii"
        convert = raw.decoders.get(kind)
        chosen.append((encoding, None if convert is through else convert))
    if len(_COLUMN_CONVERTERS) >= _COLUMN_CONVERTERS_MAX:
        _COLUMN_CONVERTERS.clear()
    converters = _COLUMN_CONVERTERS[shape] = tuple(chosen)
    return converters


def _lost(raw: aiomysql.Connection, exc: BaseException | None) -> pymysql.err.OperationalError:
    """The session ended under the exchange: the connection closed, the driver's own error for it."""
    raw.close()
    detail = f" ({exc})" if isinstance(exc, OSError) else ""
    return pymysql.err.OperationalError(CR.CR_SERVER_LOST, f"Lost connection to MySQL server during query{detail}")


def _out_of_sequence(raw: aiomysql.Connection, got: int, expected: int) -> pymysql.err.MySQLError:
    """A packet out of sequence, as the driver reports it (a MySQL 8 server at shutdown numbers its
    error packet 0); the connection is closed."""
    raw.close()
    if got == 0:
        return pymysql.err.OperationalError(CR.CR_SERVER_LOST, "Lost connection to MySQL server during query")
    return pymysql.err.InternalError(f"Packet sequence number wrong - got {got} expected {expected}")


def _length(data: bytes, at: int) -> tuple[Any, int]:
    """The length-encoded integer at ``at`` (None for the NULL marker) and where the next field starts."""
    first = data[at]
    if first < 251:
        return first, at + 1
    if first == 251:
        return None, at + 1
    width = 2 if first == 252 else 3 if first == 253 else 8
    return int.from_bytes(data[at + 1 : at + 1 + width], "little"), at + 1 + width


def _row(data: bytes, converters: _Converters) -> tuple[Any, ...]:
    """One text-protocol row: each column's length-encoded bytes, decoded and converted."""
    values: list[Any] = []
    at = 0
    for encoding, convert in converters:
        size = data[at]
        if size < 251:
            at += 1
        elif size == 251:  # NULL
            values.append(None)
            at += 1
            continue
        else:
            size, at = _length(data, at)
        value: Any = data[at : at + size]
        at += size
        if encoding is not None:
            value = value.decode(encoding)
        if convert is not None:
            value = convert(value)
        values.append(value)
    return tuple(values)


def _statement_size(sql: str, params: Sequence[Any]) -> int:
    """About how many bytes ``sql`` takes with ``params`` bound (UTF-8 text, bytes as hex); only
    computed after a failure, so it may be exact rather than fast."""
    size = len(sql.encode("utf-8", "replace"))
    for value in params:
        if isinstance(value, str):
            size += len(value.encode("utf-8", "replace")) + 2
        elif isinstance(value, bytes | bytearray):
            size += 2 * len(value) + 10
        else:
            size += 32
    return size


def too_large(size: int, packet: int) -> DataFlowError:
    """DF-102: a value too large for the server's ``max_allowed_packet``."""
    return DataFlowError(
        "DF-102",
        f"A value is too large for the server: the statement takes about {size:,} bytes and the server's "
        f"max_allowed_packet is {packet:,} bytes.",
        context={"max_allowed_packet": packet, "statement_bytes": size},
        solutions=["Store smaller values (split the document), or raise the server's max_allowed_packet "
                   "(SET GLOBAL max_allowed_packet = …, in bytes)."],
    )


async def _refuse_regex_limits(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    """DF-107 when the server's regular-expression engine gave up on a ``$regex`` (PCRE's match
    limit): MariaDB then only warns and treats the value as not matching, a silently wrong answer."""
    result = cursor._result
    if " REGEXP " not in sql or result is None or not getattr(result, "warning_count", 0):
        return
    await cursor.execute("SHOW WARNINGS")
    for _level, code, message in await cursor.fetchall():
        if code == 1139:
            raise DataFlowError(
                "DF-107",
                f"The server could not finish matching the $regex pattern ({message}).",
                context={"detail": message},
                solutions=["Anchor the pattern and avoid nested quantifiers such as (a|aa)+, or use $like."],
            )


class QuietCursor(aiomysql.Cursor):
    """A cursor that does not turn server notes into Python warnings.

    aiomysql follows each statement that left a warning with a ``SHOW WARNINGS`` round trip and a
    ``warnings.warn`` of a driver class: one more query, and a raw driver object that escapes to the
    user (an exception under ``-W error``). Strict SQL mode already turns real problems into errors;
    what is left are notes such as "table already exists" from ``CREATE TABLE IF NOT EXISTS``.
    """

    async def _show_warnings(self, conn: Any) -> None:
        return None


class _LoopState:
    """The pool of one event loop and the lock that makes sure only one is created."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.pool: aiomysql.Pool | None = None


class PoolManager:
    """Per-loop aiomysql pools for one dialect instance, plus the server facts detected once."""

    def __init__(self, url: DatabaseURL, options: DialectOptions, log: StatementLog | None = None) -> None:
        self.url = url
        self.options = options
        self.log = log if log is not None else StatementLog()
        self.server: ServerInfo | None = None
        self._states: LoopLocal[_LoopState] = LoopLocal()

    @property
    def server_name(self) -> str:
        return self.server.name if self.server else "MySQL"

    def connect_kwargs(self) -> dict[str, Any]:
        url = self.url
        kwargs: dict[str, Any] = {
            "host": url.host or "127.0.0.1",
            "port": url.port or 3306,
            "user": url.username or "root",
            "password": url.password or "",
            "db": url.database or None,
            "charset": "utf8mb4",
            "autocommit": True,
            "connect_timeout": self.options.connect_timeout,
            "init_command": INIT_COMMAND + self._timeout_clause(),
            "cursorclass": QuietCursor,
        }
        if "unix_socket" in url.query:
            kwargs["unix_socket"] = url.query["unix_socket"]
        return kwargs

    def _timeout_clause(self) -> str:
        """The session's statement time limit: MariaDB's ``max_statement_time`` (seconds, every
        statement), MySQL's ``max_execution_time`` (milliseconds, SELECT only: MySQL has no other)."""
        limit = self.options.statement_timeout
        if limit <= 0 or self.server is None:
            return ""
        if self.server.mariadb:
            return f", max_statement_time = {float(limit)!r}"
        return f", max_execution_time = {max(1, round(limit * 1000))}"

    # ---- pools ---------------------------------------------------------------------------------
    async def pool(self) -> aiomysql.Pool:
        state = self._states.get()
        if state is None:
            self._release_closed_loops()
            state = _LoopState()
            self._states.set(state)
        if state.pool is not None:
            return state.pool
        async with state.lock:
            if state.pool is None:
                state.pool = await self._create_pool()
        return state.pool

    async def _create_pool(self) -> aiomysql.Pool:
        maxsize = max(1, self.options.pool_size + self.options.max_overflow)
        if self.server is None and self.options.statement_timeout > 0:
            # The time limit is set per session by init_command, whose wording depends on the server
            # (MySQL or MariaDB): detect it on one connection before the pool opens its own.
            try:
                raw = await aiomysql.connect(**self.connect_kwargs())
            except (pymysql.err.MySQLError, OSError) as exc:
                raise self._unreachable(exc) from exc
            try:
                await self._detect(raw)
            finally:
                with suppress(Exception):
                    await raw.ensure_closed()
        try:
            pool = await aiomysql.create_pool(minsize=1, maxsize=maxsize, **self.connect_kwargs())
        except (pymysql.err.MySQLError, OSError) as exc:
            raise self._unreachable(exc) from exc
        if self.server is not None:
            return pool
        try:
            async with pool.acquire() as raw:
                await self._detect(raw)
        except BaseException:
            pool.terminate()
            raise
        return pool

    async def _detect(self, raw: aiomysql.Connection) -> None:
        """Learn the server's kind, version, packet limit and auto-increment step (once)."""
        try:
            cursor = await raw.cursor()
            await cursor.execute("SELECT VERSION(), @@max_allowed_packet, @@auto_increment_increment")
            version, packet, step = (await cursor.fetchall())[0]
            await cursor.close()
        except (pymysql.err.MySQLError, OSError) as exc:
            raise translate(exc, self.server_name) from exc
        self.server = ServerInfo.parse(str(version), packet, step)

    def _unreachable(self, exc: BaseException) -> DataFlowError:
        error = translate(exc, self.server_name)
        error.context.setdefault("url", str(self.url))
        return error

    async def _acquire(self, pool: aiomysql.Pool) -> aiomysql.Connection:
        taken = _take_free(pool)
        if taken is not None:
            return taken
        timeout = self.options.pool_timeout if self.options.pool_timeout > 0 else None
        try:
            while True:
                if pool.freesize and not pool._cond.locked():
                    # A free connection and nobody connecting: the acquire completes without waiting,
                    # so skip wait_for's extra task (a measurable share of a one-row read).
                    raw = await pool.acquire()
                else:
                    raw = await asyncio.wait_for(pool.acquire(), timeout)
                if not _ended_while_idle(raw):
                    return raw
                raw.close()
                pool.release(raw)
        except TimeoutError:
            raise pool_exhausted(self.options.pool_size, self.options.max_overflow,
                                 self.options.pool_timeout) from None
        except (pymysql.err.MySQLError, OSError) as exc:
            raise self._unreachable(exc) from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[MySQLConnection]:
        pool = await self.pool()
        raw = await self._acquire(pool)
        try:
            yield MySQLConnection(raw, self.log, self.server.max_allowed_packet if self.server else None)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raw.close()  # cancelled mid-statement: the protocol state is unknown, never reuse it
            raise
        finally:
            _give_back(pool, raw)

    # ---- closing -------------------------------------------------------------------------------
    async def close(self) -> None:
        """Close this loop's pool gracefully, then release the pools of every other loop."""
        state = self._states.pop_current()
        if state is not None and state.pool is not None:
            await _close_pool(state.pool)
        self.close_sync()

    def close_sync(self) -> None:
        """Release every pool not on the running loop (there may be none running)."""
        for loop, state in self._states.items():
            pool = state.pool
            if pool is None:
                continue
            if loop.is_running() and not loop.is_closed():
                # Another thread's loop (LocalRuntime's): let it close its own connections.
                asyncio.run_coroutine_threadsafe(_close_pool(pool), loop)
            else:
                _abandon(pool)
        self._states.clear()

    # ---- pools, as the kernel lists them (``SQLDialect.list_pools``) -----------------------------------
    def loop_pools(self) -> list[tuple[asyncio.AbstractEventLoop, aiomysql.Pool, float]]:
        """(loop, pool, created_at) for every open pool."""
        return [(loop, state.pool, self._states.created_at(loop)) for loop, state in self._states.items()
                if state.pool is not None and not state.pool.closed]

    @property
    def created(self) -> int:
        return self._states.created

    async def close_loop_pool(self, loop_id: int, *, force: bool) -> None:
        """Release the pool of the loop whose ``id()`` is ``loop_id`` (see ``SQLDialect.close_pool``)."""
        for loop, state in self._states.items():
            if id(loop) != loop_id:
                continue
            self._states.pop(loop)
            pool = state.pool
            if pool is None:
                return
            if loop.is_closed() or not loop.is_running():
                _abandon(pool)
            elif loop is asyncio.get_running_loop():
                if force:
                    pool.terminate()
                else:
                    await _close_pool(pool)
            else:  # another thread's loop (LocalRuntime's): it closes its own connections
                step = _terminate_soon(pool) if force else _close_pool(pool)
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(step, loop))
            return

    def _release_closed_loops(self) -> None:
        for stale in self._states.pop_closed():
            if stale.pool is not None:
                _abandon(stale.pool)

    def __del__(self) -> None:
        with suppress(Exception):  # interpreter shutdown: nothing more can be done
            self.close_sync()


def _ended_while_idle(raw: aiomysql.Connection) -> bool:
    """The server ended this session while it sat in the pool and the loop has not seen it yet
    (aiomysql only checks for an end of stream already read)."""
    writer = raw._writer
    return idle_socket_readable(writer.transport if writer is not None else None)


def _take_free(pool: aiomysql.Pool) -> aiomysql.Connection | None:
    """A free connection taken without aiomysql's acquire (its lock, a sweep of every free
    connection), when one is there, nobody else is acquiring and it passes the checks that acquire
    makes (end of stream, a stream error) and the idle-socket check; else None (the usual path)."""
    free = pool._free
    if not free or pool._closing or pool._recycle > -1 or pool._cond.locked():
        return None
    raw = free[0]
    reader = raw._reader
    if raw.closed or reader.at_eof() or reader.exception() or reader.eof_received or _ended_while_idle(raw):
        return None
    free.popleft()
    pool._used.add(raw)
    return raw


def _give_back(pool: aiomysql.Pool, raw: aiomysql.Connection) -> None:
    """``pool.release(raw)``, without the task it starts to wake a waiter when none waits."""
    if (raw.closed or pool._closing or pool._cond._waiters or raw not in pool._used
            or raw.get_transaction_status()):
        pool.release(raw)
        return
    pool._used.remove(raw)
    pool._free.append(raw)


async def _close_pool(pool: aiomysql.Pool) -> None:
    """Say goodbye (COM_QUIT) on idle connections, then wait a little for busy ones, then cut them."""
    with suppress(Exception):
        await pool.clear()
    pool.close()
    try:
        await asyncio.wait_for(pool.wait_closed(), _CLOSE_TIMEOUT)
    except (TimeoutError, Exception):
        pool.terminate()


async def _terminate_soon(pool: aiomysql.Pool) -> None:
    """``pool.terminate()`` as a coroutine, to run it on the pool's own loop."""
    pool.terminate()


def _abandon(pool: aiomysql.Pool) -> None:
    """Release a pool whose loop is closed or idle, without that loop.

    aiomysql closes a connection through its loop (``transport.close`` schedules a callback), which
    a closed loop refuses; and an unclosed connection's ``__del__`` would try again and fail. So the
    sockets are closed directly and the connections marked closed. These are aiomysql internals.
    """
    conns = [*pool._free, *pool._used]
    pool._free.clear()
    pool._used.clear()
    pool._closing = True
    for conn in conns:
        writer = conn._writer
        if writer is None:
            continue
        sock = getattr(writer.transport, "_sock", None)
        if sock is not None:
            sock.close()
        conn._writer = None
        conn._reader = None
