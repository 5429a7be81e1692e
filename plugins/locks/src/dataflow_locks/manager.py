"""The migration lock manager: one holder per scope, across processes and hosts, on the dialect's own primitive.

The lock itself is the dialect's (``SQLDialect.migration_lock``: a PostgreSQL advisory lock, MySQL's
``GET_LOCK``, or the kernel's lease row where the database has no session lock), so this plugin works
the same on any dialect that implements the contract. What it adds:

- bookkeeping: while a lock is held, a row of ``dataflow_migration_locks`` says who holds it, for what
  and since when; ``get_active_locks()`` lists the rows whose lock the dialect reports as held (a row
  left behind by a killed holder is not listed, and is replaced by the next holder);
- a DF-307 that names the holder when the lock cannot be had in time;
- re-entrance: a lock already held by the current task (and instance) is re-entered rather than
  waited for, so an explicit lock around ``db.migrate_apply()`` does not deadlock.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
from dataflow.errors import DataFlowError
from dataflow.locking import pid_alive

__all__ = ["LOCKS_TABLE", "MigrationLock", "MigrationLockManager", "lock_name", "pid_alive"]

log = logging.getLogger("dataflow.locks")

LOCKS_TABLE = "dataflow_migration_locks"
DEFAULT_TIMEOUT = 60.0
DEFAULT_LEASE = 30.0
_COLUMNS = ("scope", "lock_id", "holder", "host", "pid", "operation_description", "metadata", "acquired_at",
            "expires_at", "lock_key")
_UTC = dt.UTC

_held: contextvars.ContextVar[Mapping[tuple[str, str], MigrationLock]] = contextvars.ContextVar(
    "dataflow_migration_locks_held", default={}  # noqa: B039 - never mutated, always replaced
)


def lock_name(scope: str) -> str:
    """The dialect lock name of a migration scope (the migrate plugin uses the same one without this plugin)."""
    return f"migration:{scope}"


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


def _iso(value: dt.datetime) -> str:
    return value.astimezone(_UTC).isoformat(timespec="microseconds")


def _parse(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_UTC)
    return dt.datetime.fromisoformat(str(value))


class MigrationLockManager:
    """Acquire, hold and list migration locks for one DataFlow instance.

    :param db: the DataFlow instance (anything with ``dialect`` and ``options``).
    :param lease_seconds: for dialects whose lock is a lease: its length (renewed while held).
    """

    def __init__(self, db: Any, *, lease_seconds: float | None = None) -> None:
        self.db = db
        self.dialect = db.dialect
        options = getattr(db, "options", {}) or {}
        self.lease = float(lease_seconds or options.get("migration_lock_lease") or DEFAULT_LEASE)
        self.default_timeout = float(options.get("migration_lock_timeout") or DEFAULT_TIMEOUT)
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
        try:
            async with self.dialect.migration_lock(lock_name(lock_scope), timeout, lease=self.lease):
                await self._write_row(lock)
                token = _held.set({**held, key: lock})
                try:
                    yield lock
                finally:
                    _held.reset(token)
                    with contextlib.suppress(Exception):  # the lock is released either way
                        await self._delete_row(lock)
        except DataFlowError as exc:
            if exc.code != "DF-307" or exc.context.get("lock") != lock_name(lock_scope):
                raise
            raise await self._timeout_error(lock, timeout) from exc

    async def get_active_locks(self) -> list[MigrationLock]:
        """Locks held right now (rows of holders that are gone are not listed)."""
        async with self.dialect.connection() as conn:
            if await self.dialect.table_columns(conn, LOCKS_TABLE) is None:
                return []
            cols = ", ".join(self.q(c) for c in _COLUMNS)
            rows = [dict(zip(_COLUMNS, r, strict=True))
                    for r in await conn.fetch(f"SELECT {cols} FROM {self.q(LOCKS_TABLE)}", [])]
        return [self._lock_of(r) for r in rows if await self.dialect.lock_is_held(lock_name(r["scope"]))]

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _database_id(self) -> str:
        url = self.db.url
        return f"{url.scheme}://{getattr(url, 'host', '') or ''}:{getattr(url, 'port', '') or ''}/{url.database}"

    async def _timeout_error(self, lock: MigrationLock, timeout: float) -> DataFlowError:
        holder = await self._holder_of(lock.scope)
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

    async def _holder_of(self, scope: str) -> str | None:
        with contextlib.suppress(Exception):  # the timeout is what to report, with or without a holder
            async with self.dialect.connection() as conn:
                if await self.dialect.table_columns(conn, LOCKS_TABLE) is not None:
                    sql = (f"SELECT {self.q('holder')}, {self.q('operation_description')} FROM {self.q(LOCKS_TABLE)} "
                           f"WHERE {self.q('scope')} = {self.dialect.placeholder(1)}")
                    rows = await conn.fetch(sql, [scope])
                    if rows:
                        return f"{rows[0][0]}" + (f": {rows[0][1]}" if rows[0][1] else "")
        return None

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

    async def _write_row(self, lock: MigrationLock) -> None:
        """Record the lock (replacing a row a gone holder left behind)."""
        ph = self.dialect.placeholder
        values = [lock.scope, lock.lock_id, lock.holder, lock.host, lock.pid, lock.operation_description,
                  json.dumps(dict(lock.metadata), default=str), _iso(lock.acquired_at), None,
                  lock_name(lock.scope)]
        cols = ", ".join(self.q(c) for c in _COLUMNS)
        marks = ", ".join(ph(i + 1) for i in range(len(values)))
        async with self.dialect.connection() as conn:
            await self._ensure_table(conn)
        try:
            async with self.dialect.transaction() as conn:
                await conn.execute(f"DELETE FROM {self.q(LOCKS_TABLE)} WHERE {self.q('scope')} = {ph(1)}", [lock.scope])
                await conn.execute(f"INSERT INTO {self.q(LOCKS_TABLE)} ({cols}) VALUES ({marks})", values)
        except Exception as exc:
            # The row describes the lock; the dialect's lock is what excludes. A row written at the same
            # moment by a process that does not share this lock (another release) must not fail the holder.
            log.warning("Could not record the migration lock %r: %s", lock.scope, exc)

    async def _delete_row(self, lock: MigrationLock) -> None:
        async with self.dialect.connection() as conn:
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
