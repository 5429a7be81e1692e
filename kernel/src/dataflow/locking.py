"""The default migration lock primitive: a lease row in a table, for databases without session locks.

Any SQL database with a primary key can arbitrate a lock: the holder inserts the row named after
the lock, and a second insert of that name fails. The row carries a lease (``expires_at``) that a
heartbeat renews while the lock is held; an expired lease, or a holder on this host whose process is
gone, is taken over (deleted by its lock id, then inserted again). So a killed holder never keeps
the lock longer than one lease.

Dialects with a lock the server releases when the session ends (PostgreSQL advisory locks, MySQL
``GET_LOCK``) override ``SQLDialect.migration_lock`` with it; a dialect for a database where those
are missing or unreliable (a "portable" PostgreSQL mode on CockroachDB) keeps this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError

if TYPE_CHECKING:
    from dataflow.dialect import SQLDialect

__all__ = ["LEASE_TABLE", "LeaseLock", "lock_timeout_error", "pid_alive"]

LEASE_TABLE = "dataflow_lock_leases"
DEFAULT_LEASE_SECONDS = 30.0
_UTC = dt.UTC


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


def lock_timeout_error(name: str, timeout: float) -> DataFlowError:
    """DF-307: the lock ``name`` stayed held by someone else for ``timeout`` seconds."""
    return DataFlowError(
        "DF-307",
        f"The lock {name!r} could not be acquired within {timeout:g} s.",
        context={"lock": name, "timeout_seconds": timeout},
        solutions=["Wait for the other migration to finish, then retry.",
                   "Raise the timeout (the migration_lock_timeout option)."],
    )


def _iso(value: dt.datetime) -> str:
    return value.astimezone(_UTC).isoformat(timespec="microseconds")


class LeaseLock:
    """Lease rows of one dialect's database (see the module docstring).

    :param dialect: the dialect whose connections hold the rows.
    :param lease_seconds: how long a lease lasts unless renewed (renewed every third of it).
    :param poll_interval: seconds between attempts while the lock is held by another.
    """

    def __init__(self, dialect: SQLDialect, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 poll_interval: float = 0.05) -> None:
        self.dialect = dialect
        self.lease = lease_seconds
        self.poll_interval = poll_interval
        self.host = socket.gethostname()
        self._table_ready = False

    # ---- the table -------------------------------------------------------------------------------
    def _create_sql(self) -> str:
        q = self.dialect.quote
        # 191 characters of utf8mb4 still fit MySQL's oldest index-length limit.
        columns = [f"{q('name')} VARCHAR(191) PRIMARY KEY", f"{q('lock_id')} VARCHAR(64) NOT NULL",
                   f"{q('host')} VARCHAR(255) NOT NULL", f"{q('pid')} INTEGER NOT NULL",
                   f"{q('expires_at')} VARCHAR(40) NOT NULL"]
        return f"CREATE TABLE IF NOT EXISTS {q(LEASE_TABLE)} ({', '.join(columns)}){self.dialect.table_suffix()}"

    async def _ensure_table(self) -> None:
        # Not remembered where schema work joins an open transaction (SQLite): a rollback of that
        # transaction takes the table away again.
        if self._table_ready and not self.dialect.schema_in_transaction:
            return
        async with self.dialect.connection() as conn:
            if await self.dialect.table_columns(conn, LEASE_TABLE) is None:
                try:
                    await conn.execute(self._create_sql(), [])
                except Exception:
                    # Another process created it at the same moment; only a still-missing table is an error.
                    if await self.dialect.table_columns(conn, LEASE_TABLE) is None:
                        raise
        self._table_ready = True

    async def _row(self, name: str, conn: Any = None) -> dict[str, Any] | None:
        q, ph = self.dialect.quote, self.dialect.placeholder
        sql = (f"SELECT {q('lock_id')}, {q('host')}, {q('pid')}, {q('expires_at')} FROM {q(LEASE_TABLE)} "
               f"WHERE {q('name')} = {ph(1)}")
        if conn is not None:
            rows = await conn.fetch(sql, [name])
        else:
            async with self.dialect.connection() as fresh:
                rows = await fresh.fetch(sql, [name])
        if not rows:
            return None
        lock_id, host, pid, expires = rows[0]
        expires_at = dt.datetime.fromisoformat(str(expires))
        return {"lock_id": lock_id, "host": host, "pid": int(pid), "expires_at": expires_at}

    def _stale(self, row: dict[str, Any]) -> bool:
        """The lease expired, or its holder ran on this host and is gone."""
        if row["expires_at"] <= dt.datetime.now(_UTC):
            return True
        return row["host"] == self.host and row["pid"] != os.getpid() and not pid_alive(row["pid"])

    # ---- taking, renewing and releasing ----------------------------------------------------------
    async def _try_take(self, name: str, lock_id: str, lease: float) -> bool:
        q, ph = self.dialect.quote, self.dialect.placeholder
        expires = _iso(dt.datetime.now(_UTC) + dt.timedelta(seconds=lease))
        try:
            async with self.dialect.transaction() as conn:
                await conn.execute(
                    f"INSERT INTO {q(LEASE_TABLE)} ({q('name')}, {q('lock_id')}, {q('host')}, {q('pid')}, "
                    f"{q('expires_at')}) VALUES ({', '.join(ph(i) for i in range(1, 6))})",
                    [name, lock_id, self.host, os.getpid(), expires])
            return True
        except DataFlowError as exc:
            if exc.code not in ("DF-704", "DF-508"):  # taken by another, or the database is busy deciding
                raise
        except Exception as exc:
            translated = self.dialect.translate_error(exc)
            if translated.code not in ("DF-704", "DF-508"):
                raise translated from exc
        row = await self._row(name)
        if row is not None and self._stale(row):
            async with self.dialect.transaction() as conn:
                # By lock id: if someone else took it over first, this deletes nothing.
                await conn.execute(f"DELETE FROM {q(LEASE_TABLE)} WHERE {q('name')} = {ph(1)} AND "
                                   f"{q('lock_id')} = {ph(2)}", [name, row["lock_id"]])
        return False

    async def _heartbeat(self, lock_id: str, lease: float) -> None:
        """Renew the lease while the lock is held, so a long migration never looks abandoned."""
        q, ph = self.dialect.quote, self.dialect.placeholder
        while True:
            await asyncio.sleep(lease / 3)
            expires = _iso(dt.datetime.now(_UTC) + dt.timedelta(seconds=lease))
            with contextlib.suppress(Exception):  # a missed renewal is retried; the lease has slack
                async with self.dialect.connection() as conn:
                    await conn.execute(f"UPDATE {q(LEASE_TABLE)} SET {q('expires_at')} = {ph(1)} "
                                       f"WHERE {q('lock_id')} = {ph(2)}", [expires, lock_id])

    @contextlib.asynccontextmanager
    async def hold(self, name: str, timeout: float, lease: float | None = None) -> AsyncIterator[None]:
        """Hold the lock ``name`` for the block; DF-307 when it stays taken for ``timeout`` seconds.

        ``lease``: seconds the lease lasts unless renewed (the instance's default when None).
        """
        await self._ensure_table()
        lease = lease or self.lease
        lock_id = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        while not await self._try_take(name, lock_id, lease):
            if time.monotonic() >= deadline:
                raise lock_timeout_error(name, timeout)
            await asyncio.sleep(self.poll_interval)
        heartbeat = asyncio.ensure_future(self._heartbeat(lock_id, lease))
        try:
            yield
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            q, ph = self.dialect.quote, self.dialect.placeholder
            async with self.dialect.connection() as conn:
                await conn.execute(f"DELETE FROM {q(LEASE_TABLE)} WHERE {q('lock_id')} = {ph(1)}", [lock_id])

    async def is_held(self, name: str) -> bool:
        """Someone holds ``name`` right now (a stale lease does not count)."""
        await self._ensure_table()
        row = await self._row(name)
        return row is not None and not self._stale(row)

    async def is_held_on(self, conn: Any, name: str) -> bool:
        """``is_held``, read on ``conn`` (inside its transaction) and writing nothing: no table, no lease."""
        if await self.dialect.table_columns(conn, LEASE_TABLE) is None:
            return False
        row = await self._row(name, conn)
        return row is not None and not self._stale(row)
