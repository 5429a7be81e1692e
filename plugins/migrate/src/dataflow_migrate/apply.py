"""Applying a plan: under the migration lock, recorded in the history table, all-or-nothing where possible.

Where the dialect's DDL is transactional (``capabilities.transactional_ddl``: PostgreSQL, SQLite) the
whole plan and its history row commit together, and a failed step rolls everything back, leaving the
schema exactly as before. Elsewhere (MySQL commits each DDL statement implicitly) each step is followed
by a checkpoint in the history row; a failure leaves the row ``failed`` with the number of completed
steps, from which ``resume`` continues and ``reverse`` undoes. Risky plans (``plan.level >= HIGH``)
are refused with DF-302 unless confirmed.

The lock is the ``dataflow_migration_lock`` hook's (the locks plugin: bookkeeping, listing,
re-entrance) or, without one, the dialect's own primitive (``SQLDialect.migration_lock``), so
processes never migrate the same database at once whichever plugins are installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from dataflow.errors import DataFlowError
from dataflow.models import ModelSpec
from dataflow.types import MigrationPlan, MigrationStep, RiskLevel

from dataflow_migrate.history import History, now
from dataflow_migrate.planner import Intent, render
from dataflow_migrate.registry import record_models

__all__ = ["DEFAULT_SCOPE", "apply_plan", "create_tables_alone", "migration_lock", "refuse_if_risky", "resume",
           "reverse_plan"]

DEFAULT_SCOPE = "schema_modification"
DEFAULT_LOCK_TIMEOUT = 60.0

Progress = Callable[[int, MigrationStep], None]


@contextlib.asynccontextmanager
async def migration_lock(db: Any, scope: str = DEFAULT_SCOPE) -> AsyncIterator[Any]:
    """The lock plugin's lock for ``scope``; the dialect's own primitive when no plugin offers one."""
    manager = db.plugins.hook.dataflow_migration_lock(db=db, scope=scope)
    if manager is None:
        timeout = float(db.options.get("migration_lock_timeout") or DEFAULT_LOCK_TIMEOUT)
        manager = db.dialect.migration_lock(lock_name(scope), timeout)
    try:
        async with manager as held:
            yield held
    except DataFlowError as exc:
        db.enhance(exc)  # a timeout of the dialect's own lock gets the instance's hints and mode
        raise


def _describe(plan: MigrationPlan, index: int | None) -> str:
    return plan.steps[index].describe() if index is not None and 0 <= index < len(plan.steps) else "the plan"


def refuse_if_risky(db: Any, plan: MigrationPlan, confirmed: bool) -> None:
    if confirmed or plan.level < RiskLevel.HIGH:
        return
    risky = [f for f in plan.findings if f.level >= RiskLevel.HIGH]
    lines = []
    for finding in risky:
        where = _describe(plan, finding.step_index)
        lines.append(finding.reason if finding.reason.startswith(where) else f"{where}: {finding.reason}")
    raise db.error(
        "DF-302",
        f"The migration is {plan.level.name} risk and needs confirmation: " + "; ".join(lines),
        level=plan.level.name,
        steps=len(plan.steps),
        solutions=["Review the plan (`dataflow migrate plan`), then apply with confirmed=True (CLI: --confirm).",
                   *(f.mitigation for f in risky if f.mitigation)],
    )


def _failure(db: Any, plan: MigrationPlan, index: int, exc: BaseException, *, rolled_back: bool,
             history_id: str | None) -> DataFlowError:
    step = plan.steps[index] if 0 <= index < len(plan.steps) else None
    cause = exc.message if isinstance(exc, DataFlowError) else f"{type(exc).__name__}: {exc}"
    where = step.describe() if step else "the migration"
    tail = ("The schema was rolled back to its state before the migration." if rolled_back else
            f"{index} of {len(plan.steps)} steps completed; resume with db.migrate_resume() or undo them with "
            "db.migrate_reverse().")
    return db.error(
        "DF-301",
        f"Migration step {index + 1} ({where}) failed: {cause}. {tail}",
        step=where,
        step_index=index,
        sql=" ; ".join(step.sql) if step else "",
        history_id=history_id,
        solutions=["Fix the cause (existing data that violates the change, a missing table …) and re-plan."],
    )


async def _record_failure(db: Any, history: History, plan: MigrationPlan, models: Mapping[str, str], kind: str,
                          started: float, error: str, row_id: str | None = None, checkpoint: int = 0) -> str | None:
    """Write the failed row outside the rolled-back transaction (best effort: never hides the cause)."""
    try:
        async with db.dialect.connection() as conn:
            if row_id is None:
                await history.ensure(conn)
                row_id = await history.start(conn, plan, models, kind, status="failed")
            await history.update(conn, row_id, status="failed", checkpoint=checkpoint, finished_at=now(),
                                 duration_ms=(time.perf_counter() - started) * 1000, error=error[:2000])
    except Exception:  # the migration's own error is the one to report
        return row_id
    return row_id


async def _run_step(conn: Any, step: MigrationStep) -> None:
    for sql in step.sql:
        await conn.execute(sql, [])


class _Run:
    """One plan applied in a transaction: its history row and how far it got (the failing step's index)."""

    def __init__(self, db: Any, plan: MigrationPlan, history: History, models: Mapping[str, str], kind: str) -> None:
        self.db, self.plan, self.history, self.models, self.kind = db, plan, history, models, kind
        self.started = time.perf_counter()
        self.index = -1

    async def apply(self, conn: Any, progress: Progress | None = None) -> dict[str, Any]:
        """The history row, the steps and the dialect's check, on ``conn`` inside its transaction."""
        plan = self.plan
        row_id = await self.history.start(conn, plan, self.models, self.kind)
        for self.index, step in enumerate(plan.steps):
            await _run_step(conn, step)
            if progress:
                progress(self.index, step)
        self.index = len(plan.steps)
        await self.db.dialect.verify_schema_changes(conn)
        duration = (time.perf_counter() - self.started) * 1000
        await self.history.update(conn, row_id, status="applied", checkpoint=len(plan.steps), finished_at=now(),
                                  duration_ms=duration)
        return {"id": row_id, "status": "applied", "steps": len(plan.steps), "duration_ms": duration}

    async def failed(self, exc: Exception) -> DataFlowError:
        """DF-301 for a rolled-back run, its failure recorded outside the transaction."""
        row = await _record_failure(self.db, self.history, self.plan, self.models, self.kind, self.started, str(exc))
        return _failure(self.db, self.plan, self.index, exc, rolled_back=True, history_id=row)


async def _apply_transactional(db: Any, plan: MigrationPlan, history: History, models: Mapping[str, str],
                               kind: str, progress: Progress | None) -> dict[str, Any]:
    run = _Run(db, plan, history, models, kind)
    async with db.dialect.connection() as conn:
        await history.ensure(conn)
    try:
        # The dialect prepares what its DDL needs before BEGIN (SQLite: foreign-key enforcement off on
        # the transaction's own connection around a table rebuild) and checks it before the commit.
        async with db.dialect.prepare_schema_changes([sql for step in plan.steps for sql in step.sql]) as own, \
                db.dialect.transaction(connection=own) as conn:
            return await run.apply(conn, progress)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise await run.failed(exc) from exc


async def _apply_stepwise(db: Any, plan: MigrationPlan, history: History, models: Mapping[str, str], kind: str,
                          progress: Progress | None, row_id: str | None = None, start: int = 0) -> dict[str, Any]:
    started = time.perf_counter()
    index = start
    async with db.dialect.connection() as conn:
        await history.ensure(conn)
        if row_id is None:
            row_id = await history.start(conn, plan, models, kind)
        else:
            await history.update(conn, row_id, status="in_progress", error=None)
        try:
            for index in range(start, len(plan.steps)):
                step = plan.steps[index]
                await _run_step(conn, step)
                await history.update(conn, row_id, checkpoint=index + 1)
                if progress:
                    progress(index, step)
            index = len(plan.steps)
            duration = (time.perf_counter() - started) * 1000
            await history.update(conn, row_id, status="applied", finished_at=now(), duration_ms=duration)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            await _record_failure(db, history, plan, models, kind, started, str(exc), row_id, index)
            raise _failure(db, plan, index, exc, rolled_back=False, history_id=row_id) from exc
    return {"id": row_id, "status": "applied", "steps": len(plan.steps), "duration_ms": duration}


async def apply_plan(
    db: Any, plan: MigrationPlan, *, models: Sequence[ModelSpec] = (), confirmed: bool = False, kind: str = "apply",
    progress: Progress | None = None, locked: bool = False,
) -> dict[str, Any]:
    """Apply ``plan`` and record it; returns ``{id, status, steps, duration_ms}``.

    :param locked: the caller already holds the migration lock (auto-migration re-plans under it).
    :raises DataFlowError: DF-302 when risky and not confirmed, DF-301 when a step fails, DF-307 when
        the lock cannot be had in time.
    """
    refuse_if_risky(db, plan, confirmed)
    if plan.is_empty:
        return {"id": None, "status": "empty", "steps": 0, "duration_ms": 0.0}
    checksums = {m.name: m.checksum() for m in models}
    history = History(db)
    if not locked:
        async with migration_lock(db):
            return await apply_plan(db, plan, models=models, confirmed=True, kind=kind, progress=progress,
                                    locked=True)
    try:
        if db.dialect.capabilities.transactional_ddl:
            applied = await _apply_transactional(db, plan, history, checksums, kind, progress)
        else:
            applied = await _apply_stepwise(db, plan, history, checksums, kind, progress)
    finally:
        forget_tables(db, plan)
    # Other processes rebuild these models from the database (db.reconstruct_models_from_registry()).
    await record_models(db, models)
    return applied


def lock_name(scope: str) -> str:
    """The dialect lock of a migration scope (the locks plugin takes the same one)."""
    return f"migration:{scope}"


def _creates_tables_only(plan: MigrationPlan) -> bool:
    """Every step belongs to a table the plan creates (its columns, indexes and keys come with it)."""
    created = {step.table for step in plan.steps if step.kind == "create_table"}
    return all(step.table in created for step in plan.steps)


async def create_tables_alone(db: Any, models: Sequence[ModelSpec],
                              plan_in: Callable[[Any], Awaitable[MigrationPlan]]) -> dict[str, Any] | None:
    """Auto-migration's short way, for a plan that only creates tables: the whole of it in one write
    transaction, without taking the migration lock — where the transaction is as exclusive as the lock.

    On a database whose write transactions exclude every other writer and whose lock is the lease row
    (``SchemaDialect.lock_kept_free``: SQLite), a transaction that finds the lock free keeps it free
    until it commits, since taking it is a write. Inside that transaction the live schema is read
    again (``plan_in(conn)``: introspection and the assessed plan), the plan is refused if risky,
    applied with its history row and committed at once, and the tables are forgotten by the schema
    caches. Everything the locked way guarantees holds; what it saves is the lock's bookkeeping
    (a lease row and a lock row, each written and deleted: about half the statements of a new
    instance's first operation). The model registry is recorded after the commit, as the locked way
    does after its own.

    Returns None — nothing written — when the short way does not apply: another dialect, someone
    holding the lock, or a plan that (re-read under the transaction) touches an existing table.
    """
    dialect = db.dialect
    if not (dialect.exclusive_writes and dialect.capabilities.transactional_ddl):
        return None
    history = History(db)
    checksums = {m.name: m.checksum() for m in models}
    plan, run = None, None
    try:
        async with dialect.transaction() as conn:
            if not await dialect.lock_kept_free(conn, lock_name(DEFAULT_SCOPE)):
                return None
            plan = await plan_in(conn)
            if plan.is_empty:
                return {"id": None, "status": "empty", "steps": 0, "duration_ms": 0.0}
            if not _creates_tables_only(plan):
                return None
            refuse_if_risky(db, plan, confirmed=False)
            run = _Run(db, plan, history, checksums, "auto")
            await history.ensure(conn)
            applied = await run.apply(conn)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if run is None:
            raise  # the introspection's, the planner's or the risk check's error, as the locked way raises it
        raise await run.failed(exc) from exc
    finally:
        if plan is not None:
            forget_tables(db, plan)
    await record_models(db, models)
    return applied


def forget_tables(db: Any, plan: MigrationPlan) -> None:
    """The tables ``plan`` touched (applied, failed or rolled back alike) are checked again on next use,
    by every instance of this process on the database (``DataFlow.forget_schema``)."""
    tables = {step.table for step in plan.steps}
    tables |= {str(step.details["to"]) for step in plan.steps if step.kind == "rename_table" and "to" in step.details}
    db.forget_schema(tables)


async def _last_failed(db: Any, history_id: str | None) -> dict[str, Any]:
    history = History(db)
    async with db.dialect.connection() as conn:
        rows = await history.rows(conn)
    for row in rows:
        if (history_id is None and row["status"] == "failed") or row["id"] == history_id:
            return row
    raise db.error("DF-301", "No failed migration to resume or reverse." if history_id is None
                   else f"No migration {history_id!r} in the history.", history_id=history_id)


async def resume(db: Any, history_id: str | None = None, *, progress: Progress | None = None) -> dict[str, Any]:
    """Continue a failed step-by-step migration (MySQL) from its checkpoint."""
    async with migration_lock(db):
        row = await _last_failed(db, history_id)
        plan = MigrationPlan(row["dialect"], list(History.steps_of(row)))
        try:
            return await _apply_stepwise(db, plan, History(db), row["models"], row["kind"], progress,
                                         row_id=row["id"], start=int(row["checkpoint"]))
        finally:
            forget_tables(db, plan)


_INVERSE = {
    "create_table": lambda s: Intent("drop_table", s.table),
    "add_column": lambda s: Intent("drop_column", s.table, s.column),
    "add_index": lambda s: Intent("drop_index", s.table, None, {"name": s.details.get("name")}),
    "add_unique": lambda s: Intent("drop_index", s.table, None, {"name": s.details.get("name")}),
    "rename_column": lambda s: Intent("rename_column", s.table, s.details.get("to"), {"to": s.column}),
    "rename_table": lambda s: Intent("rename_table", s.details.get("to"), None, {"to": s.table}),
    "alter_type": lambda s: Intent("alter_type", s.table, s.column, {"from": s.details["to"], "to": s.details["from"]}),
    "alter_nullability": lambda s: Intent("alter_nullability", s.table, s.column,
                                          {"from": s.details["to"], "to": s.details["from"]}),
    "alter_default": lambda s: Intent("alter_default", s.table, s.column,
                                      {"from": s.details.get("to"), "to": s.details.get("from")}),
}


async def reverse_plan(db: Any, history_id: str | None = None) -> MigrationPlan:
    """The plan undoing the completed steps of a recorded migration (newest first).

    Drops cannot be undone (their data is gone) and are refused.
    """
    from dataflow_migrate.introspect import introspect

    row = await _last_failed(db, history_id)
    done = list(History.steps_of(row))[: int(row["checkpoint"])]
    intents = []
    for step in reversed(done):
        inverse = _INVERSE.get(step.kind)
        if inverse is None:
            raise db.error("DF-301", f"Step {step.describe()} cannot be reversed: its data is gone.",
                           history_id=row["id"])
        intents.append(inverse(step))
    live = await introspect(db)
    return MigrationPlan(db.dialect.name, render(db, intents, live, ordered=True))
