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
from dataflow.types import ColumnSchema, IndexSchema, SchemaChange, TableSchema

from dataflow_risk.catalog import Catalog
from dataflow_risk.not_null_handler import ColumnDefinition, DefaultValueType, NotNullColumnHandler, checked_type

__all__ = ["OperationResult", "operation_statements", "run_operation"]


@attrs.frozen
class OperationResult:
    success: bool
    statements: tuple[str, ...] = ()
    error: str | None = None
    affected_rows: int = 0


async def operation_statements(catalog: Catalog, operation: str, table: str, details: Mapping[str, Any]) -> list[str]:
    """The dialect's DDL for a simple operation (DF-304 for a missing table, DF-102 for an operation
    this helper does not know)."""
    db, dialect = catalog.db, catalog.db.dialect

    def column_named() -> str:
        name = details.get("column_name") or details.get("column")
        if not isinstance(name, str) or not name:
            raise db.error("DF-101", f"Operation {operation!r} needs 'column_name'.", operation=operation)
        return name

    def type_named(key: str, default: str | None = None) -> str:
        return checked_type(db, details.get(key, default), key)

    if operation == "add_column":
        value = details.get("default_value")
        column = ColumnSchema(column_named(), type_named("data_type", "TEXT"),
                              default=dialect.literal(value) if value is not None else None)
        arguments: dict[str, Any] = {"column": column}
    elif operation in ("drop_column", "remove_column"):
        arguments = {"name": column_named()}
    elif operation == "rename_column":
        arguments = {"name": column_named(), "new": details["new_name"]}
    elif operation in ("add_index", "create_index"):
        cols = tuple(details.get("columns") or [column_named()])
        arguments = {"index": IndexSchema(details.get("index_name") or f"ix_{table}_{'_'.join(cols)}", cols,
                                          bool(details.get("unique")))}
    elif operation in ("alter_type", "change_column_type", "modify_column_type"):
        arguments = {"new": type_named("new_type"), "name": column_named()}
    elif operation in ("rename_table", "drop_table"):
        arguments = {}
    else:
        raise db.error("DF-102", f"Operation {operation!r} cannot be executed from a description.",
                       operation=operation)
    info = await catalog.table(table)
    if info is None:
        raise db.error("DF-304", f"Table {table!r} does not exist.", table=table, operation=operation)
    return _statements(dialect, operation, info, details, arguments)


def _statements(dialect: Any, operation: str, info: TableSchema, details: Mapping[str, Any],
                arguments: dict[str, Any]) -> list[str]:
    """The DDL of a checked operation on the table ``info`` describes."""

    def change(kind: str, after: TableSchema | None, column: str | None = None, **extra: Any) -> list[str]:
        return list(dialect.schema_change_sql(SchemaChange(kind, info.name, info, after, column, extra)))

    def with_columns(columns: tuple[ColumnSchema, ...]) -> TableSchema:
        return attrs.evolve(info, columns=columns)

    name = arguments.get("name")
    if operation == "add_column":
        column = arguments["column"]
        return change("add_column", with_columns((*info.columns, column)), column.name)
    if operation in ("drop_column", "remove_column"):
        return change("drop_column", with_columns(tuple(c for c in info.columns if c.name != name)), name)
    if operation == "rename_column":
        new = arguments["new"]
        return change("rename_column", with_columns(tuple(attrs.evolve(c, name=new) if c.name == name else c
                                                          for c in info.columns)), name, to=new)
    if operation == "rename_table":
        return change("rename_table", attrs.evolve(info, name=details["new_name"]), to=details["new_name"])
    if operation in ("add_index", "create_index"):
        index = arguments["index"]
        return change("add_index", attrs.evolve(info, indexes=(*info.indexes, index)), name=index.name)
    if operation == "drop_table":
        return change("drop_table", None)
    new = arguments["new"]
    return change("alter_type", with_columns(tuple(attrs.evolve(c, type=new, default=None) if c.name == name
                                                   else c for c in info.columns)), name, to=new)


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
    statements = await operation_statements(catalog, operation, table, details)
    try:
        await catalog.execute(statements)
    except Exception as exc:
        return OperationResult(False, tuple(statements), str(exc))
    return OperationResult(True, tuple(statements))
