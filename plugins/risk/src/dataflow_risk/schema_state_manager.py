"""``SchemaStateManager``: schema snapshots, change tracking, evolution reports, rollback (component 8).

A snapshot is the dialect's full view of the schema (tables with columns, indexes, keys, checks and
triggers, plus views), optionally with row counts and data checksums. ``rollback_to_snapshot`` puts
the schema back exactly as the snapshot saw it, through the dialect's DDL: stale foreign keys and
views are dropped, tables the snapshot lacks dropped and those it has created, and every changed
table made to match its record again (``SQLDialect.sync_table_sql``: in place where the database can,
a table rebuild where it cannot), all in one transaction where DDL is transactional.

The impact level of each change an evolution report lists is the risk rules' verdict on the
equivalent step (one evaluation: ``dataflow_risk.rules``). Data in dropped columns or tables cannot
come back from a schema snapshot; the rollback result says which.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.schema import SchemaDialect
from dataflow.types import ChangeCost, ColumnSchema, MigrationStep, RiskLevel, ServerInfo, TableSchema
from dataflow.types import SchemaChange as DDLChange

from dataflow_risk.catalog import Catalog, TableInfo, ViewInfo, catalog_for
from dataflow_risk.rules import StepFacts, evaluate

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = [
    "EvolutionReport",
    "RollbackResult",
    "SchemaChange",
    "SchemaSnapshot",
    "SchemaStateManager",
    "diff_snapshots",
]


@attrs.frozen
class SchemaSnapshot:
    """The schema at one moment."""

    snapshot_id: str
    description: str
    created_at: dt.datetime
    dialect: str
    tables: Mapping[str, TableInfo]
    views: tuple[ViewInfo, ...] = ()
    row_counts: Mapping[str, int] = attrs.field(factory=dict)
    data_checksums: Mapping[str, str] = attrs.field(factory=dict)
    performance_metrics: Mapping[str, Any] = attrs.field(factory=dict)
    constraint_violations: Mapping[str, int] = attrs.field(factory=dict)
    scope: str | tuple[str, ...] | None = None
    """What the snapshot was limited to: a name prefix, or exact names (None: the whole schema)."""

    @property
    def table_definitions(self) -> Mapping[str, TableInfo]:
        return self.tables

    @property
    def constraint_definitions(self) -> list[Any]:
        return [c for t in self.tables.values()
                for c in (*t.foreign_keys, *t.checks, *(i for i in t.indexes if i.constraint))]

    @property
    def index_definitions(self) -> list[Any]:
        return [i for t in self.tables.values() for i in t.indexes]

    def structure(self) -> dict[str, Any]:
        """A comparable description: equal structures mean the schema is exactly the same (the server's
        own DDL text and relation ids, which a rebuild changes, are not part of it)."""
        return {
            "tables": {n: attrs.asdict(t, recurse=True, filter=lambda a, _v: bool(a.eq))
                       for n, t in sorted(self.tables.items())},
            "views": {v.name: v.query for v in self.views},
        }


@attrs.frozen
class SchemaChange:
    change_type: str
    description: str
    impact_level: RiskLevel
    affected_objects: tuple[str, ...]


@attrs.frozen
class EvolutionReport:
    from_snapshot: str
    schema_changes: tuple[SchemaChange, ...]
    impact_summary: Mapping[str, int] = attrs.field(factory=dict)
    recommendations: tuple[str, ...] = ()


@attrs.frozen
class RollbackResult:
    success: bool
    snapshot_id: str
    statements: tuple[str, ...] = ()
    data_not_restored: tuple[str, ...] = ()
    error: str | None = None
    duration: float = 0.0


@attrs.define
class ChangeTracker:
    """What ``start_change_tracking`` returns: the baseline, and the changes seen when ``check``ed."""

    manager: SchemaStateManager
    baseline_snapshot: SchemaSnapshot
    track_performance_impact: bool = False
    started_at: float = attrs.Factory(time.monotonic)
    changes: list[SchemaChange] = attrs.Factory(list)

    async def check(self) -> list[SchemaChange]:
        current = await self.manager.create_schema_snapshot(
            description="change tracking", scope=self.baseline_snapshot.scope
        )
        self.changes = diff_snapshots(self.baseline_snapshot, current)
        return self.changes


_CHANGE_STEPS = {
    "table_added": "create_table", "table_dropped": "drop_table", "column_added": "add_column",
    "column_dropped": "drop_column", "index_added": "add_index", "index_dropped": "drop_index",
    "foreign_key_added": "add_foreign_key", "foreign_key_dropped": "drop_foreign_key", "check_added": "add_check",
    "check_dropped": "drop_check", "trigger_dropped": "drop_trigger", "trigger_modified": "alter_trigger",
    "view_dropped": "drop_view", "view_modified": "alter_view",
}
"""Change types of an evolution report → the step (or operation) kind the risk rules judge."""


def _judge(kind: str, table: str, column: str | None, details: Mapping[str, Any], snapshot: SchemaSnapshot,
           dialect: SchemaDialect | None) -> RiskLevel:
    """The rules' level for one change (rows from the snapshot's counts; assumed present when not counted)."""
    step = MigrationStep(kind, table, column, details=details)
    info = snapshot.tables.get(table)
    counted = table in snapshot.row_counts
    rows = snapshot.row_counts.get(table, 1)
    cost = dialect.change_cost(step, info, ServerInfo(snapshot.dialect), rows) if dialect else ChangeCost()
    facts = StepFacts(cost, dialect.capabilities if dialect else StepFacts().capabilities, table=info, rows=rows,
                      known=counted)
    return max((f.level for f in evaluate(step, facts)), default=RiskLevel.LOW)


def diff_snapshots(old: SchemaSnapshot, new: SchemaSnapshot,
                   dialect: SchemaDialect | None = None) -> list[SchemaChange]:
    """The changes from ``old`` to ``new``, each with the rules' impact level (``dialect`` says what each
    change costs on its database; without it the rules judge the change alone)."""
    changes: list[SchemaChange] = []

    def add(change_type: str, text: str, table: str, *objects: str, column: str | None = None,
            details: Mapping[str, Any] | None = None, kind: str | None = None) -> None:
        step_kind = kind or _CHANGE_STEPS.get(change_type)
        level = _judge(step_kind, table, column, details or {}, old, dialect) if step_kind else RiskLevel.LOW
        changes.append(SchemaChange(change_type, text, level, objects))

    for name in sorted(set(new.tables) - set(old.tables)):
        add("table_added", f"table {name} was created", name, name)
    for name in sorted(set(old.tables) - set(new.tables)):
        add("table_dropped", f"table {name} was dropped", name, name)
    for name in sorted(set(old.tables) & set(new.tables)):
        before, after = old.tables[name], new.tables[name]
        cols_before, cols_after = before.column_map, after.column_map
        for col in sorted(cols_after.keys() - cols_before.keys()):
            added = cols_after[col]
            add("column_added", f"column {name}.{col} was added", name, f"{name}.{col}", column=col,
                details={"nullable": added.nullable, "default": added.default})
        for col in sorted(cols_before.keys() - cols_after.keys()):
            add("column_dropped", f"column {name}.{col} was dropped", name, f"{name}.{col}", column=col)
        for col in sorted(cols_before.keys() & cols_after.keys()):
            b, a = cols_before[col], cols_after[col]
            if b != a:
                kind = ("alter_type" if b.type != a.type else "alter_nullability" if b.nullable != a.nullable
                        else "alter_default")
                details = {"from": b.type, "to": a.type} if kind == "alter_type" else \
                    {"from": b.nullable, "to": a.nullable} if kind == "alter_nullability" else {"to": a.default}
                add("column_modified", f"column {name}.{col} changed: {_col_text(b)} → {_col_text(a)}", name,
                    f"{name}.{col}", column=col, details=details, kind=kind)
        for kind, attr in (("index", "indexes"), ("foreign_key", "foreign_keys"), ("check", "checks"),
                           ("trigger", "triggers")):
            items_before = {_item_name(i): i for i in getattr(before, attr)}
            items_after = {_item_name(i): i for i in getattr(after, attr)}
            for item in sorted(items_after.keys() - items_before.keys()):
                add(f"{kind}_added", f"{kind.replace('_', ' ')} {item} was added on {name}", name, item,
                    details={"name": item})
            for item in sorted(items_before.keys() - items_after.keys()):
                add(f"{kind}_dropped", f"{kind.replace('_', ' ')} {item} was dropped from {name}", name, item,
                    details={"name": item})
            for item in sorted(items_before.keys() & items_after.keys()):
                if items_before[item] != items_after[item]:
                    add(f"{kind}_modified", f"{kind.replace('_', ' ')} {item} on {name} changed", name, item,
                        details={"name": item}, kind="alter_trigger" if kind == "trigger" else "alter_view")
        if set(cols_before) == set(cols_after) and before.column_names != after.column_names:
            add("column_order_changed", f"columns of {name} were reordered", name, name)
    views_before = {v.name: v for v in old.views}
    views_after = {v.name: v for v in new.views}
    for view in sorted(views_after.keys() - views_before.keys()):
        add("view_added", f"view {view} was created", view, view)
    for view in sorted(views_before.keys() - views_after.keys()):
        add("view_dropped", f"view {view} was dropped", view, view, details={"name": view})
    for view in sorted(views_before.keys() & views_after.keys()):
        if views_before[view] != views_after[view]:
            add("view_modified", f"view {view} changed", view, view, details={"name": view})
    return changes


def _item_name(item: Any) -> str:
    """An index, key, check or trigger by name (an unnamed foreign key by its columns)."""
    name = getattr(item, "name", None)
    return name if name else f"({', '.join(getattr(item, 'columns', ()))})"


def in_scope(name: str, scope: str | tuple[str, ...] | None) -> bool:
    if scope is None:
        return True
    return name.startswith(scope) if isinstance(scope, str) else name in scope


def _col_text(c: ColumnSchema) -> str:
    return f"{c.type}{'' if c.nullable else ' NOT NULL'}{f' DEFAULT {c.default}' if c.default is not None else ''}"


class SchemaStateManager:
    """Snapshots of the live schema, and the way back to one.

    :param db: the DataFlow instance (the spec's ``connection_manager``).
    """

    def __init__(self, db: DataFlow, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or catalog_for(db)
        self.snapshots: dict[str, SchemaSnapshot] = {}

    async def create_schema_snapshot(
        self,
        description: str = "",
        *,
        include_data_checksums: bool = False,
        include_performance_metrics: bool = False,
        include_constraint_validation: bool = False,
        scope: str | Sequence[str] | None = None,
    ) -> SchemaSnapshot:
        """Record the schema; ``scope`` limits it to names starting with a prefix, or to exact names."""
        started = time.perf_counter()
        scope = scope if scope is None or isinstance(scope, str) else tuple(scope)
        names = [n for n in await self.catalog.tables() if in_scope(n, scope)]
        tables = await self.catalog.snapshot_tables(names) if names else {}
        views = [v for v in await self.catalog.views() if in_scope(v.name, scope)]
        counts: dict[str, int] = {}
        checksums: dict[str, str] = {}
        violations: dict[str, int] = {}
        if include_data_checksums or include_performance_metrics:
            for name in tables:
                counts[name] = await self.catalog.row_count(name)
        if include_data_checksums:
            for name, info in tables.items():
                checksums[name] = await self._checksum(info)
        if include_constraint_validation:
            for name, info in tables.items():
                for fk in info.foreign_keys:
                    if fk.ref_table in tables:
                        violations[_item_name(fk)] = await self.catalog.orphan_count(
                            name, fk.columns, fk.ref_table, fk.ref_columns
                        )
        metrics = (
            {"snapshot_seconds": round(time.perf_counter() - started, 4), "tables": len(tables)}
            if include_performance_metrics
            else {}
        )
        snapshot = SchemaSnapshot(
            f"snap_{uuid.uuid4().hex[:12]}",
            description,
            dt.datetime.now(dt.UTC),
            self.db.dialect.name,
            tables,
            tuple(views),
            counts,
            checksums,
            metrics,
            violations,
            scope,
        )
        self.snapshots[snapshot.snapshot_id] = snapshot
        return snapshot

    async def _checksum(self, info: TableInfo) -> str:
        """A digest of the table's rows in primary-key order (cheap enough for the tables it is asked for)."""
        order = ", ".join(self.catalog.q(c.name) for c in info.columns if c.primary_key) or "1"
        cols = ", ".join(self.catalog.q(c.name) for c in info.columns)
        digest = hashlib.sha256()
        for row in await self.catalog.fetch(f"SELECT {cols} FROM {self.catalog.qualified(info.name)} ORDER BY {order}"):
            digest.update(repr(tuple(row)).encode())
        return digest.hexdigest()[:16]

    async def start_change_tracking(
        self, baseline_snapshot: SchemaSnapshot, *, track_performance_impact: bool = False
    ) -> ChangeTracker:
        return ChangeTracker(self, baseline_snapshot, track_performance_impact)

    async def generate_evolution_report(
        self,
        from_snapshot: SchemaSnapshot,
        *,
        to_current_state: bool = True,
        to_snapshot: SchemaSnapshot | None = None,
        include_impact_analysis: bool = True,
        include_recommendations: bool = True,
    ) -> EvolutionReport:
        target = to_snapshot or await self.create_schema_snapshot(
            description="current state", scope=from_snapshot.scope
        )
        changes = diff_snapshots(from_snapshot, target, self.db.dialect)
        summary: dict[str, int] = {}
        if include_impact_analysis:
            for change in changes:
                summary[change.impact_level.name] = summary.get(change.impact_level.name, 0) + 1
        recommendations: list[str] = []
        if include_recommendations:
            if any(c.change_type in ("table_dropped", "column_dropped") for c in changes):
                recommendations.append("Data was removed: keep a backup until the release is proven.")
            if any(c.change_type.endswith("_modified") for c in changes):
                recommendations.append("Modified columns / constraints: check readers and writers still agree.")
            if any(
                c.change_type.startswith(("foreign_key_dropped", "unique_dropped", "check_dropped")) for c in changes
            ):
                recommendations.append("Constraints were dropped: the data is no longer protected by them.")
        return EvolutionReport(from_snapshot.snapshot_id, tuple(changes), summary, tuple(recommendations))

    async def rollback_to_snapshot(self, snapshot: SchemaSnapshot) -> RollbackResult:
        """Put the schema back exactly as ``snapshot`` recorded it (DF-301 is never raised: see ``error``)."""
        started = time.perf_counter()
        current = await self.create_schema_snapshot(description="before rollback", scope=snapshot.scope)
        if current.structure() == snapshot.structure():
            return RollbackResult(True, snapshot.snapshot_id, duration=time.perf_counter() - started)
        statements, lost = rollback_statements(self.db.dialect, current, snapshot)
        try:
            await self.catalog.execute(statements)
        except Exception as exc:
            return RollbackResult(False, snapshot.snapshot_id, tuple(statements), tuple(lost), str(exc),
                                  time.perf_counter() - started)
        return RollbackResult(True, snapshot.snapshot_id, tuple(statements), tuple(lost),
                              duration=time.perf_counter() - started)


def renamed_columns(before: TableSchema, after: TableSchema) -> dict[str, str]:
    """Current name → snapshot name for columns that look renamed (same position, both names unmatched)."""
    mapping = {}
    target_names, current_names = set(before.column_names), set(after.column_names)
    for pos, col in enumerate(after.columns):
        if col.name in target_names or pos >= len(before.columns):
            continue
        old = before.columns[pos]
        if old.name not in current_names:
            mapping[col.name] = old.name
    return mapping


def _zero(dialect: SchemaDialect, column: ColumnSchema) -> str:
    """A value for a restored NOT NULL column without a default (its data is gone): the type's zero."""
    zero = {"int": 0, "float": 0, "decimal": 0, "bool": False, "bytes": ""}.get(column.family, "")
    return dialect.literal(zero) or "''"


def rollback_statements(dialect: SchemaDialect, current: SchemaSnapshot,
                        target: SchemaSnapshot) -> tuple[list[str], list[str]]:
    """The dialect's DDL turning ``current`` into ``target``, and what cannot come back (data of dropped
    tables and columns)."""
    lost: list[str] = []
    out: list[str] = []
    state = dict(current.tables)

    def change(kind: str, name: str, after: TableSchema | None, column: str | None = None,
               **details: Any) -> None:
        out.extend(dialect.schema_change_sql(DDLChange(kind, name, state.get(name), after, column, details)))
        if after is None:
            state.pop(name, None)
        else:
            state[name] = after

    touched = (set(current.tables) ^ set(target.tables)) | {
        n for n in target.tables if n in current.tables and target.tables[n] != current.tables[n]}
    if touched or current.views != target.views:
        # Views are created again at the end, once every table they read is back.
        out += [dialect.drop_view_sql(v.name) for v in reversed(current.views)]
    for name, info in current.tables.items():
        want = target.tables.get(name)
        stale = [fk for fk in info.foreign_keys if want is None or fk not in want.foreign_keys]
        for fk in stale:
            now = state[name]
            change("drop_foreign_key", name, attrs.evolve(now, foreign_keys=tuple(f for f in now.foreign_keys
                                                                                 if f != fk)))
    for name in sorted(set(current.tables) - set(target.tables)):
        change("drop_table", name, None)
    for name in sorted(set(target.tables) - set(current.tables)):
        # Foreign keys are added at the end, once every table they reference exists.
        bare = attrs.evolve(target.tables[name], foreign_keys=())
        out += dialect.create_table_from(bare)
        state[name] = bare
        lost.append(name)
    for name, want in target.tables.items():
        have = state.get(name)
        if have is None or name not in current.tables or have == want:
            continue
        renamed = renamed_columns(want, have)
        missing = [c for c in want.columns if c.name not in have.column_map and c.name not in renamed.values()]
        lost += [f"{name}.{c.name}" for c in missing]
        fillable = [c for c in missing if not c.nullable and c.default is None]
        # A NOT NULL column without a default comes back nullable, filled with its type's zero, then required.
        first = attrs.evolve(want, foreign_keys=tuple(fk for fk in want.foreign_keys if fk in have.foreign_keys),
                             columns=tuple(attrs.evolve(c, nullable=True) if c in fillable else c
                                           for c in want.columns))
        out += dialect.sync_table_sql(have, first, renamed)
        state[name] = first
        for column in fillable:
            out.append(f"UPDATE {dialect.quote(name)} SET {dialect.quote(column.name)} = {_zero(dialect, column)}")
            now = state[name]
            change("alter_nullability", name, attrs.evolve(now, columns=tuple(
                attrs.evolve(c, nullable=False) if c.name == column.name else c for c in now.columns)), column.name,
                to=False)
    for name, want in target.tables.items():
        for fk in want.foreign_keys:
            now = state[name]
            if fk not in now.foreign_keys:
                change("add_foreign_key", name, attrs.evolve(now, foreign_keys=(*now.foreign_keys, fk)))
    if touched or current.views != target.views:
        out += [dialect.create_view_sql(v) for v in target.views]
    return out, lost
