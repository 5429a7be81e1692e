"""Checking what callers write: single rows, whole batches (column-wise, at C speed) and updates.

Every write goes through here before a query is built, so a bad row is refused with its DF code
before anything reaches the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError, did_you_mean
from dataflow.models import AUTO_FIELDS, FieldSpec, ModelSpec
from dataflow.query import ColumnBatch, Cond, Constant, Select
from dataflow.values import ACCEPTED_TYPES, coerce

from dataflow_crud.atomic import atomic_value, is_atomic

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["check_fields", "in_row", "last_per_key", "name_clashing_row", "now", "prepare_batch", "prepare_row",
           "prepare_update"]

_NONE = type(None)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_fields(model: ModelSpec, keys: Any, node: str, *, what: str = "field") -> None:
    """DF-104 for a managed timestamp, DF-102 for an unknown field."""
    fields = model.field_map
    for key in keys:
        if key in AUTO_FIELDS:
            raise DataFlowError(
                "DF-104",
                f"'{key}' is managed by DataFlow and cannot be set.",
                context={"node": node, "model": model.name, "field": key},
                solutions=[f"Remove '{key}' from the data; DataFlow sets created_at and updated_at itself."],
            )
        if key not in fields:
            names = [f.name for f in model.writable_fields]
            raise DataFlowError(
                "DF-102",
                f"Model '{model.name}' has no {what} {key!r}.{did_you_mean(str(key), names)}",
                context={"node": node, "model": model.name, "field": key, "fields": ", ".join(names)},
                solutions=[f"Use the fields of {model.name}: {', '.join(names)}."],
            )


def _missing(model: ModelSpec, field: FieldSpec, node: str) -> DataFlowError:
    example = '{"id": "user-123", ...}' if field.name == "id" else f'{{"{field.name}": ...}}'
    return DataFlowError(
        "DF-101",
        f"Field '{field.name}' is required for CREATE operations on {model.name}.",
        context={"node": node, "model": model.name, "missing": field.name, "operation": "CREATE"},
        causes=[f"The '{field.name}' field is missing from the data.",
                "A typo in the field name.",
                "The data does not match the model."],
        solutions=[f"Add '{field.name}' to the data: {example}"],
    )


def _check_id(model: ModelSpec, row: Mapping[str, Any], node: str) -> None:
    if "id" not in row and not model.id_is_generated:
        raise _missing(model, model.id_field, node)


def prepare_row(model: ModelSpec, data: Mapping[str, Any], node: str, stamp: dt.datetime) -> dict[str, Any]:
    """A complete canonical row for INSERT: checked, defaults filled, timestamps set."""
    if not isinstance(data, Mapping):
        raise DataFlowError("DF-102", f"A row must be a dict, got {type(data).__name__}.",
                            context={"node": node, "model": model.name})
    check_fields(model, data, node)
    _check_id(model, data, node)
    row: dict[str, Any] = {}
    for field in model.fields:
        if field.auto:
            row[field.name] = stamp
        elif field.name in data:
            value = data[field.name]
            if value is None and field.generated:
                continue
            row[field.name] = _coerce(field, value, node, model)
        elif field.generated:
            continue
        elif field.required:
            raise _missing(model, field, node)
        else:
            row[field.name] = field.default_value()
    return row


def _coerce(field: FieldSpec, value: Any, node: str, model: ModelSpec) -> Any:
    try:
        return coerce(field, value)
    except DataFlowError as exc:
        exc.context.update({"node": node, "model": model.name})
        raise


def prepare_update(model: ModelSpec, fields: Mapping[str, Any], node: str, stamp: dt.datetime, *,
                   atomic: bool = False) -> dict[str, Any]:
    """Canonical SET values plus ``updated_at``; ``id`` cannot be changed. ``atomic``: a value may be an
    operator computed in SQL (``{"$inc": 1}``, see ``dataflow_crud.atomic``)."""
    if type(fields) is not dict and not isinstance(fields, Mapping):  # dict first: the ABC check costs more
        raise DataFlowError("DF-102", f"'fields' must be a dict, got {type(fields).__name__}.",
                            context={"node": node, "model": model.name})
    check_fields(model, fields, node)
    if "id" in fields:
        raise DataFlowError("DF-102", "The id of a row cannot be changed by an update.",
                            context={"node": node, "model": model.name},
                            solutions=["Remove 'id' from 'fields'; identify the row in 'filter' instead."])
    if atomic:
        values = _set_values(model, fields, node)
    else:
        values = {name: _coerce(model.field_map[name], value, node, model) for name, value in fields.items()}
    if "updated_at" in model.field_map:  # discovered tables may have no managed timestamps
        values["updated_at"] = stamp
    return values


def _set_values(model: ModelSpec, fields: Mapping[str, Any], node: str) -> dict[str, Any]:
    """SET values where an atomic operator may stand for a value."""
    values = {}
    for name, value in fields.items():
        field = model.field_map[name]
        values[name] = atomic_value(model, field, value, node) if is_atomic(field, value) else _coerce(
            field, value, node, model)
    return values


def prepare_batch(
    model: ModelSpec, data: Any, node: str, stamp: dt.datetime
) -> tuple[tuple[str, ...], ColumnBatch | list[tuple[Any, ...]]]:
    """Many rows at once: ``(columns, rows)``, checked column by column.

    Rows with the same keys (the usual case) are checked in bulk at C speed: every row a dict of the
    first row's length whose keys all exist (``itemgetter`` per column), value types per column with
    ``set(map(type, column))``; only a column holding values of the wrong type is converted value by
    value. Managed timestamps and defaults become constant columns.
    """
    if not isinstance(data, list | tuple):
        raise DataFlowError("DF-102", f"'data' must be a list of dicts, got {type(data).__name__}.",
                            context={"node": node, "model": model.name})
    if not data:
        return (), []
    first = data[0]
    if not isinstance(first, Mapping):
        raise DataFlowError("DF-102", f"Each row of 'data' must be a dict, got {type(first).__name__}.",
                            context={"node": node, "model": model.name, "row": 0})
    keys = list(first)
    uniform = set(map(type, data)) == {dict} and set(map(len, data)) == {len(keys)}
    if uniform:
        check_fields(model, keys, node)
        _check_id(model, first, node)
        try:
            column_data: list[Any] = [list(map(itemgetter(name), data)) for name in keys]
        except KeyError:
            uniform = False  # same length, other keys: take the row-by-row path for its precise error
    if not uniform:
        return _prepare_rows(model, data, node, stamp)
    fields = model.field_map
    for index, name in enumerate(keys):
        field = fields[name]
        accepted = ACCEPTED_TYPES.get(field.kind)
        types = set(map(type, column_data[index]))
        present = types - {_NONE} if field.nullable or field.generated else types
        nul = field.kind == "str" and _holds_nul(column_data[index], types)
        if accepted is not None and present <= accepted and not nul:
            continue
        column_data[index] = _coerce_column(field, column_data[index], node, model)
    columns = list(keys)
    for field in model.fields:
        if field.name in fields and field.name not in first and not field.generated:
            if field.required:
                raise _missing(model, field, node)
            columns.append(field.name)
            column_data.append(Constant(stamp if field.auto else field.default_value()))
    return tuple(columns), ColumnBatch(column_data, len(data))


def _holds_nul(column: list[Any], types: set[type]) -> bool:
    """True when a string of ``column`` (whose value types are ``types``) holds a NUL character (one
    C-speed pass over the column)."""
    strings = column if types == {str} else [v for v in column if type(v) is str]
    return "\x00" in "".join(strings)


def _coerce_column(field: FieldSpec, column: list[Any], node: str, model: ModelSpec) -> list[Any]:
    """Every value of one column checked; an error names the row (its index in ``data``)."""
    try:
        return [_coerce(field, v, node, model) for v in column]
    except DataFlowError:
        for index, value in enumerate(column):
            try:
                coerce(field, value)
            except DataFlowError as exc:
                raise in_row(exc, index) from None
        raise


def in_row(error: DataFlowError, index: int) -> DataFlowError:
    """``error`` saying which row of a bulk node's ``data`` it is about (its index)."""
    if "row" not in error.context:
        error.context["row"] = index
        error.message = f"Row {index} of 'data': {error.message}"
        error.args = (error.message,)
    return error


async def name_clashing_row(db: DataFlow, model: ModelSpec, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
                            error: DataFlowError, conflict_on: Sequence[str] = ()) -> DataFlowError:
    """A bulk write's DF-704 saying which row of ``data`` clashed (its index), when it can be found.

    Databases name the duplicate value, not the row: the rows are looked through for a unique key
    they repeat, then the table for keys that already exist (a row whose ``conflict_on`` matches the
    stored row is an update, not a clash). Best effort: the original error is kept whatever happens.
    """
    if error.code != "DF-704" or "row" in error.context:
        return error
    try:
        index = await _first_clash(db, model, columns, rows, tuple(conflict_on))
    except Exception:  # the lookup must never hide the error being reported
        return error
    return in_row(error, index) if index is not None else error


async def _first_clash(db: DataFlow, model: ModelSpec, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
                       conflict_on: tuple[str, ...]) -> int | None:
    keys = [("id",)] + [index.fields for index in model.indexes if index.unique]
    keys = [k for k in dict.fromkeys(keys) if set(k) <= set(columns) and k != conflict_on]
    own = key_of(columns, conflict_on) if conflict_on else None
    found: list[int] = []
    for key in keys:
        value_of = key_of(columns, key)
        seen: dict[Any, int] = {}
        for index, row in enumerate(rows):
            first = seen.setdefault(value_of(row), index)
            if first != index and (own is None or own(rows[first]) != own(row)):
                found.append(index)
                break
        if len(key) == 1:
            field = model.field_map[key[0]]
            stored = await db.dialect.run(Select(model, Cond(field, "in", tuple(seen)), limit=1000))
            clashing = {r[key[0]]: r for r in stored}
            for index, row in enumerate(rows):
                record = clashing.get(value_of(row))
                if record is not None and (own is None or tuple(record[c] for c in conflict_on) != _as_tuple(own(row))):
                    found.append(index)
                    break
    return min(found) if found else None


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def _prepare_rows(
    model: ModelSpec, data: Sequence[Any], node: str, stamp: dt.datetime
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The row-by-row path, for batches whose rows set different fields."""
    rows = []
    for index, raw in enumerate(data):
        try:
            rows.append(prepare_row(model, raw, node, stamp))
        except DataFlowError as exc:
            raise in_row(exc, index) from None
    columns = tuple(rows[0])
    for index, row in enumerate(rows):
        if tuple(row) != columns:
            if set(row) - set(columns):
                raise DataFlowError("DF-102", "Rows of one bulk call must set the same fields.",
                                    context={"node": node, "model": model.name, "row": index})
            rows[index] = {c: row.get(c) for c in columns}
    return columns, [tuple(r.values()) for r in rows]


def last_per_key(columns: Sequence[str], rows: ColumnBatch | list[tuple[Any, ...]],
                 conflict_on: Sequence[str]) -> ColumnBatch | list[tuple[Any, ...]]:
    """``rows`` with one row per ``conflict_on`` key, the last one given for it (in first-seen order).

    A column batch whose key column repeats nothing (the usual case) is returned as it is, still
    column-wise: the check is one ``set`` of that column, not a dict of every row.
    """
    if isinstance(rows, ColumnBatch) and len(conflict_on) == 1:
        column = rows.column_data[columns.index(conflict_on[0])]
        if not isinstance(column, Constant):
            try:
                if len(set(column)) == len(column):
                    return rows
            except TypeError:  # an unhashable key value: the row-by-row path says what it says
                pass
    key = key_of(columns, conflict_on)
    return list({key(r): r for r in rows}.values())


def key_of(columns: Sequence[str], conflict_on: Sequence[str]) -> itemgetter[Any]:
    """A getter for the conflict key of a row tuple."""
    positions = [columns.index(c) for c in conflict_on]
    return itemgetter(*positions) if len(positions) > 1 else itemgetter(positions[0])
