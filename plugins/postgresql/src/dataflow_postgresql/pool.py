"""A lean pool of asyncpg connections for one event loop.

Why not ``asyncpg.Pool``: its ``release`` runs through ``asyncio.shield`` (a new task) and its
``acquire`` arms a timer even when a connection is idle, which costs several event-loop turns per
operation — more than the query itself for a read by id. Here taking an idle connection and giving
it back are plain synchronous list operations; only a caller that must wait (or connect) awaits.

Rules:
- LIFO: the most recently used connection is reused first (its statement cache is warm).
- At most ``max_size`` connections, opened lazily; a caller that finds none free waits up to the
  caller's timeout (``PoolTimeout``: the dialect turns it into DF-507).
- A connection returned broken or still inside a transaction is terminated, never reused; the freed
  slot goes to the next waiter, who then opens a connection of its own.
- An idle connection whose server ended the session (its socket has something to read: the goodbye
  the loop has not processed yet) is terminated at ``acquire`` instead of being handed out.
- ``terminate`` works even when the pool's event loop is already closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from dataflow.dialect import idle_socket_readable

__all__ = ["ConnectionPool", "PoolTimeout"]


class PoolTimeout(TimeoutError):
    """Every connection stayed in use for the whole wait (as opposed to a connect that timed out)."""


class ConnectionPool:
    """Connections of one event loop; ``acquire`` / ``release`` (see the module docstring)."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], max_size: int) -> None:
        self._connect = connect
        self.max_size = max_size
        self._idle: list[asyncpg.Connection] = []
        self._all: set[asyncpg.Connection] = set()
        self._opening = 0
        # Each waiter's future gets a connection, or None: "a slot is free, open one yourself".
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self.closed = False

    @property
    def size(self) -> int:
        """Open connections plus those being opened."""
        return len(self._all) + self._opening

    async def acquire(self, timeout: float | None) -> asyncpg.Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.is_closed():
                self._all.discard(conn)
            elif idle_socket_readable(getattr(conn, "_transport", None)):
                # The server ended this session while it sat idle and the loop has not seen it yet.
                self._all.discard(conn)
                _terminate_connection(conn)
            else:
                return conn
        if self.size < self.max_size:
            return await self._open()
        future: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            async with asyncio.timeout(timeout):
                conn = await future
        except BaseException as exc:
            if future.done() and not future.cancelled():
                given = future.result()  # given to us just as we gave up: pass it on
                if given is None:
                    self._opening -= 1  # the slot reserved for us
                self._hand_on(given)
            else:
                future.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(future)
            if isinstance(exc, TimeoutError):
                raise PoolTimeout(f"no connection came free within {timeout} s") from None
            raise
        return conn if conn is not None else await self._open(reserved=True)

    async def _open(self, *, reserved: bool = False) -> asyncpg.Connection:
        if not reserved:
            self._opening += 1
        try:
            conn = await self._connect()
        except BaseException:
            self._opening -= 1
            self._hand_on(None)
            raise
        self._opening -= 1
        if self.closed:
            conn.terminate()
            raise asyncpg.InterfaceError("the pool was closed while a connection was being opened")
        self._all.add(conn)
        return conn

    def release(self, conn: asyncpg.Connection) -> None:
        """Give ``conn`` back (synchronous: no event-loop turn)."""
        if self.closed or conn.is_closed() or conn.is_in_transaction():
            # A transaction left open means its owner failed mid-way; the session is not clean.
            self.discard(conn)
        else:
            self._hand_on(conn)

    def discard(self, conn: asyncpg.Connection) -> None:
        """Terminate ``conn`` instead of reusing it: its user was cancelled mid-operation (a query, a
        COPY, a transaction's rollback), so the next user would first wait for the server to finish
        that; a fresh connection is cheaper than guessing the session's state."""
        self._all.discard(conn)
        _terminate_connection(conn)
        self._hand_on(None)

    def _hand_on(self, conn: asyncpg.Connection | None) -> None:
        """To the first live waiter; else a connection goes idle (None: nobody needs the free slot)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                if conn is None:
                    self._opening += 1  # reserve the slot, so no newcomer takes it first
                waiter.set_result(conn)
                return
        if conn is not None:
            if self.closed:
                self._all.discard(conn)
                _terminate_connection(conn)
            else:
                self._idle.append(conn)

    async def close(self, timeout: float) -> None:
        """Close idle connections politely, terminate those still in use, fail the waiters."""
        self.closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._all.discard(conn)
            try:
                await conn.close(timeout=timeout)
            except Exception:
                _terminate_connection(conn)
        self.terminate()

    def terminate(self) -> None:
        """Drop every connection at once, from any thread state (the loop may be closed)."""
        self.closed = True
        for conn in list(self._all):
            _terminate_connection(conn)
        self._all.clear()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                with contextlib.suppress(RuntimeError):  # its loop may be closed
                    waiter.set_exception(asyncpg.InterfaceError("the connection pool was closed"))


def _terminate_connection(conn: Any) -> None:
    try:
        conn.terminate()
    except RuntimeError:
        # The event loop is closed, so asyncio cannot close the transport. Shut the socket down so
        # the server ends the session now rather than whenever the objects are garbage-collected.
        transport = getattr(conn, "_transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
