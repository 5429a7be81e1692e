"""Value checking and conversion: what a caller passes for a field becomes its canonical Python value.

ISO-8601 strings become datetimes (``Z`` and offsets included), ints are accepted for floats and
Decimals, and anything else of the wrong type is DF-102. Dialects then turn the canonical value into
what their driver wants (``encode``) and back (``decode``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable
from typing import Any

from dataflow.errors import DataFlowError, short_repr
from dataflow.models import FieldSpec

__all__ = ["accepted_type", "coerce", "coercer", "parse_datetime", "plain_decimal", "stored_type", "to_json"]


def parse_datetime(text: str) -> dt.datetime:
    """ISO-8601 with ``Z`` or an offset; ValueError when it is not one."""
    try:
        return dt.datetime.fromisoformat(text)  # Python 3.11+ reads "Z" and offsets itself
    except ValueError:
        if text.endswith("z"):  # lower-case "z", which fromisoformat refuses
            return dt.datetime.fromisoformat(text[:-1] + "+00:00")
        raise


def _wrong(field: FieldSpec, value: Any, expected: str) -> DataFlowError:
    shown = short_repr(value, 60)
    return DataFlowError(
        "DF-102",
        f"Field '{field.name}' expects {expected}, got {type(value).__name__} {shown}.",
        context={"field": field.name, "expected": expected, "value": shown},
        solutions=[f"Pass {expected} for '{field.name}'."],
    )


def nul_error(field: str) -> DataFlowError:
    """DF-102 for text holding a NUL character, which PostgreSQL cannot store: refused everywhere."""
    return DataFlowError(
        "DF-102",
        f"Field '{field}' holds a NUL character (\\x00), which text cannot store on every database.",
        context={"field": field},
        solutions=["Strip the NUL characters, or store the data in a bytes field."],
    )


def _str(f: FieldSpec, v: Any) -> Any:
    if type(v) is str:
        if "\x00" in v:
            raise nul_error(f.name)
        return v
    raise _wrong(f, v, "a string")


def _int(f: FieldSpec, v: Any) -> Any:
    if type(v) is int:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    raise _wrong(f, v, "an integer")


def _float(f: FieldSpec, v: Any) -> Any:
    if type(v) is float:
        return v
    if isinstance(v, int | float | decimal.Decimal) and not isinstance(v, bool):
        try:
            return float(v)
        except (ValueError, OverflowError):  # Decimal('sNaN'), ints beyond a float's range
            raise _wrong(f, v, "a number") from None
    raise _wrong(f, v, "a number")


def _bool(f: FieldSpec, v: Any) -> Any:
    if type(v) is bool:
        return v
    raise _wrong(f, v, "a boolean")


def _datetime(f: FieldSpec, v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, str):
        try:
            return parse_datetime(v)
        except ValueError:
            pass
    raise _wrong(f, v, "a datetime or an ISO-8601 string")


def _date(f: FieldSpec, v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v[:10]) if len(v) > 10 else dt.date.fromisoformat(v)
        except ValueError:
            pass
    raise _wrong(f, v, "a date or an ISO-8601 date string")


def _decimal(f: FieldSpec, v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        if not v.is_finite():
            raise _wrong(f, v, "a finite decimal")
        return plain_decimal(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return decimal.Decimal(v)
    if isinstance(v, float | str):
        try:
            result = decimal.Decimal(str(v))
        except decimal.InvalidOperation:
            raise _wrong(f, v, "a decimal") from None
        if result.is_finite():
            return plain_decimal(result)
    raise _wrong(f, v, "a decimal")


def plain_decimal(value: decimal.Decimal) -> decimal.Decimal:
    """The form of a Decimal that every database stores with its digits: no positive exponent, no minus zero.

    A Decimal reads back with the digits it was written with; ``1E+2`` is written as ``100`` and
    ``-0.00`` as ``0.00`` first, the only forms no SQL numeric type can keep.
    """
    sign, _digits, exponent = value.as_tuple()
    if isinstance(exponent, int) and exponent > 0:
        value = decimal.Decimal(format(value, "f"))
    if sign and not value:
        value = value.copy_abs()
    return value


def _bytes(f: FieldSpec, v: Any) -> Any:
    if isinstance(v, bytes):
        return v
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    raise _wrong(f, v, "bytes")


MAX_JSON_DEPTH = 31
"""How many dicts and lists a JSON value may nest (MariaDB refuses 32, the least of the databases): DF-102 past it."""


def json_depth(value: Any, limit: int) -> tuple[int, bool]:
    """(how deeply ``value``'s dicts and lists nest, whether a string in it holds a NUL), found
    without recursion; the walk stops once the depth passes ``limit``."""
    deepest, nul = 0, False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            nul = nul or "\x00" in item
            continue
        if isinstance(item, dict):
            nul = nul or any(isinstance(k, str) and "\x00" in k for k in item)
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | tuple | str))
    return deepest, nul


def _json(f: FieldSpec, v: Any) -> Any:
    depth, nul = json_depth(v, MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH:
        raise DataFlowError(
            "DF-102",
            f"Field '{f.name}' holds a JSON value nested more than {MAX_JSON_DEPTH} levels deep "
            f"(the limit, the deepest every database stores).",
            context={"field": f.name, "limit": MAX_JSON_DEPTH},
            solutions=["Flatten the value, or store the deep part as a JSON string."],
        )
    if nul:
        raise nul_error(f.name)
    try:
        json.dumps(v, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise _wrong(f, v, "JSON-serialisable data (dict, list, str, number, bool, None)") from None
    return v


def _array(f: FieldSpec, v: Any) -> Any:
    if not isinstance(v, list | tuple):
        raise _wrong(f, v, f"a list of {f.element_kind}")
    element = FieldSpec(f.name, f.element_kind or "str")
    check = _COERCERS[element.kind]
    return [check(element, item) for item in v]


_COERCERS: dict[str, Callable[[FieldSpec, Any], Any]] = {
    "str": _str,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "datetime": _datetime,
    "date": _date,
    "decimal": _decimal,
    "bytes": _bytes,
    "json": _json,
    "array": _array,
}

ACCEPTED_TYPES: dict[str, frozenset[type]] = {
    "str": frozenset({str}),
    "int": frozenset({int}),
    "float": frozenset({float}),
    "bool": frozenset({bool}),
    "datetime": frozenset({dt.datetime}),
    "date": frozenset({dt.date}),
    "bytes": frozenset({bytes}),
}
"""Types that need no conversion, per kind: lets bulk paths check whole columns at C speed.

Decimals are not listed: each one is brought to its plain form (``plain_decimal``)."""


_ELEMENT_TYPES: dict[str, type] = {"str": str, "int": int, "float": float}
_ACCEPTED_BY_KIND: dict[str, Any] = {
    "decimal": decimal.Decimal | int | float | str,
    "datetime": dt.datetime | dt.date | str,
    "date": dt.date | str,
    "bytes": bytes | bytearray | memoryview,
}
"""Kinds whose fields take more than their own type (``coerce`` converts these)."""


def _base_type(field: FieldSpec) -> Any:
    if field.kind == "array":
        return list[_ELEMENT_TYPES[field.element_kind or "str"]]  # type: ignore[misc]
    return field.python_type if field.python_type is not None else object


def stored_type(field: FieldSpec) -> Any:
    """The type of the field's value as a node returns it (``str | None`` for an Optional field).

    The managed timestamps are always set on a returned row, so they are never None there.
    """
    kind = _base_type(field)
    return kind | None if field.nullable and not field.auto and kind is not object else kind


def accepted_type(field: FieldSpec) -> Any:
    """The type of what ``coerce`` accepts for the field: its own type plus the conversions it makes
    (an ISO-8601 string for a datetime, an int for a Decimal), ``| None`` where None is allowed."""
    kind = _ACCEPTED_BY_KIND.get(field.kind) or _base_type(field)
    if kind is object:
        return object
    return kind | None if field.nullable or field.generated or field.auto else kind


def coercer(field: FieldSpec) -> Callable[[FieldSpec, Any], Any]:
    """The checking function for a field's kind."""
    return _COERCERS[field.kind]


def coerce(field: FieldSpec, value: Any) -> Any:
    """The canonical value for ``field``: None where allowed, converted where safe, else DF-102."""
    if value is None:
        if field.nullable or field.generated or field.auto:
            return None
        raise DataFlowError(
            "DF-102",
            f"Field '{field.name}' cannot be None.",
            context={"field": field.name},
            solutions=[f"Give '{field.name}' a value, or declare it Optional[...] in the model."],
        )
    return _COERCERS[field.kind](field, value)


def to_json(value: Any) -> str:
    """Compact JSON text, as stored by dialects without a native JSON parameter type."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
