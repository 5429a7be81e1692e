"""Aggregate queries: GROUP BY with counts, sums, averages, minimums and maximums, as a query description.

An aggregate node's parameters arrive as plain data::

    group_by=["region"],
    aggregates={"total": {"$sum": "amount"}, "n": {"$count": "*"}, "buyers": {"$count_distinct": "user_id"}},
    having={"total": {"$gt": 100}}, order_by=["-total"], limit=10

``parse_aggregate`` checks them against the model (DF-102 naming what is wrong) and returns an
``Aggregate`` that a dialect compiles into one SELECT. Aliases never enter SQL text (columns are read
by position and HAVING / ORDER BY repeat the expressions), so any alias is safe; they are still
limited to identifiers, to be readable keys in the output.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from dataflow.errors import DataFlowError, did_you_mean, short_repr
from dataflow.models import FieldSpec, ModelSpec
from dataflow.query import And, Expr, Not, Or, parse_filter
from dataflow.values import coerce

__all__ = [
    "AGGREGATE_FUNCTIONS",
    "MAX_AGGREGATES",
    "Aggregate",
    "HavingCond",
    "Measure",
    "average",
    "parse_aggregate",
]

AGGREGATE_FUNCTIONS = ("$count", "$count_distinct", "$sum", "$avg", "$min", "$max")
MAX_AGGREGATES = 64
"""The most aliases (and, separately, group_by fields) in one aggregate."""
_NUMERIC = frozenset({"int", "float", "decimal"})
_ORDERED = frozenset({"int", "float", "decimal", "str", "date", "datetime"})
_GROUPABLE = frozenset({"int", "float", "decimal", "str", "date", "datetime", "bool"})
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
_HAVING_OPS = {"$eq": "eq", "$ne": "ne", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte", "$in": "in",
               "$nin": "nin"}
_MAX_HAVING_DEPTH = 16
_AVERAGE_CONTEXT = decimal.Context(prec=28)
"""The precision of an average of decimals on every database (Python's default)."""


@attrs.frozen
class Measure:
    """One computed value of a group: ``func`` (count, count_distinct, sum, avg, min, max) of ``field``
    (None for ``COUNT(*)``), output as ``alias``."""

    alias: str
    func: str
    field: FieldSpec | None

    @property
    def kind(self) -> str:
        """The kind of the value it gives: int for counts, float for an average of numbers, else the field's."""
        if self.func in ("count", "count_distinct") or self.field is None:
            return "int"
        if self.func == "avg" and self.field.kind != "decimal":
            return "float"
        return self.field.kind


@attrs.frozen
class HavingCond:
    """``measure op value`` in a HAVING clause; ``value`` is canonical for the measure's kind."""

    measure: Measure
    op: str
    value: Any


@attrs.frozen(hash=False)
class Aggregate:
    """``SELECT group fields, measures FROM table WHERE … GROUP BY … HAVING … ORDER BY … LIMIT …``.

    ``order_by`` holds ``(name, descending)`` pairs, a name being a group field or an alias; groups
    come ordered by the group fields when it is empty, so every database returns them alike.
    """

    model: ModelSpec
    where: Expr | None
    group_by: tuple[FieldSpec, ...]
    measures: tuple[Measure, ...]
    having: Any = None
    """None, or a tree of And / Or / Not over ``HavingCond`` leaves."""
    order_by: tuple[tuple[str, bool], ...] = ()
    limit: int | None = None


def average(total: Any, count: Any, measure: Measure) -> Any:
    """The average of a group from its exact sum and its count, alike on every database."""
    if total is None or not count:
        return None
    if measure.kind == "decimal":
        return _AVERAGE_CONTEXT.divide(decimal.Decimal(total), decimal.Decimal(int(count)))
    return float(total) / int(count)


def _bad(model: ModelSpec, node: str | None, parameter: str, message: str, *solutions: str) -> DataFlowError:
    return DataFlowError("DF-102", message, context={"node": node, "model": model.name, "parameter": parameter},
                         solutions=list(solutions))


def parse_aggregate(model: ModelSpec, *, filter: Any = None, group_by: Any = None, aggregates: Any = None,
                    having: Any = None, order_by: Any = None, limit: int | None = None,
                    extra_operators: Any = (), node: str | None = None) -> Aggregate:
    """The checked ``Aggregate`` of an aggregate node's parameters; DF-102 on anything invalid."""
    where = parse_filter(model, filter, extra_operators=extra_operators, node=node)
    groups = _group_fields(model, group_by, node)
    measures = _measures(model, aggregates, node)
    if not groups and not measures:
        raise _bad(model, node, "aggregates", "An aggregate needs 'aggregates', 'group_by' or both.",
                   'Pass {"aggregates": {"n": {"$count": "*"}}}.')
    names = {f.name for f in groups}
    for measure in measures:
        if measure.alias in names:
            raise _bad(model, node, "aggregates",
                       f"The alias {measure.alias!r} is also a group_by field; choose another name.")
    by_alias = {m.alias: m for m in measures}
    parsed_having = _having(model, having, by_alias, node, 0) if having is not None else None
    order = _order(model, order_by, names, by_alias, node)
    return Aggregate(model, where, groups, measures, parsed_having, order, limit)


def _group_fields(model: ModelSpec, raw: Any, node: str | None) -> tuple[FieldSpec, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise _bad(model, node, "group_by", f"'group_by' must be a list of field names, got {short_repr(raw)}.")
    if len(raw) > MAX_AGGREGATES:
        raise _bad(model, node, "group_by", f"'group_by' has more than {MAX_AGGREGATES} fields (the limit).")
    fields: dict[str, FieldSpec] = {}
    for name in raw:
        if not isinstance(name, str):
            raise _bad(model, node, "group_by", f"'group_by' holds field names, got {short_repr(name)}.")
        field = model.field(name, node=node)
        if field.kind not in _GROUPABLE:
            raise _bad(model, node, "group_by", f"Rows cannot be grouped by '{name}', a {field.kind} field.")
        fields[field.name] = field
    return tuple(fields.values())


def _measures(model: ModelSpec, raw: Any, node: str | None) -> tuple[Measure, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise _bad(model, node, "aggregates",
                   f"'aggregates' must be a dict of alias → {{\"$sum\": field}}, got {short_repr(raw)}.",
                   'Pass {"aggregates": {"total": {"$sum": "amount"}, "n": {"$count": "*"}}}.')
    if len(raw) > MAX_AGGREGATES:
        raise _bad(model, node, "aggregates", f"'aggregates' has more than {MAX_AGGREGATES} entries (the limit).")
    measures = []
    for alias, spec in raw.items():
        if not isinstance(alias, str) or not _ALIAS.match(alias):
            raise _bad(model, node, "aggregates",
                       f"The alias {short_repr(alias)} must be a name of letters, digits and '_' (at most 63).")
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise _bad(model, node, "aggregates",
                       f"Aggregate {alias!r} must be one function of a field, like {{\"$sum\": \"amount\"}}, "
                       f"got {short_repr(spec)}.")
        ((function, target),) = spec.items()
        if function not in AGGREGATE_FUNCTIONS:
            raise _bad(model, node, "aggregates",
                       f"Unknown aggregate function {short_repr(function)} in {alias!r}."
                       f"{did_you_mean(str(function), AGGREGATE_FUNCTIONS)}",
                       f"Use one of {', '.join(AGGREGATE_FUNCTIONS)}.")
        measures.append(_measure(model, alias, function, target, node))
    return tuple(measures)


def _measure(model: ModelSpec, alias: str, function: str, target: Any, node: str | None) -> Measure:
    func = function[1:]
    if target == "*" and func == "count":
        return Measure(alias, "count", None)
    if not isinstance(target, str):
        raise _bad(model, node, "aggregates", f"{function} in {alias!r} takes a field name, got {short_repr(target)}.")
    field = model.field(target, node=node)
    allowed = {"sum": _NUMERIC, "avg": _NUMERIC, "min": _ORDERED, "max": _ORDERED}.get(func)
    if func in ("count", "count_distinct") and field.kind not in _GROUPABLE:
        raise _bad(model, node, "aggregates", f"{function} cannot count values of '{target}', a {field.kind} field.")
    if allowed is not None and field.kind not in allowed:
        raise _bad(model, node, "aggregates",
                   f"{function} in {alias!r} needs a {'number' if allowed is _NUMERIC else 'comparable'} field; "
                   f"'{target}' is a {field.kind} field.")
    return Measure(alias, func, field)


def _having(model: ModelSpec, raw: Any, measures: Mapping[str, Measure], node: str | None, depth: int) -> Any:
    if depth > _MAX_HAVING_DEPTH:
        raise _bad(model, node, "having", f"'having' is nested more than {_MAX_HAVING_DEPTH} levels deep (the limit).")
    if not isinstance(raw, Mapping):
        raise _bad(model, node, "having", f"'having' must be a dict over the aliases, got {short_repr(raw)}.")
    items: list[Any] = []  # HavingCond leaves under the filter tree's And / Or / Not
    for key, value in raw.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list | tuple) or not value or len(value) > MAX_AGGREGATES:
                raise _bad(model, node, "having", f"{key} takes a non-empty list of conditions (at most "
                                                  f"{MAX_AGGREGATES}).")
            parts = [p for p in (_having(model, v, measures, node, depth + 1) for v in value) if p is not None]
            if parts:
                items.append(And(tuple(parts)) if key == "$and" else Or(tuple(parts)))
        elif key == "$not":
            inner = _having(model, value, measures, node, depth + 1)
            if inner is not None:
                items.append(Not(inner))
        elif isinstance(key, str) and key in measures:
            items.extend(_having_conditions(model, measures[key], value, node))
        else:
            known = sorted(measures)
            raise _bad(model, node, "having",
                       f"'having' can only use the aliases of 'aggregates' ({', '.join(known) or 'none'}), "
                       f"not {short_repr(key)}.{did_you_mean(str(key), known)}")
    if not items:
        return None
    return items[0] if len(items) == 1 else And(tuple(items))


def _having_conditions(model: ModelSpec, measure: Measure, value: Any, node: str | None) -> list[HavingCond]:
    operators = value if isinstance(value, Mapping) else {"$eq": value}
    if not operators:
        raise _bad(model, node, "having", f"The condition on {measure.alias!r} is empty.")
    result = []
    for op, operand in operators.items():
        if op not in _HAVING_OPS:
            raise _bad(model, node, "having", f"Unknown operator {short_repr(op)} on {measure.alias!r} in 'having'."
                       f"{did_you_mean(str(op), list(_HAVING_OPS))}", f"Use one of {', '.join(_HAVING_OPS)}.")
        name = _HAVING_OPS[op]
        if name in ("in", "nin"):
            if not isinstance(operand, list | tuple) or len(operand) > 10_000:
                raise _bad(model, node, "having", f"{op} takes a list (at most 10,000 values).")
            result.append(HavingCond(measure, name, tuple(_operand(model, measure, v, node) for v in operand)))
        else:
            result.append(HavingCond(measure, name, _operand(model, measure, operand, node)))
    return result


def _operand(model: ModelSpec, measure: Measure, value: Any, node: str | None) -> Any:
    """A HAVING value as the measure's kind (an int for counts, the field's kind for sums …)."""
    if value is None:
        raise _bad(model, node, "having", f"'having' compares {measure.alias!r} with a value, not None.")
    kind = measure.kind
    spec = measure.field if measure.field is not None and measure.field.kind == kind else FieldSpec(
        measure.alias, kind, {"int": int, "float": float}.get(kind, object))
    try:
        return coerce(spec, value)
    except DataFlowError as exc:
        exc.context.update({"node": node, "model": model.name, "parameter": "having"})
        raise


def _order(model: ModelSpec, raw: Any, groups: set[str], measures: Mapping[str, Measure],
           node: str | None) -> tuple[tuple[str, bool], ...]:
    if raw is None or raw == [] or raw == {}:
        return ()
    if isinstance(raw, str | Mapping):
        raw = [raw]
    if not isinstance(raw, list | tuple) or len(raw) > 2 * MAX_AGGREGATES:
        raise _bad(model, node, "order_by", f"'order_by' must be a list of names, got {short_repr(raw)}.")
    known = sorted(groups | set(measures))
    result: list[tuple[str, bool]] = []
    for entry in raw:
        pairs: Sequence[tuple[Any, bool]]
        if isinstance(entry, str):
            pairs = [(entry.lstrip("+-"), entry.startswith("-"))]
        elif isinstance(entry, Mapping):
            pairs = []
            for name, direction in entry.items():
                if type(direction) not in (int, str) or direction not in (1, -1, "asc", "desc", "ASC", "DESC"):
                    raise _bad(model, node, "order_by",
                               f"order_by direction for {short_repr(name)} must be 1 or -1, "
                               f"got {short_repr(direction)}.")
                pairs.append((name, direction in (-1, "desc", "DESC")))
        else:
            raise _bad(model, node, "order_by", f"order_by entries are strings or dicts, got {short_repr(entry)}.")
        for name, descending in pairs:
            if name not in groups and name not in measures:
                raise _bad(model, node, "order_by",
                           f"An aggregate can only be ordered by its group_by fields and aliases "
                           f"({', '.join(known)}), not {short_repr(name)}.{did_you_mean(str(name), known)}")
            result.append((name, descending))
    return tuple(result)
