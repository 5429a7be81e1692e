"""Relations between models: loading related rows (``include``) and naming the relation a write broke.

A model declares foreign keys in ``__dataflow__["foreign_keys"]`` (``dataflow.models.RelationSpec``).
``include=["author"]`` on a Read or List node loads, for the records found, the row each one refers
to (the field without ``_id``); ``include=["posts"]`` the rows of another model that refer to each
record (that model's table name). Either way one more query per relation — ``WHERE id IN (…)`` or
``WHERE author_id IN (…)`` over every record at once, never one query per record — and the related
rows are nested in the records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.errors import DataFlowError, did_you_mean, short_repr
from dataflow.models import ModelSpec, RelationSpec
from dataflow.query import Cond, Select

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["MAX_INCLUDES", "Include", "attach", "parse_include", "relation_error", "written_fields"]

MAX_INCLUDES = 32
_IN_CHUNK = 10_000
"""Ids per ``IN`` list of an include query (a few statements for a huge list, never one per row)."""


@attrs.frozen
class Include:
    """One relation to load: ``reverse`` False for the row ``relation.field`` refers to (on ``model``),
    True for the rows of ``other`` whose ``relation.field`` refers to the record."""

    name: str
    relation: RelationSpec
    other: ModelSpec
    reverse: bool

    @property
    def needs(self) -> str:
        """The record's own field the relation is read through."""
        return "id" if self.reverse else self.relation.field


def _relations(db: DataFlow | None, model: ModelSpec) -> tuple[dict[str, Include], dict[str, list[Include]]]:
    """``(forward, reverse)``: this model's relations by name; other models' relations to it by their table."""
    models = db.models if db is not None else {}
    forward = {}
    for relation in model.relations:
        other = model if relation.target == model.name else models.get(relation.target)
        if other is not None:
            forward[relation.name] = Include(relation.name, relation, other, False)
    reverse: dict[str, list[Include]] = {}
    for other in models.values():
        for relation in other.relations:
            if relation.target == model.name:
                reverse.setdefault(other.table, []).append(Include(other.table, relation, other, True))
    return forward, reverse


def _bad(model: ModelSpec, node: str, message: str, *solutions: str) -> DataFlowError:
    return DataFlowError("DF-102", message, context={"node": node, "model": model.name, "parameter": "include"},
                         solutions=list(solutions))


def parse_include(db: DataFlow | None, model: ModelSpec, raw: Any, node: str) -> list[Include]:
    """The relations ``include`` names, checked; DF-102 for anything else, listing the relations there are."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or len(raw) > MAX_INCLUDES:
        raise _bad(model, node, f"'include' must be a list of relation names (at most {MAX_INCLUDES}), "
                                f"got {short_repr(raw)}.")
    forward, reverse = _relations(db, model)
    known = sorted(set(forward) | set(reverse))
    chosen: dict[str, Include] = {}
    for name in raw:
        if not isinstance(name, str):
            raise _bad(model, node, f"'include' holds relation names (strings), got {short_repr(name)}.")
        if name in forward:
            chosen[name] = forward[name]
        elif name in reverse:
            if len(reverse[name]) > 1:
                fields = ", ".join(i.relation.field for i in reverse[name])
                raise _bad(model, node, f"{name!r} refers to {model.name} through several fields ({fields}); "
                                        "include cannot tell which one to follow.",
                           "Read them with a List node filtered on the field you mean.")
            chosen[name] = reverse[name][0]
        else:
            raise _bad(model, node,
                       f"{model.name} has no relation {short_repr(name)}.{did_you_mean(name, known)}",
                       f"Relations of {model.name}: {', '.join(known) or 'none (declare __dataflow__ foreign_keys)'}.")
    return list(chosen.values())


async def attach(db: DataFlow, records: Sequence[dict[str, Any]], includes: Sequence[Include]) -> None:
    """Load each included relation for every record (one query per relation) and nest it in the records."""
    for include in includes:
        await db.ensure_ready(include.other)
        if include.reverse:
            await _attach_reverse(db, records, include)
        else:
            await _attach_forward(db, records, include)


async def _rows_where_in(db: DataFlow, model: ModelSpec, field: str, values: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    spec = model.field_map[field]
    for start in range(0, len(values), _IN_CHUNK):
        chunk = tuple(values[start : start + _IN_CHUNK])
        rows += await db.dialect.run(Select(model, Cond(spec, "in", chunk), (("id", False),)))
    return rows


async def _attach_forward(db: DataFlow, records: Sequence[dict[str, Any]], include: Include) -> None:
    field = include.relation.field
    ids = list(dict.fromkeys(r[field] for r in records if r.get(field) is not None))
    by_id = {row["id"]: row for row in await _rows_where_in(db, include.other, "id", ids)} if ids else {}
    for record in records:
        record[include.name] = by_id.get(record.get(field))


async def _attach_reverse(db: DataFlow, records: Sequence[dict[str, Any]], include: Include) -> None:
    field = include.relation.field
    ids = list(dict.fromkeys(r["id"] for r in records if r.get("id") is not None))
    grouped: dict[Any, list[dict[str, Any]]] = {}
    if ids:
        for row in await _rows_where_in(db, include.other, field, ids):
            grouped.setdefault(row[field], []).append(row)
    for record in records:
        record[include.name] = grouped.get(record.get("id"), [])


def written_fields(params: Mapping[str, Any]) -> set[str]:
    """The field names a write node's parameters set (flat, ``fields``, ``data`` rows, upsert parts)."""
    names = {k for k in params if isinstance(k, str)}
    for key in ("fields", "update", "create", "where"):
        if isinstance(params.get(key), Mapping):
            names.update(params[key])
    data = params.get("data")
    if isinstance(data, list | tuple):
        for row in data[:1000]:
            if isinstance(row, Mapping):
                names.update(row)
    return names


def _restricting(db: DataFlow, model: ModelSpec) -> list[tuple[ModelSpec, RelationSpec]]:
    """The restricting relations a delete of ``model`` rows can run into: those to ``model``, and those
    to every model its deletes cascade to."""
    deleted, pending = {model.name}, [model.name]
    found: list[tuple[ModelSpec, RelationSpec]] = []
    while pending:
        target = pending.pop()
        for other in db.models.values():
            for relation in other.relations:
                if relation.target != target:
                    continue
                if relation.on_delete == "restrict":
                    found.append((other, relation))
                elif relation.on_delete == "cascade" and other.name not in deleted:
                    deleted.add(other.name)
                    pending.append(other.name)
    return found


def relation_error(db: DataFlow, model: ModelSpec, operation: str, error: DataFlowError,
                   written: Set[str] = frozenset()) -> DataFlowError:
    """A foreign key violation (DF-706) as DF-711 naming the declared relation it broke, when there is one.

    A delete breaks another model's relation to this one (``on_delete="restrict"``); any other write
    breaks one of this model's own. The database's message names the constraint on PostgreSQL and
    MariaDB; SQLite names none, so there the relation is named when only one can be meant.
    """
    if error.code != "DF-706":
        return error
    if operation in ("delete", "bulk_delete"):
        candidates = _restricting(db, model)
    else:
        candidates = [(model, r) for r in model.relations]
        # Only a field the write set can break the relation (SQLite's message names no constraint).
        candidates = [(m, r) for m, r in candidates if r.field in written] or candidates
    if not candidates:
        return error
    text = " ".join(str(part) for part in (error.message, error.context.get("constraint", ""),
                                           error.context.get("detail", ""), error.__cause__ or ""))
    named = [(m, r) for m, r in candidates if r.constraint and r.constraint in text]
    chosen = named[:1] or candidates
    described = " or ".join(f"'{m.name}.{r.name}' ({m.name}.{r.field} → {r.target}.id)" for m, r in chosen)
    if operation in ("delete", "bulk_delete"):
        message = (f"The {model.name} row is still referenced through the relation {described}, whose "
                   "on_delete is 'restrict'; nothing was deleted.")
        solutions = ["Delete (or re-point) the referencing rows first, or declare on_delete='cascade' / "
                     "'set_null' for the relation."]
    else:
        message = (f"The write breaks the relation {described}: the id given must be that of an existing "
                   f"{chosen[0][1].target} row; nothing was written.")
        solutions = [f"Create the {chosen[0][1].target} row first, or check the id."]
    model_name, relation = chosen[0]
    context = {**error.context, "relation": relation.name, "field": relation.field, "target": relation.target,
               "on_delete": relation.on_delete, "referencing_model": model_name.name}
    translated = DataFlowError("DF-711", message, context=context, solutions=solutions)
    translated.__cause__ = error.__cause__
    return translated
