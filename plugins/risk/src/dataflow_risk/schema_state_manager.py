"""``SchemaStateManager``: schema snapshots, change tracking, evolution reports, rollback (component 8).

A snapshot is the catalogue's full view of the schema (tables with columns, indexes, constraints and
triggers, plus views), optionally with row counts and data checksums. ``rollback_to_snapshot`` puts
the schema back exactly as the snapshot saw it:

- SQLite: each changed table is rebuilt from its recorded ``CREATE TABLE`` text (the documented
  twelve-step procedure), data copied across by column name; indexes, triggers and views are
  recreated from their recorded SQL.
- PostgreSQL: in-place ``ALTER``s inside one transaction (PostgreSQL's DDL is transactional), using
  the exact definitions ``pg_get_indexdef`` / ``pg_get_constraintdef`` / ``pg_get_triggerdef`` /
  ``pg_get_viewdef`` recorded in the snapshot.
- MySQL / MariaDB: in-place ``ALTER``s with full column definitions and ``AFTER`` for column order
  (DDL commits implicitly there, so a failure midway is reported, not undone).

Data in dropped columns or tables cannot come back from a schema snapshot; the result says which.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.migration import RiskLevel

from dataflow_risk.catalog import Catalog, ColumnInfo, ForeignKeyInfo, TableInfo, ViewInfo, catalog_for
from dataflow_risk.sqlite_rebuild import with_foreign_keys_off

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
        return [c for t in self.tables.values() for c in (*t.foreign_keys, *t.checks, *t.uniques)]

    @property
    def index_definitions(self) -> list[Any]:
        return [i for t in self.tables.values() for i in t.indexes]

    def structure(self) -> dict[str, Any]:
        """A comparable description: equal structures mean the schema is exactly the same."""
        return {
            "tables": {n: attrs.asdict(t, recurse=True) for n, t in sorted(self.tables.items())},
            "views": {v.name: v.definition for v in self.views},
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


def diff_snapshots(old: SchemaSnapshot, new: SchemaSnapshot) -> list[SchemaChange]:
    """The changes from ``old`` to ``new``, each with an impact level."""
    changes: list[SchemaChange] = []

    def add(kind: str, text: str, level: RiskLevel, *objects: str) -> None:
        changes.append(SchemaChange(kind, text, level, objects))

    for name in sorted(set(new.tables) - set(old.tables)):
        add("table_added", f"table {name} was created", RiskLevel.LOW, name)
    for name in sorted(set(old.tables) - set(new.tables)):
        add("table_dropped", f"table {name} was dropped", RiskLevel.CRITICAL, name)
    for name in sorted(set(old.tables) & set(new.tables)):
        before, after = old.tables[name], new.tables[name]
        cols_before = {c.name: c for c in before.columns}
        cols_after = {c.name: c for c in after.columns}
        for col in cols_after.keys() - cols_before.keys():
            add("column_added", f"column {name}.{col} was added", RiskLevel.LOW, f"{name}.{col}")
        for col in cols_before.keys() - cols_after.keys():
            add("column_dropped", f"column {name}.{col} was dropped", RiskLevel.HIGH, f"{name}.{col}")
        for col in cols_before.keys() & cols_after.keys():
            if cols_before[col] != cols_after[col]:
                b, a = cols_before[col], cols_after[col]
                add(
                    "column_modified",
                    f"column {name}.{col} changed: {_col_text(b)} → {_col_text(a)}",
                    RiskLevel.MEDIUM,
                    f"{name}.{col}",
                )
        for kind, attr in (
            ("index", "indexes"),
            ("unique", "uniques"),
            ("foreign_key", "foreign_keys"),
            ("check", "checks"),
            ("trigger", "triggers"),
        ):
            items_before = {i.name: i for i in getattr(before, attr)}
            items_after = {i.name: i for i in getattr(after, attr)}
            for item in items_after.keys() - items_before.keys():
                add(f"{kind}_added", f"{kind.replace('_', ' ')} {item} was added on {name}", RiskLevel.LOW, item)
            for item in items_before.keys() - items_after.keys():
                add(
                    f"{kind}_dropped",
                    f"{kind.replace('_', ' ')} {item} was dropped from {name}",
                    RiskLevel.MEDIUM,
                    item,
                )
            for item in items_before.keys() & items_after.keys():
                if items_before[item] != items_after[item]:
                    add(
                        f"{kind}_modified", f"{kind.replace('_', ' ')} {item} on {name} changed", RiskLevel.MEDIUM, item
                    )
        if set(cols_before) == set(cols_after) and before.column_names != after.column_names:
            add("column_order_changed", f"columns of {name} were reordered", RiskLevel.LOW, name)
    views_before = {v.name: v for v in old.views}
    views_after = {v.name: v for v in new.views}
    for view in views_after.keys() - views_before.keys():
        add("view_added", f"view {view} was created", RiskLevel.LOW, view)
    for view in views_before.keys() - views_after.keys():
        add("view_dropped", f"view {view} was dropped", RiskLevel.MEDIUM, view)
    for view in views_before.keys() & views_after.keys():
        if views_before[view] != views_after[view]:
            add("view_modified", f"view {view} changed", RiskLevel.MEDIUM, view)
    return changes


def in_scope(name: str, scope: str | tuple[str, ...] | None) -> bool:
    if scope is None:
        return True
    return name.startswith(scope) if isinstance(scope, str) else name in scope


def _col_text(c: ColumnInfo) -> str:
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
        tables = {}
        for name in sorted(names):
            info = await self.catalog.table(name)
            if info is not None:
                tables[name] = info
        views = [v for v in await self._views_in_creation_order() if in_scope(v.name, scope)]
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
                        violations[fk.name] = await self.catalog.orphan_count(
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
            self.catalog.dialect_name,
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

    async def _views_in_creation_order(self) -> list[ViewInfo]:
        """Views in an order they can be recreated in (creation order where the catalogue knows it)."""
        views = await self.catalog.views()
        if self.catalog.dialect_name == "sqlite":
            order = [
                r[0]
                for r in await self.catalog.fetch("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY rowid")
            ]
        elif self.catalog.dialect_name == "postgresql":
            schema = await self.catalog.current_schema()  # type: ignore[attr-defined]
            order = [
                r[0]
                for r in await self.catalog.fetch(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = ? AND c.relkind = 'v' ORDER BY c.oid",
                    [schema],
                )
            ]
        else:
            return views
        rank = {name: i for i, name in enumerate(order)}
        return sorted(views, key=lambda v: rank.get(v.name, len(rank)))

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
        changes = diff_snapshots(from_snapshot, target)
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
        builder = {"sqlite": _SQLiteRollback, "postgresql": _PostgresRollback, "mysql": _MySQLRollback}[
            self.catalog.dialect_name
        ](self.catalog, snapshot, current)
        statements, lost = builder.plan()
        try:
            await builder.run(statements)
        except Exception as exc:
            return RollbackResult(
                False, snapshot.snapshot_id, tuple(statements), tuple(lost), str(exc), time.perf_counter() - started
            )
        return RollbackResult(
            True, snapshot.snapshot_id, tuple(statements), tuple(lost), duration=time.perf_counter() - started
        )


# ---- rollback statement builders ------------------------------------------------------------------
class _Rollback:
    """Turns (current, snapshot) into the statements that make current equal snapshot."""

    def __init__(self, catalog: Catalog, target: SchemaSnapshot, current: SchemaSnapshot) -> None:
        self.catalog = catalog
        self.target = target
        self.current = current
        self.q = catalog.q
        self.lost: list[str] = []

    def qt(self, table: str) -> str:
        return self.catalog.qualified(table)

    def changed_tables(self) -> list[str]:
        return [
            n
            for n in self.target.tables
            if n in self.current.tables and self.target.tables[n] != self.current.tables[n]
        ]

    def renamed_columns(self, before: TableInfo, after: TableInfo) -> dict[str, str]:
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

    def drop_stale_foreign_keys(self, drop: str) -> list[str]:
        """``ALTER TABLE … {drop} fk`` for every foreign key the snapshot does not have (or has differently)."""
        out: list[str] = []
        for name, info in self.current.tables.items():
            want = self.target.tables.get(name)
            for fk in info.foreign_keys:
                if want is None or fk not in want.foreign_keys:
                    out.append(f"ALTER TABLE {self.qt(name)} {drop} {self.q(fk.name)}")
        return out

    def missing_foreign_keys(self) -> list[tuple[str, ForeignKeyInfo]]:
        """``(table, fk)`` for every foreign key of the snapshot that the database lacks, in snapshot order."""
        out: list[tuple[str, ForeignKeyInfo]] = []
        for name, want in self.target.tables.items():
            have_fks = set(self.current.tables[name].foreign_keys) if name in self.current.tables else set()
            out += [(name, fk) for fk in want.foreign_keys if fk not in have_fks]
        return out

    def restore_columns(self, want: TableInfo, have: TableInfo) -> tuple[list[str], dict[str, ColumnInfo]]:
        """Rename back the columns that look renamed and drop those the snapshot lacks: the statements, and the
        database's columns by their snapshot name (what is left to compare column by column)."""
        table = self.qt(want.name)
        renamed = self.renamed_columns(want, have)
        out = [
            f"ALTER TABLE {table} RENAME COLUMN {self.q(current_name)} TO {self.q(old_name)}"
            for current_name, old_name in renamed.items()
        ]
        for col in have.columns:
            if renamed.get(col.name, col.name) not in want.column_names:
                out.append(f"ALTER TABLE {table} DROP COLUMN {self.q(col.name)}")
        return out, {renamed.get(col.name, col.name): col for col in have.columns}

    def drop_extra_triggers(self, want: TableInfo, have: TableInfo, suffix: str = "") -> list[str]:
        """``DROP TRIGGER`` for each trigger of the database's table that the snapshot lacks
        (``suffix``: what the dialect writes after the name, PostgreSQL's `` ON table``)."""
        return [f"DROP TRIGGER {self.q(t.name)}{suffix}" for t in have.triggers if t not in want.triggers]

    def drop_extra_checks(self, want: TableInfo, have: TableInfo) -> list[str]:
        """``DROP CONSTRAINT`` for each CHECK of the database's table that the snapshot lacks."""
        table = self.qt(want.name)
        return [f"ALTER TABLE {table} DROP CONSTRAINT {self.q(c.name)}" for c in have.checks if c not in want.checks]

    def create_views(self) -> list[str]:
        """The snapshot's views, created last (once every table they read is back)."""
        return [f"CREATE VIEW {self.qt(v.name)} AS {v.definition}" for v in self.target.views]

    def plan(self) -> tuple[list[str], list[str]]:
        raise NotImplementedError

    async def run(self, statements: Sequence[str]) -> None:
        await self.catalog.execute(statements)


class _SQLiteRollback(_Rollback):
    def plan(self) -> tuple[list[str], list[str]]:
        t, c = self.target, self.current
        out: list[str] = []
        rebuild = self.changed_tables()
        views_differ = [v.name for v in c.views] != [v.name for v in t.views] or c.views != t.views
        touched = set(rebuild) | (set(c.tables) ^ set(t.tables))
        if touched or views_differ:
            # Views and triggers are recreated from their recorded SQL after the tables are right.
            out += [f"DROP VIEW IF EXISTS {self.q(v.name)}" for v in c.views]
        for name in sorted(set(c.tables) - set(t.tables)):
            out.append(f"DROP TABLE {self.q(name)}")
        for name in rebuild:
            before, after = t.tables[name], c.tables[name]
            renamed = self.renamed_columns(before, after)
            tmp = f"_df_rollback_{uuid.uuid4().hex[:8]}"
            out.append(f"ALTER TABLE {self.q(name)} RENAME TO {self.q(tmp)}")
            out.append(before.ddl or "")
            targets, sources = [], []
            source_by_target = {renamed.get(col.name, col.name): col.name for col in after.columns}
            for col in before.columns:
                if col.name in source_by_target:
                    targets.append(self.q(col.name))
                    sources.append(self.q(source_by_target[col.name]))
                else:
                    self.lost.append(f"{name}.{col.name}")
                    if not col.nullable and col.default is None:
                        targets.append(self.q(col.name))
                        sources.append("0" if "INT" in col.type.upper() else "''")
            if targets:
                out.append(
                    f"INSERT INTO {self.q(name)} ({', '.join(targets)}) SELECT {', '.join(sources)} FROM {self.q(tmp)}"
                )
            out.append(f"DROP TABLE {self.q(tmp)}")
        for name in t.tables:
            if name not in c.tables:
                out.append(t.tables[name].ddl or "")
                self.lost.append(name)
        for name in t.tables:
            if name in rebuild or name not in c.tables:
                out += [i.definition for i in t.tables[name].indexes if i.definition]
                out += [tr.definition for tr in t.tables[name].triggers]
            else:
                out += self._sync_named(c.tables[name].indexes, t.tables[name].indexes, "INDEX")
                out += self._sync_named(c.tables[name].triggers, t.tables[name].triggers, "TRIGGER")
        if touched or views_differ:
            out += [v.definition for v in t.views]
        return [s for s in out if s], self.lost

    def _sync_named(self, current: Sequence[Any], target: Sequence[Any], kind: str) -> list[str]:
        now = {i.name: i for i in current}
        want = {i.name: i for i in target}
        drops = [f"DROP {kind} {self.q(n)}" for n in now if n not in want or now[n] != want[n]]
        creates = [want[n].definition for n in want if (n not in now or now[n] != want[n]) and want[n].definition]
        return drops + creates

    async def run(self, statements: Sequence[str]) -> None:
        """Foreign keys off and legacy renames on, so that no other table's references are rewritten."""
        problems = await with_foreign_keys_off(self.catalog, statements)
        if problems:
            self.lost.append(f"{problems} rows now violate foreign keys")


class _PostgresRollback(_Rollback):
    def column_sql(self, col: ColumnInfo) -> str:
        sql = f"{self.q(col.name)} {col.type}"
        if col.extra in ("a", "d"):
            sql += f" GENERATED {'ALWAYS' if col.extra == 'a' else 'BY DEFAULT'} AS IDENTITY"
        elif col.default is not None:
            sql += f" DEFAULT {col.default}"
        return sql + ("" if col.nullable else " NOT NULL")

    def create_table(self, info: TableInfo) -> list[str]:
        out = []
        for col in info.columns:
            seq = re.match(r"nextval\('([^']+)'::regclass\)", col.default or "")
            if seq:
                out.append(f"CREATE SEQUENCE IF NOT EXISTS {seq.group(1)}")
        cols = [self.column_sql(col) for col in info.columns]
        out.append(f"CREATE TABLE {self.qt(info.name)} ({', '.join(cols)})")
        for col in info.columns:
            seq = re.match(r"nextval\('([^']+)'::regclass\)", col.default or "")
            if seq:
                out.append(f"ALTER SEQUENCE {seq.group(1)} OWNED BY {self.qt(info.name)}.{self.q(col.name)}")
        return out

    def plan(self) -> tuple[list[str], list[str]]:
        t, c = self.target, self.current
        out: list[str] = [f"DROP VIEW IF EXISTS {self.qt(v.name)} CASCADE" for v in reversed(c.views)]
        # 1. Drop what the snapshot does not have (or has differently): FKs first, then the rest.
        out += self.drop_stale_foreign_keys("DROP CONSTRAINT")
        for name in sorted(set(c.tables) - set(t.tables)):
            out.append(f"DROP TABLE {self.qt(name)} CASCADE")
        for name in sorted(set(t.tables) - set(c.tables)):
            out += self.create_table(t.tables[name])
            self.lost.append(name)
        for name in self.changed_tables():
            out += self.alter_table(t.tables[name], c.tables[name])
        # 2. Recreate what the snapshot has and the database lacks, from the recorded definitions.
        for name, want in t.tables.items():
            # alter_table dropped what differs, so what is left of ``have`` already matches the snapshot.
            have = c.tables.get(name)
            have_checks = set(have.checks) if have else set()
            have_uniques = set(have.uniques) if have else set()
            have_indexes = set(have.indexes) if have else set()
            have_triggers = set(have.triggers) if have else set()
            fresh = name not in c.tables
            for index in want.indexes:
                if (fresh or index not in have_indexes) and not index.constraint and index.definition:
                    out.append(index.definition)
                elif fresh and index.primary:
                    cols = ", ".join(self.q(x) for x in index.columns)
                    out.append(f"ALTER TABLE {self.qt(name)} ADD CONSTRAINT {self.q(index.name)} PRIMARY KEY ({cols})")
            for unique in want.uniques:
                if fresh or unique not in have_uniques:
                    cols = ", ".join(self.q(x) for x in unique.columns)
                    out.append(f"ALTER TABLE {self.qt(name)} ADD CONSTRAINT {self.q(unique.name)} UNIQUE ({cols})")
            for check in want.checks:
                if fresh or check not in have_checks:
                    suffix = "" if check.validated else " NOT VALID"
                    out.append(
                        f"ALTER TABLE {self.qt(name)} ADD CONSTRAINT {self.q(check.name)} "
                        f"{check.definition.removesuffix(' NOT VALID')}{suffix}"
                    )
            for trigger in want.triggers:
                if fresh or trigger not in have_triggers:
                    out.append(trigger.definition)
        for name, fk in self.missing_foreign_keys():
            suffix = "" if fk.validated else " NOT VALID"
            out.append(
                f"ALTER TABLE {self.qt(name)} ADD CONSTRAINT {self.q(fk.name)} "
                f"{(fk.definition or '').removesuffix(' NOT VALID')}{suffix}"
            )
        return out + self.create_views(), self.lost

    def alter_table(self, want: TableInfo, have: TableInfo) -> list[str]:
        table = self.qt(want.name)
        out = self.drop_extra_triggers(want, have, f" ON {table}")
        out += self.drop_extra_checks(want, have)
        for unique in have.uniques:
            if unique not in want.uniques:
                out.append(f"ALTER TABLE {table} DROP CONSTRAINT {self.q(unique.name)}")
        for index in have.indexes:
            if index not in want.indexes and not index.constraint:
                out.append(f"DROP INDEX {self.q(self.catalog.schema or 'public')}.{self.q(index.name)}")
        restored, have_cols = self.restore_columns(want, have)
        out += restored
        for col in want.columns:
            now = have_cols.get(col.name)
            if now is None:
                self.lost.append(f"{want.name}.{col.name}")
                if not col.nullable and col.default is None:
                    out.append(f"ALTER TABLE {table} ADD COLUMN {self.q(col.name)} {col.type}")
                    out.append(f"UPDATE {table} SET {self.q(col.name)} = DEFAULT")
                    out.append(f"ALTER TABLE {table} ALTER COLUMN {self.q(col.name)} SET NOT NULL")
                else:
                    out.append(f"ALTER TABLE {table} ADD COLUMN {self.column_sql(col)}")
                continue
            name = self.q(col.name)
            if now.type != col.type:
                out.append(f"ALTER TABLE {table} ALTER COLUMN {name} TYPE {col.type} USING {name}::{col.type}")
            if now.default != col.default and col.extra == now.extra:
                out.append(
                    f"ALTER TABLE {table} ALTER COLUMN {name} "
                    + (f"SET DEFAULT {col.default}" if col.default is not None else "DROP DEFAULT")
                )
            if now.nullable != col.nullable:
                out.append(f"ALTER TABLE {table} ALTER COLUMN {name} {'DROP' if col.nullable else 'SET'} NOT NULL")
        return out


class _MySQLRollback(_Rollback):
    def column_sql(self, col: ColumnInfo) -> str:
        sql = f"{self.q(col.name)} {col.type}{'' if col.nullable else ' NOT NULL'}"
        if col.default is not None:
            literal = (
                col.default
                if re.match(r"^(-?\d+(\.\d+)?|current_timestamp.*|NULL|'.*')$", col.default, re.I)
                else "'" + col.default.replace("'", "''") + "'"
            )
            sql += f" DEFAULT {literal}"
        if "auto_increment" in col.extra.lower():
            sql += " AUTO_INCREMENT"
        return sql

    def plan(self) -> tuple[list[str], list[str]]:
        t, c = self.target, self.current
        out: list[str] = [f"DROP VIEW IF EXISTS {self.qt(v.name)}" for v in c.views]
        out += self.drop_stale_foreign_keys("DROP FOREIGN KEY")
        for name in sorted(set(c.tables) - set(t.tables)):
            out.append(f"DROP TABLE {self.qt(name)}")
        for name in sorted(set(t.tables) - set(c.tables)):
            ddl = t.tables[name].ddl or ""
            # Foreign keys are added at the end, once every table they reference exists.
            out.append(re.sub(r",\s*CONSTRAINT `[^`]+` FOREIGN KEY[^\n]*", "", ddl))
            self.lost.append(name)
        for name in self.changed_tables():
            out += self.alter_table(t.tables[name], c.tables[name])
        for name, fk in self.missing_foreign_keys():
            cols = ", ".join(self.q(x) for x in fk.columns)
            refs = ", ".join(self.q(x) for x in fk.ref_columns)
            out.append(
                f"ALTER TABLE {self.qt(name)} ADD CONSTRAINT {self.q(fk.name)} FOREIGN KEY ({cols}) "
                f"REFERENCES {self.qt(fk.ref_table)} ({refs}) ON DELETE {fk.on_delete} "
                f"ON UPDATE {fk.on_update}"
            )
        return out + self.create_views(), self.lost

    def alter_table(self, want: TableInfo, have: TableInfo) -> list[str]:
        table = self.qt(want.name)
        out = self.drop_extra_triggers(want, have)
        for index in (*have.indexes, *have.uniques):
            if index not in (*want.indexes, *want.uniques) and not index.primary:
                out.append(f"ALTER TABLE {table} DROP INDEX {self.q(index.name)}")
        out += self.drop_extra_checks(want, have)
        restored, have_cols = self.restore_columns(want, have)
        out += restored
        previous = None
        for col in want.columns:
            position = f" AFTER {self.q(previous)}" if previous else " FIRST"
            now = have_cols.get(col.name)
            if now is None:
                self.lost.append(f"{want.name}.{col.name}")
                out.append(f"ALTER TABLE {table} ADD COLUMN {self.column_sql(col)}{position}")
            elif now != col or [c.name for c in want.columns].index(col.name) != list(have_cols).index(col.name):
                out.append(f"ALTER TABLE {table} MODIFY COLUMN {self.column_sql(col)}{position}")
            previous = col.name
        for index in (*want.indexes, *want.uniques):
            if index not in (*have.indexes, *have.uniques) and not index.primary:
                cols = ", ".join(self.q(x) for x in index.columns)
                out.append(f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {self.q(index.name)} ON {table} ({cols})")
        for check in want.checks:
            if check not in have.checks:
                out.append(f"ALTER TABLE {table} ADD CONSTRAINT {self.q(check.name)} CHECK ({check.definition})")
        for trigger in want.triggers:
            if trigger not in have.triggers:
                out.append(
                    f"CREATE TRIGGER {self.q(trigger.name)} {trigger.definition.split(' ', 2)[0]} "
                    f"{trigger.definition.split(' ', 2)[1]} ON {table} FOR EACH ROW "
                    f"{trigger.definition.split(' ', 2)[2]}"
                )
        return out
