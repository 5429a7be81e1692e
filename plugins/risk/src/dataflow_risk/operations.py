"""Executing the spec's operation descriptions (``{"operation": …, "table": …, "details": …}``).

The enterprise workflow describes a migration as an operation name, a table and details
(``column_name``, ``data_type``, ``default_value`` …). ``run_operation`` carries one out on a
database (production, or a staging copy's catalogue), through the NOT NULL handler where the
operation needs one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from dataflow_risk.catalog import Catalog
from dataflow_risk.not_null_handler import (
    ColumnDefinition,
    DefaultValueType,
    NotNullColumnHandler,
    checked_type,
    sql_literal,
)

__all__ = ["OperationResult", "operation_statements", "run_operation"]


@attrs.frozen
class OperationResult:
    success: bool
    statements: tuple[str, ...] = ()
    error: str | None = None
    affected_rows: int = 0


def operation_statements(catalog: Catalog, operation: str, table: str, details: Mapping[str, Any]) -> list[str]:
    """The DDL for a simple operation (DF-102 for one this helper does not know)."""
    q, t = catalog.q, catalog.qualified(table)
    kind = catalog.dialect_name

    def column_named() -> str:
        name = details.get("column_name") or details.get("column")
        if not isinstance(name, str) or not name:
            raise catalog.db.error("DF-101", f"Operation {operation!r} needs 'column_name'.", operation=operation)
        return name

    def type_named(key: str, default: str | None = None) -> str:
        return checked_type(catalog.db, details.get(key, default), key)

    if operation == "add_column":
        value = details.get("default_value")
        default = f" DEFAULT {sql_literal(value, kind)}" if value is not None else ""
        return [f"ALTER TABLE {t} ADD COLUMN {q(column_named())} {type_named('data_type', 'TEXT')}{default}"]
    if operation in ("drop_column", "remove_column"):
        return [f"ALTER TABLE {t} DROP COLUMN {q(column_named())}"]
    if operation == "rename_column":
        return [f"ALTER TABLE {t} RENAME COLUMN {q(column_named())} TO {q(details['new_name'])}"]
    if operation == "rename_table":
        new = details["new_name"]
        return [
            f"RENAME TABLE {t} TO {catalog.qualified(new)}"
            if kind == "mysql"
            else f"ALTER TABLE {t} RENAME TO {q(new)}"
        ]
    if operation in ("add_index", "create_index"):
        cols = details.get("columns") or [column_named()]
        name = details.get("index_name") or f"ix_{table}_{'_'.join(cols)}"
        unique = "UNIQUE " if details.get("unique") else ""
        return [f"CREATE {unique}INDEX {q(name)} ON {t} ({', '.join(q(c) for c in cols)})"]
    if operation == "drop_table":
        return [f"DROP TABLE {t}"]
    if operation in ("alter_type", "change_column_type", "modify_column_type") and kind != "sqlite":
        new, column = type_named("new_type"), column_named()
        if kind == "postgresql":
            return [f"ALTER TABLE {t} ALTER COLUMN {q(column)} TYPE {new} USING {q(column)}::{new}"]
        return [f"ALTER TABLE {t} MODIFY COLUMN {q(column)} {new}"]
    raise catalog.db.error(
        "DF-102", f"Operation {operation!r} cannot be executed from a description on {kind}.", operation=operation
    )


async def run_operation(
    db: Any, catalog: Catalog, operation: str, table: str, details: Mapping[str, Any]
) -> OperationResult:
    """Carry out one described operation on ``catalog``'s database."""
    if operation == "add_not_null_column":
        default_type = (
            DefaultValueType(details.get("default_type", "static"))
            if not isinstance(details.get("default_type"), DefaultValueType)
            else details["default_type"]
        )
        column = ColumnDefinition(
            details["column_name"],
            details.get("data_type", "VARCHAR(255)"),
            details.get("default_value"),
            details.get("default_expression"),
            default_type,
        )
        handler = NotNullColumnHandler(db, catalog)
        plan = await handler.plan_not_null_addition(table, column)
        validation = await handler.validate_addition_safety(plan)
        if not validation.is_safe:
            return OperationResult(False, plan.statements, "; ".join(validation.issues))
        result = await handler.execute_not_null_addition(plan)
        return OperationResult(result.success, plan.statements, result.error, result.affected_rows)
    statements = operation_statements(catalog, operation, table, details)
    try:
        await catalog.execute(statements)
    except Exception as exc:
        return OperationResult(False, tuple(statements), str(exc))
    return OperationResult(True, tuple(statements))
