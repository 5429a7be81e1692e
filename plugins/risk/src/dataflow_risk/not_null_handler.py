"""``NotNullColumnHandler``: adding a NOT NULL column to a populated table safely (plan → validate → execute).

Strategies by default type:

- STATIC (a literal): one ``ADD COLUMN … NOT NULL DEFAULT <literal>`` — instant on PostgreSQL 11+,
  MariaDB 10.3+ and MySQL 8.0.12+, and accepted by SQLite.
- FUNCTION (``CURRENT_TIMESTAMP`` …): one statement on PostgreSQL / MySQL; SQLite refuses a
  non-constant default in ADD COLUMN, so the table is rebuilt with the column in place.
- COMPUTED (an expression over the row): add the column nullable, backfill it with the expression,
  then enforce NOT NULL (``SET NOT NULL`` / ``MODIFY``; a rebuild on SQLite).

DDL cannot take bound parameters, so a static default is written as an escaped SQL literal.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.migration import MigrationStep, RiskLevel

from dataflow_risk.catalog import Catalog, catalog_for
from dataflow_risk.risk_assessment_engine import RiskAssessment, RiskAssessmentEngine, summarise
from dataflow_risk.sqlite_rebuild import sqlite_rebuild

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = [
    "AdditionResult",
    "ColumnDefinition",
    "DefaultValueType",
    "NotNullAdditionPlan",
    "NotNullColumnHandler",
    "SafetyValidation",
    "sql_literal",
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
    rebuild_source: str | None = None
    """For a SQLite rebuild: the expression filling existing rows."""


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


def sql_literal(value: Any, dialect: str = "") -> str:
    """A Python value as an SQL literal (for DDL defaults, which cannot be bound parameters).

    MySQL reads a backslash in a string literal as an escape, so there it is doubled too: otherwise a
    value ending in a backslash would end the literal early.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} has no SQL literal")
        return repr(value)
    text = str(value).replace("'", "''")
    if dialect == "mysql":
        text = text.replace("\\", "\\\\")
    return "'" + text + "'"


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
        if column.default_type is DefaultValueType.STATIC:
            return sql_literal(column.default_value, self.catalog.dialect_name)
        if column.default_type is DefaultValueType.FUNCTION:
            return column.default_expression
        if column.default_value is None:
            return None
        return sql_literal(column.default_value, self.catalog.dialect_name)

    async def plan_not_null_addition(self, table_name: str, column: ColumnDefinition) -> NotNullAdditionPlan:
        table = self.catalog.qualified(table_name)
        name = self.catalog.q(column.name)
        dialect = self.catalog.dialect_name
        rows = await self.catalog.row_count(table_name) if await self.catalog.table_exists(table_name) else 0
        checked_type(self.db, column.data_type)
        default = self._default_sql(column)
        rebuild_source = None
        steps = [
            MigrationStep(
                "add_column",
                table_name,
                column.name,
                details={
                    "type": column.data_type,
                    "nullable": False,
                    "default_expression": default,
                    "default_type": column.default_type.value,
                },
            )
        ]
        if column.default_type is DefaultValueType.COMPUTED:
            statements = [
                f"ALTER TABLE {table} ADD COLUMN {name} {column.data_type}"
                + (f" DEFAULT {default}" if default else ""),
                f"UPDATE {table} SET {name} = ({column.default_expression})",
            ]
            if dialect == "postgresql":
                statements.append(f"ALTER TABLE {table} ALTER COLUMN {name} SET NOT NULL")
            elif dialect == "mysql":
                statements.append(
                    f"ALTER TABLE {table} MODIFY COLUMN {name} {column.data_type} NOT NULL"
                    + (f" DEFAULT {default}" if default else "")
                )
            steps = [
                MigrationStep("add_column", table_name, column.name, details={"nullable": True}),
                MigrationStep("alter_nullability", table_name, column.name, details={"nullable": False}),
            ]
            strategy = "add_backfill_enforce"
            if dialect == "sqlite":
                strategy, rebuild_source = "table_rebuild", f"({column.default_expression})"
                statements = [f"{name} {column.data_type} NOT NULL" + (f" DEFAULT {default}" if default else "")]
        elif dialect == "sqlite" and column.default_type is DefaultValueType.FUNCTION:
            strategy, rebuild_source = "table_rebuild", f"({default})"
            statements = [f"{name} {column.data_type} NOT NULL DEFAULT ({default})"]
            # The rebuild side-steps ADD COLUMN's refusal: its cost is that of a rebuild.
            steps = [
                MigrationStep("add_column", table_name, column.name, details={"nullable": True}),
                MigrationStep("alter_nullability", table_name, column.name, details={"nullable": False}),
            ]
        else:
            strategy = "single_statement"
            statements = [f"ALTER TABLE {table} ADD COLUMN {name} {column.data_type} NOT NULL DEFAULT {default}"]
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
            table_name, column, strategy, tuple(statements), rows, 0.01 + rows * per_row, risk, rebuild_source
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
            if plan.execution_strategy == "table_rebuild":
                await sqlite_rebuild(
                    self.catalog, plan.table_name, add_columns=[(plan.statements[0], plan.rebuild_source or "NULL")]
                )
            else:
                await self.catalog.execute(list(plan.statements))
        except Exception as exc:
            return AdditionResult(False, time.perf_counter() - started, 0, str(exc))
        return AdditionResult(True, time.perf_counter() - started, plan.row_count)

    async def add(self, table_name: str, column: ColumnDefinition) -> Sequence[Any]:
        """Plan, validate and execute in one call: (plan, validation, result or None)."""
        plan = await self.plan_not_null_addition(table_name, column)
        validation = await self.validate_addition_safety(plan)
        return plan, validation, (await self.execute_not_null_addition(plan) if validation.is_safe else None)
