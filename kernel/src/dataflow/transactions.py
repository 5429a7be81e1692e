"""Transactions: ``db.transaction()``, part of the kernel's contract that every dialect implements.

A dialect implements six primitives on a connection (``SQLDialect.begin_transaction`` with an
isolation level, ``commit_transaction``, ``rollback_transaction``, ``create_savepoint``,
``release_savepoint``, ``rollback_to_savepoint``; the kernel's defaults are standard SQL) and says
where a transaction's connection comes from (``transaction_connection``). Everything else lives here:

- A ``Transaction`` is one BEGIN … COMMIT / ROLLBACK on one connection, on the event loop it began on.
- A ``Scope`` is one level of it: the transaction itself, or a savepoint inside it (a nested block).
- The scope code runs in is kept in a context variable, per dialect: the asyncio task (or thread)
  that opened it, and the tasks it starts (they copy its context), run in it; other tasks and threads
  do not. ``dialect.run(query)`` and ``db.connection()`` use the current scope's connection.
- Statements of one scope take turns on the connection (a lock per scope). A nested scope holds its
  parent's turn for as long as it is open, so a concurrent statement of the parent waits instead of
  landing inside the savepoint, and rolling the savepoint back never undoes another node's write.
- A statement that fails poisons its scope: later statements in it are DF-509 until the scope is
  rolled back (PostgreSQL works this way; every database here does the same). To go on after a
  statement that may fail, run it in a nested block: the savepoint takes the failure.
- A deadline (``timeout``) is checked before every statement and at commit: DF-805 past it.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError

if TYPE_CHECKING:
    from dataflow.dialect import SQLDialect

__all__ = [
    "ISOLATION_LEVELS",
    "Scope",
    "Transaction",
    "TransactionBlock",
    "activate",
    "current_scope",
    "deactivate",
    "isolation_level",
    "savepoint_name",
]

ISOLATION_LEVELS = ("READ_COMMITTED", "REPEATABLE_READ", "SERIALIZABLE")
_SAVEPOINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
_numbers = itertools.count(1)

_ACTIVE: contextvars.ContextVar[Mapping[Any, Scope]] = contextvars.ContextVar(
    "dataflow_transactions", default=MappingProxyType({}))
"""The scope each dialect's code runs in, for the current context (never mutated: replaced)."""


def current_scope(dialect: SQLDialect) -> Scope | None:
    """The transaction scope ``dialect``'s statements run in here, or None (autocommit)."""
    return _ACTIVE.get().get(dialect)


def activate(scopes: Mapping[Any, Scope | None]) -> contextvars.Token[Mapping[Any, Scope]]:
    """Make ``scopes`` (dialect → scope; None leaves the dialect's transaction) current; returns the
    token that ``deactivate`` takes to restore the previous ones (in the same context)."""
    merged = {**_ACTIVE.get(), **scopes}
    return _ACTIVE.set(MappingProxyType({k: v for k, v in merged.items() if v is not None}))


def deactivate(token: contextvars.Token[Mapping[Any, Scope]]) -> None:
    _ACTIVE.reset(token)


def isolation_level(value: Any) -> str | None:
    """``value`` as one of ``ISOLATION_LEVELS`` (spaces, dashes and case forgiven); DF-102 otherwise."""
    if value is None:
        return None
    normal = str(value).strip().upper().replace(" ", "_").replace("-", "_") if isinstance(value, str) else ""
    if normal not in ISOLATION_LEVELS:
        raise DataFlowError(
            "DF-102",
            f"isolation_level must be one of {', '.join(ISOLATION_LEVELS)}, got {value!r}.",
            context={"parameter": "isolation_level"},
            solutions=['db.transaction(isolation_level="SERIALIZABLE")'],
        )
    return normal


def savepoint_name(value: Any) -> str:
    """A savepoint name a user gave: letters, digits and ``_``, at most 63; DF-102 otherwise."""
    if not isinstance(value, str) or not _SAVEPOINT.match(value):
        raise DataFlowError("DF-102", f"A savepoint name is a word of letters, digits and '_', got {value!r}.",
                            context={"parameter": "savepoint", "value": value})
    return value


def _unusable(message: str, tx: Transaction, **context: Any) -> DataFlowError:
    return DataFlowError("DF-509", message, context={"transaction": tx.label, **context},
                         solutions=["Open a new transaction: `with db.transaction():` or `async with …`.",
                                    "Run work that may fail inside a nested block (a savepoint) to go on after it."])


class Transaction:
    """One transaction: its connection, its loop, its state, and what to do when it commits."""

    def __init__(self, dialect: SQLDialect, conn: Any, release: AbstractAsyncContextManager[Any],
                 level: str | None, timeout: float | None) -> None:
        self.dialect = dialect
        self.conn = conn
        self.loop = asyncio.get_running_loop()
        self.isolation_level = dialect.fixed_isolation_level or level
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout if timeout else None
        self.label = f"tx-{next(_numbers)}"
        self.state = "active"
        self.savepoints: list[str] = []
        """Savepoints made by name (``TransactionSavepointNode``), oldest first."""
        self._release = release
        self._on_commit: list[Callable[[], None]] = []
        self._counter = itertools.count(1)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has committed (never if it rolls back)."""
        self._on_commit.append(callback)

    def next_savepoint(self) -> str:
        return f"df_sp_{next(self._counter)}"

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DataFlowError(
                "DF-805",
                f"The transaction ran longer than its timeout ({self.timeout:g} s); it is rolled back.",
                context={"transaction": self.label, "timeout": self.timeout},
                solutions=["Give it a longer timeout, or do less inside it."],
            )

    async def step(self, action: Any, *, committing: bool = False) -> Any:
        """Run one primitive; a driver error comes out DF-coded. A session lost under it is DF-511
        (the server rolled the transaction back), or DF-510 under the COMMIT (it may have landed)."""
        try:
            return await action
        except DataFlowError:
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            dialect = self.dialect
            if dialect.lost_connection(exc):
                raise dialect.lost_error(exc, writing=committing, in_transaction=True,
                                         committing=committing) from exc
            raise dialect.translate_error(exc) from exc

    async def finish(self, commit: bool) -> None:
        """COMMIT or ROLLBACK, then give the connection back (discarded if it is left mid-transaction)."""
        if self.state != "active":
            return
        self.state = "ending"
        problem: BaseException | None = None
        try:
            if commit:
                await self.step(self.dialect.commit_transaction(self.conn), committing=True)
            else:
                await self.step(self.dialect.rollback_transaction(self.conn))
        except BaseException as exc:
            problem = exc
            raise
        finally:
            self.state = "committed" if commit and problem is None else "rolled back"
            await self._release.__aexit__(type(problem) if problem else None, problem, None)
        if commit:
            for callback in self._on_commit:
                callback()


class Scope:
    """One level of a transaction: the transaction itself (``savepoint`` None) or a savepoint in it."""

    __slots__ = ("failure", "holder", "lock", "parent", "savepoint", "tx")

    def __init__(self, tx: Transaction, parent: Scope | None = None, savepoint: str | None = None) -> None:
        self.tx = tx
        self.parent = parent
        self.savepoint = savepoint
        self.lock = asyncio.Lock()
        self.holder: asyncio.Task[Any] | None = None
        self.failure: BaseException | None = None

    async def take_turn(self) -> None:
        """Wait for this scope's turn on the connection (DF-509 if this very task holds it already)."""
        task = asyncio.current_task()
        if self.lock.locked() and self.holder is task:
            raise _unusable("This task already holds the transaction's connection (inside `db.connection()`); "
                            "it would wait for itself.", self.tx)
        await self.lock.acquire()
        self.holder = task

    def end_turn(self) -> None:
        self.holder = None
        self.lock.release()

    @property
    def conn(self) -> Any:
        return self.tx.conn

    def check_usable(self) -> None:
        """DF-509 when this scope cannot run a statement here and now (DF-805 past the deadline)."""
        tx = self.tx
        if tx.state != "active":
            raise _unusable(f"The transaction has already ended ({tx.state}).", tx)
        if asyncio.get_running_loop() is not tx.loop:
            raise _unusable("The transaction belongs to another event loop (a transaction opened on one "
                            "loop cannot be used from another).", tx)
        scope: Scope | None = self
        while scope is not None:
            if scope.failure is not None:
                raise _unusable(f"The transaction was aborted by an earlier error ({_short(scope.failure)}); "
                                "it can only be rolled back.", tx)
            scope = scope.parent
        tx.check_time()

    async def run(self, query: Any) -> Any:
        """Run a query description on the transaction's connection, taking this scope's turn."""
        self.check_usable()
        await self.take_turn()
        try:
            self.check_usable()
            return await self.tx.dialect.run(query, self.tx.conn)
        except DataFlowError as exc:
            if exc.code != "DF-509":
                self.failure = exc
            raise
        except BaseException as exc:
            self.failure = exc
            raise
        finally:
            self.end_turn()

    @asynccontextmanager
    async def borrow(self) -> AsyncIterator[Any]:
        """The connection, for raw statements, while this scope's turn is held (``db.connection()``)."""
        self.check_usable()
        await self.take_turn()
        try:
            yield self.tx.conn
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.failure = exc
            raise
        finally:
            self.end_turn()

    async def create_savepoint(self, name: str) -> None:
        """A savepoint named ``name`` in this scope, kept until the transaction ends (the savepoint
        nodes); ``rollback_to`` returns to it."""
        await self.take_turn()
        try:
            self.check_usable()
            await self.tx.step(self.tx.dialect.create_savepoint(self.tx.conn, name))
            self.tx.savepoints.append(name)
        finally:
            self.end_turn()

    async def rollback_to(self, name: str) -> None:
        """Undo everything since the savepoint ``name`` (which stays, as in SQL); a statement failed
        since then no longer aborts the transaction. DF-803 for a name that was never made."""
        tx = self.tx
        if name not in tx.savepoints:
            made = ", ".join(tx.savepoints) or "none"
            raise DataFlowError("DF-803", f"No savepoint named {name!r} was made in this transaction (made: {made}).",
                                context={"savepoint": name, "transaction": tx.label},
                                solutions=['Add a TransactionSavepointNode {"name": ...} before rolling back to it.'])
        if tx.state != "active":
            raise _unusable(f"The transaction has already ended ({tx.state}).", tx)
        await self.take_turn()
        try:
            await tx.step(tx.dialect.rollback_to_savepoint(tx.conn, name))
            del tx.savepoints[tx.savepoints.index(name) + 1:]
            self.failure = None
        finally:
            self.end_turn()

    async def nested(self) -> Scope:
        """A savepoint inside this scope; it holds this scope's turn until it is closed."""
        self.check_usable()
        await self.take_turn()
        try:
            self.check_usable()
            name = self.tx.next_savepoint()
            await self.tx.step(self.tx.dialect.create_savepoint(self.tx.conn, name))
        except BaseException:
            self.end_turn()
            raise
        return Scope(self.tx, self, name)

    async def close(self, error: BaseException | None) -> None:
        """End this scope: commit / release when ``error`` is None and nothing failed, else roll back.

        A scope left normally after a statement failed inside it is rolled back too, and DF-509 says so.
        """
        tx = self.tx
        failed = self.failure
        if error is None and failed is None and tx.state == "active":
            try:
                tx.check_time()
            except DataFlowError as late:
                failed = late
        keep = error is None and failed is None
        took = False
        interrupted: BaseException | None = None
        if keep and not (self.lock.locked() and self.holder is asyncio.current_task()):
            try:  # statements of this scope still running in other tasks finish first
                await self.take_turn()
                took = True
            except BaseException as exc:  # cancelled while waiting: roll back, then let it through
                interrupted = error = exc
                keep = False
        try:
            if self.savepoint is None:
                await tx.finish(commit=keep)
            elif tx.state == "active":
                if not keep:
                    await tx.step(tx.dialect.rollback_to_savepoint(tx.conn, self.savepoint))
                await tx.step(tx.dialect.release_savepoint(tx.conn, self.savepoint))
        except BaseException as exc:
            if self.parent is not None:
                self.parent.failure = exc  # the savepoint could not be undone: the transaction is lost
            if error is None:
                raise
        finally:
            if took:
                self.end_turn()
            if self.parent is not None:
                self.parent.end_turn()
        if interrupted is not None:
            raise interrupted
        if error is None and failed is not None:
            if isinstance(failed, DataFlowError) and failed.code == "DF-805":
                raise failed
            where = " to its savepoint" if self.savepoint else ""
            raise _unusable(f"The transaction was rolled back{where} because a statement inside it failed "
                            f"({_short(failed)}).", tx) from failed


def _short(error: BaseException) -> str:
    if isinstance(error, DataFlowError):
        return f"{error.code}: {error.message}"
    return f"{type(error).__name__}: {error}"


class _Held:
    """A connection the caller holds (``transaction(connection=...)``): nothing to acquire or give back."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def __aenter__(self) -> Any:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


class TransactionBlock:
    """``with db.transaction():`` / ``async with db.transaction():`` — a transaction, or a savepoint
    when one is already open here. Gives the transaction's connection (``as conn``).

    The synchronous form opens and ends the transaction on DataFlow's background loop, where
    ``LocalRuntime.execute()`` runs nodes; the scope is set in the caller's context, which
    ``execute()`` carries over, so the nodes it runs from this thread join the transaction.
    """

    def __init__(self, dialect: SQLDialect, level: Any = None, timeout: float | None = None,
                 connection: Any = None) -> None:
        self.dialect = dialect
        self.connection = connection
        self.level = isolation_level(level)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                    or timeout <= 0):
            raise DataFlowError("DF-102", f"A transaction's timeout is a number of seconds > 0, got {timeout!r}.",
                                context={"parameter": "timeout"})
        self.timeout = timeout
        self.scope: Scope | None = None
        self._token: contextvars.Token[Mapping[Any, Scope]] | None = None

    async def open(self) -> Scope:
        """The scope this block is: a new transaction, or a savepoint of the one open here."""
        dialect = self.dialect
        parent = current_scope(dialect) if self.connection is None else None
        if parent is not None:
            if self.level is not None and self.level != parent.tx.isolation_level \
                    and dialect.fixed_isolation_level is None:
                current = parent.tx.isolation_level or "the database's default"
                raise DataFlowError(
                    "DF-102",
                    f"A nested transaction cannot change the isolation level ({current} → {self.level}): "
                    "it is a savepoint of the open one.",
                    context={"parameter": "isolation_level"},
                )
            return await parent.nested()
        release = dialect.transaction_connection() if self.connection is None else _Held(self.connection)
        conn = await release.__aenter__()
        try:
            tx = Transaction(dialect, conn, release, self.level, self.timeout)
            await tx.step(dialect.begin_transaction(conn, self.level))
        except BaseException as exc:
            await release.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return Scope(tx)

    async def __aenter__(self) -> Any:
        self.scope = await self.open()
        self._token = activate({self.dialect: self.scope})
        return self.scope.conn

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self.scope is not None and self._token is not None
        deactivate(self._token)
        await self.scope.close(exc)

    def __enter__(self) -> Any:
        from dataflow.loop import run_sync

        self.scope = run_sync(self.open())
        self._token = activate({self.dialect: self.scope})
        return self.scope.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        from dataflow.loop import run_sync

        assert self.scope is not None and self._token is not None
        deactivate(self._token)
        run_sync(self.scope.close(exc))
