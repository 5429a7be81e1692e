"""Atomic updates: ``{"$inc": n}``, ``{"$dec": n}``, ``{"$mul": n}`` and ``{"$set_null": True}`` as a field's
new value in an update's ``fields``.

Each becomes part of the UPDATE statement itself (``SET views = views + 1``), so concurrent updates
never lose one another's changes, as a read-modify-write in the application would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dataflow.errors import DataFlowError, did_you_mean, short_repr
from dataflow.models import FieldSpec, ModelSpec
from dataflow.query import Atomic
from dataflow.values import coerce

__all__ = ["ATOMIC_OPERATORS", "atomic_value", "is_atomic"]

ATOMIC_OPERATORS = ("$inc", "$dec", "$mul", "$set_null")
_NUMERIC = frozenset({"int", "float", "decimal"})
_PLAIN = frozenset({str, int, float, bool, type(None)})
"""Value types that are never an operator: told apart without the ``Mapping`` check (an ABC's, slower)."""


def is_atomic(field: FieldSpec, value: Any) -> bool:
    """True when ``value`` asks for an atomic update: a dict of one ``$``-key (for a JSON field, only
    one of the operators, so any other dict stays a JSON value)."""
    if type(value) in _PLAIN or not isinstance(value, Mapping) or len(value) != 1:
        return False
    (key,) = value
    if not isinstance(key, str) or not key.startswith("$"):
        return False
    return field.kind not in ("json", "array") or key in ATOMIC_OPERATORS


def _refused(model: ModelSpec, field: FieldSpec, node: str, message: str) -> DataFlowError:
    return DataFlowError(
        "DF-102", message,
        context={"node": node, "model": model.name, "field": field.name},
        solutions=['Use {"$inc": n}, {"$dec": n} or {"$mul": n} on an int, float or decimal field, '
                   'or {"$set_null": True} on an optional field.'],
    )


def atomic_value(model: ModelSpec, field: FieldSpec, value: Mapping[str, Any], node: str) -> Any:
    """The SET value of one atomic operator: an ``Atomic`` (or None for ``$set_null``); DF-102 when the
    operator, its operand or the field's kind does not fit."""
    ((operator, operand),) = value.items()
    if operator not in ATOMIC_OPERATORS:
        raise _refused(model, field, node,
                       f"Unknown update operator {short_repr(operator)} for '{field.name}'."
                       f"{did_you_mean(operator, ATOMIC_OPERATORS)}")
    if operator == "$set_null":
        if operand is not True:
            raise _refused(model, field, node, f"$set_null takes True, got {short_repr(operand)}.")
        if not field.nullable:
            raise _refused(model, field, node, f"Field '{field.name}' cannot be NULL (it is not optional).")
        return None
    if field.kind not in _NUMERIC:
        raise _refused(model, field, node,
                       f"{operator} needs a number field; '{field.name}' holds {field.kind} values.")
    try:
        number = coerce(field, operand)
    except DataFlowError as exc:
        exc.context.update({"node": node, "model": model.name, "operator": operator})
        raise
    if number is None:
        raise _refused(model, field, node, f"{operator} takes a number, got None.")
    if operator == "$mul":
        return Atomic("mul", number)
    return Atomic("add", -number if operator == "$dec" else number)
