"""``ColumnRemovalManager``: dropping a column in stages, with a backup and rollback (spec: Column Removal).

Planning finds what depends on the column (foreign keys, views, indexes, triggers, CHECK
constraints). Execution runs stages — backup, drop dependent indexes / views (when resolution is
automatic), drop the column, validate — and on a failure rolls the schema back to the snapshot taken
first and copies the backed-up values back. The plan's risk level is the rules' verdict on dropping
the column (one evaluation), and each dependency's impact is that verdict's when the verdict names
it; every statement is the dialect's DDL.
"""

from __future__ import annotations

import enum
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.types import MigrationStep, RiskLevel, SchemaChange

from dataflow_risk.assess import gather_facts
from dataflow_risk.catalog import Catalog, catalog_for
from dataflow_risk.risk_assessment_engine import RiskAssessment, assessment_of
from dataflow_risk.schema_state_manager import SchemaStateManager

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = [
    "BackupStrategy",
    "ColumnDependency",
    "ColumnRemovalManager",
    "DependencyType",
    "RemovalPlan",
    "RemovalResult",
]


class BackupStrategy(enum.Enum):
    NONE = "none"
    COLUMN_ONLY = "column_only"
    TABLE_SNAPSHOT = "table_snapshot"


class DependencyType(enum.Enum):
    FOREIGN_KEY = "foreign_key"
    VIEW = "view"
    INDEX = "index"
    TRIGGER = "trigger"
    CONSTRAINT = "constraint"


class ImpactLevel(enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


_IMPACT = {RiskLevel.LOW: ImpactLevel.LOW, RiskLevel.MEDIUM: ImpactLevel.MEDIUM, RiskLevel.HIGH: ImpactLevel.HIGH,
           RiskLevel.CRITICAL: ImpactLevel.CRITICAL}


class RemovalResult(enum.Enum):
    SUCCESS = "success"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    BLOCKED = "blocked"


@attrs.frozen
class ColumnDependency:
    object_name: str
    dependency_type: DependencyType
    impact_level: ImpactLevel
    definition: str = ""
    resolvable: bool = True
    """Automatic resolution may drop it (indexes, views); foreign keys and triggers need a person."""


@attrs.define
class RemovalPlan:
    table: str
    column: str
    dependencies: list[ColumnDependency]
    removal_stages: list[str]
    backup_strategy: BackupStrategy
    dependency_resolution_strategy: str
    estimated_duration: float
    row_count: int
    confirmation_required: bool = False
    stop_on_warning: bool = False
    validate_after_each_stage: bool = False
    stage_timeout: float = 1800
    risk_level: RiskLevel = RiskLevel.HIGH
    risk_assessment: RiskAssessment | None = None
    """The rules' assessment of the drop (its level and score)."""


@attrs.frozen
class RemovalValidation:
    is_safe: bool
    blocking_dependencies: tuple[ColumnDependency, ...]
    warnings: tuple[str, ...] = ()


@attrs.frozen
class RemovalExecution:
    result: RemovalResult
    stages_completed: tuple[str, ...]
    total_duration: float
    backup_table: str | None = None
    error_message: str | None = None
    rollback_executed: bool = False


class ColumnRemovalManager:
    """Staged, backed-up column removal.

    :param db: the DataFlow instance (the spec's ``connection_manager``).
    """

    def __init__(self, db: DataFlow, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or catalog_for(db)

    async def plan_column_removal(
        self,
        table: str,
        column: str,
        *,
        backup_strategy: BackupStrategy = BackupStrategy.COLUMN_ONLY,
        dependency_resolution_strategy: str = "automatic",
        include_impact_analysis: bool = True,
    ) -> RemovalPlan:
        step = MigrationStep("drop_column", table, column)
        facts = await gather_facts(step, self.catalog)
        info = facts.table
        if info is None or info.column(column) is None:
            raise self.db.error("DF-304", f"Column {table}.{column} does not exist.", table=table, column=column)
        risk = assessment_of(step, facts)
        named = " ".join(f.reason for f in risk.findings)

        def impact(name: str | None) -> ImpactLevel:
            """The verdict's level when the verdict names this dependency, else LOW."""
            return _IMPACT[risk.overall_risk_level] if name and name in named else ImpactLevel.LOW

        deps: list[ColumnDependency] = []
        for fk in facts.referencing_fks:
            label = fk.name or f"{fk.table}({', '.join(fk.columns)})"
            # Other tables' keys on this column: a person decides (re-point or drop them first).
            deps.append(ColumnDependency(label, DependencyType.FOREIGN_KEY, impact(fk.name or fk.table),
                                         f"{fk.table}({', '.join(fk.columns)})", False))
        for fk in info.foreign_keys:
            if column in fk.columns:
                deps.append(ColumnDependency(fk.name or f"{table}({', '.join(fk.columns)})",
                                             DependencyType.FOREIGN_KEY, impact(fk.name),
                                             f"references {fk.ref_table}"))
        for view in facts.views:
            deps.append(ColumnDependency(view.name, DependencyType.VIEW, impact(view.name), view.query))
        for index in info.indexes:
            if column in index.columns:
                deps.append(ColumnDependency(index.name, DependencyType.INDEX, impact(index.name),
                                             index.definition or ""))
        for trigger in info.triggers:
            if re.search(rf"\b{re.escape(column)}\b", trigger.definition):
                deps.append(ColumnDependency(trigger.name, DependencyType.TRIGGER, impact(trigger.name),
                                             trigger.definition, False))
        for check in info.checks:
            if re.search(rf"\b{re.escape(column)}\b", check.expression):
                deps.append(ColumnDependency(check.name, DependencyType.CONSTRAINT, impact(check.name),
                                             check.expression))
        rows = facts.rows
        stages = ["snapshot"]
        if backup_strategy is not BackupStrategy.NONE:
            stages.append("backup")
        if deps and dependency_resolution_strategy == "automatic":
            stages.append("drop_dependencies")
        stages += ["drop_column", "validate"]
        return RemovalPlan(
            table,
            column,
            deps,
            stages,
            backup_strategy,
            dependency_resolution_strategy,
            0.01 + rows * 2e-6,
            rows,
            risk_level=risk.overall_risk_level,
            risk_assessment=risk,
        )

    async def validate_removal_safety(self, plan: RemovalPlan) -> RemovalValidation:
        blocking = [
            d for d in plan.dependencies if not d.resolvable or (plan.dependency_resolution_strategy == "manual")
        ]
        if plan.dependency_resolution_strategy == "skip_unsafe":
            blocking = [d for d in plan.dependencies if d.impact_level in (ImpactLevel.HIGH, ImpactLevel.CRITICAL)]
        warnings = []
        if plan.backup_strategy is BackupStrategy.NONE and plan.row_count:
            warnings.append(f"{plan.row_count} rows of {plan.column} will be lost without a backup")
        return RemovalValidation(not blocking, tuple(blocking), tuple(warnings))

    async def execute_safe_removal(self, plan: RemovalPlan, *, confirmed: bool = True) -> RemovalExecution:
        started = time.perf_counter()
        done: list[str] = []
        validation = await self.validate_removal_safety(plan)
        if (
            not validation.is_safe
            or (plan.confirmation_required and not confirmed)
            or (plan.stop_on_warning and validation.warnings)
        ):
            reason = (
                "; ".join([d.object_name for d in validation.blocking_dependencies] + list(validation.warnings))
                or "confirmation required"
            )
            return RemovalExecution(RemovalResult.BLOCKED, (), 0.0, error_message=reason)
        states = SchemaStateManager(self.db, self.catalog)
        q, t = self.catalog.q, self.catalog.qualified(plan.table)
        snapshot = await states.create_schema_snapshot(
            f"before removing {plan.table}.{plan.column}",
            scope=(plan.table, *(d.object_name for d in plan.dependencies if d.dependency_type is DependencyType.VIEW)),
        )
        done.append("snapshot")
        backup = None
        pk = next((c.name for c in (await self.catalog.table(plan.table)).columns if c.primary_key), "id")  # type: ignore[union-attr]
        try:
            if plan.backup_strategy is not BackupStrategy.NONE:
                backup = f"_df_backup_{plan.table}_{uuid.uuid4().hex[:6]}"[:60]
                cols = "*" if plan.backup_strategy is BackupStrategy.TABLE_SNAPSHOT else f"{q(pk)}, {q(plan.column)}"
                await self.catalog.execute(
                    [f"CREATE TABLE {self.catalog.qualified(backup)} AS SELECT {cols} FROM {t}"], transaction=False
                )
                done.append("backup")
            if "drop_dependencies" in plan.removal_stages:
                await self.catalog.execute(await self._dependency_drops(plan))
                done.append("drop_dependencies")
            current = await self.catalog.table(plan.table)
            assert current is not None
            after = attrs.evolve(current, columns=tuple(c for c in current.columns if c.name != plan.column))
            await self.catalog.execute(self.db.dialect.schema_change_sql(
                SchemaChange("drop_column", plan.table, current, after, plan.column)))
            done.append("drop_column")
            info = await self.catalog.table(plan.table)
            if info is None or info.column(plan.column) is not None:
                raise RuntimeError("the column is still there after DROP COLUMN")
            done.append("validate")
        except Exception as exc:
            rolled = (await states.rollback_to_snapshot(snapshot)).success
            if rolled and backup and "drop_column" in done:
                await self.catalog.execute(
                    [
                        f"UPDATE {t} SET {q(plan.column)} = (SELECT b.{q(plan.column)} FROM "
                        f"{self.catalog.qualified(backup)} b WHERE b.{q(pk)} = {t}.{q(pk)})"
                    ]
                )
            return RemovalExecution(
                RemovalResult.ROLLED_BACK if rolled else RemovalResult.FAILED,
                tuple(done),
                time.perf_counter() - started,
                backup,
                str(exc),
                rolled,
            )
        return RemovalExecution(RemovalResult.SUCCESS, tuple(done), time.perf_counter() - started, backup)

    async def _dependency_drops(self, plan: RemovalPlan) -> list[str]:
        """The dialect's DDL dropping the views, indexes and foreign keys that use the column."""
        dialect = self.db.dialect
        statements = [dialect.drop_view_sql(d.object_name) for d in plan.dependencies
                      if d.dependency_type is DependencyType.VIEW]
        table = await self.catalog.table(plan.table)
        assert table is not None
        for dep in plan.dependencies:
            if dep.dependency_type is DependencyType.INDEX and table.index(dep.object_name) is not None:
                after = attrs.evolve(table, indexes=tuple(i for i in table.indexes if i.name != dep.object_name))
                statements += dialect.schema_change_sql(SchemaChange("drop_index", plan.table, table, after,
                                                                     details={"name": dep.object_name}))
                table = after
        for fk in [fk for fk in table.foreign_keys if plan.column in fk.columns]:
            after = attrs.evolve(table, foreign_keys=tuple(f for f in table.foreign_keys if f != fk))
            statements += dialect.schema_change_sql(SchemaChange("drop_foreign_key", plan.table, table, after))
            table = after
        return statements

    async def drop_backup(self, execution: RemovalExecution) -> Any:
        if execution.backup_table:
            await self.catalog.execute(
                [f"DROP TABLE {self.catalog.qualified(execution.backup_table)}"], transaction=False
            )
