"""TDD mode: everything an instance writes stays in one transaction, rolled back at the end.

``DataFlow(url, tdd_mode=True)`` holds an instance transaction (``SQLDialect.hold_transaction``):
every statement of the instance joins it, from any task, thread or event loop; it begins with the
first statement and is rolled back by ``close()``, ``cleanup_all_pools()`` and, under pytest, by the
end of each test (the next statement then begins a new one). ``with db.transaction():`` inside it
is a savepoint.

Tables made by auto-migration inside it: on PostgreSQL and SQLite, whose DDL is transactional, they
are made in the transaction and vanish with the rollback. On MySQL / MariaDB every DDL statement
commits the open transaction, so they are made on a connection of their own instead: they stay,
empty, after the test (the rows are still rolled back), and the test's own transaction is never
committed by them. Should that DDL wait for a lock the test's own transaction holds (adding a column
to a table the test already wrote to), it stops after ``DDL_WAIT`` seconds with DF-516 instead of
waiting for ever.

``TDDTestContext`` is what the ``tdd_test_context`` fixture gives a test: the instance, its
transaction, savepoints, and the rows the test changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.errors import DataFlowError
from dataflow.loop import run_sync
from dataflow.query import Select
from dataflow.transactions import activate, deactivate

if TYPE_CHECKING:
    from dataflow.facade import DataFlow
    from dataflow.models import ModelSpec
    from dataflow.transactions import InstanceTransaction, TransactionBlock

__all__ = ["DDL_WAIT", "Changes", "GuardedSchemaManager", "Savepoint", "TDDTestContext", "end_transaction"]

DDL_WAIT = 10.0
"""Seconds auto-migration on a connection of its own may wait inside a TDD test (MySQL) before DF-516."""


def rollback_failed(db: DataFlow, exc: BaseException) -> DataFlowError:
    detail = f"{exc.code}: {exc.message}" if isinstance(exc, DataFlowError) else f"{type(exc).__name__}: {exc}"
    return db.error(
        "DF-515",
        f"The TDD transaction of {db.name!r} could not be rolled back ({detail}).",
        solutions=["If the connection was lost, the server has rolled the transaction back itself.",
                   "Never COMMIT by hand inside a TDD test: run such code outside tdd_mode."],
    )


async def end_transaction(db: DataFlow) -> bool:
    """Roll back ``db``'s TDD transaction (DF-515 when that fails); True when one had begun."""
    held = db.dialect.instance_transaction
    if held is None:
        return False
    try:
        return await held.end()
    except Exception as exc:
        raise rollback_failed(db, exc) from exc


class GuardedSchemaManager:
    """The instance's schema manager, bounded in time inside a TDD transaction it cannot join (MySQL).

    Its DDL runs on a connection of its own, which waits for any metadata lock the test's transaction
    holds on the table: without a bound the test would hang until it ends, which is never.
    """

    def __init__(self, inner: Any, wait: float = DDL_WAIT) -> None:
        self.inner = inner
        self.wait = wait

    async def ensure(self, db: DataFlow, models: Iterable[ModelSpec]) -> None:
        models = list(models)
        try:
            async with asyncio.timeout(self.wait):
                await self.inner.ensure(db, models)
        except TimeoutError:
            tables = ", ".join(model.table for model in models)
            raise db.error(
                "DF-516",
                f"Auto-migration of {tables} waited {self.wait:g} s for a lock held by the test's own TDD "
                f"transaction: on {db.dialect.name} schema changes commit at once, so they run on a "
                "connection of their own, which must wait for the test to finish with the table.",
                tables=tables,
                solutions=["Create the tables before the test writes to them (a session fixture, or migrations).",
                           "Register every model version before the test's first write to its table."],
            ) from None


class Savepoint:
    """``with ctx.savepoint() as sp:`` / ``async with …``: a savepoint of the test's transaction,
    released when the block ends, rolled back when it raises or after ``sp.rollback()``."""

    def __init__(self, block: TransactionBlock) -> None:
        self._block = block
        self._discard = False

    def rollback(self) -> None:
        """Roll the savepoint back when the block ends (what it wrote is undone; the test goes on)."""
        self._discard = True

    def _outcome(self, exc: BaseException | None) -> tuple[Any, BaseException | None]:
        if exc is None and self._discard:
            undo = _Discarded()
            return type(undo), undo
        return (type(exc) if exc else None), exc

    def __enter__(self) -> Savepoint:
        self._block.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        kind, error = self._outcome(exc)
        self._block.__exit__(kind, error, tb)

    async def __aenter__(self) -> Savepoint:
        await self._block.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        kind, error = self._outcome(exc)
        await self._block.__aexit__(kind, error, tb)


class _Discarded(Exception):
    """Tells a savepoint to roll back although its block ended normally."""


@attrs.frozen
class Changes:
    """What a test changed in one model's table, compared with what is committed."""

    model: str
    inserted: list[dict[str, Any]]
    updated: list[dict[str, Any]]
    deleted: list[Any]
    """The ids of rows the test deleted."""

    @property
    def written(self) -> list[dict[str, Any]]:
        """The rows the test wrote (inserted or updated), as they are now."""
        return [*self.inserted, *self.updated]


class TDDTestContext:
    """The ``tdd_test_context`` fixture: the TDD instance (``db``), its transaction, savepoints, and
    the rows the test changed (``changes`` / ``rows_written``), usable from sync and async tests."""

    def __init__(self, db: DataFlow) -> None:
        self.db = db

    @property
    def transaction(self) -> InstanceTransaction:
        """The test's transaction (``begun`` once a statement ran in it)."""
        held = self.db.dialect.instance_transaction
        if held is None:
            raise self.db.error("DF-515", f"{self.db.name!r} holds no TDD transaction any more (it was closed).")
        return held

    def savepoint(self) -> Savepoint:
        """A savepoint of the test's transaction (``with`` / ``async with``)."""
        return Savepoint(self.db.transaction())

    def rollback(self) -> bool:
        """Roll back everything the test wrote so far (the next statement begins a new transaction)."""
        return run_sync(end_transaction(self.db))

    async def rollback_async(self) -> bool:
        return await end_transaction(self.db)

    def changes(self, model: str | None = None) -> dict[str, Changes]:
        """What the test changed, per model (every model of the instance, or only ``model``)."""
        return run_sync(self.changes_async(model))

    async def changes_async(self, model: str | None = None) -> dict[str, Changes]:
        specs = [self.db.get_model(model)] if model is not None else list(self.db.models.values())
        return {spec.name: await _changes(self.db, spec) for spec in specs}

    def rows_written(self, model: str) -> list[dict[str, Any]]:
        """The rows of ``model`` the test inserted or updated, as they are now."""
        return self.changes(model)[model].written


async def _rows(db: DataFlow, spec: ModelSpec) -> dict[Any, dict[str, Any]]:
    """Rows of ``spec``'s table by id, as this context sees them (none when the table does not exist)."""
    dialect = db.dialect
    async with dialect.scoped_connection() as conn:
        if await dialect.table_columns(conn, spec.table) is None:
            return {}
    return {row["id"]: row for row in await dialect.run(Select(spec))}


async def _changes(db: DataFlow, spec: ModelSpec) -> Changes:
    inside = await _rows(db, spec)
    token = activate({db.dialect: None})  # what is committed, seen from outside the test's transaction
    try:
        outside = await _rows(db, spec)
    finally:
        deactivate(token)
    inserted = [row for key, row in inside.items() if key not in outside]
    updated = [row for key, row in inside.items() if key in outside and outside[key] != row]
    deleted = [key for key in outside if key not in inside]
    return Changes(spec.name, inserted, updated, deleted)
