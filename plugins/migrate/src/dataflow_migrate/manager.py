"""The schema manager that replaces the kernel's basic one: ``ensure(db, models)`` on first use of a model.

Three modes, from the instance's options:

- ``auto_migrate=True`` (default): plan additive steps only (create missing tables, add missing columns
  and declared indexes) and apply them under the migration lock, after re-reading the live schema
  under the lock, so many processes starting the same application migrate exactly once. Nothing is
  dropped, narrowed or retyped, and only the tables of the models being ensured are looked at.
  Where one write transaction is as exclusive as the lock (SQLite: see ``create_tables_alone``), a
  plan that only creates tables is re-read, assessed and applied in that transaction instead.
- ``auto_migrate=False``: no DDL at all; a missing table is DF-304, a missing column DF-305.
- ``existing_schema_mode=True``: the live schema is used as is; the models are validated against it
  and mismatches reported as DF-304 / DF-305; nothing is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from dataflow.builtin import missing_table
from dataflow.models import ModelSpec
from dataflow.types import MigrationPlan, TableSchema

from dataflow_migrate.apply import apply_plan, create_tables_alone, migration_lock
from dataflow_migrate.introspect import introspect
from dataflow_migrate.planner import desired_columns, plan_migration, types_match

__all__ = ["MigrateSchemaManager", "validate"]

log = logging.getLogger("dataflow.migrate")


def validate(db: Any, models: Sequence[ModelSpec], live: dict[str, TableSchema]) -> list[str]:
    """Check ``models`` against ``live`` without changing anything; raise DF-304 / DF-305 on a mismatch.

    Returns the warnings that do not stop the model from working (nullability differences).
    """
    warnings: list[str] = []
    for model in models:
        table = live.get(model.table)
        if table is None:
            raise missing_table(db, model)
        problems = []
        for wanted in desired_columns(db, model):
            current = table.column(wanted.name)
            if current is None:
                problems.append(f"no column {wanted.name!r}")
            elif not wanted.primary_key and not types_match(current, wanted):
                problems.append(f"column {wanted.name!r} is {current.type}, the model wants {wanted.type}")
            elif current.nullable != wanted.nullable:
                warnings.append(f"{model.table}.{wanted.name}: nullability differs from the model")
        if problems:
            raise db.error(
                "DF-305",
                f"Table {model.table!r} does not match model {model.name}: {'; '.join(problems)}.",
                model=model.name,
                table=model.table,
                solutions=["Change the model to match the table (existing_schema_mode changes nothing),",
                           "or migrate the table: `dataflow migrate plan` / `apply`."],
            )
    return warnings


def refuse_array_mismatch(db: Any, models: Sequence[ModelSpec], live: dict[str, TableSchema]) -> None:
    """DF-305 when a list field is a native array in the model and JSON in the table, or the other way.

    Auto-migration never retypes a column, and values of one kind cannot be written to the other:
    the conversion is a planned, risk-assessed step of ``dataflow migrate plan`` / ``apply --confirm``.
    """
    for model in models:
        table = live.get(model.table)
        if table is None:
            continue
        for wanted in desired_columns(db, model):
            current = table.column(wanted.name)
            if current is not None and wanted.kind == "array" and not types_match(current, wanted):
                raise db.error(
                    "DF-305",
                    f"Column {model.table}.{wanted.name} is {current.type}, but model {model.name} stores it as "
                    f"{wanted.type}; auto-migration does not convert a column's type.",
                    model=model.name, table=model.table, column=wanted.name,
                    solutions=["Convert it as a planned migration: `dataflow migrate plan` shows the step and its "
                               "risk, `dataflow migrate apply --confirm` (db.migrate_apply(confirmed=True)) runs it.",
                               "Or set use_native_arrays back to what the table was made with."],
                )


class MigrateSchemaManager:
    """Planned, locked, recorded schema changes for the models an instance uses."""

    async def ensure(self, db: Any, models: Iterable[ModelSpec]) -> None:
        models = list(models)
        if not models:
            return
        tables = [m.table for m in models]
        live = await introspect(db, tables)
        if db.options["existing_schema_mode"] or not db.options["auto_migrate"]:
            for warning in validate(db, models, live):
                log.info("%s", warning)
            return
        refuse_array_mismatch(db, models, live)
        if (await plan_migration(db, models, live, additive=True, assess=False)).is_empty:
            return

        async def plan_in(conn: Any) -> MigrationPlan:
            live = await introspect(db, tables, conn)
            refuse_array_mismatch(db, models, live)
            return await plan_migration(db, models, live, additive=True)

        if await create_tables_alone(db, models, plan_in) is not None:
            return  # new tables only, in one transaction as exclusive as the lock (SQLite)
        async with migration_lock(db):
            # Another process may have migrated while this one waited for the lock: plan again.
            live = await introspect(db, tables)
            plan = await plan_migration(db, models, live, additive=True)
            if not plan.is_empty:
                await apply_plan(db, plan, models=models, kind="auto", locked=True)
