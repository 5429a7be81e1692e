"""Discovery: describe the live schema, and register existing tables as models without a class.

``db.discover_schema()`` returns ``{table: {column: {type, family, nullable, default, primary_key,
autoincrement}}}``; ``db.register_schema_as_models(tables=[...])`` builds a ModelSpec from each
introspected table (model name = singular CamelCase of the table, column types mapped back to field
kinds) and registers it, so the table gets the eleven generated nodes.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from typing import Any

import inflection
from dataflow.models import AUTO_FIELDS, MISSING, FieldSpec, IndexSpec, ModelSpec
from dataflow.types import ColumnSchema, TableSchema, type_family

from dataflow_migrate.introspect import INTERNAL_TABLES, introspect
from dataflow_migrate.planner import desired_table

__all__ = ["NODE_OPERATIONS", "PYTHON_TYPES", "discover_schema", "model_name_for", "nodes_of",
           "register_schema_as_models", "spec_from_table"]

NODE_OPERATIONS = {
    "create": "Create", "read": "Read", "update": "Update", "delete": "Delete", "list": "List", "count": "Count",
    "upsert": "Upsert", "bulk_create": "BulkCreate", "bulk_update": "BulkUpdate", "bulk_delete": "BulkDelete",
    "bulk_upsert": "BulkUpsert",
}
"""Operation key → node-name infix (``UserBulkCreateNode``)."""

PYTHON_TYPES: dict[str, Any] = {
    "str": str, "int": int, "float": float, "bool": bool, "datetime": dt.datetime, "date": dt.date,
    "decimal": decimal.Decimal, "bytes": bytes, "json": dict, "array": list,
}


def model_name_for(table: str) -> str:
    """``users`` → ``User``, ``order_items`` → ``OrderItem``."""
    return inflection.camelize(inflection.singularize(table))


def _field(column: ColumnSchema) -> FieldSpec:
    if column.name in AUTO_FIELDS:
        return FieldSpec(column.name, "datetime", dt.datetime, nullable=True, auto=True)
    kind, element = column.family, None
    if column.element_type:
        element = type_family(column.element_type)
        kind, element = ("array", element) if element in ("str", "int", "float") else ("json", None)
    if column.primary_key:
        return FieldSpec(column.name, kind, PYTHON_TYPES[kind], primary_key=True,
                         generated=column.autoincrement and kind == "int")
    # A server default fills the column when a create leaves it out: not required, and not sent.
    return FieldSpec(column.name, kind, PYTHON_TYPES[kind], column.nullable, MISSING, False, element,
                     generated=column.default is not None)


def spec_from_table(table: TableSchema, name: str | None = None) -> ModelSpec:
    """A ModelSpec for a live table (``id`` first, managed timestamps last, as ``@db.model`` orders them)."""
    fields = [_field(c) for c in table.columns]
    fields.sort(key=lambda f: 0 if f.name == "id" else 2 if f.auto else 1)
    indexes = tuple(IndexSpec(i.name, i.columns, i.unique) for i in table.indexes)
    return ModelSpec(name or model_name_for(table.name), table.name, tuple(fields), indexes,
                     {"discovered": True, "table": table.name})


async def discover_schema(db: Any, use_real_inspection: bool = True,
                          tables: Iterable[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{table: {column: {...}}}`` from the live database, or (``use_real_inspection=False``) from the
    registered models as this instance would create them."""
    if not use_real_inspection:
        wanted = set(tables) if tables is not None else None
        return {m.table: desired_table(db, m).to_dict() for m in db.models.values()
                if wanted is None or m.table in wanted}
    live = await introspect(db, tables)
    return {name: t.to_dict() for name, t in sorted(live.items()) if name not in INTERNAL_TABLES}


def nodes_of(db: Any, model_name: str) -> dict[str, str]:
    """``{operation: node name}`` of a registered model (``{"create": "UserCreateNode", …}``)."""
    generated = set(db.state.get("generated", {}).get(model_name, ()))
    nodes = {}
    for op, infix in NODE_OPERATIONS.items():
        node = f"{model_name}{infix}Node"
        if node in generated:
            nodes[op] = node
    return nodes


async def register_schema_as_models(db: Any, tables: Iterable[str] | None = None) -> dict[str, Any]:
    """Register live tables as models; returns ``generated_nodes``, ``registered_models`` and ``skipped``."""
    wanted = list(tables) if tables is not None else None
    live = await introspect(db, wanted)
    result: dict[str, Any] = {"success": True, "registered_models": [], "generated_nodes": {}, "skipped": {},
                              "models": {}}
    by_table = {m.table: m for m in db.models.values()}
    for table_name in wanted if wanted is not None else sorted(live):
        table = live.get(table_name)
        if table is None:
            result["skipped"][table_name] = "no such table"
            continue
        if table_name in INTERNAL_TABLES:
            continue
        existing = by_table.get(table_name)
        if existing is not None:
            # Already a model of this instance (declared or discovered before): report its nodes.
            result["generated_nodes"][existing.name] = nodes_of(db, existing.name)
            result["models"][existing.name] = table_name
            continue
        if table.column("id") is None or table.primary_key != ("id",):
            result["skipped"][table_name] = "DataFlow models need a single-column primary key named 'id'"
            continue
        name = model_name_for(table_name)
        if name in db.models:
            result["skipped"][table_name] = f"a model named {name!r} is already registered for another table"
            continue
        spec = db.register_model(spec_from_table(table, name))
        result["registered_models"].append(spec.name)
        result["models"][spec.name] = table_name
        result["generated_nodes"][spec.name] = nodes_of(db, spec.name)
    if result["skipped"] and not result["registered_models"] and not result["generated_nodes"]:
        result["success"] = False
    return result
