"""The migration lock manager: one holder per scope, across processes and hosts, on each database's own primitive.

- PostgreSQL: ``pg_try_advisory_lock(key)`` polled until the timeout, on a dedicated connection held
  for the lock's life (the key is a 64-bit hash of the database and scope). The server releases the
  lock when that session ends, so a killed holder never keeps it.
- MySQL / MariaDB: ``GET_LOCK(name, timeout)`` on a dedicated connection, released the same way.
- SQLite: a row in ``dataflow_migration_locks`` taken under ``BEGIN IMMEDIATE`` with a lease
  (``expires_at``) that a heartbeat renews; an expired lease, or a holder on this host whose process is
  gone, is taken over.

Every dialect also writes the lock's row (who, what, when) to ``dataflow_migration_locks`` while it is
held, which is what ``get_active_locks()`` lists. A lock already held by the current task is re-entered
rather than waited for, so an explicit lock around ``db.migrate_apply()`` does not deadlock.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
from dataflow.errors import DataFlowError

__all__ = ["LOCKS_TABLE", "MigrationLock", "MigrationLockManager", "pid_alive"]

LOCKS_TABLE = "dataflow_migration_locks"
DEFAULT_TIMEOUT = 60.0
DEFAULT_LEASE = 30.0
_COLUMNS = ("scope", "lock_id", "holder", "host", "pid", "operation_description", "metadata", "acquired_at",
            "expires_at", "lock_key")
_UTC = dt.UTC

_held: contextvars.ContextVar[Mapping[tuple[str, str], MigrationLock]] = contextvars.ContextVar(
    "dataflow_migration_locks_held", default={}  # noqa: B039 - never mutated, always replaced
)


@attrs.frozen
class MigrationLock:
    """A held (or listed) migration lock."""

    lock_id: str
    scope: str
    holder: str
    acquired_at: dt.datetime
    operation_description: str = ""
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    expires_at: dt.datetime | None = None
    host: str = ""
    pid: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"lock_id": self.lock_id, "scope": self.scope, "holder": self.holder,
                "acquired_at": self.acquired_at.isoformat(), "operation_description": self.operation_description,
                "metadata": dict(self.metadata), "expires_at": self.expires_at.isoformat() if self.expires_at else None}


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` on this host still runs (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _iso(value: dt.datetime) -> str:
    return value.astimezone(_UTC).isoformat(timespec="microseconds")


def _parse(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_UTC)
    return dt.datetime.fromisoformat(str(value))


def _kind(db: Any) -> str:
    name = getattr(db.dialect, "name", "")
    return "mysql" if name in ("mysql", "mariadb") else name


class MigrationLockManager:
    """Acquire, hold and list migration locks for one DataFlow instance.

    :param db: the DataFlow instance (anything with ``dialect`` and ``options``).
    :param lease_seconds: SQLite lease length (renewed by a heartbeat while held).
    :param poll_interval: seconds between attempts while waiting.
    """

    def __init__(self, db: Any, *, lease_seconds: float | None = None, poll_interval: float = 0.05) -> None:
        self.db = db
        self.dialect = db.dialect
        options = getattr(db, "options", {}) or {}
        self.lease = float(lease_seconds or options.get("migration_lock_lease") or DEFAULT_LEASE)
        self.default_timeout = float(options.get("migration_lock_timeout") or DEFAULT_TIMEOUT)
        self.poll_interval = poll_interval
        self.q = self.dialect.quote
        self.host = socket.gethostname()
        self._table_ready = False

    # ---- the public API ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def acquire_migration_lock(
        self,
        lock_scope: str = "schema_modification",
        timeout_seconds: float | None = None,
        operation_description: str = "",
        lock_metadata: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[MigrationLock]:
        """Hold the lock of ``lock_scope`` for the ``async with`` block; DF-307 when not had in time."""
        # Re-entered only by the same instance in the same task (another instance is another holder).
        key = (f"{id(self.db)}@{self._database_id()}", lock_scope)
        held = _held.get()
        if key in held:
            yield held[key]
            return
        timeout = self.default_timeout if timeout_seconds is None else float(timeout_seconds)
        lock = MigrationLock(uuid.uuid4().hex, lock_scope, f"{self.host}:{os.getpid()}", dt.datetime.now(_UTC),
                             operation_description, dict(lock_metadata or {}), None, self.host, os.getpid())
        acquire = {"postgresql": self._hold_postgresql, "mysql": self._hold_mysql}.get(_kind(self.db),
                                                                                   self._hold_sqlite)
        async with acquire(lock, timeout) as taken:
            token = _held.set({**held, key: taken})
            try:
                yield taken
            finally:
                _held.reset(token)

    async def get_active_locks(self) -> list[MigrationLock]:
        """Locks held right now (rows of holders that are gone are not listed)."""
        async with self.dialect.connection() as conn:
            if await self.dialect.table_columns(conn, LOCKS_TABLE) is None:
                return []
            cols = ", ".join(self.q(c) for c in _COLUMNS)
            rows = [dict(zip(_COLUMNS, r, strict=True))
                    for r in await conn.fetch(f"SELECT {cols} FROM {self.q(LOCKS_TABLE)}", [])]
            kind = _kind(self.db)
            if kind == "postgresql":
                held_keys = {(int(r[0]), int(r[1])) for r in await conn.fetch(
                    "SELECT classid::bigint, objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    [])}
                rows = [r for r in rows if _pg_parts(int(r["lock_key"])) in held_keys]
            elif kind == "mysql":
                alive = []
                for r in rows:
                    used = await conn.fetch(f"SELECT IS_USED_LOCK({self.dialect.placeholder(1)})", [r["lock_key"]])
                    if used and used[0][0] is not None:
                        alive.append(r)
                rows = alive
            else:
                rows = [r for r in rows if not self._stale(r)]
        return [self._lock_of(r) for r in rows]

    # ---- shared pieces ---------------------------------------------------------------------------
    def _database_id(self) -> str:
        url = self.db.url
        return f"{url.scheme}://{getattr(url, 'host', '') or ''}:{getattr(url, 'port', '') or ''}/{url.database}"

    def _lock_key(self, scope: str) -> int:
        """A signed 64-bit advisory-lock key for the scope within this database."""
        digest = hashlib.sha256(f"dataflow-migration:{self.db.url.database}:{scope}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _lock_name(self, scope: str) -> str:
        """A MySQL lock name (at most 64 characters; GET_LOCK names are server-wide, so the database is in it)."""
        digest = hashlib.sha1(f"{self.db.url.database}:{scope}".encode()).hexdigest()
        return f"dataflow_migration_{digest}"

    def _timeout_error(self, lock: MigrationLock, timeout: float, holder: str | None = None) -> DataFlowError:
        error = DataFlowError(
            "DF-307",
            f"The migration lock {lock.scope!r} could not be acquired within {timeout:g} s"
            + (f" (held by {holder})." if holder else "."),
            context={"scope": lock.scope, "timeout_seconds": timeout, "holder": holder},
            solutions=["Wait for the other migration to finish, then retry.",
                       "Raise the timeout (timeout_seconds=, or the migration_lock_timeout option).",
                       "See who holds it: await MigrationLockManager(db).get_active_locks()."],
        )
        enhance = getattr(self.db, "enhance", None)
        return enhance(error) if enhance else error

    def _create_sql(self) -> str:
        key = "VARCHAR(191)"  # 191 characters of utf8mb4 still fit MySQL's oldest index-length limit
        cols = [f"{self.q('scope')} {key} PRIMARY KEY", f"{self.q('lock_id')} VARCHAR(64) NOT NULL",
                f"{self.q('holder')} VARCHAR(255) NOT NULL", f"{self.q('host')} VARCHAR(255) NOT NULL",
                f"{self.q('pid')} INTEGER NOT NULL", f"{self.q('operation_description')} TEXT",
                f"{self.q('metadata')} TEXT", f"{self.q('acquired_at')} VARCHAR(40) NOT NULL",
                f"{self.q('expires_at')} VARCHAR(40)", f"{self.q('lock_key')} VARCHAR(64)"]
        return f"CREATE TABLE IF NOT EXISTS {self.q(LOCKS_TABLE)} ({', '.join(cols)}){self.dialect.table_suffix()}"

    async def _ensure_table(self, conn: Any) -> None:
        # Not remembered on SQLite: there the table may be made inside a user's transaction (schema
        # work joins it), and a rollback takes it away again.
        if self._table_ready and not self.dialect.schema_in_transaction:
            return
        if await self.dialect.table_columns(conn, LOCKS_TABLE) is None:
            try:
                await conn.execute(self._create_sql(), [])
            except Exception:
                # Two scopes created it at once; only a table that is still missing is an error.
                if await self.dialect.table_columns(conn, LOCKS_TABLE) is None:
                    raise
        self._table_ready = True

    async def _write_row(self, conn: Any, lock: MigrationLock, lock_key: str) -> None:
        """Record the lock (replacing a row a gone holder left behind)."""
        ph = self.dialect.placeholder
        await conn.execute(f"DELETE FROM {self.q(LOCKS_TABLE)} WHERE {self.q('scope')} = {ph(1)}", [lock.scope])
        values = [lock.scope, lock.lock_id, lock.holder, lock.host, lock.pid, lock.operation_description,
                  json.dumps(dict(lock.metadata), default=str), _iso(lock.acquired_at),
                  _iso(lock.expires_at) if lock.expires_at else None, lock_key]
        cols = ", ".join(self.q(c) for c in _COLUMNS)
        marks = ", ".join(ph(i + 1) for i in range(len(values)))
        await conn.execute(f"INSERT INTO {self.q(LOCKS_TABLE)} ({cols}) VALUES ({marks})", values)

    async def _delete_row(self, conn: Any, lock: MigrationLock) -> None:
        await conn.execute(f"DELETE FROM {self.q(LOCKS_TABLE)} WHERE {self.q('lock_id')} = "
                           f"{self.dialect.placeholder(1)}", [lock.lock_id])

    def _lock_of(self, row: Mapping[str, Any]) -> MigrationLock:
        try:
            metadata = json.loads(row["metadata"] or "{}")
        except ValueError:
            metadata = {}
        acquired = _parse(row["acquired_at"]) or dt.datetime.now(_UTC)
        return MigrationLock(row["lock_id"], row["scope"], row["holder"], acquired, row["operation_description"] or "",
                             metadata, _parse(row["expires_at"]), row["host"], int(row["pid"]))

    def _stale(self, row: Mapping[str, Any]) -> bool:
        """A SQLite lease that expired, or whose holder on this host is gone."""
        expires = _parse(row["expires_at"])
        if expires is not None and expires <= dt.datetime.now(_UTC):
            return True
        return row["host"] == self.host and int(row["pid"]) != os.getpid() and not pid_alive(int(row["pid"]))

    def _translate(self, exc: BaseException) -> DataFlowError:
        error = self.dialect.translate_error(exc)
        enhance = getattr(self.db, "enhance", None)
        return enhance(error) if enhance else error

    # ---- PostgreSQL ------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _hold_postgresql(self, lock: MigrationLock, timeout: float) -> AsyncIterator[MigrationLock]:
        key = self._lock_key(lock.scope)
        ph = self.dialect.placeholder
        deadline = time.monotonic() + timeout
        async with self.dialect.connection() as conn:  # the session that owns the advisory lock
            try:
                while not (await conn.fetch(f"SELECT pg_try_advisory_lock({ph(1)})", [key]))[0][0]:
                    if time.monotonic() >= deadline:
                        raise self._timeout_error(lock, timeout, await self._holder_of(conn, lock.scope))
                    await asyncio.sleep(self.poll_interval)
            except DataFlowError:
                raise
            except Exception as exc:
                raise self._translate(exc) from exc
            try:
                await self._ensure_table(conn)
                await self._write_row(conn, lock, str(key))
                yield lock
            finally:
                with contextlib.suppress(Exception):
                    await self._delete_row(conn, lock)
                await conn.fetch(f"SELECT pg_advisory_unlock({ph(1)})", [key])

    async def _holder_of(self, conn: Any, scope: str) -> str | None:
        with contextlib.suppress(Exception):
            if await self.dialect.table_columns(conn, LOCKS_TABLE) is not None:
                sql = (f"SELECT {self.q('holder')}, {self.q('operation_description')} FROM {self.q(LOCKS_TABLE)} "
                       f"WHERE {self.q('scope')} = {self.dialect.placeholder(1)}")
                rows = await conn.fetch(sql, [scope])
                if rows:
                    return f"{rows[0][0]}" + (f": {rows[0][1]}" if rows[0][1] else "")
        return None

    # ---- MySQL / MariaDB -----------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _hold_mysql(self, lock: MigrationLock, timeout: float) -> AsyncIterator[MigrationLock]:
        name = self._lock_name(lock.scope)
        ph = self.dialect.placeholder
        async with self.dialect.connection() as conn:  # GET_LOCK belongs to this session
            try:
                got = (await conn.fetch(f"SELECT GET_LOCK({ph(1)}, {ph(2)})", [name, max(0.0, timeout)]))[0][0]
            except Exception as exc:
                raise self._translate(exc) from exc
            if got != 1:
                raise self._timeout_error(lock, timeout, await self._holder_of(conn, lock.scope))
            try:
                await self._ensure_table(conn)
                await self._write_row(conn, lock, name)
                yield lock
            finally:
                with contextlib.suppress(Exception):
                    await self._delete_row(conn, lock)
                await conn.fetch(f"SELECT RELEASE_LOCK({ph(1)})", [name])

    # ---- SQLite --------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _hold_sqlite(self, lock: MigrationLock, timeout: float) -> AsyncIterator[MigrationLock]:
        deadline = time.monotonic() + timeout
        lock = attrs.evolve(lock, expires_at=dt.datetime.now(_UTC) + dt.timedelta(seconds=self.lease))
        while True:
            holder = await self._try_sqlite(lock)
            if holder is None:
                break
            if time.monotonic() >= deadline:
                raise self._timeout_error(lock, timeout, holder)
            await asyncio.sleep(self.poll_interval)
        heartbeat = asyncio.ensure_future(self._heartbeat(lock))
        try:
            yield lock
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            async with self.dialect.transaction() as conn:
                await self._delete_row(conn, lock)

    async def _try_sqlite(self, lock: MigrationLock) -> str | None:
        """Take the lock row if it is free or stale; otherwise return who holds it."""
        try:
            async with self.dialect.transaction() as conn:  # BEGIN IMMEDIATE: one writer decides at a time
                await self._ensure_table(conn)
                cols = ", ".join(self.q(c) for c in _COLUMNS)
                rows = await conn.fetch(f"SELECT {cols} FROM {self.q(LOCKS_TABLE)} WHERE {self.q('scope')} = ?",
                                        [lock.scope])
                if rows:
                    row = dict(zip(_COLUMNS, rows[0], strict=True))
                    if not self._stale(row):
                        return f"{row['holder']}" + (f": {row['operation_description']}"
                                                     if row["operation_description"] else "")
                fresh = attrs.evolve(lock, expires_at=dt.datetime.now(_UTC) + dt.timedelta(seconds=self.lease))
                await self._write_row(conn, fresh, "")
                return None
        except DataFlowError:
            raise
        except Exception as exc:
            translated = self._translate(exc)
            if translated.code == "DF-508":  # busy: another process is deciding; try again
                return "another process (database busy)"
            raise translated from exc

    async def _heartbeat(self, lock: MigrationLock) -> None:
        """Renew the lease while the lock is held, so a long migration never looks abandoned."""
        while True:
            await asyncio.sleep(self.lease / 3)
            expires = _iso(dt.datetime.now(_UTC) + dt.timedelta(seconds=self.lease))
            with contextlib.suppress(Exception):
                async with self.dialect.transaction() as conn:
                    await conn.execute(f"UPDATE {self.q(LOCKS_TABLE)} SET {self.q('expires_at')} = ? "
                                       f"WHERE {self.q('lock_id')} = ?", [expires, lock.lock_id])


def _pg_parts(key: int) -> tuple[int, int]:
    """How pg_locks shows a bigint advisory key: (classid, objid) = high and low 32 bits, unsigned."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF
