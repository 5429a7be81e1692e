"""``ForeignKeyAnalyzer``: what an operation does to the foreign keys around it (component 3).

It finds the constraints that reference the table / column (and the column's own outgoing keys), the
rows ON DELETE CASCADE / SET NULL would touch, and builds and runs an FK-safe plan: drop the affected
constraints, run the operation, recreate what still makes sense, all in one transaction where the
database's DDL is transactional. The impact level is the risk rules' verdict on the operation with
those facts (one evaluation: ``dataflow_risk.rules``), and the operation is safe to proceed unless
that verdict is CRITICAL. Every statement is the dialect's DDL for the change.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.types import MigrationStep, RiskLevel, SchemaChange, TableSchema

from dataflow_risk.assess import gather_facts
from dataflow_risk.catalog import Catalog, ForeignKeyInfo, catalog_for
from dataflow_risk.not_null_handler import checked_type
from dataflow_risk.risk_assessment_engine import RiskAssessment, assessment_of

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
    risk_assessment: RiskAssessment | None = None
    """The rules' assessment the level comes from."""


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


_CASCADING = ("CASCADE", "SET NULL", "SET DEFAULT")


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
        table_level = operation in (FKOperationType.DROP_TABLE, FKOperationType.RENAME_TABLE,
                                    FKOperationType.DELETE_ROWS)
        details = {k: v for k, v in {"to": new_name or new_type, "new_type": new_type}.items() if v is not None}
        step = MigrationStep(operation.value, table_name, None if table_level else column_name, details=details)
        facts = await gather_facts(step, self.catalog)
        risk = assessment_of(step, facts)
        incoming = facts.referencing_fks
        outgoing = [fk for fk in (facts.table.foreign_keys if facts.table else ())
                    if not table_level and column_name in fk.columns]
        cascades = []
        if include_cascade_analysis and operation in (FKOperationType.DROP_TABLE, FKOperationType.DELETE_ROWS):
            cascades = [CascadeOperation(fk.name or fk.table, fk.table, (fk.on_delete or "").upper(),
                                         facts.referencing_rows.get(fk.table, 0))
                        for fk in incoming if (fk.on_delete or "").upper() in _CASCADING]
        blocking = tuple(f.reason for f in risk.findings if f.level >= RiskLevel.CRITICAL)
        return FKImpact(operation, table_name, column_name, risk.overall_risk_level,
                        tuple(incoming) + tuple(outgoing), tuple(cascades), not blocking, blocking,
                        self.db.dialect.name, {"new_name": new_name, "new_type": new_type}, risk)

    def _ddl(self, kind: str, before: TableSchema, after: TableSchema | None, column: str | None = None,
             **details: Any) -> list[str]:
        return self.db.dialect.schema_change_sql(SchemaChange(kind, before.name, before, after, column, details))

    async def generate_fk_safe_migration_plan(
        self, fk_impact: FKImpact, preferred_strategy: str = "minimal_downtime", **kwargs: Any
    ) -> FKSafeMigrationPlan:
        """Drop the affected keys, run the operation, recreate the keys pointing at the new names: each
        statement the dialect's DDL (a dialect without in-place key changes rebuilds the tables)."""
        args = {**fk_impact.plan_args, **kwargs}
        op, table, column = fk_impact.operation, fk_impact.table_name, fk_impact.column_name
        involved = sorted({table, *(fk.table for fk in fk_impact.affected_constraints)})
        tables = await self.catalog.snapshot_tables(involved)
        if table not in tables:
            raise self.db.error("DF-304", f"Table {table!r} does not exist.", table=table)
        affected = set(fk_impact.affected_constraints)
        drops: list[str] = []
        for name, info in tables.items():
            kept = tuple(fk for fk in info.foreign_keys if fk not in affected)
            if len(kept) != len(info.foreign_keys):
                drops += self._ddl("drop_foreign_key", info, attrs.evolve(info, foreign_keys=kept))
                tables[name] = attrs.evolve(info, foreign_keys=kept)
        target = tables[table]
        recreate: list[str] = []
        if op is FKOperationType.DROP_COLUMN:
            after = attrs.evolve(target, columns=tuple(c for c in target.columns if c.name != column))
            main = self._ddl("drop_column", target, after, column)
        elif op is FKOperationType.DROP_TABLE:
            main = self._ddl("drop_table", target, None)
        elif op is FKOperationType.RENAME_COLUMN:
            new = args["new_name"]
            after = attrs.evolve(target, columns=tuple(attrs.evolve(c, name=new) if c.name == column else c
                                                      for c in target.columns))
            main = self._ddl("rename_column", target, after, column, to=new)
            tables[table] = after
            recreate = self._recreate(tables, affected, lambda fk: attrs.evolve(
                fk, columns=tuple(new if fk.table == table and c == column else c for c in fk.columns),
                ref_columns=tuple(new if fk.ref_table == table and c == column else c for c in fk.ref_columns)))
        elif op is FKOperationType.RENAME_TABLE:
            new = args["new_name"]
            main = self._ddl("rename_table", target, attrs.evolve(target, name=new), to=new)
            tables[new] = attrs.evolve(tables.pop(table), name=new)
            recreate = self._recreate(tables, affected, lambda fk: attrs.evolve(
                fk, table=new if fk.table == table else fk.table,
                ref_table=new if fk.ref_table == table else fk.ref_table))
        elif op is FKOperationType.MODIFY_COLUMN_TYPE:
            new_type = checked_type(self.db, args["new_type"], "new_type")
            after = attrs.evolve(target, columns=tuple(attrs.evolve(c, type=new_type) if c.name == column else c
                                                      for c in target.columns))
            main = self._ddl("alter_type", target, after, column, to=new_type)
            tables[table] = after
            recreate = self._recreate(tables, affected, lambda fk: fk)
        else:
            raise self.db.error("DF-102", f"No FK-safe plan for {op.value}.", operation=op.value)
        return FKSafeMigrationPlan(fk_impact, preferred_strategy, tuple(drops + main + recreate), tuple(recreate))

    def _recreate(self, tables: dict[str, TableSchema], affected: set[ForeignKeyInfo], moved: Any) -> list[str]:
        """The affected keys again, moved to the new names, on the tables as they are after the operation."""
        statements: list[str] = []
        for fk in affected:
            again = moved(fk)
            owner = tables.get(again.table)
            if owner is None:
                continue
            after = attrs.evolve(owner, foreign_keys=(*owner.foreign_keys, again))
            statements += self._ddl("add_foreign_key", owner, after)
            tables[again.table] = after
        return statements

    async def execute_fk_safe_migration(self, plan: FKSafeMigrationPlan) -> FKMigrationResult:
        started = time.perf_counter()
        if not plan.impact.is_safe_to_proceed:
            return FKMigrationResult(False, (), 0.0, "; ".join(plan.impact.blocking_reasons))
        try:
            await self.catalog.execute(list(plan.statements))
        except Exception as exc:
            return FKMigrationResult(False, (), time.perf_counter() - started, str(exc))
        return FKMigrationResult(True, plan.statements, time.perf_counter() - started)
