"""The migration methods added to every DataFlow instance (``db.migrate_plan()``, ``db.discover_schema()`` …).

Each is an async function of the instance; ``plugin.py`` binds them and adds a synchronous twin (run on
DataFlow's background loop) so plain scripts can call them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dataflow.migration import MigrationPlan
from dataflow.models import ModelSpec

from dataflow_migrate.apply import Progress, apply_plan, migration_lock, resume, reverse_plan
from dataflow_migrate.history import History
from dataflow_migrate.introspect import introspect
from dataflow_migrate.planner import plan_migration
from dataflow_migrate.schema import TableSchema

__all__ = ["migrate_apply", "migrate_plan", "migrate_resume", "migrate_reverse", "migrate_status",
           "migration_history", "selected_models"]


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
    """Pending steps for the models, and the recent history."""
    plan = await migrate_plan(db, models)
    return {"dialect": db.dialect.name, "pending": plan, "history": await migration_history(db, limit=20)}


async def migrate_resume(db: Any, history_id: str | None = None, *, progress: Progress | None = None) -> dict[str, Any]:
    """Continue the last failed step-by-step migration (MySQL) from its checkpoint."""
    return await resume(db, history_id, progress=progress)


async def migrate_reverse(db: Any, history_id: str | None = None, *, confirmed: bool = False) -> dict[str, Any]:
    """Undo the completed steps of a recorded migration (the last failed one by default)."""
    plan = await reverse_plan(db, history_id)
    result = await apply_plan(db, plan, confirmed=confirmed, kind="reverse")
    return {**result, "plan": plan}
