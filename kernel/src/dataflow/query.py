"""The dialect-neutral query description: what to read or write, never SQL text.

Nodes build these records; a dialect turns them into SQL with bound parameters. Filters arrive in
the MongoDB style of API.md (``{"age": {"$gt": 18}, "$or": [...]}``) and are parsed here, against
the model, into a small tree (Cond / And / Or / Not) so that every dialect sees checked field names,
known operators and canonical values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeGuard

import attrs

from dataflow.errors import DataFlowError, did_you_mean, short_repr
from dataflow.models import FieldSpec, ModelSpec
from dataflow.values import coerce

__all__ = [
    "CORE_OPERATORS",
    "MAX_FILTER_CONDITIONS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LIST",
    "MAX_IN_VALUES",
    "And",
    "Atomic",
    "ColumnBatch",
    "Cond",
    "Constant",
    "Count",
    "Delete",
    "Insert",
    "Not",
    "Or",
    "OrderKey",
    "Select",
    "Update",
    "Upsert",
    "equals",
    "order_keys",
    "parse_filter",
    "parse_order_by",
]

CORE_OPERATORS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$like", "$ilike", "$regex", "$exists", "$null"}
)
_LOGICAL = frozenset({"$or", "$and", "$not"})
_PLAIN = frozenset({str, int, float, bool, type(None)})
"""Value types that are never a filter dict: told apart without the ``Mapping`` check (an ABC's, slower)."""
_TEXT_OPERATORS = frozenset({"$like", "$ilike", "$regex"})
MAX_FILTER_DEPTH = 32
"""The deepest nesting of ``$and`` / ``$or`` / ``$not`` (field-level ``$not`` included) in a filter."""
MAX_FILTER_CONDITIONS = 10_000
"""The most conditions (field comparisons) in one filter, counted after a ``$or`` of equalities on one
field has become one ``$in``: 10,000 ORed range conditions already take SQLite seconds to plan."""
MAX_FILTER_LIST = 100_000
"""The most entries in one ``$and`` / ``$or`` list (checked before they are read)."""
MAX_IN_VALUES = 1_000_000
"""The most values in one ``$in`` / ``$nin`` list (sent as one array parameter where the database can)."""


@attrs.frozen
class Cond:
    """``field op value``; ``op`` is the operator without ``$`` (``eq``, ``in``, ``exists`` …)."""

    field: FieldSpec
    op: str
    value: Any


@attrs.frozen
class And:
    items: tuple[Expr, ...]


@attrs.frozen
class Or:
    items: tuple[Expr, ...]


@attrs.frozen
class Not:
    item: Expr


Expr = Cond | And | Or | Not


OrderKey = tuple[str, bool, bool]
"""One ``order_by`` key: ``(field, descending, nulls_first)``."""


def order_keys(keys: Iterable[tuple[Any, ...]]) -> tuple[OrderKey, ...]:
    """``order_by`` keys with their NULL placement made explicit.

    A ``(field, descending)`` pair takes the rule every dialect follows: NULLs sort as if larger than
    every value, so they come last ascending and first descending.
    """
    if not keys:
        return ()
    return tuple(k if len(k) == 3 else (k[0], k[1], k[1]) for k in keys)


@attrs.frozen(hash=False)
class Select:
    """Read rows. ``order_by`` is ``((field, descending, nulls_first), …)``; ``(field, descending)``
    pairs are accepted and take the default NULL placement (last ascending, first descending)."""

    model: ModelSpec
    where: Expr | None = None
    order_by: tuple[OrderKey, ...] = attrs.field(default=(), converter=order_keys)
    limit: int | None = None
    offset: int = 0
    columns: tuple[str, ...] | None = None
    """Only these columns, in this order (a projection); None: every column of the model."""
    distinct: bool = False
    """Drop duplicate rows (``SELECT DISTINCT``); used with ``columns``."""


@attrs.frozen(hash=False)
class Count:
    """Count rows; with ``distinct``, the distinct combinations of ``columns`` among them."""

    model: ModelSpec
    where: Expr | None = None
    columns: tuple[str, ...] | None = None
    distinct: bool = False


@attrs.frozen(hash=False)
class Insert:
    """Insert ``rows`` (tuples in ``columns`` order, already canonical values).

    ``returning``: give back the stored rows. ``skip_conflicts``: a row that violates a unique key is
    skipped rather than failing the statement.
    """

    model: ModelSpec
    columns: tuple[str, ...]
    rows: Sequence[tuple[Any, ...]]
    returning: bool = False
    skip_conflicts: bool = False


@attrs.frozen
class Atomic:
    """A SET value computed by the database from the stored one, in the UPDATE itself: ``column + operand``
    (``op="add"``) or ``column * operand`` (``op="mul"``). ``operand`` is a canonical value of the field,
    so concurrent updates never lose one another's changes (no read-modify-write)."""

    op: str
    operand: Any


@attrs.frozen(hash=False)
class Update:
    """Set ``values`` (column → canonical value, or an ``Atomic`` computed in SQL) where ``where`` holds."""

    model: ModelSpec
    where: Expr | None
    values: Mapping[str, Any]
    returning: bool = False


@attrs.frozen(hash=False)
class Delete:
    model: ModelSpec
    where: Expr | None
    returning: bool = False


@attrs.frozen(hash=False)
class Upsert:
    """Insert rows; where a row conflicts on ``conflict_on``, set ``update`` instead.

    ``update`` maps column → value; ``None`` means "every inserted column except the conflict ones,
    from the row being inserted" (only those in ``update_columns`` when it is given, so columns the
    caller did not supply keep their stored values rather than taking defaults); an empty mapping
    means "leave the existing row as it is". Returning rows carry an extra ``__created__`` flag.
    """

    model: ModelSpec
    columns: tuple[str, ...]
    rows: Sequence[tuple[Any, ...]]
    conflict_on: tuple[str, ...]
    update: Mapping[str, Any] | None = None
    returning: bool = True
    update_columns: tuple[str, ...] | None = None


Query = Select | Count | Insert | Update | Delete | Upsert


class Constant:
    """A column whose every value is the same object (a batch's timestamps, a default)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class ColumnBatch(Sequence[tuple[Any, ...]]):
    """Rows kept column by column, so bulk paths check, encode and transpose at C speed.

    Reads as a sequence of row tuples (made once, on first use); ``column_data`` gives the columns,
    where a ``Constant`` stands for a column of one repeated value.
    """

    def __init__(self, column_data: list[Sequence[Any] | Constant], length: int) -> None:
        self.column_data = column_data
        self.length = length
        self._rows: list[tuple[Any, ...]] | None = None

    def iter_rows(self, column_data: list[Sequence[Any] | Constant] | None = None) -> Iterator[tuple[Any, ...]]:
        """Row tuples from ``column_data`` (default: this batch's own columns)."""
        import itertools

        columns = column_data if column_data is not None else self.column_data
        return zip(*[itertools.repeat(c.value, self.length) if isinstance(c, Constant) else c for c in columns],
                   strict=False)

    def slice(self, start: int, end: int) -> ColumnBatch:
        """Rows ``start`` to ``end`` as another batch (constant columns stay constant)."""
        end = min(end, self.length)
        columns = [c if isinstance(c, Constant) else c[start:end] for c in self.column_data]
        return ColumnBatch(columns, max(0, end - start))

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            self._rows = list(self.iter_rows())
        return self._rows

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        return self.rows[index]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


def _bad(message: str, *, solutions: Iterable[str] = (), **context: Any) -> DataFlowError:
    return DataFlowError("DF-102", message, context=context, solutions=solutions)


def parse_filter(
    model: ModelSpec, raw: Any, *, extra_operators: Iterable[str] = (), node: str | None = None
) -> Expr | None:
    """Parse a MongoDB-style filter against ``model``; None for an empty filter; DF-102 when invalid."""
    if raw is None:
        return None
    if type(raw) is not dict and not isinstance(raw, Mapping):  # dict first: the ABC check costs more
        raise _bad(f"A filter must be a dict, got {type(raw).__name__}.", model=model.name, node=node)
    if len(raw) == 1:
        # The common case, {"id": value}: one plain equality, no operator dict to walk.
        ((key, value),) = raw.items()
        if (isinstance(key, str) and not key.startswith("$") and value is not None
                and (type(value) in _PLAIN or not isinstance(value, Mapping))):
            return equals(model.field(key, node=node), value, node)
    parser = _FilterParser(model, _allowed_operators(extra_operators), node)
    return parser.count(parser.mapping(raw, 0))


_operator_sets: dict[tuple[str, ...], frozenset[str]] = {}
"""The operators a filter may use, by the extra ones allowed (a dialect's): made once per dialect's set,
not on every parse (every list and count parses its filter)."""


def _allowed_operators(extra_operators: Iterable[str]) -> frozenset[str]:
    key = tuple(extra_operators)
    if not key:
        return CORE_OPERATORS
    found = _operator_sets.get(key)
    if found is None:
        if len(_operator_sets) >= 64:
            _operator_sets.clear()
        found = _operator_sets[key] = CORE_OPERATORS | frozenset(key)
    return found


class _FilterParser:
    """One filter's parse: the model, the operators allowed, and the size budget spent so far."""

    def __init__(self, model: ModelSpec, ops: frozenset[str], node: Any) -> None:
        self.model = model
        self.ops = ops
        self.node = node

    def deeper(self, depth: int) -> int:
        """``depth + 1``, or DF-102 naming the limit (checked before descending: no RecursionError)."""
        if depth + 1 > MAX_FILTER_DEPTH:
            raise _bad(f"The filter is nested more than {MAX_FILTER_DEPTH} levels deep (the limit).",
                       model=self.model.name, node=self.node, limit=MAX_FILTER_DEPTH)
        return depth + 1

    def too_many(self, what: str, limit: int) -> DataFlowError:
        return _bad(f"The filter has more than {limit} {what} (the limit).", model=self.model.name, node=self.node,
                    limit=limit, solutions=["Use one {'field': {'$in': [...]}} instead of many alternatives, "
                                            "or split the work into several nodes."])

    def count(self, expr: Expr | None) -> Expr | None:
        """``expr`` when it holds at most MAX_FILTER_CONDITIONS conditions; DF-102 otherwise."""
        conditions = 0
        stack: list[Expr] = [] if expr is None else [expr]
        while stack:
            item = stack.pop()
            if isinstance(item, Cond):
                conditions += 1
            elif isinstance(item, Not):
                stack.append(item.item)
            else:
                stack.extend(item.items)
        if conditions > MAX_FILTER_CONDITIONS:
            raise self.too_many("conditions", MAX_FILTER_CONDITIONS)
        return expr

    def mapping(self, raw: Mapping[str, Any], depth: int) -> Expr | None:
        return _parse_mapping(self, raw, depth)


def _parse_mapping(p: _FilterParser, raw: Mapping[str, Any], depth: int) -> Expr | None:
    model, ops, node = p.model, p.ops, p.node
    items: list[Expr] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            raise _bad(f"Filter keys must be strings, got {short_repr(key)}.", model=model.name, node=node)
        if key in _LOGICAL:
            parsed = _parse_logical(p, key, value, depth)
            if parsed is not None:
                items.append(parsed)
        elif key.startswith("$"):
            allowed = sorted(_LOGICAL | ops)
            raise _bad(
                f"Unknown filter operator {short_repr(key)} at the top level.{did_you_mean(key, allowed)}",
                model=model.name,
                node=node,
                allowed=", ".join(allowed),
            )
        else:
            field = model.field(key, node=node)
            items.extend(_parse_field(p, field, value, depth))
    if not items:
        return None
    return items[0] if len(items) == 1 else And(tuple(items))


def _parse_logical(p: _FilterParser, key: str, value: Any, depth: int) -> Expr | None:
    model, node = p.model, p.node
    if key == "$not":
        if not isinstance(value, Mapping):
            raise _bad("$not takes a filter dict.", model=model.name, node=node)
        inner = _parse_mapping(p, value, p.deeper(depth))
        return Not(inner) if inner is not None else None
    if not isinstance(value, list | tuple) or not value:
        raise _bad(f"{key} takes a non-empty list of filter dicts.", model=model.name, node=node)
    inner_depth = p.deeper(depth)
    if len(value) > MAX_FILTER_LIST:
        raise p.too_many(f"entries in one {key}", MAX_FILTER_LIST)
    parts = []
    for part in value:
        if not isinstance(part, Mapping):
            raise _bad(f"{key} takes a list of filter dicts, got {short_repr(part)}.", model=model.name, node=node)
        parsed = _parse_mapping(p, part, inner_depth)
        if parsed is None:
            if key == "$or":
                return None  # an empty alternative matches everything
            continue
        parts.append(parsed)
    if not parts:
        return None
    if key == "$or":
        parts = _equalities_as_in(parts)
        return parts[0] if len(parts) == 1 else Or(tuple(parts))
    return And(tuple(parts))


def _equalities_as_in(parts: list[Expr]) -> list[Expr]:
    """Alternatives ``field = a``, ``field = b`` … merged into one ``field IN (a, b, …)``.

    A ``$or`` of 10,000 equalities on one field is what a generated filter often looks like; as
    10,000 ORed comparisons it takes PostgreSQL and MariaDB minutes, as one IN (one array parameter
    on PostgreSQL) milliseconds. The rows matched are the same.
    """
    values: dict[str, list[Any]] = {}
    for part in parts:
        if _mergeable(part):
            values.setdefault(part.field.name, []).extend([part.value] if part.op == "eq" else part.value)
    merged: list[Expr] = []
    done: set[str] = set()
    for part in parts:
        if _mergeable(part) and len(values[part.field.name]) > 1:
            if part.field.name not in done:
                done.add(part.field.name)
                merged.append(Cond(part.field, "in", tuple(values[part.field.name])))
            continue
        merged.append(part)
    return merged


_SCALAR_KINDS = frozenset({"str", "int", "float", "bool", "datetime", "date", "decimal", "bytes"})


def _mergeable(part: Expr) -> TypeGuard[Cond]:
    return type(part) is Cond and part.op in ("eq", "in") and part.field.kind in _SCALAR_KINDS


def _is_operator_dict(value: Any) -> bool:
    if type(value) in _PLAIN or not isinstance(value, Mapping) or not value:
        return False
    for key in value:  # noqa: SIM110  (a loop, not all() over a generator: every filter's fields come here)
        if not isinstance(key, str) or not key.startswith("$"):
            return False
    return True


def _parse_field(p: _FilterParser, field: FieldSpec, value: Any, depth: int) -> list[Expr]:
    model, ops, node = p.model, p.ops, p.node
    if type(value) in _PLAIN:  # a plain value: equality (None: IS NULL), no dict to look into
        return [Cond(field, "null", True)] if value is None else [Cond(field, "eq", _value(field, value, node))]
    if not _is_operator_dict(value):
        if isinstance(value, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in value):
            raise _bad(f"Filter on '{field.name}' mixes operators and plain keys.", model=model.name, node=node)
        if value is None:
            return [Cond(field, "null", True)]
        return [Cond(field, "eq", _value(field, value, node))]
    result: list[Expr] = []
    for op_key, operand in value.items():
        if op_key == "$not":
            inner = _parse_field(p, field, operand, p.deeper(depth))
            result.append(Not(inner[0] if len(inner) == 1 else And(tuple(inner))))
            continue
        if op_key not in ops:
            allowed = sorted(ops)
            raise _bad(
                f"Unknown filter operator {short_repr(op_key)} on '{field.name}'.{did_you_mean(op_key, allowed)}",
                model=model.name,
                node=node,
                field=field.name,
                allowed=", ".join(allowed),
            )
        result.append(_condition(p, field, op_key[1:], operand))
    return result


def _condition(p: _FilterParser, field: FieldSpec, op: str, operand: Any) -> Cond:
    model, node = p.model, p.node
    if op in ("exists", "null"):
        if not isinstance(operand, bool):
            raise _bad(f"${op} takes True or False, got {short_repr(operand)}.", model=model.name, node=node,
                       field=field.name)
        # {"$exists": True} means IS NOT NULL; {"$null": True} means IS NULL.
        return Cond(field, "null", operand if op == "null" else not operand)
    if op in ("in", "nin"):
        if not isinstance(operand, list | tuple | set | frozenset):
            raise _bad(f"${op} takes a list, got {type(operand).__name__}.", model=model.name, node=node)
        if len(operand) > MAX_IN_VALUES:
            raise _bad(f"${op} has {len(operand)} values; the limit is {MAX_IN_VALUES}.", model=model.name,
                       node=node, field=field.name, limit=MAX_IN_VALUES)
        return Cond(field, op, tuple(_value(field, v, node) for v in operand))
    if "$" + op in _TEXT_OPERATORS:
        if not isinstance(operand, str):
            raise _bad(f"${op} takes a string pattern, got {short_repr(operand)}.", model=model.name, node=node)
        if "\x00" in operand:
            raise _bad(f"The ${op} pattern holds a NUL character (\\x00), which no database matches alike.",
                       model=model.name, node=node, field=field.name)
        return Cond(field, op, operand)
    if op in ("eq", "ne", "gt", "gte", "lt", "lte"):
        if operand is None and op in ("eq", "ne"):
            return Cond(field, "null", op == "eq")
        return Cond(field, op, _value(field, operand, node))
    return Cond(field, op, operand)  # a plugin's operator: its compiler checks the operand


def _value(field: FieldSpec, value: Any, node: Any) -> Any:
    try:
        return coerce(field, value)
    except DataFlowError as exc:
        exc.context.setdefault("node", node)
        raise


def equals(field: FieldSpec, value: Any, node: str | None = None) -> Cond:
    """``field = value`` with the value checked: the filter of reads and writes by id."""
    return Cond(field, "eq", _value(field, value, node))


def parse_order_by(model: ModelSpec, raw: Any, *, node: str | None = None) -> tuple[OrderKey, ...]:
    """``["-age", "name"]``, ``[{"age": -1}]``, ``"name"`` or ``{"age": -1}`` → ``((field, desc, nulls_first), …)``.

    NULLs come last ascending and first descending; ``{"age": 1, "nulls": "first"}`` (or ``"last"``)
    places them explicitly. ``nulls`` is that option only beside a field: alone, it names a field.
    """
    if raw is None or raw == [] or raw == {}:
        return ()
    if isinstance(raw, str | Mapping):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise _bad(f"order_by must be a list, got {type(raw).__name__}.", model=model.name, node=node)
    result: list[OrderKey] = []
    for entry in raw:
        if isinstance(entry, str):
            descending = entry.startswith("-")
            name = entry.lstrip("+-")
            result.append((model.field(name, node=node).name, descending, descending))
        elif isinstance(entry, Mapping):
            directions = dict(entry)
            nulls = directions.pop("nulls") if "nulls" in directions and len(directions) > 1 else None
            if nulls is not None and nulls not in ("first", "last"):
                raise _bad(f"order_by 'nulls' must be \"first\" or \"last\", got {nulls!r}.",
                           model=model.name, node=node)
            for name, direction in directions.items():
                field = model.field(name, node=node)
                # Compare by type first: ``Decimal("sNaN") == 1`` raises rather than answer.
                if type(direction) not in (int, str):
                    direction = None
                if direction in (1, "asc", "ASC"):
                    descending = False
                elif direction in (-1, "desc", "DESC"):
                    descending = True
                else:
                    raise _bad(
                        f"order_by direction for '{name}' must be 1 or -1, got {short_repr(entry[name])}.",
                        model=model.name,
                        node=node,
                    )
                result.append((field.name, descending, descending if nulls is None else nulls == "first"))
        else:
            raise _bad(f"order_by entries are strings or dicts, got {entry!r}.", model=model.name, node=node)
    return tuple(result)
