"""``NotNullColumnHandler``: adding a NOT NULL column to a populated table safely (plan → validate → execute).

Strategies by default type:

- STATIC (a literal): one ``ADD COLUMN … NOT NULL DEFAULT <literal>`` — instant on PostgreSQL 11+,
  MariaDB 10.3+ and MySQL 8.0.12+.
- FUNCTION (``CURRENT_TIMESTAMP`` …): one ``ADD COLUMN`` with the expression as default (a dialect
  whose ADD COLUMN refuses a non-constant default, SQLite, rebuilds the table instead).
- COMPUTED (an expression over the row): add the column nullable, backfill it with the expression,
  then enforce NOT NULL.

Every statement is the dialect's DDL for the change; the risk is the rules' verdict on its steps.
DDL cannot take bound parameters, so a static default is written as the dialect's escaped literal.
``enforce_not_null`` completes a column already there: backfill its NULLs, then SET NOT NULL (the
migrate plugin's ``dataflow migrate require``).
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.types import ColumnSchema, MigrationStep, RiskLevel, SchemaChange, TableSchema

from dataflow_risk.catalog import Catalog, catalog_for
from dataflow_risk.risk_assessment_engine import RiskAssessment, RiskAssessmentEngine, summarise

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = [
    "AdditionResult",
    "ColumnDefinition",
    "DefaultValueType",
    "NotNullAdditionPlan",
    "NotNullColumnHandler",
    "SafetyValidation",
]


class DefaultValueType(enum.Enum):
    STATIC = "static"
    COMPUTED = "computed"
    FUNCTION = "function"


@attrs.frozen
class ColumnDefinition:
    name: str
    data_type: str
    default_value: Any = None
    default_expression: str | None = None
    default_type: DefaultValueType = DefaultValueType.STATIC


@attrs.frozen
class NotNullAdditionPlan:
    table_name: str
    column: ColumnDefinition
    execution_strategy: str
    statements: tuple[str, ...]
    row_count: int
    estimated_duration: float
    risk_assessment: RiskAssessment


@attrs.frozen
class SafetyValidation:
    is_safe: bool
    issues: tuple[str, ...] = ()
    suggested_mitigations: tuple[str, ...] = ()


@attrs.frozen
class AdditionResult:
    success: bool
    execution_time: float
    affected_rows: int
    error: str | None = None


_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?$")


def checked_type(db: Any, name: Any, what: str = "data_type") -> str:
    """A column type named by a caller: DDL cannot bind it, so only what reads as a type name passes."""
    if not isinstance(name, str) or not _TYPE_NAME.match(name):
        raise db.error("DF-102", f"{what}={name!r} is not a column type name.", parameter=what)
    return name


class NotNullColumnHandler:
    """Plans, validates and executes NOT NULL column additions.

    :param db: the DataFlow instance (the spec's ``connection_manager``).
    """

    def __init__(self, db: DataFlow, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or catalog_for(db)

    def _default_sql(self, column: ColumnDefinition) -> str | None:
        literal = self.db.dialect.literal
        if column.default_type is DefaultValueType.STATIC:
            return literal(column.default_value)
        if column.default_type is DefaultValueType.FUNCTION:
            return column.default_expression
        return None if column.default_value is None else literal(column.default_value)

    def _ddl(self, kind: str, before: TableSchema, after: TableSchema, column: str, **details: Any) -> list[str]:
        return list(self.db.dialect.schema_change_sql(SchemaChange(kind, before.name, before, after, column,
                                                                   details)))

    async def plan_not_null_addition(self, table_name: str, column: ColumnDefinition) -> NotNullAdditionPlan:
        checked_type(self.db, column.data_type)
        info = await self.catalog.table(table_name)
        rows = await self.catalog.row_count(table_name) if info is not None else 0
        default = self._default_sql(column)
        wanted = ColumnSchema(column.name, column.data_type, nullable=False, default=default)
        statements: list[str] = []
        if column.default_type is DefaultValueType.COMPUTED:
            strategy = "add_backfill_enforce"
            added = attrs.evolve(wanted, nullable=True)
            if info is not None:
                with_added = attrs.evolve(info, columns=(*info.columns, added))
                with_required = attrs.evolve(info, columns=(*info.columns, wanted))
                statements = [*self._ddl("add_column", info, with_added, column.name),
                              f"UPDATE {self.catalog.qualified(table_name)} SET {self.catalog.q(column.name)} = "
                              f"({column.default_expression})",
                              *self._ddl("alter_nullability", with_added, with_required, column.name, to=False)]
            steps = [
                MigrationStep("add_column", table_name, column.name, details={"nullable": True}),
                MigrationStep("alter_nullability", table_name, column.name, details={"nullable": False}),
            ]
        else:
            if info is not None:
                statements = self._ddl("add_column", info, attrs.evolve(info, columns=(*info.columns, wanted)),
                                       column.name)
            # One statement, or the dialect rebuilds the table to take the column with its default.
            strategy = "single_statement" if len(statements) <= 1 else "table_rebuild"
            steps = [
                MigrationStep(
                    "add_column",
                    table_name,
                    column.name,
                    tuple(statements),
                    details={"type": column.data_type, "nullable": False, "default_expression": default,
                             "default_type": column.default_type.value},
                )
            ]
        engine = RiskAssessmentEngine(self.db, self.catalog)
        parts = [await engine.assess_step(step) for step in steps]
        findings = [f for part in parts for f in part.findings]
        level, score, categories = summarise(findings)
        risk = RiskAssessment(
            "add_not_null_column",
            table_name,
            column.name,
            level,
            score,
            categories,
            tuple(findings),
            steps[0],
            parts[0].facts,
        )
        per_row = {"single_statement": 0.0, "add_backfill_enforce": 5e-6, "table_rebuild": 1e-5}[strategy]
        return NotNullAdditionPlan(
            table_name, column, strategy, tuple(statements), rows, 0.01 + rows * per_row, risk
        )

    async def validate_addition_safety(self, plan: NotNullAdditionPlan) -> SafetyValidation:
        issues: list[str] = []
        mitigations: list[str] = []
        info = await self.catalog.table(plan.table_name)
        column = plan.column
        if info is None:
            issues.append(f"table {plan.table_name} does not exist")
        elif info.column(column.name) is not None:
            issues.append(f"column {plan.table_name}.{column.name} already exists")
        if column.default_type is DefaultValueType.STATIC and column.default_value is None:
            issues.append("a STATIC default needs a default_value")
            mitigations.append("Give default_value, or use COMPUTED / FUNCTION.")
        if column.default_type is not DefaultValueType.STATIC and not column.default_expression:
            issues.append(f"a {column.default_type.name} default needs a default_expression")
        if info is not None and column.default_type is DefaultValueType.COMPUTED and column.default_expression:
            try:
                rows = await self.catalog.fetch(
                    f"SELECT COUNT(*) FROM {self.catalog.qualified(plan.table_name)} "
                    f"WHERE ({column.default_expression}) IS NULL"
                )
            except Exception as exc:
                issues.append(f"the expression cannot be evaluated on {plan.table_name}: {exc}")
            else:
                if rows[0][0]:
                    issues.append(f"the expression yields NULL for {rows[0][0]} existing rows")
                    mitigations.append("Wrap it in COALESCE(…, <fallback>).")
        if plan.risk_assessment.overall_risk_level >= RiskLevel.CRITICAL:
            issues.append(f"risk is {plan.risk_assessment.overall_risk_level.name}")
        mitigations += plan.risk_assessment.mitigations
        return SafetyValidation(not issues, tuple(issues), tuple(mitigations))

    async def execute_not_null_addition(self, plan: NotNullAdditionPlan) -> AdditionResult:
        started = time.perf_counter()
        try:
            await self.catalog.execute(list(plan.statements))
        except Exception as exc:
            return AdditionResult(False, time.perf_counter() - started, 0, str(exc))
        return AdditionResult(True, time.perf_counter() - started, plan.row_count)

    async def enforce_not_null(self, table_name: str, column_name: str, backfill: Any = None, *,
                               confirmed: bool = False) -> dict[str, Any]:
        """Complete a column that is nullable but required: fill its NULLs with ``backfill`` (a bound
        value), then SET NOT NULL, as a locked, recorded migration (``dataflow migrate require``)."""
        from dataflow_migrate.api import NO_BACKFILL, migrate_require

        value = NO_BACKFILL if backfill is None else backfill
        return await migrate_require(self.db, f"{table_name}.{column_name}", value, confirmed=confirmed)

    async def add(self, table_name: str, column: ColumnDefinition) -> Sequence[Any]:
        """Plan, validate and execute in one call: (plan, validation, result or None)."""
        plan = await self.plan_not_null_addition(table_name, column)
        validation = await self.validate_addition_safety(plan)
        return plan, validation, (await self.execute_not_null_addition(plan) if validation.is_safe else None)
