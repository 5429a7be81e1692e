"""Diff model specs against the live schema and plan the migration: ordered, typed steps with SQL.

Planning is two passes. The diff produces *intents* (kind, table, column, details) from the models and
the introspected tables; intents are then sorted into a safe order and rendered one by one against a
simulated schema, so each step's SQL is right for the state the previous steps leave (which matters for
SQLite, whose rebuilds restate the whole table).

Renames are never guessed silently: a removed and an added column of the same type family in one
table (or a missing model table whose columns match an unowned live table) becomes a candidate in
``plan.rename_candidates``; the plan keeps the additive half (the new column) and drops nothing until
the caller accepts the rename with ``accept_renames``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from dataflow.errors import DataFlowError
from dataflow.migration import MigrationPlan, MigrationStep, RiskFinding, RiskLevel
from dataflow.models import MISSING, IndexSpec, ModelSpec

from dataflow_migrate.ddl import DDL, UNRENDERABLE
from dataflow_migrate.introspect import INTERNAL_TABLES
from dataflow_migrate.schema import ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema, normalise_type

__all__ = ["ORDER", "desired_table", "plan_migration", "render", "types_match"]

log = logging.getLogger("dataflow.migrate")

ORDER = (
    "create_table", "rename_table", "rename_column", "add_column", "alter_type", "alter_nullability",
    "alter_default", "add_index", "add_unique", "add_check", "add_foreign_key", "drop_foreign_key",
    "drop_index", "drop_column", "drop_table",
)
"""Rendering order: create and widen first, destroy last, so a failure leaves the least behind."""


@attrs.frozen
class Intent:
    """A change the diff wants, before it is placed in order and given SQL."""

    kind: str
    table: str
    column: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    model: ModelSpec | None = None


def desired_columns(db: Any, model: ModelSpec) -> list[ColumnSchema]:
    """The columns ``model`` needs, with the types this instance would create."""
    ddl = DDL(db.dialect)
    types = db.column_types(model)
    columns = []
    for field in model.fields:
        nullable = (field.nullable or field.auto) and not field.primary_key
        default = None
        if not nullable and not field.primary_key and field.default is not MISSING:
            rendered = ddl.literal(field.default)
            default = None if rendered is UNRENDERABLE else rendered
        columns.append(ColumnSchema(field.name, types[field.name], nullable, default, field.primary_key,
                                    field.primary_key and field.generated, kind=field.kind))
    return columns


def desired_table(db: Any, model: ModelSpec) -> TableSchema:
    indexes = tuple(IndexSchema(i.name, i.fields, i.unique) for i in model.indexes)
    return TableSchema(model.table, tuple(desired_columns(db, model)), ("id",), indexes)


def types_match(live: ColumnSchema, wanted: ColumnSchema) -> bool:
    """Same type, by spelling or by family: ``varchar(255)`` serves a str field as well as ``text``, and a
    hand-made ``BOOLEAN`` serves a bool field that DataFlow would store as ``INTEGER`` on SQLite."""
    return (normalise_type(live.type) == normalise_type(wanted.type) or live.family == wanted.family
            or live.family == wanted.kind)


# -------------------------------------------------------------------------------------------------
# Diff
# -------------------------------------------------------------------------------------------------


def _diff_table(
    db: Any, model: ModelSpec, live: TableSchema, *, additive: bool, drop_columns: bool,
    accepted: Mapping[tuple[str, str], str], candidates: list[Intent],
) -> list[Intent]:
    want = desired_table(db, model)
    added = [c for c in want.columns if live.column(c.name) is None]
    removed = [c for c in live.columns if want.column(c.name) is None]
    intents: list[Intent] = []
    renamed_to: dict[str, str] = {}
    for old in removed:
        if (model.table, old.name) in accepted:
            renamed_to[old.name] = accepted[(model.table, old.name)]
            continue
        same_family = [a for a in added if a.family == old.family]
        others = [r for r in removed if r.family == old.family]
        if len(same_family) == 1 and len(others) == 1:
            candidates.append(Intent("rename_column", model.table, old.name,
                                     {"to": same_family[0].name, "type": old.type}, model))
    for old_name, new_name in renamed_to.items():
        intents.append(Intent("rename_column", model.table, old_name, {"to": new_name}, model))
    for column in added:
        if column.name in renamed_to.values():
            continue
        # Existing rows have no value for a new required field: the column is added nullable (the
        # model still requires it on create) unless a default fills the old rows.
        as_added = column if column.nullable or column.default is not None else attrs.evolve(column, nullable=True)
        intents.append(Intent("add_column", model.table, column.name,
                              {"type": column.type, "nullable": as_added.nullable, "default": column.default,
                               "column": as_added}, model))
    if not additive:
        for wanted in want.columns:
            current = live.column(wanted.name)
            if current is None or wanted.primary_key or current.primary_key:
                continue
            if not types_match(current, wanted):
                intents.append(Intent("alter_type", model.table, wanted.name,
                                      {"from": current.type, "to": wanted.type}, model))
            if current.nullable != wanted.nullable:
                intents.append(Intent("alter_nullability", model.table, wanted.name,
                                      {"from": current.nullable, "to": wanted.nullable}, model))
    live_index_names = {i.name for i in live.indexes}
    for index in model.indexes:
        if index.name not in live_index_names:
            intents.append(Intent("add_index", model.table, None,
                                  {"name": index.name, "columns": list(index.fields), "unique": index.unique}, model))
    if not additive:
        declared = {i.name for i in model.indexes}
        own_prefix = f"ix_{model.table}_"
        for live_index in live.indexes:
            # Only indexes DataFlow itself names are DataFlow's to drop; hand-made ones are left alone.
            if live_index.name.startswith(own_prefix) and live_index.name not in declared:
                intents.append(Intent("drop_index", model.table, None, {"name": live_index.name}, model))
        if drop_columns:
            candidate_columns = {c.column for c in candidates if c.table == model.table}
            for column in removed:
                if column.name not in renamed_to and column.name not in candidate_columns:
                    intents.append(Intent("drop_column", model.table, column.name, {"type": column.type}, model))
    return intents


def _table_rename_candidate(db: Any, model: ModelSpec, live: Mapping[str, TableSchema],
                            owned: set[str]) -> Intent | None:
    wanted = {c.name for c in desired_columns(db, model)}
    matches = [t for name, t in live.items()
               if name not in owned and name not in INTERNAL_TABLES and {c.name for c in t.columns} == wanted]
    if len(matches) == 1:
        return Intent("rename_table", matches[0].name, None, {"to": model.table}, model)
    return None


def diff(
    db: Any, models: Sequence[ModelSpec], live: Mapping[str, TableSchema], *, additive: bool = False,
    drop_columns: bool = True, drop_tables: Iterable[str] = (), accept_renames: Any = (),
) -> tuple[list[Intent], list[Intent]]:
    """(intents, rename candidates) turning ``live`` into what ``models`` need."""
    accepted = _accepted(accept_renames)
    owned = {m.table for m in models}
    intents: list[Intent] = []
    candidates: list[Intent] = []
    for model in models:
        table = live.get(model.table)
        if table is None:
            old = next((o for (t, o), new in accepted.items() if t == "" and new == model.table), None)
            if old is not None and old in live:
                intents.append(Intent("rename_table", old, None, {"to": model.table}, model))
                renamed = attrs.evolve(live[old], name=model.table)
                intents += _diff_table(db, model, renamed, additive=additive, drop_columns=drop_columns,
                                       accepted=accepted, candidates=candidates)
                continue
            candidate = _table_rename_candidate(db, model, live, owned)
            if candidate is not None:
                candidates.append(candidate)
            columns = [f.name for f in model.fields]
            intents.append(Intent("create_table", model.table, None, {"columns": columns}, model))
            continue
        intents += _diff_table(db, model, table, additive=additive, drop_columns=drop_columns,
                               accepted=accepted, candidates=candidates)
    if not additive:
        for name in drop_tables:
            if name in live and name not in owned:
                intents.append(Intent("drop_table", name, None, {"columns": [c.name for c in live[name].columns]}))
    return intents, candidates


def _accepted(accept_renames: Any) -> dict[tuple[str, str], str]:
    """``{"table.old": "new"}`` (columns) and ``{"old_table": "new_table"}`` (tables) → {(table, old): new}."""
    if isinstance(accept_renames, Mapping):
        pairs: Iterable[tuple[str, str]] = accept_renames.items()
    else:
        pairs = (tuple(item.split("->", 1)) for item in accept_renames)
    accepted = {}
    for old, new in pairs:
        table, dot, column = old.strip().partition(".")
        accepted[(table, column) if dot else ("", table)] = new.strip()
    return accepted


# -------------------------------------------------------------------------------------------------
# Rendering
# -------------------------------------------------------------------------------------------------


def _replace_column(table: TableSchema, name: str, column: ColumnSchema | None) -> TableSchema:
    if column is None:
        columns = tuple(c for c in table.columns if c.name != name)
    else:
        columns = tuple(column if c.name == name else c for c in table.columns)
    return attrs.evolve(table, columns=columns)


def _step(intent: Intent, sql: Sequence[str], details: Mapping[str, Any] | None = None) -> MigrationStep:
    shown = {k: v for k, v in (details or intent.details).items() if k != "column"}
    return MigrationStep(intent.kind, intent.table, intent.column, tuple(sql), shown,
                         intent.model.name if intent.model else None)


def render_one(db: Any, ddl: DDL, intent: Intent, state: dict[str, TableSchema]) -> MigrationStep:
    """The step for ``intent`` against ``state`` (which is updated to the state after it)."""
    kind, name, d = intent.kind, intent.table, intent.details
    before = state.get(name)
    if kind == "create_table":
        assert intent.model is not None
        model = intent.model
        state[name] = desired_table(db, model)
        return _step(intent, db.dialect.create_table_sql(model, db.column_types(model)))
    if before is None:
        raise DataFlowError("DF-301", f"Cannot plan {kind} on {name!r}: the table does not exist.",
                            context={"table": name, "step": kind})
    if kind == "rename_table":
        state[d["to"]] = attrs.evolve(state.pop(name), name=d["to"])
        return _step(intent, ddl.rename_table(name, d["to"]))
    if kind == "drop_table":
        del state[name]
        return _step(intent, ddl.drop_table(name))
    column = before.column(intent.column) if intent.column else None
    if kind == "add_column":
        new = d["column"]
        state[name] = attrs.evolve(before, columns=(*before.columns, new))
        return _step(intent, ddl.add_column(name, new))
    if kind == "rename_column":
        assert column is not None
        to = d["to"]
        renamed = _replace_column(before, column.name, attrs.evolve(column, name=to))
        swap = {column.name: to}
        renamed = attrs.evolve(renamed, indexes=tuple(
            attrs.evolve(i, columns=tuple(swap.get(c, c) for c in i.columns)) for i in renamed.indexes))
        state[name] = renamed
        return _step(intent, ddl.rename_column(name, column.name, to))
    if kind == "drop_column":
        assert column is not None
        after = _replace_column(before, column.name, None)
        after = attrs.evolve(after, indexes=tuple(i for i in after.indexes if column.name not in i.columns),
                             foreign_keys=tuple(f for f in after.foreign_keys if column.name not in f.columns))
        state[name] = after
        return _step(intent, ddl.drop_column(before, after, column.name))
    if kind in ("alter_type", "alter_nullability", "alter_default"):
        assert column is not None
        field = {"alter_type": "type", "alter_nullability": "nullable", "alter_default": "default"}[kind]
        new_col = attrs.evolve(column, **{field: d["to"]})
        after = _replace_column(before, column.name, new_col)
        state[name] = after
        return _step(intent, ddl.alter_column(before, after, column, new_col))
    if kind in ("add_index", "add_unique"):
        index = IndexSchema(d["name"], tuple(d["columns"]), bool(d.get("unique", kind == "add_unique")))
        state[name] = attrs.evolve(before, indexes=(*before.indexes, index))
        if intent.model is not None and db.dialect.name != "sqlite":
            # The dialect knows its own CREATE INDEX spelling (MySQL has no IF NOT EXISTS).
            sql = [db.dialect.create_index_sql(intent.model, IndexSpec(index.name, index.columns, index.unique))]
        else:
            sql = ddl.add_index(name, index)
        return _step(intent, sql)
    if kind == "drop_index":
        state[name] = attrs.evolve(before, indexes=tuple(i for i in before.indexes if i.name != d["name"]))
        return _step(intent, ddl.drop_index(name, d["name"]))
    if kind == "add_foreign_key":
        fk = ForeignKeySchema(d.get("name"), tuple(d["columns"]), d["ref_table"], tuple(d.get("ref_columns", ("id",))),
                              d.get("on_delete"), d.get("on_update"))
        after = attrs.evolve(before, foreign_keys=(*before.foreign_keys, fk))
        state[name] = after
        return _step(intent, ddl.add_foreign_key(before, after, fk))
    if kind == "drop_foreign_key":
        wanted_cols = tuple(d.get("columns", ()))
        found = next((f for f in before.foreign_keys if f.name == d.get("name") or f.columns == wanted_cols), None)
        if found is None:
            raise DataFlowError("DF-301", f"No such foreign key on {name!r}: {dict(d)}.", context={"table": name})
        after = attrs.evolve(before, foreign_keys=tuple(f for f in before.foreign_keys if f is not found))
        state[name] = after
        return _step(intent, ddl.drop_foreign_key(before, after, found))
    raise DataFlowError("DF-301", f"Unknown migration step kind {kind!r}.", context={"step": kind})


def render(db: Any, intents: Iterable[Intent], live: Mapping[str, TableSchema], *,
           ordered: bool = False) -> list[MigrationStep]:
    """Order ``intents`` (unless ``ordered``) and give each its SQL for the state the previous ones leave."""
    ddl = DDL(db.dialect)
    state = dict(live)
    if not ordered:
        intents = sorted(intents, key=lambda i: ORDER.index(i.kind) if i.kind in ORDER else len(ORDER))
    return [render_one(db, ddl, intent, state) for intent in intents]


# -------------------------------------------------------------------------------------------------
# The plan
# -------------------------------------------------------------------------------------------------

_BASELINE = {
    "drop_table": (RiskLevel.CRITICAL, "The table and every row in it are deleted."),
    "drop_column": (RiskLevel.HIGH, "The column's data is deleted."),
    "alter_type": (RiskLevel.HIGH, "Existing values may not convert, or may lose precision."),
    "alter_nullability": (RiskLevel.MEDIUM, "Existing NULLs make the change fail."),
}


def baseline_findings(plan: MigrationPlan) -> list[RiskFinding]:
    """Findings for destructive steps no risk plugin assessed, so they are never applied unconfirmed."""
    assessed = {f.step_index for f in plan.findings}
    findings = []
    for index, step in enumerate(plan.steps):
        if index in assessed or step.kind not in _BASELINE:
            continue
        level, reason = _BASELINE[step.kind]
        if step.kind == "alter_nullability" and step.details.get("to") is True:
            continue  # allowing NULL loses nothing
        findings.append(RiskFinding("migrate.baseline", level, int(level) * 25, "data_loss", reason, index,
                                    "Back the data up, or review the step and confirm."))
    return findings


def _plugin_failed(plugin: str, exc: Exception) -> None:
    # A failing plugin must not stop planning; the baseline findings still guard destructive steps.
    log.warning("Plugin %r failed while planning a migration: %s: %s", plugin, type(exc).__name__, exc)


async def plan_migration(
    db: Any, models: Sequence[ModelSpec], live: Mapping[str, TableSchema], *, additive: bool = False,
    drop_columns: bool = True, drop_tables: Iterable[str] = (), accept_renames: Any = (), assess: bool = True,
) -> MigrationPlan:
    """The plan turning ``live`` into what ``models`` need, with plugins' steps and risk findings.

    :param additive: only create and add (auto-migration): never drop, narrow or retype.
    :param drop_columns: include dropping columns no model field maps to (full plans only).
    :param drop_tables: tables to drop (only tables no model of ``models`` owns).
    :param accept_renames: renames to apply: ``{"table.old": "new", "old_table": "new_table"}`` or
        ``["table.old->new"]``.
    :param assess: ask the risk plugins about a non-empty plan (off for a quick "anything to do?").
    """
    intents, candidates = diff(db, models, live, additive=additive, drop_columns=drop_columns,
                               drop_tables=drop_tables, accept_renames=accept_renames)
    plan = MigrationPlan(db.dialect.name, render(db, intents, live))
    plan.rename_candidates = [_candidate_step(db, c, live) for c in candidates]
    for candidate in plan.rename_candidates:
        log.warning("Possible rename on %s: %s -> %s (kept the old one; accept it with accept_renames)",
                    candidate.table, candidate.column or candidate.table, candidate.details.get("to"))
    for _plugin, extra in db.plugins.call_isolated("dataflow_migration_steps", plan=plan, db=db,
                                                   on_error=_plugin_failed):
        for step in extra or ():
            if not additive or step.additive:
                plan.steps.append(step)
    if assess and plan.steps:
        for _plugin, found in db.plugins.call_isolated("dataflow_assess_migration", plan=plan, db=db,
                                                       on_error=_plugin_failed):
            if inspect.isawaitable(found):  # a plugin that asks the live database answers asynchronously
                found = await found
            plan.findings.extend(found or ())
        plan.findings.extend(baseline_findings(plan))
    return plan


def _candidate_step(db: Any, candidate: Intent, live: Mapping[str, TableSchema]) -> MigrationStep:
    state = dict(live)
    try:
        return render_one(db, DDL(db.dialect), candidate, state)
    except DataFlowError:
        return _step(candidate, ())
