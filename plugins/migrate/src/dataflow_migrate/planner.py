"""Diff model specs against the live schema and plan the migration: ordered, typed steps with SQL.

Planning is two passes. The diff produces *intents* (kind, table, column, details) from the models, the
introspected tables and a few live facts (does the table hold rows, does a column hold NULLs);
intents are then sorted into a safe order and rendered one by one against a simulated schema, each by
the dialect (``SQLDialect.schema_change_sql``), so each step's SQL is right for the state the previous
steps leave (which matters where a change rebuilds the whole table).

Rules the diff follows:

- Renames are never guessed silently: a removed and an added column of the same type family in one
  table (or a missing model table whose columns match an unowned live table) becomes a candidate in
  ``plan.rename_candidates``; the plan keeps the additive half and drops nothing until the caller
  accepts the rename with ``accept_renames``.
- Dropping is opt-in (``drop_columns``, ``drop_tables``). A column no field maps to any more is kept
  with its data; if it is NOT NULL without a default it is made nullable (losing nothing), so that
  creates which no longer set it keep working.
- A new required field is added NOT NULL when the table is empty or the model gives a default (written
  into the column's DDL default). On a table with rows it is added nullable, the model still
  requires it on writes, and the plan carries a *follow-up*: the NOT NULL change, with the command
  that completes it once the rows are backfilled (``dataflow migrate require``). The same holds for any
  column the model makes required while it holds NULLs.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from dataflow.errors import DataFlowError
from dataflow.models import ModelSpec
from dataflow.types import (
    ColumnSchema,
    ForeignKeySchema,
    IndexSchema,
    MigrationPlan,
    MigrationStep,
    RiskFinding,
    RiskLevel,
    SchemaChange,
    TableSchema,
    normalise_type,
)

from dataflow_migrate.introspect import INTERNAL_TABLES

__all__ = ["ORDER", "LiveFacts", "assess_findings", "desired_table", "plan_migration", "render", "require_command",
           "types_match"]

log = logging.getLogger("dataflow.migrate")

ORDER = (
    "create_table", "rename_table", "rename_column", "add_column", "alter_type", "alter_nullability",
    "alter_default", "add_index", "add_unique", "add_check", "drop_foreign_key", "add_foreign_key",
    "drop_index", "drop_column", "drop_table",
)
"""Rendering order: create and widen first, destroy last, so a failure leaves the least behind (a foreign
key whose ``on_delete`` changes is dropped just before it is added again, under the same name)."""


@attrs.frozen
class Intent:
    """A change the diff wants, before it is placed in order and given SQL."""

    kind: str
    table: str
    column: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    model: ModelSpec | None = None


@attrs.frozen
class LiveFacts:
    """What the diff needs to know about the data: which tables hold rows, which columns hold NULLs."""

    populated: frozenset[str] = frozenset()
    with_nulls: frozenset[tuple[str, str]] = frozenset()


def desired_table(db: Any, model: ModelSpec) -> TableSchema:
    """The table ``model`` needs, with the types and defaults this instance would create."""
    return db.dialect.table_for_model(model, db.column_types(model))


def desired_columns(db: Any, model: ModelSpec) -> list[ColumnSchema]:
    return list(desired_table(db, model).columns)


def types_match(live: ColumnSchema, wanted: ColumnSchema) -> bool:
    """Same type, by spelling or by family: ``varchar(255)`` serves a str field as well as ``text``, and a
    hand-made ``BOOLEAN`` serves a bool field that DataFlow would store as ``INTEGER`` on SQLite."""
    if (live.family == "array") != (wanted.family == "array"):
        return False  # a native array and JSON hold the same lists, but one is no substitute for the other
    return (normalise_type(live.type) == normalise_type(wanted.type) or live.family == wanted.family
            or live.family == wanted.kind)


def require_command(table: str, column: str) -> str:
    """The command that completes a required column added nullable (backfill, then SET NOT NULL)."""
    return f"dataflow migrate require {table}.{column} --backfill <value>"


def _required(column: ColumnSchema) -> bool:
    return not column.nullable and column.default is None and not column.primary_key


# -------------------------------------------------------------------------------------------------
# Diff
# -------------------------------------------------------------------------------------------------


@attrs.define
class _Diff:
    """The outcome of diffing: intents to render, rename candidates, follow-ups left for later."""

    intents: list[Intent] = attrs.Factory(list)
    candidates: list[Intent] = attrs.Factory(list)
    follow_ups: list[Intent] = attrs.Factory(list)


def _follow_up(model: ModelSpec, column: str) -> Intent:
    return Intent("alter_nullability", model.table, column,
                  {"from": True, "to": False, "command": require_command(model.table, column),
                   "reason": "required by the model; existing rows must be backfilled before NOT NULL"}, model)


def _diff_table(
    db: Any, model: ModelSpec, live: TableSchema, out: _Diff, *, additive: bool, drop_columns: bool,
    accepted: Mapping[tuple[str, str], str], facts: LiveFacts,
) -> None:
    want = desired_table(db, model)
    added = [c for c in want.columns if live.column(c.name) is None]
    removed = [c for c in live.columns if want.column(c.name) is None]
    renamed_to: dict[str, str] = {}
    for old in removed:
        if (model.table, old.name) in accepted:
            renamed_to[old.name] = accepted[(model.table, old.name)]
            continue
        same_family = [a for a in added if a.family == old.family]
        others = [r for r in removed if r.family == old.family]
        if len(same_family) == 1 and len(others) == 1:
            out.candidates.append(Intent("rename_column", model.table, old.name,
                                         {"to": same_family[0].name, "type": old.type}, model))
    for old_name, new_name in renamed_to.items():
        out.intents.append(Intent("rename_column", model.table, old_name, {"to": new_name}, model))
    populated = model.table in facts.populated
    for column in added:
        if column.name in renamed_to.values():
            continue
        as_added = column
        if _required(column) and populated:
            # Existing rows have no value for it: added nullable, completed by a follow-up.
            as_added = attrs.evolve(column, nullable=True)
            out.follow_ups.append(_follow_up(model, column.name))
        out.intents.append(Intent("add_column", model.table, column.name,
                                  {"type": column.type, "nullable": as_added.nullable, "default": column.default,
                                   "column": as_added}, model))
    for wanted in want.columns:
        current = live.column(wanted.name)
        if current is None or wanted.primary_key or current.primary_key:
            continue
        if not additive and not types_match(current, wanted):
            out.intents.append(Intent("alter_type", model.table, wanted.name,
                                      {"from": current.type, "to": wanted.type}, model))
        if current.nullable and not wanted.nullable and not additive:
            if (model.table, wanted.name) in facts.with_nulls:
                out.follow_ups.append(_follow_up(model, wanted.name))
            else:
                out.intents.append(Intent("alter_nullability", model.table, wanted.name,
                                          {"from": True, "to": False}, model))
        elif not current.nullable and wanted.nullable:
            # Allowing NULL loses nothing: done even by additive auto-migration.
            out.intents.append(Intent("alter_nullability", model.table, wanted.name, {"from": False, "to": True},
                                      model))
    candidate_columns = {c.column for c in out.candidates if c.table == model.table}
    for column in removed:
        if column.name in renamed_to or column.name in candidate_columns:
            continue
        if drop_columns and not additive:
            out.intents.append(Intent("drop_column", model.table, column.name, {"type": column.type}, model))
        elif _required(column):
            # No field sets it any more: a NOT NULL column without a default would fail every create.
            out.intents.append(Intent("alter_nullability", model.table, column.name,
                                      {"from": False, "to": True, "reason": "no model field sets it any more"},
                                      model))
    _diff_foreign_keys(model, want, live, out, additive=additive)
    live_index_names = {i.name for i in live.indexes}
    for index in model.indexes:
        if index.name not in live_index_names:
            details = {"name": index.name, "columns": list(index.fields), "unique": index.unique}
            if index.using:
                details["using"] = index.using
            out.intents.append(Intent("add_index", model.table, None, details, model))
    if not additive:
        declared = {i.name for i in model.indexes}
        own_prefix = f"ix_{model.table}_"
        for live_index in live.indexes:
            # Only indexes DataFlow itself names are DataFlow's to drop; hand-made ones are left alone.
            if live_index.name.startswith(own_prefix) and live_index.name not in declared:
                out.intents.append(Intent("drop_index", model.table, None, {"name": live_index.name}, model))


def _same_key(a: ForeignKeySchema, b: ForeignKeySchema) -> bool:
    """The same columns pointing at the same columns (names differ: SQLite keeps none)."""
    return (a.columns, a.ref_table, a.ref_columns) == (b.columns, b.ref_table, b.ref_columns)


def _action(fk: ForeignKeySchema) -> str:
    return (fk.on_delete or "NO ACTION").replace("NO ACTION", "RESTRICT")


def _fk_details(fk: ForeignKeySchema) -> dict[str, Any]:
    return {"name": fk.name, "columns": list(fk.columns), "ref_table": fk.ref_table,
            "ref_columns": list(fk.ref_columns), "on_delete": fk.on_delete, "foreign_key": fk}


def _diff_foreign_keys(model: ModelSpec, want: TableSchema, live: TableSchema, out: _Diff, *, additive: bool) -> None:
    """Declared foreign keys the table lacks are added (even by additive auto-migration: the model asks
    for them); one whose ``on_delete`` changed is replaced, and one DataFlow named that the model no
    longer declares is dropped, by a full migration only."""
    for wanted in want.foreign_keys:
        current = next((fk for fk in live.foreign_keys if _same_key(fk, wanted)), None)
        if current is None:
            out.intents.append(Intent("add_foreign_key", model.table, wanted.columns[0], _fk_details(wanted), model))
        elif _action(current) != _action(wanted) and not additive:
            out.intents.append(Intent("drop_foreign_key", model.table, current.columns[0], _fk_details(current), model))
            out.intents.append(Intent("add_foreign_key", model.table, wanted.columns[0], _fk_details(wanted), model))
    if additive:
        return
    own_prefix = f"fk_{model.table}_"
    for current in live.foreign_keys:
        if (current.name or "").startswith(own_prefix) and not any(_same_key(current, w) for w in want.foreign_keys):
            out.intents.append(Intent("drop_foreign_key", model.table, current.columns[0], _fk_details(current), model))


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
    drop_columns: bool = False, drop_tables: Iterable[str] = (), accept_renames: Any = (),
    facts: LiveFacts = LiveFacts(),
) -> _Diff:
    """Intents turning ``live`` into what ``models`` need, rename candidates, and follow-ups."""
    accepted = _accepted(accept_renames)
    owned = {m.table for m in models}
    out = _Diff()
    options: dict[str, Any] = {"additive": additive, "drop_columns": drop_columns, "accepted": accepted,
                               "facts": facts}
    for model in models:
        table = live.get(model.table)
        if table is None:
            old = next((o for (t, o), new in accepted.items() if t == "" and new == model.table), None)
            if old is not None and old in live:
                out.intents.append(Intent("rename_table", old, None, {"to": model.table}, model))
                _diff_table(db, model, attrs.evolve(live[old], name=model.table), out, **options)
                continue
            candidate = _table_rename_candidate(db, model, live, owned)
            if candidate is not None:
                out.candidates.append(candidate)
            out.intents.append(Intent("create_table", model.table, None, {"columns": [f.name for f in model.fields]},
                                      model))
            continue
        _diff_table(db, model, table, out, **options)
    if not additive:
        for name in drop_tables:
            if name in live and name not in owned:
                out.intents.append(Intent("drop_table", name, None,
                                          {"columns": [c.name for c in live[name].columns]}))
    return out


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
        return attrs.evolve(table, columns=tuple(c for c in table.columns if c.name != name))
    return attrs.evolve(table, columns=tuple(column if c.name == name else c for c in table.columns))


def _step(intent: Intent, sql: Sequence[str]) -> MigrationStep:
    shown = {k: v for k, v in intent.details.items() if k not in ("column", "foreign_key")}
    return MigrationStep(intent.kind, intent.table, intent.column, tuple(sql), shown,
                         intent.model.name if intent.model else None)


def _after(intent: Intent, before: TableSchema) -> TableSchema:
    """The table as ``intent`` leaves it."""
    kind, d = intent.kind, intent.details
    column = before.column(intent.column) if intent.column else None
    if kind == "rename_table":
        return attrs.evolve(before, name=d["to"])
    if kind == "add_column":
        return attrs.evolve(before, columns=(*before.columns, d["column"]))
    if column is None and kind in ("rename_column", "drop_column", "alter_type", "alter_nullability",
                                   "alter_default"):
        raise DataFlowError("DF-301", f"Cannot plan {kind} on {before.name!r}: it has no column {intent.column!r}.",
                            context={"table": before.name, "column": intent.column, "step": kind})
    if kind == "rename_column":
        assert column is not None
        swap = {column.name: d["to"]}
        renamed = _replace_column(before, column.name, attrs.evolve(column, name=d["to"]))
        return attrs.evolve(renamed, indexes=tuple(
            attrs.evolve(i, columns=tuple(swap.get(c, c) for c in i.columns)) for i in renamed.indexes))
    if kind == "drop_column":
        assert column is not None
        after = _replace_column(before, column.name, None)
        return attrs.evolve(after, indexes=tuple(i for i in after.indexes if column.name not in i.columns),
                            foreign_keys=tuple(f for f in after.foreign_keys if column.name not in f.columns))
    if kind in ("alter_type", "alter_nullability", "alter_default"):
        assert column is not None
        field = {"alter_type": "type", "alter_nullability": "nullable", "alter_default": "default"}[kind]
        return _replace_column(before, column.name, attrs.evolve(column, **{field: d["to"]}))
    if kind in ("add_index", "add_unique"):
        index = IndexSchema(d["name"], tuple(d["columns"]), bool(d.get("unique", kind == "add_unique")),
                            constraint=kind == "add_unique", method=d.get("using"))
        return attrs.evolve(before, indexes=(*before.indexes, index))
    if kind == "drop_index":
        return attrs.evolve(before, indexes=tuple(i for i in before.indexes if i.name != d["name"]))
    if kind == "add_foreign_key":
        return attrs.evolve(before, foreign_keys=(*before.foreign_keys, d["foreign_key"]))
    if kind == "drop_foreign_key":
        return attrs.evolve(before, foreign_keys=tuple(f for f in before.foreign_keys if f != d["foreign_key"]))
    raise DataFlowError("DF-301", f"The planner cannot render a {kind!r} step.", context={"step": kind})


def render_one(db: Any, intent: Intent, state: dict[str, TableSchema]) -> MigrationStep:
    """The step for ``intent`` against ``state`` (which is updated to the state after it)."""
    kind, name = intent.kind, intent.table
    if kind == "create_table":
        assert intent.model is not None
        state[name] = desired_table(db, intent.model)
        return _step(intent, db.dialect.create_table_sql(intent.model, db.column_types(intent.model)))
    before = state.get(name)
    if before is None:
        raise DataFlowError("DF-301", f"Cannot plan {kind} on {name!r}: the table does not exist.",
                            context={"table": name, "step": kind})
    after = None if kind == "drop_table" else _after(intent, before)
    sql = db.dialect.schema_change_sql(SchemaChange(kind, name, before, after, intent.column,
                                                    {k: v for k, v in intent.details.items()
                                                     if k not in ("column", "foreign_key")}))
    del state[name]
    if after is not None:
        state[after.name] = after
    return _step(intent, sql)


def render(db: Any, intents: Iterable[Intent], live: Mapping[str, TableSchema], *, ordered: bool = False,
           state: dict[str, TableSchema] | None = None) -> list[MigrationStep]:
    """Order ``intents`` (unless ``ordered``) and give each its SQL for the state the previous ones leave.

    ``state`` (a copy of ``live`` by default) is left as the steps leave the schema.
    """
    state = dict(live) if state is None else state
    if not ordered:
        intents = sorted(intents, key=lambda i: ORDER.index(i.kind) if i.kind in ORDER else len(ORDER))
    return [render_one(db, intent, state) for intent in intents]


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


async def live_facts(db: Any, models: Sequence[ModelSpec], live: Mapping[str, TableSchema], *,
                     additive: bool) -> LiveFacts:
    """Which of the models' tables hold rows (where a new required column needs to know), and which
    columns the models now require still hold NULLs (full plans only)."""
    dialect = db.dialect
    populated: set[str] = set()
    nulls: set[tuple[str, str]] = set()
    async with dialect.connection() as conn:
        for model in models:
            table = live.get(model.table)
            if table is None:
                continue
            want = desired_table(db, model)
            new_required = any(_required(c) and table.column(c.name) is None for c in want.columns)
            if new_required and (await dialect.estimate_rows(conn, model.table, cap=1)).rows:
                populated.add(model.table)
            if additive:
                continue
            for wanted in want.columns:
                current = table.column(wanted.name)
                if current is not None and current.nullable and not wanted.nullable and not wanted.primary_key:
                    column = dialect.quote(wanted.name)
                    found = await conn.fetch(f"SELECT 1 FROM {dialect.quote(model.table)} WHERE {column} IS NULL "
                                             "LIMIT 1", [])
                    if found:
                        nulls.add((model.table, wanted.name))
    return LiveFacts(frozenset(populated), frozenset(nulls))


async def plan_migration(
    db: Any, models: Sequence[ModelSpec], live: Mapping[str, TableSchema], *, additive: bool = False,
    drop_columns: bool = False, drop_tables: Iterable[str] = (), accept_renames: Any = (), assess: bool = True,
) -> MigrationPlan:
    """The plan turning ``live`` into what ``models`` need, with plugins' steps and risk findings.

    :param additive: auto-migration: create and add, and allow NULL where it is needed; never drop,
        narrow or retype.
    :param drop_columns: drop columns no model field maps to (full plans only; off unless asked).
    :param drop_tables: tables to drop (only tables no model of ``models`` owns).
    :param accept_renames: renames to apply: ``{"table.old": "new", "old_table": "new_table"}`` or
        ``["table.old->new"]``.
    :param assess: ask the risk plugins about a non-empty plan (off for a quick "anything to do?").
    """
    try:
        facts = await live_facts(db, models, live, additive=additive)
    except DataFlowError:
        raise
    except Exception as exc:
        raise db.enhance(db.dialect.translate_error(exc)) from exc
    found = diff(db, models, live, additive=additive, drop_columns=drop_columns, drop_tables=drop_tables,
                 accept_renames=accept_renames, facts=facts)
    after: dict[str, TableSchema] = dict(live)
    plan = MigrationPlan(db.dialect.name, render(db, found.intents, live, state=after))
    plan.rename_candidates = [_candidate_step(db, c, live) for c in found.candidates]
    plan.follow_ups = [_candidate_step(db, f, after) for f in found.follow_ups]
    for candidate in plan.rename_candidates:
        log.warning("Possible rename on %s: %s -> %s (kept the old one; accept it with accept_renames)",
                    candidate.table, candidate.column or candidate.table, candidate.details.get("to"))
    for _plugin, extra in db.plugins.call_isolated("dataflow_migration_steps", plan=plan, db=db,
                                                   on_error=_plugin_failed):
        for step in extra or ():
            if not additive or step.additive:
                plan.steps.append(step)
    if assess and plan.steps:
        await assess_findings(db, plan)
    return plan


async def assess_findings(db: Any, plan: MigrationPlan) -> None:
    """Add the risk plugins' findings for ``plan`` (and the baseline ones for steps none assessed)."""
    for _plugin, findings in db.plugins.call_isolated("dataflow_assess_migration", plan=plan, db=db,
                                                      on_error=_plugin_failed):
        if inspect.isawaitable(findings):  # a plugin that asks the live database answers asynchronously
            findings = await findings
        plan.findings.extend(findings or ())
    plan.findings.extend(baseline_findings(plan))


def _candidate_step(db: Any, intent: Intent, live: Mapping[str, TableSchema]) -> MigrationStep:
    """A step shown, not applied (a rename candidate, a follow-up), with the SQL it would run now."""
    state = dict(live)
    try:
        return render_one(db, intent, state)
    except DataFlowError:
        return _step(intent, ())
