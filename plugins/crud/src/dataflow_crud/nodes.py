"""The eleven nodes generated for every model, with the parameters and outputs of API.md.

Each node checks its parameters against the model (DF-101 missing, DF-102 invalid, DF-104 managed
field), makes the table ready (cached after the first time), builds a query description and lets
the instance's dialect run it. Bulk nodes and read-modify-write nodes run in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from dataflow.errors import DataFlowError
from dataflow.models import ModelSpec
from dataflow.nodes import Node, NodeContext, Param, resolve_model_instance
from dataflow.query import Count, Delete, Insert, Select, Update, Upsert, equals, parse_filter, parse_order_by

from dataflow_crud.rows import check_fields, key_of, now, prepare_batch, prepare_row, prepare_update

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["OPERATIONS", "make_nodes"]

_MAX_INT64 = 2**63 - 1
"""The largest limit / offset / batch size every database accepts as an integer."""


class ModelNode(Node):
    """Shared behaviour of generated nodes: the instance to use, parameter checks, error context."""

    model: ClassVar[ModelSpec]
    operation: ClassVar[str] = ""

    def instance(self, params: dict[str, Any]) -> tuple[DataFlow, ModelSpec]:
        return resolve_model_instance(self, params)

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        params = dict(params)
        db, model = self.instance(params)
        try:
            self.check_parameter_names(params, self.node_id)
            await db.ensure_ready(model)
            return await self.execute(db, model, params)
        except DataFlowError as exc:
            exc.context.setdefault("node", self.node_id)
            exc.context.setdefault("node_type", self.type_name)
            exc.context.setdefault("model", model.name)
            raise db.enhance(exc) from exc.__cause__

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # ---- helpers shared by several operations -------------------------------------------------
    def filter_of(self, db: DataFlow, model: ModelSpec, raw: Any) -> Any:
        return parse_filter(model, raw, extra_operators=db.dialect.operators, node=self.node_id)

    def flag(self, params: dict[str, Any], name: str, default: bool) -> bool:
        value = params.get(name, default)
        if not isinstance(value, bool):  # type first: ``Decimal("sNaN") in (True, False)`` raises
            raise DataFlowError("DF-102", f"'{name}' must be True or False, got {value!r}.",
                                context={"node": self.node_id, "parameter": name})
        return value

    def whole_number(self, params: dict[str, Any], name: str, default: int | None, minimum: int = 0) -> int | None:
        value = params.get(name, default)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= _MAX_INT64:
            raise DataFlowError("DF-102", f"'{name}' must be a whole number ≥ {minimum}, got {value!r}.",
                                context={"node": self.node_id, "parameter": name})
        return value

    def identify(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> Any:
        """The filter of a single-row node: ``filter``, else ``id``; DF-101 when neither is given."""
        raw = params.get("filter")
        if raw is None and params.get("id") is not None:
            return equals(model.id_field, params["id"], self.node_id)
        if not raw:
            raise DataFlowError(
                "DF-101",
                f"{self.type_name} needs 'id' or a non-empty 'filter' to identify the row.",
                context={"node": self.node_id, "model": model.name, "missing": "id"},
                solutions=[f'Pass {{"filter": {{"id": ...}}}} or {{"id": ...}} to {self.type_name}.'],
            )
        where = self.filter_of(db, model, raw)
        if where is None:
            raise DataFlowError("DF-101", f"{self.type_name} needs a non-empty filter.",
                                context={"node": self.node_id, "missing": "filter"})
        return where

    async def single_match(self, db: DataFlow, model: ModelSpec, where: Any, conn: Any) -> dict[str, Any] | None:
        rows = await db.dialect.run(Select(model, where, limit=2), conn)
        if len(rows) > 1:
            raise DataFlowError(
                "DF-708",
                f"The filter of {self.type_name} matches more than one {model.name}.",
                context={"node": self.node_id, "model": model.name},
                solutions=[f"Filter on a unique field such as id, or use {model.name}Bulk"
                           f"{self.operation.title()}Node."],
            )
        return rows[0] if rows else None


class CreateNode(ModelNode):
    """Create one row from the model's fields, passed flat; returns the stored row."""

    operation = "create"
    open_parameters = True

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        row = prepare_row(model, params, self.node_id, now())
        columns = tuple(row)
        stored = await db.dialect.run(Insert(model, columns, [tuple(row.values())], returning=True))
        return stored[0]


class ReadNode(ModelNode):
    """Read one row by ``id`` (or a ``filter`` on a unique field)."""

    operation = "read"
    parameters = {
        "id": Param("id", object),
        "filter": Param("filter", dict),
        "raise_on_not_found": Param("raise_on_not_found", bool, default=True),
    }

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        raise_missing = self.flag(params, "raise_on_not_found", True)
        where = self.identify(db, model, params)
        record = await self.single_match(db, model, where, None)
        if record is None:
            wanted = params.get("id", params.get("filter"))
            if raise_missing:
                raise DataFlowError(
                    "DF-703",
                    f"No {model.name} matches {wanted!r}.",
                    context={"node": self.node_id, "model": model.name, "id": wanted},
                    solutions=["Check the id, or pass raise_on_not_found=False to get found=False instead."],
                )
            return {"id": params.get("id"), "found": False}
        record["found"] = True
        return record


class UpdateNode(ModelNode):
    """Update the one row ``filter`` identifies with ``fields`` (field names passed flat count too)."""

    operation = "update"
    open_parameters = True

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        raw_fields = params.pop("fields", None) or {}
        if not isinstance(raw_fields, Mapping):
            raise DataFlowError("DF-102", f"'fields' must be a dict, got {type(raw_fields).__name__}.",
                                context={"node": self.node_id, "parameter": "fields"})
        fields = dict(raw_fields)
        flat = {k: v for k, v in params.items() if k not in ("filter", "id")}
        fields.update(flat)
        if not fields:
            raise DataFlowError(
                "DF-101", f"{self.type_name} needs 'fields' with at least one field to change.",
                context={"node": self.node_id, "model": model.name, "missing": "fields"},
                solutions=['Pass {"filter": {"id": ...}, "fields": {"name": "new"}}.'],
            )
        values = prepare_update(model, fields, self.node_id, now())
        where = self.identify(db, model, params)
        async with db.transaction() as conn:
            match = await self.single_match(db, model, where, conn)
            if match is None:
                return {"updated": False}
            by_id = parse_filter(model, {"id": match["id"]})
            rows = await db.dialect.run(Update(model, by_id, values, returning=True), conn)
        record = rows[0]
        record["updated"] = True
        return record


class DeleteNode(ModelNode):
    """Delete the one row identified by ``id`` or ``filter``."""

    operation = "delete"
    parameters = {"id": Param("id", object), "filter": Param("filter", dict)}

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        where = self.identify(db, model, params)
        async with db.transaction() as conn:
            match = await self.single_match(db, model, where, conn)
            if match is None:
                return {"id": params.get("id"), "deleted": False}
            await db.dialect.run(Delete(model, parse_filter(model, {"id": match["id"]})), conn)
        return {"id": match["id"], "deleted": True}


class ListNode(ModelNode):
    """List rows matching ``filter``, ordered, paginated; ``include_total`` adds the full count."""

    operation = "list"
    parameters = {
        "filter": Param("filter", dict),
        "order_by": Param("order_by", list),
        "limit": Param("limit", int, default=100),
        "offset": Param("offset", int, default=0),
        "include_total": Param("include_total", bool, default=False),
        "sort": Param("sort", list),
    }

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        where = self.filter_of(db, model, params.get("filter"))
        order = parse_order_by(model, params.get("order_by", params.get("sort")), node=self.node_id)
        limit = self.whole_number(params, "limit", 100)
        offset = self.whole_number(params, "offset", 0) or 0
        include_total = self.flag(params, "include_total", False)
        records = await db.dialect.run(Select(model, where, order, limit, offset))
        result: dict[str, Any] = {"records": records, "count": len(records), "limit": limit, "offset": offset}
        if include_total:
            result["total"] = await db.dialect.run(Count(model, where))
        return result


class CountNode(ModelNode):
    """Count rows matching ``filter`` with one ``COUNT(*)``."""

    operation = "count"
    parameters = {"filter": Param("filter", dict)}

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        return {"count": await db.dialect.run(Count(model, self.filter_of(db, model, params.get("filter"))))}


def unique_on(model: ModelSpec, columns: tuple[str, ...]) -> bool:
    """True when the primary key or a unique index covers exactly ``columns``."""
    wanted = set(columns)
    return wanted == {"id"} or any(ix.unique and set(ix.fields) == wanted for ix in model.indexes)


def conflict_fields(node: ModelNode, model: ModelSpec, raw: Any, default: list[str]) -> tuple[str, ...]:
    value = default if raw is None else raw
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) for v in value):
        raise DataFlowError("DF-102", f"'conflict_on' must be a non-empty list of field names, got {raw!r}.",
                            context={"node": node.node_id, "parameter": "conflict_on"})
    for name in value:
        model.field(name, node=node.node_id)
    return tuple(value)


class UpsertNode(ModelNode):
    """Insert ``create`` or, when a row matches ``where`` on ``conflict_on``, apply ``update``."""

    operation = "upsert"
    parameters = {
        "where": Param("where", dict, required=True),
        "update": Param("update", dict),
        "create": Param("create", dict),
        "conflict_on": Param("conflict_on", list),
    }

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        where = params.get("where")
        if not isinstance(where, Mapping) or not where:
            raise DataFlowError("DF-101", f"{self.type_name} needs a non-empty 'where' dict.",
                                context={"node": self.node_id, "missing": "where"},
                                solutions=['Pass {"where": {"email": ...}, "create": {...}, "update": {...}}.'])
        check_fields(model, where, self.node_id)
        conflict_on = conflict_fields(self, model, params.get("conflict_on"), list(where))
        stamp = now()
        create = params.get("create") or {}
        if not isinstance(create, Mapping):
            raise DataFlowError("DF-102", "'create' must be a dict.", context={"node": self.node_id})
        row = prepare_row(model, {**where, **create}, self.node_id, stamp)
        missing = [c for c in conflict_on if c not in row or row[c] is None]
        if missing:
            raise DataFlowError("DF-101", f"The conflict field {missing[0]!r} needs a value in 'where' or 'create'.",
                                context={"node": self.node_id, "missing": missing[0]})
        update = params.get("update")
        changes = prepare_update(model, update, self.node_id, stamp) if update else {}
        columns = tuple(row)
        async with db.transaction() as conn:
            if unique_on(model, conflict_on):
                query = Upsert(model, columns, [tuple(row.values())], conflict_on, changes, returning=True)
                record = (await db.dialect.run(query, conn))[0]
                created = record.pop("__created__")
            else:
                lookup = parse_filter(model, {c: row[c] for c in conflict_on})
                found = await self.single_match(db, model, lookup, conn)
                if found is None:
                    record = (await db.dialect.run(Insert(model, columns, [tuple(row.values())], True), conn))[0]
                    created = True
                else:
                    by_id = parse_filter(model, {"id": found["id"]})
                    record = (await db.dialect.run(Update(model, by_id, changes, True), conn))[0] if changes else found
                    created = False
        return {"created": created, "action": "created" if created else "updated", "record": record}


class BulkCreateNode(ModelNode):
    """Insert many rows in one transaction: all or none (``conflict_resolution="skip"`` skips duplicates)."""

    operation = "bulk_create"
    parameters = {
        "data": Param("data", list, required=True),
        "batch_size": Param("batch_size", int, default=1000),
        "conflict_resolution": Param("conflict_resolution", str, default="error"),
        "return_ids": Param("return_ids", bool, default=False),
    }

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        if "data" not in params:
            raise DataFlowError("DF-101", f"{self.type_name} needs 'data', a list of rows.",
                                context={"node": self.node_id, "missing": "data"})
        self.whole_number(params, "batch_size", 1000, minimum=1)
        resolution = params.get("conflict_resolution", "error")
        if resolution not in ("error", "skip", "ignore"):
            raise DataFlowError("DF-102", f"conflict_resolution must be 'error' or 'skip', got {resolution!r}.",
                                context={"node": self.node_id, "parameter": "conflict_resolution"})
        return_ids = self.flag(params, "return_ids", False)
        columns, rows = prepare_batch(model, params["data"], self.node_id, now())
        result: dict[str, Any] = {"processed": len(rows), "inserted": 0, "skipped": 0, "success": True}
        if return_ids:
            result["ids"] = []
        if not rows:
            return result
        query = Insert(model, columns, rows, returning=return_ids, skip_conflicts=resolution != "error")
        async with db.transaction() as conn:
            outcome = await db.dialect.run(query, conn)
        if return_ids:
            result["ids"] = [r["id"] for r in outcome]
            inserted = len(outcome)
        else:
            inserted = outcome
        result["inserted"] = inserted
        result["skipped"] = len(rows) - inserted
        return result


class BulkUpdateNode(ModelNode):
    """Update every row matching ``filter`` with ``fields``, or each row of ``data`` by its ``id``."""

    operation = "bulk_update"
    parameters = {
        "filter": Param("filter", dict),
        "fields": Param("fields", dict),
        "update": Param("update", dict),
        "data": Param("data", list),
        "confirmed": Param("confirmed", bool, default=False),
        "batch_size": Param("batch_size", int, default=1000),
    }

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        stamp = now()
        if params.get("data") is not None:
            return await self._by_rows(db, model, params["data"], stamp)
        fields = params.get("fields", params.get("update"))
        if not fields:
            raise DataFlowError("DF-101", f"{self.type_name} needs 'filter' and 'fields', or 'data'.",
                                context={"node": self.node_id, "missing": "fields"})
        values = prepare_update(model, fields, self.node_id, stamp)
        where = self.filter_of(db, model, params.get("filter"))
        if where is None and not self.flag(params, "confirmed", False):
            raise _needs_confirmation(self, model, "update")
        async with db.transaction() as conn:
            updated = await db.dialect.run(Update(model, where, values), conn)
        return {"processed": updated, "updated": updated, "success": True}

    async def _by_rows(self, db: DataFlow, model: ModelSpec, data: Any, stamp: Any) -> dict[str, Any]:
        if not isinstance(data, list | tuple):
            raise DataFlowError("DF-102", "'data' must be a list of rows, each with its 'id'.",
                                context={"node": self.node_id})
        plans = []
        for index, row in enumerate(data):
            if not isinstance(row, Mapping) or "id" not in row:
                raise DataFlowError("DF-101", f"Row {index} of 'data' has no 'id'.",
                                    context={"node": self.node_id, "row": index, "missing": "id"})
            changes = {k: v for k, v in row.items() if k != "id"}
            plans.append((parse_filter(model, {"id": row["id"]}), prepare_update(model, changes, self.node_id, stamp)))
        updated = 0
        async with db.transaction() as conn:
            for where, values in plans:
                updated += await db.dialect.run(Update(model, where, values), conn)
        return {"processed": len(plans), "updated": updated, "success": True}


def _needs_confirmation(node: ModelNode, model: ModelSpec, verb: str) -> DataFlowError:
    return DataFlowError(
        "DF-106",
        f"{node.type_name} with an empty filter would {verb} every {model.name}; pass confirmed=True to mean it.",
        context={"node": node.node_id, "model": model.name},
        solutions=[f'Add a filter, or {{"filter": {{}}, "confirmed": True}} to {verb} all rows.'],
    )


class BulkDeleteNode(ModelNode):
    """Delete every row matching ``filter``; an empty filter needs ``confirmed=True``."""

    operation = "bulk_delete"
    parameters = {
        "filter": Param("filter", dict),
        "confirmed": Param("confirmed", bool, default=False),
        "batch_size": Param("batch_size", int, default=1000),
        "ids": Param("ids", list),
    }

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("filter")
        if params.get("ids") is not None:
            raw = {"id": {"$in": params["ids"]}}
        where = self.filter_of(db, model, raw)
        if where is None and not self.flag(params, "confirmed", False):
            raise _needs_confirmation(self, model, "delete")
        async with db.transaction() as conn:
            deleted = await db.dialect.run(Delete(model, where), conn)
        return {"processed": deleted, "deleted": deleted, "success": True}


class BulkUpsertNode(ModelNode):
    """Insert or update many rows on ``conflict_on`` (default ``["id"]``) in one transaction."""

    operation = "bulk_upsert"
    parameters = {
        "data": Param("data", list, required=True),
        "conflict_on": Param("conflict_on", list),
        "conflict_resolution": Param("conflict_resolution", str, default="update"),
        "batch_size": Param("batch_size", int, default=1000),
        "return_records": Param("return_records", bool, default=False),
    }

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        if "data" not in params:
            raise DataFlowError("DF-101", f"{self.type_name} needs 'data', a list of rows.",
                                context={"node": self.node_id, "missing": "data"})
        resolution = params.get("conflict_resolution", "update")
        if resolution not in ("update", "skip", "ignore"):
            raise DataFlowError("DF-102", f"conflict_resolution must be 'update' or 'skip', got {resolution!r}.",
                                context={"node": self.node_id, "parameter": "conflict_resolution"})
        conflict_on = conflict_fields(self, model, params.get("conflict_on"), ["id"])
        self.whole_number(params, "batch_size", 1000, minimum=1)
        columns, rows = prepare_batch(model, params["data"], self.node_id, now())
        result = {"processed": len(rows), "inserted": 0, "updated": 0, "skipped": 0, "success": True}
        if not rows:
            return result
        for name in conflict_on:
            if name not in columns:
                raise DataFlowError("DF-101", f"Every row needs the conflict field {name!r}.",
                                    context={"node": self.node_id, "missing": name})
        key = key_of(columns, conflict_on)
        deduped = list({key(r): r for r in rows}.values())  # the last row for a key wins
        # On conflict only what the caller supplied changes: defaults filled in for missing fields
        # are for new rows, not a reason to overwrite stored values.
        supplied = {k for r in params["data"] for k in r} | {"updated_at"}
        updating = tuple(c for c in columns if c in supplied)
        async with db.transaction() as conn:
            if resolution == "update":
                inserted, updated = await self._upsert(db, model, columns, deduped, conflict_on, conn, updating)
                result.update(inserted=inserted, updated=updated)
            else:
                inserted = await self._insert_missing(db, model, columns, deduped, conflict_on, conn)
                result.update(inserted=inserted, skipped=len(rows) - inserted)
        return result

    async def _split(self, db: DataFlow, model: ModelSpec, columns: Any, rows: Any, conflict_on: Any,
                     conn: Any) -> tuple[list[Any], list[Any]]:
        """``(fresh, stale)``: the rows whose conflict key is not yet stored, and those whose key is."""
        probe = Upsert(model, columns, rows, conflict_on)
        existing = await db.dialect.existing_keys(conn, probe)
        fresh: list[Any] = []
        stale: list[Any] = []
        for row in rows:
            (stale if db.dialect.conflict_key(probe, row) in existing else fresh).append(row)
        return fresh, stale

    async def _upsert(self, db: DataFlow, model: ModelSpec, columns: Any, rows: Any, conflict_on: Any,
                      conn: Any, updating: tuple[str, ...]) -> tuple[int, int]:
        if unique_on(model, conflict_on):
            query = Upsert(model, columns, rows, conflict_on, None, False, update_columns=updating)
            outcome: tuple[int, int] = await db.dialect.run(query, conn)
            return outcome
        fresh, stale = await self._split(db, model, columns, rows, conflict_on, conn)
        if fresh:
            await db.dialect.run(Insert(model, columns, fresh), conn)
        skip = set(conflict_on) | {"id", "created_at"}
        for row in stale:
            values = {c: v for c, v in zip(columns, row, strict=True) if c not in skip and c in updating}
            where = parse_filter(model, {c: row[columns.index(c)] for c in conflict_on})
            await db.dialect.run(Update(model, where, values), conn)
        return len(fresh), len(stale)

    async def _insert_missing(self, db: DataFlow, model: ModelSpec, columns: Any, rows: Any, conflict_on: Any,
                              conn: Any) -> int:
        fresh, _stale = await self._split(db, model, columns, rows, conflict_on, conn)
        if fresh:
            await db.dialect.run(Insert(model, columns, fresh, skip_conflicts=True), conn)
        return len(fresh)


OPERATIONS: dict[str, type[ModelNode]] = {
    "Create": CreateNode,
    "Read": ReadNode,
    "Update": UpdateNode,
    "Delete": DeleteNode,
    "List": ListNode,
    "Count": CountNode,
    "Upsert": UpsertNode,
    "BulkCreate": BulkCreateNode,
    "BulkUpdate": BulkUpdateNode,
    "BulkDelete": BulkDeleteNode,
    "BulkUpsert": BulkUpsertNode,
}


def make_nodes(model: ModelSpec) -> dict[str, type[ModelNode]]:
    """The eleven node classes of ``model``, by name (``UserCreateNode`` …)."""
    made = {}
    for operation, base in OPERATIONS.items():
        name = f"{model.name}{operation}Node"
        doc = (base.__doc__ or "").replace("rows", f"{model.name} rows").replace("row", f"{model.name} row")
        made[name] = type(name, (base,), {"type_name": name, "model": model, "__doc__": doc,
                                          "__module__": __name__})
    return made
