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
- An *instance transaction* (``SQLDialect.hold_transaction()``, TDD mode's) is joined by every
  statement of its dialect whatever the context: task, thread or event loop. It begins at its first
  statement, on DataFlow's background loop; code running on any other loop has its statements (and
  savepoints) carried out there. ``end()`` rolls it back (or commits) and the next statement begins a
  new one. A context can still step out of it explicitly (``activate({dialect: None})``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError

if TYPE_CHECKING:
    from dataflow.dialect import SQLDialect

__all__ = [
    "ISOLATION_LEVELS",
    "InstanceTransaction",
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

_ACTIVE: contextvars.ContextVar[Mapping[Any, Scope | None]] = contextvars.ContextVar(
    "dataflow_transactions", default=MappingProxyType({}))
"""The scope each dialect's code runs in, for the current context (never mutated: replaced); None
means "outside any transaction", even the dialect's instance transaction."""
_UNSET: Any = object()


def current_scope(dialect: SQLDialect) -> Scope | None:
    """The transaction scope ``dialect``'s statements run in here, or None (autocommit): the one
    opened in this context, else the dialect's instance transaction, if it holds one."""
    scope = _ACTIVE.get().get(dialect, _UNSET)
    if scope is _UNSET:
        held = dialect.instance_transaction
        return None if held is None else held.scope
    return scope


def activate(scopes: Mapping[Any, Scope | None]) -> contextvars.Token[Mapping[Any, Scope | None]]:
    """Make ``scopes`` (dialect → scope; None: outside any transaction, the instance transaction
    included) current; returns the token that ``deactivate`` takes to restore the previous ones (in
    the same context)."""
    return _ACTIVE.set(MappingProxyType({**_ACTIVE.get(), **scopes}))


def deactivate(token: contextvars.Token[Mapping[Any, Scope | None]]) -> None:
    _ACTIVE.reset(token)


async def _on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coro`` run as a task of ``loop`` (another thread's loop), from the running loop."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


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
    """One transaction: its connection, its loop, its state, and what to do when it commits.

    Made ``"new"``: ``start()`` takes a connection (``connection``, or the dialect's
    ``transaction_connection()``) and begins. An instance transaction (``held``) starts at its first
    statement, on ``loop``.
    """

    def __init__(self, dialect: SQLDialect, level: str | None, timeout: float | None, *,
                 loop: asyncio.AbstractEventLoop | None = None, held: bool = False) -> None:
        self.dialect = dialect
        self.conn: Any = None
        self.loop = loop or asyncio.get_running_loop()
        self.held = held
        """An instance transaction: joined from every context, its statements run on ``loop``."""
        self.isolation_level = dialect.fixed_isolation_level or level
        self.timeout = timeout
        self.deadline: float | None = None
        self.label = f"tx-{next(_numbers)}"
        self.state = "new"
        self.savepoints: list[str] = []
        """Savepoints made by name (``TransactionSavepointNode``), oldest first."""
        self._release: AbstractAsyncContextManager[Any] | None = None
        self._on_commit: list[Callable[[], None]] = []
        self._counter = itertools.count(1)
        self._starting: asyncio.Lock | None = None

    async def start(self, connection: Any = None) -> None:
        """Take a connection and BEGIN (once: concurrent first users of a held transaction wait for it)."""
        if self.state != "new":
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.state != "new":
                return
            release = self.dialect.transaction_connection() if connection is None else _Held(connection)
            conn = await release.__aenter__()
            try:
                await self.step(self.dialect.begin_transaction(conn, self.isolation_level))
            except BaseException as exc:
                await release.__aexit__(type(exc), exc, exc.__traceback__)
                raise
            self.conn, self._release, self.state = conn, release, "active"
            self.deadline = time.monotonic() + self.timeout if self.timeout else None

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
            assert self._release is not None
            await self._release.__aexit__(type(problem) if problem else None, problem, None)
        if commit:
            for callback in self._on_commit:
                callback()


class Scope:
    """One level of a transaction: the transaction itself (``savepoint`` None) or a savepoint in it.

    The scopes of an instance transaction can be used from any event loop: each operation is carried
    out on the transaction's own loop (and it begins there at the first one).
    """

    __slots__ = ("failure", "holder", "lock", "parent", "savepoint", "tx", "undo")

    def __init__(self, tx: Transaction, parent: Scope | None = None, savepoint: str | None = None) -> None:
        self.tx = tx
        self.parent = parent
        self.savepoint = savepoint
        self.lock = asyncio.Lock()
        self.holder: asyncio.Task[Any] | None = None
        self.failure: BaseException | None = None
        self.undo: list[Callable[[], None]] = []

    def on_rollback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` if what was done in this scope is rolled back (by this scope, or by a
        scope around it after this one was released into it); never once it is committed."""
        self.undo.append(callback)

    def _settled(self, kept: bool) -> None:
        """This scope ended: its undo callbacks go to the scope around it (kept) or run (rolled back)."""
        undo, self.undo = self.undo, []
        if kept:
            if self.parent is not None:
                self.parent.undo += undo
            return
        for callback in undo:
            with contextlib.suppress(Exception):  # undoing a cache entry must not hide the real outcome
                callback()

    def _elsewhere(self) -> bool:
        """True when this is an instance transaction's scope and the running loop is not its own."""
        return self.tx.held and asyncio.get_running_loop() is not self.tx.loop

    async def take_turn(self, owner: asyncio.Task[Any] | None = None) -> None:
        """Wait for this scope's turn on the connection (DF-509 if this very task holds it already).

        ``owner``: the task the turn is taken for, when that task runs on another loop.
        """
        task = owner or asyncio.current_task()
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

    def connection_here(self) -> Any:
        """The connection, usable from the running loop: an instance transaction's own, seen from
        another loop, has its coroutine methods carried out on the transaction's loop."""
        return _ForeignConnection(self.tx.conn, self.tx.loop) if self._elsewhere() else self.tx.conn

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

    async def run(self, query: Any, *, owner: asyncio.Task[Any] | None = None) -> Any:
        """Run a query description on the transaction's connection, taking this scope's turn."""
        if self.tx.held:
            if self._elsewhere():
                return await _on_loop(self.tx.loop, self.run(query, owner=asyncio.current_task()))
            await self.tx.start()
        self.check_usable()
        await self.take_turn(owner)
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
        """The connection, for raw statements, while this scope's turn is held (``db.connection()``).

        From another loop than an instance transaction's own, the connection's coroutine methods are
        carried out on that loop (its driver objects, such as ``conn.raw``, belong to that loop).
        """
        tx = self.tx
        foreign = self._elsewhere()
        if foreign:
            await _on_loop(tx.loop, self._take_usable_turn(asyncio.current_task()))
        else:
            await self._take_usable_turn(None)
        try:
            yield self.connection_here()
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.failure = exc
            raise
        finally:
            if foreign:
                tx.loop.call_soon_threadsafe(self.end_turn)
            else:
                self.end_turn()

    async def create_savepoint(self, name: str) -> None:
        """A savepoint named ``name`` in this scope, kept until the transaction ends (the savepoint
        nodes); ``rollback_to`` returns to it."""
        if self._elsewhere():
            await _on_loop(self.tx.loop, self.create_savepoint(name))
            return
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
        if self._elsewhere():
            await _on_loop(tx.loop, self.rollback_to(name))
            return
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

    async def _take_usable_turn(self, owner: asyncio.Task[Any] | None) -> None:
        if self.tx.held:
            await self.tx.start()
        self.check_usable()
        await self.take_turn(owner)

    async def nested(self, *, owner: asyncio.Task[Any] | None = None) -> Scope:
        """A savepoint inside this scope; it holds this scope's turn until it is closed."""
        if self.tx.held:
            if self._elsewhere():
                child: Scope = await _on_loop(self.tx.loop, self.nested(owner=asyncio.current_task()))
                return child
            await self.tx.start()
        self.check_usable()
        await self.take_turn(owner)
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
        if tx.held and self._elsewhere():
            await _on_loop(tx.loop, self.close(error))
            return
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
            keep = False
            if self.parent is not None:
                self.parent.failure = exc  # the savepoint could not be undone: the transaction is lost
            if error is None:
                raise
        finally:
            if took:
                self.end_turn()
            self._settled(keep)
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


class _ForeignConnection:
    """An instance transaction's connection seen from another event loop: its coroutine methods are
    carried out on the transaction's loop; anything else is the connection's own attribute."""

    __slots__ = ("_conn", "_loop")

    def __init__(self, conn: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._conn = conn
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._conn, name)
        if not inspect.iscoroutinefunction(value):
            return value
        loop = self._loop

        async def there(*args: Any, **kwargs: Any) -> Any:
            return await _on_loop(loop, value(*args, **kwargs))

        return there


class InstanceTransaction:
    """One transaction that every statement of a dialect joins, from any task, thread or event loop
    (TDD mode's): ``dialect.hold_transaction()`` installs it, ``await dialect.release_transaction()``
    removes it.

    It begins at its first statement, on DataFlow's background loop (the one ``LocalRuntime`` uses),
    and lasts until ``end()``; the next statement then begins a new one. ``with db.transaction():``
    inside it is a savepoint. Code on any other event loop (``AsyncLocalRuntime`` in an async test)
    has its statements carried out on the background loop, in turn with everyone else's.
    """

    def __init__(self, dialect: SQLDialect, level: Any = None) -> None:
        self.dialect = dialect
        self.isolation_level = isolation_level(level)
        self.scope = self._fresh()
        """The top scope of the current transaction (not begun until its first statement)."""

    def _fresh(self) -> Scope:
        from dataflow.loop import background_loop

        return Scope(Transaction(self.dialect, self.isolation_level, None, loop=background_loop(), held=True))

    @property
    def begun(self) -> bool:
        """True once a statement has begun the current transaction."""
        return self.scope.tx.state != "new"

    async def end(self, *, commit: bool = False, wait: float = 5.0) -> bool:
        """Roll back (or commit) the current transaction; the next statement begins a new one.

        Waits up to ``wait`` seconds for a statement or savepoint still using the connection. Returns
        True when a transaction had begun (and so was ended).
        """
        scope = self.scope
        if scope.tx.held and scope._elsewhere():
            ended: bool = await _on_loop(scope.tx.loop, self.end(commit=commit, wait=wait))
            return ended
        self.scope = self._fresh()
        tx = scope.tx
        if tx._starting is not None:
            async with tx._starting:  # a first statement is beginning it right now: let it
                pass
        if tx.state == "new":
            return False
        turn = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await scope.take_turn()
                turn = True
        try:
            await tx.finish(commit=commit and scope.failure is None)
        finally:
            scope._settled(commit and scope.failure is None and tx.state == "committed")
            if turn:
                scope.end_turn()
        return True


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
        self._token: contextvars.Token[Mapping[Any, Scope | None]] | None = None

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
        tx = Transaction(dialect, self.level, self.timeout)
        await tx.start(self.connection)
        return Scope(tx)

    async def __aenter__(self) -> Any:
        self.scope = await self.open()
        self._token = activate({self.dialect: self.scope})
        return self.scope.connection_here()

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
