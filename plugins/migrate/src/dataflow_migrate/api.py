"""The migration methods added to every DataFlow instance (``db.migrate_plan()``, ``db.discover_schema()`` …).

Each is an async function of the instance; ``plugin.py`` binds them and adds a synchronous twin (run on
DataFlow's background loop) so plain scripts can call them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dataflow.models import ModelSpec
from dataflow.types import MigrationPlan, TableSchema
from dataflow.values import coerce

from dataflow_migrate.apply import Progress, apply_plan, migration_lock, resume, reverse_plan
from dataflow_migrate.history import History
from dataflow_migrate.introspect import introspect
from dataflow_migrate.planner import Intent, assess_findings, plan_migration, render

__all__ = ["NO_BACKFILL", "migrate_apply", "migrate_plan", "migrate_require", "migrate_resume", "migrate_reverse",
           "migrate_status", "migration_history", "selected_models"]

NO_BACKFILL: Any = object()


def selected_models(db: Any, models: Iterable[ModelSpec | str] | None) -> list[ModelSpec]:
    if models is None:
        return list(db.models.values())
    return [m if isinstance(m, ModelSpec) else db.get_model(m) for m in models]


async def introspect_schema(db: Any, tables: Iterable[str] | None = None) -> dict[str, TableSchema]:
    """The live schema as neutral records (``TableSchema`` per table)."""
    return await introspect(db, tables)


async def migrate_plan(db: Any, models: Sequence[ModelSpec | str] | None = None, **options: Any) -> MigrationPlan:
    """The plan turning the live schema into what the models need (options: see ``plan_migration``)."""
    return await plan_migration(db, selected_models(db, models), await introspect(db), **options)


async def migrate_apply(db: Any, plan: MigrationPlan | None = None, *, models: Sequence[ModelSpec | str] | None = None,
                        confirmed: bool = False, progress: Progress | None = None, **options: Any) -> dict[str, Any]:
    """Apply ``plan``, or (without one) plan under the migration lock and apply that.

    Returns ``{id, status, steps, duration_ms, plan}``; DF-302 for a risky unconfirmed plan, DF-301
    when a step fails.
    """
    chosen = selected_models(db, models)
    if plan is not None:
        result = await apply_plan(db, plan, models=chosen, confirmed=confirmed, progress=progress)
        return {**result, "plan": plan}
    async with migration_lock(db):
        plan = await plan_migration(db, chosen, await introspect(db), **options)
        result = await apply_plan(db, plan, models=chosen, confirmed=confirmed, progress=progress, locked=True)
    return {**result, "plan": plan}


async def migration_history(db: Any, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of ``dataflow_migrations``, newest first."""
    async with db.dialect.connection() as conn:
        return await History(db).rows(conn, limit=limit)


async def migrate_status(db: Any, models: Sequence[ModelSpec | str] | None = None) -> dict[str, Any]:
    """Pending steps for the models (``pending.follow_ups``: what needs a command of its own, with that
    command), and the recent history."""
    plan = await migrate_plan(db, models)
    return {"dialect": db.dialect.name, "pending": plan, "history": await migration_history(db, limit=20)}


def _split_target(target: str) -> tuple[str, str]:
    table, dot, column = target.partition(".")
    if not dot or not table or not column:
        raise ValueError(target)
    return table, column


async def migrate_require(db: Any, target: str, backfill: Any = NO_BACKFILL, *, confirmed: bool = False,
                          progress: Progress | None = None) -> dict[str, Any]:
    """Make ``table.column`` NOT NULL: fill its NULLs with ``backfill`` (a bound value, converted for the
    model field when a model owns the table), then SET NOT NULL as a recorded, locked migration step.

    This completes a required field that auto-migration added nullable to a populated table (the
    follow-up ``dataflow migrate status`` shows). Returns ``{backfilled, id, status, steps, plan}``.
    DF-101 when NULLs remain and no ``backfill`` is given; DF-304 for a missing table or column.
    """
    try:
        table, column = _split_target(target)
    except ValueError:
        raise db.error("DF-102", f"Name the column as table.column, got {target!r}.", target=target) from None
    async with migration_lock(db):
        live = await introspect(db, [table])
        current = live.get(table)
        if current is None or current.column(column) is None:
            what = f"Table {table!r}" if current is None else f"Column {target!r}"
            raise db.error("DF-304", f"{what} does not exist.", table=table, column=column,
                           solutions=["Check the name (`dataflow migrate status` lists pending follow-ups)."])
        if not current.column_map[column].nullable:
            return {"backfilled": 0, "id": None, "status": "already_required", "steps": 0, "plan": None}
        field = next((m.field_map.get(column) for m in db.models.values() if m.table == table), None)
        dialect, q = db.dialect, db.dialect.quote
        async with dialect.connection() as conn:
            nulls = int((await conn.fetch(f"SELECT COUNT(*) FROM {q(table)} WHERE {q(column)} IS NULL", []))[0][0])
        if nulls and backfill is NO_BACKFILL:
            raise db.error("DF-101", f"{nulls} rows of {table} hold NULL in {column}: give the value to backfill "
                                     "them with before it becomes NOT NULL.", table=table, column=column,
                           solutions=[f"dataflow migrate require {target} --backfill <value>"])
        filled = 0
        if nulls:
            value = dialect.encode(field, coerce(field, backfill)) if field is not None else backfill
            try:
                async with dialect.transaction() as conn:
                    filled = await conn.execute(f"UPDATE {q(table)} SET {q(column)} = {dialect.placeholder(1)} "
                                                f"WHERE {q(column)} IS NULL", [value])
            except Exception as exc:
                raise db.enhance(dialect.translate_error(exc)) from exc
            live = await introspect(db, [table])
        steps = render(db, [Intent("alter_nullability", table, column, {"from": True, "to": False})], live)
        plan = MigrationPlan(dialect.name, steps)
        await assess_findings(db, plan)
        models = [m for m in db.models.values() if m.table == table]
        result = await apply_plan(db, plan, models=models, confirmed=confirmed, progress=progress, locked=True,
                                  kind="require")
    return {"backfilled": filled, **result, "plan": plan}


async def migrate_resume(db: Any, history_id: str | None = None, *, progress: Progress | None = None) -> dict[str, Any]:
    """Continue the last failed step-by-step migration (MySQL) from its checkpoint."""
    return await resume(db, history_id, progress=progress)


async def migrate_reverse(db: Any, history_id: str | None = None, *, confirmed: bool = False) -> dict[str, Any]:
    """Undo the completed steps of a recorded migration (the last failed one by default)."""
    plan = await reverse_plan(db, history_id)
    result = await apply_plan(db, plan, confirmed=confirmed, kind="reverse")
    return {**result, "plan": plan}
