"""``ForeignKeyAnalyzer``: what an operation does to the foreign keys around it (component 3).

It finds the constraints that reference the table / column (and the column's own outgoing keys),
counts the rows that ON DELETE CASCADE / SET NULL would touch, rates the impact, and builds and runs
an FK-safe plan: drop the affected constraints, run the operation, recreate what still makes sense,
all in one transaction where the database's DDL is transactional.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.migration import RiskLevel

from dataflow_risk.catalog import Catalog, ForeignKeyInfo, catalog_for
from dataflow_risk.not_null_handler import checked_type

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = [
    "CascadeOperation",
    "FKImpact",
    "FKOperationType",
    "FKSafeMigrationPlan",
    "ForeignKeyAnalyzer",
    "fk_operation_for",
]


class FKOperationType(enum.Enum):
    DROP_COLUMN = "drop_column"
    DROP_TABLE = "drop_table"
    RENAME_COLUMN = "rename_column"
    RENAME_TABLE = "rename_table"
    MODIFY_COLUMN_TYPE = "alter_type"
    DELETE_ROWS = "delete_rows"


def fk_operation_for(operation_type: str) -> FKOperationType | None:
    aliases = {"remove_column": "drop_column", "change_column_type": "alter_type", "modify_column_type": "alter_type"}
    try:
        return FKOperationType(aliases.get(operation_type, operation_type))
    except ValueError:
        return None


@attrs.frozen
class CascadeOperation:
    constraint: str
    from_table: str
    action: str
    affected_rows: int


@attrs.frozen
class FKImpact:
    operation: FKOperationType
    table_name: str
    column_name: str | None
    impact_level: RiskLevel
    affected_constraints: tuple[ForeignKeyInfo, ...]
    cascade_operations: tuple[CascadeOperation, ...]
    is_safe_to_proceed: bool
    blocking_reasons: tuple[str, ...] = ()
    dialect: str = ""
    plan_args: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class FKSafeMigrationPlan:
    impact: FKImpact
    strategy: str
    statements: tuple[str, ...]
    recreate: tuple[str, ...] = ()


@attrs.frozen
class FKMigrationResult:
    success: bool
    executed_statements: tuple[str, ...]
    duration: float
    error: str | None = None


class ForeignKeyAnalyzer:
    """Foreign-key impact analysis and FK-safe execution.

    :param db: the DataFlow instance (the spec's ``connection_manager``).
    """

    def __init__(self, db: DataFlow, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or catalog_for(db)

    async def analyze_fk_impact(
        self,
        operation: FKOperationType,
        table_name: str,
        column_name: str | None = None,
        *,
        include_cascade_analysis: bool = True,
        new_name: str | None = None,
        new_type: str | None = None,
    ) -> FKImpact:
        table_level = operation in (
            FKOperationType.DROP_TABLE,
            FKOperationType.RENAME_TABLE,
            FKOperationType.DELETE_ROWS,
        )
        incoming = await self.catalog.referencing_fks(table_name, None if table_level else column_name)
        info = await self.catalog.table(table_name)
        outgoing = [fk for fk in (info.foreign_keys if info else ()) if not table_level and column_name in fk.columns]
        cascades = []
        if include_cascade_analysis:
            for fk in incoming:
                action = fk.on_delete.upper()
                rows = await self.catalog.row_count(fk.table) if fk.table != table_name else 0
                if action in ("CASCADE", "SET NULL", "SET DEFAULT") and operation in (
                    FKOperationType.DROP_TABLE,
                    FKOperationType.DELETE_ROWS,
                ):
                    cascades.append(CascadeOperation(fk.name, fk.table, action, rows))
        referencing_rows = {fk.name: await self._referencing_rows(fk) for fk in incoming}
        reasons: list[str] = []
        level = RiskLevel.LOW
        if incoming or outgoing:
            level = RiskLevel.MEDIUM
        populated = [name for name, rows in referencing_rows.items() if rows]
        if (
            operation in (FKOperationType.DROP_COLUMN, FKOperationType.DROP_TABLE, FKOperationType.MODIFY_COLUMN_TYPE)
            and incoming
        ):
            level = RiskLevel.HIGH
            if populated:
                level = RiskLevel.CRITICAL
                reasons.append(
                    f"rows of {', '.join(sorted({fk.table for fk in incoming if fk.name in populated}))} "
                    f"still reference {table_name}"
                )
        if any(c.affected_rows for c in cascades):
            level = RiskLevel.CRITICAL
            reasons.append("CASCADE / SET NULL would change rows of other tables")
        if operation is FKOperationType.RENAME_TABLE and self.catalog.dialect_name == "sqlite" and incoming:
            level = max(level, RiskLevel.MEDIUM)
        if (
            self.catalog.dialect_name == "sqlite"
            and (incoming or outgoing)
            and operation in (FKOperationType.DROP_COLUMN, FKOperationType.MODIFY_COLUMN_TYPE)
        ):
            reasons.append("SQLite cannot drop a foreign key without rebuilding the tables")
        return FKImpact(
            operation,
            table_name,
            column_name,
            level,
            tuple(incoming) + tuple(outgoing),
            tuple(cascades),
            not reasons,
            tuple(reasons),
            self.catalog.dialect_name,
            {"new_name": new_name, "new_type": new_type},
        )

    async def _referencing_rows(self, fk: ForeignKeyInfo) -> int:
        cond = " AND ".join(f"{self.catalog.q(c)} IS NOT NULL" for c in fk.columns)
        rows = await self.catalog.fetch(f"SELECT COUNT(*) FROM {self.catalog.qualified(fk.table)} WHERE {cond}")
        return int(rows[0][0])

    def _drop_fk(self, fk: ForeignKeyInfo) -> str:
        what = "FOREIGN KEY" if self.catalog.dialect_name == "mysql" else "CONSTRAINT"
        return f"ALTER TABLE {self.catalog.qualified(fk.table)} DROP {what} {self.catalog.q(fk.name)}"

    def _add_fk(self, fk: ForeignKeyInfo, ref_table: str | None = None, ref_columns: Any = None) -> str:
        q = self.catalog.q
        cols = ", ".join(q(c) for c in fk.columns)
        refs = ", ".join(q(c) for c in (ref_columns or fk.ref_columns))
        return (
            f"ALTER TABLE {self.catalog.qualified(fk.table)} ADD CONSTRAINT {q(fk.name)} FOREIGN KEY ({cols}) "
            f"REFERENCES {self.catalog.qualified(ref_table or fk.ref_table)} ({refs}) ON DELETE {fk.on_delete} "
            f"ON UPDATE {fk.on_update}"
        )

    async def generate_fk_safe_migration_plan(
        self, fk_impact: FKImpact, preferred_strategy: str = "minimal_downtime", **kwargs: Any
    ) -> FKSafeMigrationPlan:
        args = {**fk_impact.plan_args, **kwargs}
        op, table, column = fk_impact.operation, fk_impact.table_name, fk_impact.column_name
        q, t = self.catalog.q, self.catalog.qualified(table)
        sqlite = self.catalog.dialect_name == "sqlite"
        drops = [] if sqlite else [self._drop_fk(fk) for fk in fk_impact.affected_constraints]
        recreate: list[str] = []
        if op is FKOperationType.DROP_COLUMN:
            main = [f"ALTER TABLE {t} DROP COLUMN {q(column or '')}"]
        elif op is FKOperationType.DROP_TABLE:
            main = [f"DROP TABLE {t}"]
        elif op is FKOperationType.RENAME_COLUMN:
            new = args["new_name"]
            main = [f"ALTER TABLE {t} RENAME COLUMN {q(column or '')} TO {q(new)}"]
            if not sqlite:
                recreate = [
                    self._add_fk(fk, ref_columns=[new if c == column else c for c in fk.ref_columns])
                    if fk.ref_table == table
                    else self._add_fk(attrs.evolve(fk, columns=tuple(new if c == column else c for c in fk.columns)))
                    for fk in fk_impact.affected_constraints
                ]
        elif op is FKOperationType.RENAME_TABLE:
            new = args["new_name"]
            main = [
                f"RENAME TABLE {t} TO {self.catalog.qualified(new)}"
                if self.catalog.dialect_name == "mysql"
                else f"ALTER TABLE {t} RENAME TO {q(new)}"
            ]
            if not sqlite:
                recreate = [self._add_fk(fk, ref_table=new) for fk in fk_impact.affected_constraints]
        elif op is FKOperationType.MODIFY_COLUMN_TYPE:
            new_type = checked_type(self.db, args["new_type"], "new_type")
            main = [
                f"ALTER TABLE {t} ALTER COLUMN {q(column or '')} TYPE {new_type}"
                if self.catalog.dialect_name == "postgresql"
                else f"ALTER TABLE {t} MODIFY COLUMN {q(column or '')} {new_type}"
            ]
            recreate = [self._add_fk(fk) for fk in fk_impact.affected_constraints] if not sqlite else []
        else:
            raise self.db.error("DF-102", f"No FK-safe plan for {op.value}.", operation=op.value)
        return FKSafeMigrationPlan(fk_impact, preferred_strategy, tuple(drops + main + recreate), tuple(recreate))

    async def execute_fk_safe_migration(self, plan: FKSafeMigrationPlan) -> FKMigrationResult:
        started = time.perf_counter()
        if not plan.impact.is_safe_to_proceed:
            return FKMigrationResult(False, (), 0.0, "; ".join(plan.impact.blocking_reasons))
        try:
            await self.catalog.execute(list(plan.statements))
        except Exception as exc:
            return FKMigrationResult(False, (), time.perf_counter() - started, str(exc))
        return FKMigrationResult(True, plan.statements, time.perf_counter() - started)
