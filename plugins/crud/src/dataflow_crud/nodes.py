"""The eleven nodes generated for every model, with the parameters and outputs of API.md, and the aggregate node.

Each node declares its parameters once (``Param``: type, default, allowed values, bounds); the
kernel's ``check_parameters`` checks them at ``build()`` (static values) and again when the node
runs. Against the model, a node checks field names and values (DF-101 missing, DF-102 invalid,
DF-104 managed field) with the same functions at build time (``check_static``, on the values known
then) and at run time. It declares what it touches (its instance; reads for read, list and count,
writes for the rest), makes the table ready (cached after the first time), builds a query
description and lets the instance's dialect run it. Bulk nodes and read-modify-write nodes run in
one transaction; inside an outer transaction (``db.transaction()``, a transactional workflow) that
is a savepoint of it, so each node stays all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dataflow.errors import DataFlowError, short_repr
from dataflow.models import ModelSpec
from dataflow.nodes import (
    COMMON_PARAMS,
    UNKNOWN,
    Node,
    NodeContext,
    Param,
    Touch,
    check_parameters,
    holds_template,
    resolve_model_instance,
    without_templates,
)
from dataflow.query import (
    And,
    ColumnBatch,
    Cond,
    Count,
    Delete,
    Insert,
    Select,
    Update,
    Upsert,
    equals,
    parse_filter,
    parse_order_by,
)
from dataflow.values import accepted_type, coerce, stored_type

from dataflow_crud.relations import attach, parse_include, relation_error, written_fields
from dataflow_crud.rows import (
    check_fields,
    last_per_key,
    name_clashing_row,
    now,
    prepare_batch,
    prepare_row,
    prepare_update,
)

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["OPERATIONS", "make_nodes"]

_MAX_INT64 = 2**63 - 1
"""The largest limit / offset / batch size every database accepts as an integer."""
_READS = frozenset({"read", "list", "count", "aggregate"})


def _batch_size() -> Param:
    return Param("batch_size", int | None, default=None, minimum=1, maximum=_MAX_INT64,
                 description="Rows per statement (default: as many as the database takes at once).")


def _filter(description: str = "Which rows (a MongoDB-style filter).") -> Param:
    return Param("filter", dict | None, description=description)


def _fields_param() -> Param:
    return Param("fields", list | None,
                 description='Only these fields in each record (a projection): ["id", "name"].')


def projection(model: ModelSpec, raw: Any, node: str) -> tuple[str, ...] | None:
    """The checked field names of a ``fields`` projection, in order, without repeats; None for every field."""
    if raw is None:
        return None
    if not isinstance(raw, list | tuple) or not raw:
        raise DataFlowError("DF-102", f"'fields' must be a non-empty list of field names, got {short_repr(raw)}.",
                            context={"node": node, "model": model.name, "parameter": "fields"},
                            solutions=['Pass {"fields": ["id", "name"]}, or leave it out for every field.'])
    names: dict[str, None] = {}
    for name in raw:
        if not isinstance(name, str):
            raise DataFlowError("DF-102", f"'fields' holds field names (strings), got {short_repr(name)}.",
                                context={"node": node, "model": model.name, "parameter": "fields"})
        names[model.field(name, node=node).name] = None
    return tuple(names)


def _include_param() -> Param:
    return Param("include", list | str | None,
                 description='Related rows to nest in each record: ["author"] (a foreign key field without '
                             '_id) or ["posts"] (the table of a model referring to this one).')


def fetched_columns(columns: tuple[str, ...] | None, includes: Sequence[Any]) -> tuple[str, ...] | None:
    """The projection plus the fields the included relations are read through."""
    if columns is None:
        return None
    return columns + tuple(dict.fromkeys(i.needs for i in includes if i.needs not in columns))


async def with_includes(db: DataFlow, records: list[dict[str, Any]], includes: Sequence[Any],
                        columns: tuple[str, ...] | None) -> None:
    """Nest the included relations in ``records``, then drop the fields fetched only for them."""
    await attach(db, records, includes)
    fetched = fetched_columns(columns, includes)
    if columns is None or fetched is None:
        return
    extra = [name for name in fetched if name not in columns]
    for record in records:
        for name in extra:
            record.pop(name, None)


def _static(value: Any) -> bool:
    """A value fully known at build time (no template inside)."""
    return value is not None and value is not UNKNOWN and not holds_template(value)


class ModelNode(Node):
    """Shared behaviour of generated nodes: the instance to use, parameter checks, error context."""

    model: ClassVar[ModelSpec]
    operation: ClassVar[str] = ""
    returns_row: ClassVar[bool] = False
    """The outputs hold the model's row (its fields), besides ``result_types``."""
    result_types: ClassVar[Mapping[str, Any]] = {}
    """The node's other outputs, by type."""
    takes_fields: ClassVar[bool] = False
    """The model's fields may be passed flat, as parameters (create, update)."""
    checks_at_run: ClassVar[bool] = True
    """``run`` checks the parameters and values as ``check_static`` does (the same functions)."""

    # ---- the node contract: what build() checks and how the runtimes order it ------------------
    @classmethod
    def touches(cls, params: Mapping[str, Any]) -> tuple[Touch, ...]:
        if params.get("db_instance") is UNKNOWN:
            return (Touch(None, cls.operation not in _READS, (cls.model.name,)),)
        # build() resolved the class by db_instance: the answer is the class's own, made once (a Touch
        # is immutable, so every node of the class may share it).
        touched = cls.__dict__.get("_touched")
        if touched is None or touched[0].db is not cls.dataflow_instance:
            touched = (Touch(cls.dataflow_instance, cls.operation not in _READS, (cls.model.name,)),)
            cls._touched = touched  # type: ignore[attr-defined]
        return touched

    @classmethod
    def output_types(cls) -> Mapping[str, Any]:
        cached = cls.__dict__.get("_output_types")
        if cached is None:
            cached = {f.name: stored_type(f) for f in cls.model.fields} if cls.returns_row else {}
            cached.update(cls.result_types)
            cls._output_types = cached  # type: ignore[attr-defined]  # one model per class: computed once
        return cached

    @classmethod
    def output_names(cls) -> frozenset[str]:
        names = cls.__dict__.get("_output_names")
        if names is None:
            names = cls._output_names = frozenset(cls.output_types())  # type: ignore[attr-defined]
        return names

    @classmethod
    def input_types(cls) -> Mapping[str, Any]:
        cached = cls.__dict__.get("_input_types")
        if cached is None:
            cached = dict(super().input_types())
            if "id" in cached:
                cached["id"] = accepted_type(cls.model.id_field)
            if cls.takes_fields:
                cached.update((f.name, accepted_type(f)) for f in cls.model.writable_fields if f.name not in cached)
            cls._input_types = cached  # type: ignore[attr-defined]
        return cached

    @classmethod
    def check_static(cls, params: Mapping[str, Any], node_id: str) -> None:
        try:
            super().check_static(params, node_id)
            model_name = params.get("model_name")
            if isinstance(model_name, str) and not holds_template(model_name):
                _check_model_name(cls, model_name, node_id)
            cls.check_model_values(params, node_id)
        except DataFlowError as exc:
            _add_context(exc, node_id, cls.type_name, cls.model.name)
            raise

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        """Build-time checks of the static values against the model (the run-time functions, reused)."""

    @classmethod
    def static_filter(cls, params: Mapping[str, Any], node_id: str, name: str = "filter") -> None:
        raw = params.get(name)
        if raw is not None and raw is not UNKNOWN:
            db = cls.dataflow_instance
            extra = db.dialect.operators if db is not None else ()
            parse_filter(cls.model, without_templates(raw), extra_operators=extra, node=node_id)

    @classmethod
    def static_identity(cls, params: Mapping[str, Any], node_id: str) -> None:
        """``id`` and ``filter`` of a single-row node, as far as they are known."""
        if _static(params.get("id")):
            equals(cls.model.id_field, params["id"], node_id)
        cls.static_filter(params, node_id)

    @classmethod
    def static_values(cls, values: Mapping[str, Any], node_id: str) -> None:
        """Flat field values (a create's parameters, an upsert's ``where``): names and known values."""
        check_fields(cls.model, [k for k in values if k not in COMMON_PARAMS], node_id)
        fields = cls.model.field_map
        for name, value in values.items():
            if name not in COMMON_PARAMS and _static(value):
                coerce(fields[name], value)

    atomic_updates: ClassVar[bool] = False
    """Update values may be atomic operators (``{"$inc": 1}``) computed in SQL."""

    @classmethod
    def static_fields(cls, fields: Any, node_id: str) -> None:
        """Field names (DF-102 unknown, DF-104 managed) and the values known now (DF-102)."""
        if not isinstance(fields, Mapping):
            return
        check_fields(cls.model, fields, node_id)
        known = {k: v for k, v in fields.items() if _static(v)}
        if known:
            prepare_update(cls.model, known, node_id, now(), atomic=cls.atomic_updates)

    @classmethod
    def static_rows(cls, data: Any, node_id: str) -> None:
        """The field names used by the rows of a bulk ``data`` list (values are checked at run time)."""
        if not isinstance(data, list | tuple) or not data:
            return
        if set(map(type, data)) == {dict} or all(isinstance(r, Mapping) for r in data):
            check_fields(cls.model, sorted(set().union(*data), key=str), node_id)  # the keys of every row, in C

    # ---- running --------------------------------------------------------------------------------
    def instance(self, params: dict[str, Any]) -> tuple[DataFlow, ModelSpec]:
        return resolve_model_instance(self, params)

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        params = dict(params)
        db, model = self.instance(params)
        try:
            params = check_parameters(type(self), params, node_id=self.node_id)
            await db.ensure_ready(model)
            if db.dialect.current_transaction() is not None:
                return await self.execute(db, model, params)
            try:
                return await self.execute(db, model, dict(params))
            except DataFlowError as lost:
                if lost.code != "DF-511":
                    raise
                # The node's own transaction lost its session before COMMIT: the server rolled it back,
                # nothing of it was applied, so it runs once more (on a fresh connection).
                return await self.execute(db, model, params)
        except DataFlowError as exc:
            if exc.code == "DF-706":
                exc = relation_error(db, model, self.operation, exc, written_fields(params))
            _add_context(exc, self.node_id, self.type_name, model.name)
            raise db.enhance(exc) from exc.__cause__

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # ---- helpers shared by several operations -------------------------------------------------
    def filter_of(self, db: DataFlow, model: ModelSpec, raw: Any) -> Any:
        return parse_filter(model, raw, extra_operators=db.dialect.operators, node=self.node_id)

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

    async def single_match(self, db: DataFlow, model: ModelSpec, where: Any, conn: Any,
                           columns: tuple[str, ...] | None = None) -> dict[str, Any] | None:
        rows = await db.dialect.run(Select(model, where, limit=2, columns=columns), conn)
        if len(rows) > 1:
            raise DataFlowError(
                "DF-708",
                f"The filter of {self.type_name} matches more than one {model.name}.",
                context={"node": self.node_id, "model": model.name},
                solutions=[f"Filter on a unique field such as id, or use {model.name}Bulk"
                           f"{self.operation.title()}Node."],
            )
        return rows[0] if rows else None


def _add_context(error: DataFlowError, node_id: str, node_type: str, model: str) -> None:
    error.context.setdefault("node", node_id)
    error.context.setdefault("node_type", node_type)
    error.context.setdefault("model", model)


def _check_model_name(cls: type[ModelNode], model_name: Any, node_id: str) -> None:
    model = cls.model
    if model_name != model.name:
        raise DataFlowError(
            "DF-102",
            f"model_name={model_name!r} does not match {cls.type_name}, a node of model {model.name!r}.",
            context={"node": node_id, "model": model.name, "parameter": "model_name"},
            solutions=[f"Use model_name={model.name!r}, or the {model_name}… node."],
        )


def _chunks(rows: Sequence[Any], size: int | None) -> Iterator[Sequence[Any]]:
    """``rows`` in slices of ``size`` (all at once when None); column batches stay column batches."""
    if size is None or len(rows) <= size:
        yield rows
        return
    for start in range(0, len(rows), size):
        end = min(start + size, len(rows))
        yield rows.slice(start, end) if isinstance(rows, ColumnBatch) else rows[start:end]


class CreateNode(ModelNode):
    """Create one row from the model's fields, passed flat; returns the stored row."""

    operation = "create"
    open_parameters = True
    returns_row = True
    takes_fields = True

    @classmethod
    def required_inputs(cls) -> tuple[tuple[str, ...], ...]:
        return tuple((f.name,) for f in cls.model.writable_fields if f.required)

    @classmethod
    def input_names(cls) -> frozenset[str]:
        known = cls.__dict__.get("_known_parameters")
        if known is None:  # one model per class: computed once
            known = frozenset(f.name for f in cls.model.writable_fields) | frozenset(COMMON_PARAMS)
            cls._known_parameters = known  # type: ignore[attr-defined]
        return known

    @classmethod
    def check_parameter_names(cls, names: Any, node_id: str) -> None:
        check_fields(cls.model, [n for n in names if n not in COMMON_PARAMS], node_id)

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_values(params, node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        row = prepare_row(model, params, self.node_id, now())
        columns = tuple(row)
        stored = await db.dialect.run(Insert(model, columns, [tuple(row.values())], returning=True))
        return stored[0]


class ReadNode(ModelNode):
    """Read one row by ``id`` (or a ``filter`` on a unique field)."""

    operation = "read"
    parameters = {
        "id": Param("id", object, description="The row's id."),
        "filter": _filter("A filter on a unique field, instead of id."),
        "raise_on_not_found": Param("raise_on_not_found", bool, default=True,
                                    description="DF-703 when no row matches (else found=False)."),
        "fields": _fields_param(),
        "include": _include_param(),
    }

    returns_row = True
    result_types = {"found": bool}

    @classmethod
    def required_inputs(cls) -> tuple[tuple[str, ...], ...]:
        return (("id", "filter"),)

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_identity(params, node_id)
        if _static(params.get("fields")):
            projection(cls.model, params["fields"], node_id)
        if _static(params.get("include")):
            parse_include(cls.dataflow_instance, cls.model, params["include"], node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        where = self.identify(db, model, params)
        columns = projection(model, params["fields"], self.node_id)
        includes = parse_include(db, model, params["include"], self.node_id)
        record = await self.single_match(db, model, where, None, fetched_columns(columns, includes))
        if record is not None and includes:
            await with_includes(db, [record], includes, columns)
        if record is None:
            wanted = params.get("id", params.get("filter"))
            if params["raise_on_not_found"]:
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
    parameters = {
        "filter": _filter("Which row (it must identify one)."),
        "id": Param("id", object, description="The row's id, instead of a filter."),
        "fields": Param("fields", dict | None, description="The new values."),
    }

    returns_row = True
    takes_fields = True
    atomic_updates = True
    result_types = {"updated": bool}

    @classmethod
    def required_inputs(cls) -> tuple[tuple[str, ...], ...]:
        return (("id", "filter"), ("fields", *(f.name for f in cls.model.writable_fields if f.name != "id")))

    @classmethod
    def input_names(cls) -> frozenset[str]:
        known = cls.__dict__.get("_known_parameters")
        if known is None:  # one model per class: computed once
            known = (frozenset(f.name for f in cls.model.writable_fields) | frozenset(cls.parameters)
                     | frozenset(COMMON_PARAMS))
            cls._known_parameters = known  # type: ignore[attr-defined]
        return known

    @classmethod
    def check_parameter_names(cls, names: Any, node_id: str) -> None:
        check_fields(cls.model, [n for n in names if n not in cls.parameters and n not in COMMON_PARAMS], node_id)

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_identity(params, node_id)
        cls.static_fields(params.get("fields"), node_id)
        cls.static_fields({k: v for k, v in params.items() if k not in cls.parameters and k not in COMMON_PARAMS},
                          node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        fields = dict(params["fields"] or {})
        fields.update({k: v for k, v in params.items() if k not in self.parameters})
        if not fields:
            raise DataFlowError(
                "DF-101", f"{self.type_name} needs 'fields' with at least one field to change.",
                context={"node": self.node_id, "model": model.name, "missing": "fields"},
                solutions=['Pass {"filter": {"id": ...}, "fields": {"name": "new"}}.'],
            )
        values = prepare_update(model, fields, self.node_id, now(), atomic=True)
        where = self.identify(db, model, params)
        if identifies_one(model, where):
            rows = await one_statement(db, Update(model, where, values, returning=True))
            if not rows:
                return {"updated": False}
            record = rows[0]
            record["updated"] = True
            return record
        async with db.transaction() as conn:
            match = await self.single_match(db, model, where, conn)
            if match is None:
                return {"updated": False}
            by_id = parse_filter(model, {"id": match["id"]})
            rows = await db.dialect.run(Update(model, by_id, values, returning=True), conn)
        if not rows:
            return {"updated": False}  # deleted by a concurrent writer between the match and the update
        record = rows[0]
        record["updated"] = True
        return record


class DeleteNode(ModelNode):
    """Delete the one row identified by ``id`` or ``filter``."""

    operation = "delete"
    parameters = {"id": Param("id", object, description="The row's id."),
                  "filter": _filter("Which row (it must identify one).")}
    result_types = {"id": object, "deleted": bool}
    """``id``: the id given (the deleted row's when one matched)."""

    @classmethod
    def required_inputs(cls) -> tuple[tuple[str, ...], ...]:
        return (("id", "filter"),)


    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_identity(params, node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        where = self.identify(db, model, params)
        if identifies_one(model, where):
            rows = await one_statement(db, Delete(model, where, returning=True))
            if not rows:
                return {"id": params.get("id"), "deleted": False}
            return {"id": rows[0]["id"], "deleted": True}
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
        "filter": _filter(),
        "order_by": Param("order_by", list | str | dict | None,
                          description='Sort order: ["-age", "name"] or [{"age": -1}].'),
        "limit": Param("limit", int | None, default=100, minimum=0, maximum=_MAX_INT64,
                       description="At most this many rows (None: no limit)."),
        "offset": Param("offset", int | None, default=0, minimum=0, maximum=_MAX_INT64,
                        description="Rows to skip first."),
        "include_total": Param("include_total", bool, default=False,
                               description="Add 'total', the count of every matching row."),
        "sort": Param("sort", list | str | dict | None, description="Another name for order_by."),
        "fields": _fields_param(),
        "distinct": Param("distinct", bool, default=False,
                          description="With 'fields': each distinct combination of their values once."),
        "include": _include_param(),
    }
    result_types = {"records": list[dict[str, Any]], "count": int, "limit": int | None, "offset": int, "total": int}

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_filter(params, node_id)
        for name in ("order_by", "sort"):
            if _static(params.get(name)):
                parse_order_by(cls.model, params[name], node=node_id)
        if _static(params.get("fields")):
            projection(cls.model, params["fields"], node_id)
        if _static(params.get("include")):
            parse_include(cls.dataflow_instance, cls.model, params["include"], node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        where = self.filter_of(db, model, params["filter"])
        raw_order = params["order_by"] if params["order_by"] is not None else params["sort"]
        order = parse_order_by(model, raw_order, node=self.node_id)
        limit, offset = params["limit"], params["offset"] or 0
        columns, distinct = self.projected(model, params, order)
        includes = parse_include(db, model, params["include"], self.node_id)
        if includes and distinct:
            raise DataFlowError("DF-102", "include cannot be combined with distinct=True (rows are not records then).",
                                context={"node": self.node_id, "model": model.name, "parameter": "include"})
        records = await db.dialect.run(Select(model, where, order, limit, offset, fetched_columns(columns, includes),
                                              distinct))
        if includes:
            await with_includes(db, records, includes, columns)
        result: dict[str, Any] = {"records": records, "count": len(records), "limit": limit, "offset": offset}
        if params["include_total"]:
            result["total"] = await db.dialect.run(Count(model, where, columns if distinct else None, distinct))
        return result

    def projected(self, model: ModelSpec, params: dict[str, Any],
                  order: tuple[Any, ...]) -> tuple[tuple[str, ...] | None, bool]:
        """``(columns, distinct)`` of a list with ``fields`` / ``distinct``."""
        columns = projection(model, params["fields"], self.node_id)
        distinct = params["distinct"]
        if distinct and columns is None:
            raise DataFlowError("DF-102", "distinct=True needs 'fields': every whole row is distinct already.",
                                context={"node": self.node_id, "model": model.name, "parameter": "distinct"},
                                solutions=['Pass {"fields": ["city"], "distinct": True}.'])
        if distinct and columns is not None:
            # SQL can only sort distinct rows by what they hold.
            outside = [name for name, _desc, _nulls in order if name not in columns]
            if outside:
                raise DataFlowError(
                    "DF-102", f"With distinct=True, order_by can only use the listed fields, not {outside[0]!r}.",
                    context={"node": self.node_id, "model": model.name, "field": outside[0]},
                    solutions=[f"Add {outside[0]!r} to 'fields', or sort by one of {list(columns)}."])
        return columns, distinct


class CountNode(ModelNode):
    """Count rows matching ``filter`` with one ``COUNT(*)``."""

    operation = "count"
    parameters = {"filter": _filter()}
    result_types = {"count": int}

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_filter(params, node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        return {"count": await db.dialect.run(Count(model, self.filter_of(db, model, params["filter"])))}


class AggregateNode(ModelNode):
    """Group rows matching ``filter`` by ``group_by`` and compute ``aggregates`` per group, in one statement."""

    operation = "aggregate"
    parameters = {
        "filter": _filter("Which rows to aggregate (a MongoDB-style filter)."),
        "group_by": Param("group_by", list | str | None, description='The fields to group by: ["region"].'),
        "aggregates": Param("aggregates", dict | None,
                            description='alias → function of a field: {"total": {"$sum": "amount"}, '
                                        '"n": {"$count": "*"}} ($count $count_distinct $sum $avg $min $max).'),
        "having": Param("having", dict | None, description='A filter over the aliases: {"total": {"$gt": 100}}.'),
        "order_by": Param("order_by", list | str | dict | None,
                          description='Sort by group fields and aliases: ["-total"] (default: the group fields).'),
        "limit": Param("limit", int | None, default=None, minimum=0, maximum=_MAX_INT64,
                       description="At most this many groups (None: all)."),
    }
    result_types = {"groups": list[dict[str, Any]]}

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        names = ("filter", "group_by", "aggregates", "having", "order_by")
        if all(params.get(n) is None or _static(params.get(n)) for n in names):
            cls.aggregate_query(cls.dataflow_instance, cls.model, params, node_id)

    @staticmethod
    def aggregate_query(db: DataFlow | None, model: ModelSpec, params: Mapping[str, Any], node_id: str) -> Any:
        from dataflow.aggregates import parse_aggregate

        limit = params.get("limit")
        return parse_aggregate(model, filter=params.get("filter"), group_by=params.get("group_by"),
                               aggregates=params.get("aggregates"), having=params.get("having"),
                               order_by=params.get("order_by"), limit=limit if isinstance(limit, int) else None,
                               extra_operators=db.dialect.operators if db is not None else (), node=node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        return {"groups": await db.dialect.run(self.aggregate_query(db, model, params, self.node_id))}


async def one_statement(db: DataFlow, query: Update | Delete) -> list[dict[str, Any]]:
    """The rows of ``query`` (returning, filtered on a unique key: at most one row), run as one
    statement with no match to check first. On its own it is atomic; inside a transaction it runs in
    the node's savepoint, so that a failure leaves the caller's transaction usable, as every node does."""
    if db.dialect.current_transaction() is None:
        rows: list[dict[str, Any]] = await db.dialect.run(query)
        return rows
    async with db.transaction() as conn:
        rows = await db.dialect.run(query, conn)
    return rows


def identifies_one(model: ModelSpec, where: Any) -> bool:
    """True when ``where`` holds equalities on the primary key or on every field of a unique index,
    so that at most one row can match it (no need to check for a second)."""
    if type(where) is Cond:
        if where.op == "eq" and where.field.primary_key:  # by id: every update and delete by id comes here
            return True
        conditions: tuple[Any, ...] = (where,)
    elif type(where) is And:
        conditions = where.items
    else:
        return False
    equal = {c.field.name for c in conditions if type(c) is Cond and c.op == "eq"}
    if any(c.field.primary_key for c in conditions if type(c) is Cond and c.op == "eq"):
        return True
    return any(ix.unique and set(ix.fields) <= equal for ix in model.indexes)


def unique_on(model: ModelSpec, columns: tuple[str, ...]) -> bool:
    """True when the primary key or a unique index covers exactly ``columns``."""
    wanted = set(columns)
    return wanted == {"id"} or any(ix.unique and set(ix.fields) == wanted for ix in model.indexes)


def conflict_fields(node_id: str, model: ModelSpec, raw: Any, default: list[str]) -> tuple[str, ...]:
    value = default if raw is None else raw
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value or not all(isinstance(v, str) for v in value):
        raise DataFlowError("DF-102", f"'conflict_on' must be a non-empty list of field names, got {raw!r}.",
                            context={"node": node_id, "parameter": "conflict_on"})
    for name in value:
        model.field(name, node=node_id)
    return tuple(value)


def _conflict_on() -> Param:
    return Param("conflict_on", list | str | None, description="The fields that identify an existing row.")


class UpsertNode(ModelNode):
    """Insert ``create`` or, when a row matches ``where`` on ``conflict_on``, apply ``update``."""

    operation = "upsert"
    parameters = {
        "where": Param("where", dict, required=True, description="The values that find the row."),
        "update": Param("update", dict | None, description="What to change when it exists."),
        "create": Param("create", dict | None, description="The other fields when it is created."),
        "conflict_on": _conflict_on(),
    }
    result_types = {"created": bool, "action": str, "record": dict[str, Any]}

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        for name in ("where", "create"):
            value = params.get(name)
            if isinstance(value, Mapping):
                cls.static_values(value, node_id)
        cls.static_fields(params.get("update"), node_id)
        if _static(params.get("conflict_on")):
            conflict_fields(node_id, cls.model, params["conflict_on"], [])

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        where = params["where"]
        if not where:
            raise DataFlowError("DF-101", f"{self.type_name} needs a non-empty 'where' dict.",
                                context={"node": self.node_id, "missing": "where"},
                                solutions=['Pass {"where": {"email": ...}, "create": {...}, "update": {...}}.'])
        check_fields(model, where, self.node_id)
        conflict_on = conflict_fields(self.node_id, model, params["conflict_on"], list(where))
        stamp = now()
        create = params["create"] or {}
        row = prepare_row(model, {**where, **create}, self.node_id, stamp)
        missing = [c for c in conflict_on if c not in row or row[c] is None]
        if missing:
            raise DataFlowError("DF-101", f"The conflict field {missing[0]!r} needs a value in 'where' or 'create'.",
                                context={"node": self.node_id, "missing": missing[0]})
        update = params["update"]
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
        "data": Param("data", list, required=True, description="The rows, a list of dicts."),
        "batch_size": _batch_size(),
        "conflict_resolution": Param("conflict_resolution", str, default="error", choices=("error", "skip", "ignore"),
                                     description="'error' (default) fails on a duplicate; 'skip' skips it."),
        "return_ids": Param("return_ids", bool, default=False, description="Add 'ids', the new rows' ids."),
    }
    result_types = {"processed": int, "inserted": int, "skipped": int, "success": bool, "ids": list[Any]}

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_rows(params.get("data"), node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        return_ids = params["return_ids"]
        columns, rows = prepare_batch(model, params["data"], self.node_id, now())
        result: dict[str, Any] = {"processed": len(rows), "inserted": 0, "skipped": 0, "success": True}
        if return_ids:
            result["ids"] = []
        if not rows:
            return result
        skip = params["conflict_resolution"] != "error"
        ids: list[Any] = []
        inserted = 0
        try:
            async with db.transaction() as conn:
                for chunk in _chunks(rows, params["batch_size"]):
                    outcome = await db.dialect.run(Insert(model, columns, chunk, returning=return_ids,
                                                          skip_conflicts=skip), conn)
                    if return_ids:
                        ids += [r["id"] for r in outcome]
                        inserted += len(outcome)
                    else:
                        inserted += outcome
        except DataFlowError as exc:
            raise await name_clashing_row(db, model, columns, rows, exc) from exc.__cause__
        if return_ids:
            result["ids"] = ids
        result["inserted"] = inserted
        result["skipped"] = len(rows) - inserted
        return result


class BulkUpdateNode(ModelNode):
    """Update every row matching ``filter`` with ``fields``, or each row of ``data`` by its ``id``."""

    operation = "bulk_update"
    parameters = {
        "filter": _filter(),
        "fields": Param("fields", dict | None, description="The new values."),
        "update": Param("update", dict | None, description="Another name for fields."),
        "data": Param("data", list | None, description="Rows to update, each with its 'id'."),
        "confirmed": Param("confirmed", bool, default=False, description="Needed with an empty filter."),
        "batch_size": _batch_size(),
    }
    result_types = {"processed": int, "updated": int, "success": bool}
    atomic_updates = True

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_filter(params, node_id)
        cls.static_fields(params.get("fields"), node_id)
        cls.static_fields(params.get("update"), node_id)
        cls.static_rows(params.get("data"), node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        stamp = now()
        if params["data"] is not None:
            return await self._by_rows(db, model, params["data"], stamp)
        fields = params["fields"] if params["fields"] is not None else params["update"]
        if not fields:
            raise DataFlowError("DF-101", f"{self.type_name} needs 'filter' and 'fields', or 'data'.",
                                context={"node": self.node_id, "missing": "fields"})
        values = prepare_update(model, fields, self.node_id, stamp, atomic=True)
        where = self.filter_of(db, model, params["filter"])
        if where is None and not params["confirmed"]:
            raise _needs_confirmation(self, model, "update")
        async with db.transaction() as conn:
            updated = await db.dialect.run(Update(model, where, values), conn)
        return {"processed": updated, "updated": updated, "success": True}

    async def _by_rows(self, db: DataFlow, model: ModelSpec, data: Any, stamp: Any) -> dict[str, Any]:
        plans = []
        for index, row in enumerate(data):
            if not isinstance(row, Mapping) or "id" not in row:
                raise DataFlowError("DF-101", f"Row {index} of 'data' has no 'id'.",
                                    context={"node": self.node_id, "row": index, "missing": "id"})
            changes = {k: v for k, v in row.items() if k != "id"}
            plans.append((parse_filter(model, {"id": row["id"]}),
                          prepare_update(model, changes, self.node_id, stamp, atomic=True)))
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
    """Delete every row matching ``filter`` (or whose id is in ``ids``); an empty filter needs ``confirmed=True``."""

    operation = "bulk_delete"
    parameters = {
        "filter": _filter(),
        "confirmed": Param("confirmed", bool, default=False, description="Needed with an empty filter."),
        "batch_size": _batch_size(),
        "ids": Param("ids", list | None, description="Ids of the rows to delete, instead of a filter."),
    }
    result_types = {"processed": int, "deleted": int, "success": bool}

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_filter(params, node_id)

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        ids = params["ids"]
        if ids is not None:
            wheres = [self.filter_of(db, model, {"id": {"$in": list(chunk)}})
                      for chunk in _chunks(ids, params["batch_size"])]
        else:
            wheres = [self.filter_of(db, model, params["filter"])]
            if wheres[0] is None and not params["confirmed"]:
                raise _needs_confirmation(self, model, "delete")
        deleted = 0
        async with db.transaction() as conn:
            for where in wheres:
                deleted += await db.dialect.run(Delete(model, where), conn)
        return {"processed": deleted, "deleted": deleted, "success": True}


class BulkUpsertNode(ModelNode):
    """Insert or update many rows on ``conflict_on`` (default ``["id"]``) in one transaction."""

    operation = "bulk_upsert"
    parameters = {
        "data": Param("data", list, required=True, description="The rows, a list of dicts."),
        "conflict_on": _conflict_on(),
        "conflict_resolution": Param("conflict_resolution", str, default="update",
                                     choices=("update", "skip", "ignore"),
                                     description="'update' (default) changes existing rows; 'skip' leaves them."),
        "batch_size": _batch_size(),
    }
    result_types = {"processed": int, "inserted": int, "updated": int, "skipped": int, "success": bool}

    @classmethod
    def check_model_values(cls, params: Mapping[str, Any], node_id: str) -> None:
        cls.static_rows(params.get("data"), node_id)
        if _static(params.get("conflict_on")):
            conflict_fields(node_id, cls.model, params["conflict_on"], [])

    async def execute(self, db: DataFlow, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        resolution = params["conflict_resolution"]
        conflict_on = conflict_fields(self.node_id, model, params["conflict_on"], ["id"])
        columns, rows = prepare_batch(model, params["data"], self.node_id, now())
        result = {"processed": len(rows), "inserted": 0, "updated": 0, "skipped": 0, "success": True}
        if not rows:
            return result
        for name in conflict_on:
            if name not in columns:
                raise DataFlowError("DF-101", f"Every row needs the conflict field {name!r}.",
                                    context={"node": self.node_id, "missing": name})
        deduped = last_per_key(columns, rows, conflict_on)
        # On conflict only what the caller supplied changes: defaults filled in for missing fields
        # are for new rows, not a reason to overwrite stored values.
        # A column batch comes only from rows that all have the first row's keys.
        data = params["data"]
        supplied = (set(data[0]) if isinstance(rows, ColumnBatch) else set().union(*data)) | {"updated_at"}
        updating = tuple(c for c in columns if c in supplied)
        try:
            async with db.transaction() as conn:
                for chunk in _chunks(deduped, params["batch_size"]):
                    if resolution == "update":
                        inserted, updated = await self._upsert(db, model, columns, chunk, conflict_on, conn,
                                                               updating)
                        result["inserted"] += inserted
                        result["updated"] += updated
                    else:
                        inserted = await self._insert_missing(db, model, columns, chunk, conflict_on, conn)
                        result["inserted"] += inserted
        except DataFlowError as exc:
            raise await name_clashing_row(db, model, columns, rows, exc, conflict_on) from exc.__cause__
        if resolution != "update":
            result["skipped"] = len(rows) - result["inserted"]
        return result

    async def _split(self, db: DataFlow, model: ModelSpec, columns: Any, rows: Any, conflict_on: Any,
                     conn: Any) -> tuple[list[Any], list[Any]]:
        """``(fresh, stale)``: the rows whose conflict key is not yet stored, and those whose key is."""
        probe = Upsert(model, columns, rows, conflict_on)
        existing = await db.dialect.existing_keys(conn, probe)
        fresh: list[Any] = []
        stale: list[Any] = []
        for row, key in zip(rows, db.dialect.conflict_keys(probe), strict=True):
            (stale if key in existing else fresh).append(row)
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
        # Only a clash on conflict_on is skipped; another unique column that clashes is DF-704.
        if unique_on(model, conflict_on):
            inserted, _kept = await db.dialect.run(Upsert(model, columns, rows, conflict_on, {}, False), conn)
            return int(inserted)
        fresh, _stale = await self._split(db, model, columns, rows, conflict_on, conn)
        if fresh:
            await db.dialect.run(Insert(model, columns, fresh), conn)
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
    "Aggregate": AggregateNode,
}


def make_nodes(model: ModelSpec) -> dict[str, type[ModelNode]]:
    """The node classes of ``model`` (the eleven of API.md and ``…AggregateNode``), by name (``UserCreateNode`` …)."""
    made = {}
    for operation, base in OPERATIONS.items():
        name = f"{model.name}{operation}Node"
        doc = (base.__doc__ or "").replace("rows", f"{model.name} rows").replace("row", f"{model.name} row")
        made[name] = type(name, (base,), {"type_name": name, "model": model, "__doc__": doc,
                                          "__module__": __name__})
    return made
