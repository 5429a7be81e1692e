"""``$contains``, ``$overlap`` and ``$any`` on list fields, compiled for each first-party database (and the
contributed DuckDB dialect, whose lists are JSON too).

One meaning everywhere, whether the list is a native array (PostgreSQL ``TEXT[]`` …) or JSON:

- ``{"tags": {"$contains": "a"}}`` / ``{"$contains": ["a", "b"]}``: the list holds every value given;
- ``{"tags": {"$overlap": ["a", "b"]}}``: the list holds at least one of them (none for ``[]``);
- ``{"scores": {"$any": {"$gte": 90}}}``: some element satisfies every comparison given
  (``$eq $ne $gt $gte $lt $lte``); ``{"$any": 90}`` is ``{"$any": {"$eq": 90}}``.

Elements compare by type: ``1`` and ``1.0`` are the same number, ``"1"`` is not ``1``, ``True`` is not
``1``; strings compare case-sensitively by code point on every database. A NULL list matches nothing
(so ``$not`` of any of them keeps NULL lists). Values are always bound parameters.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Mapping
from typing import Any

from dataflow.dialect import OperatorCompiler, SQLBuilder, SQLDialect
from dataflow.errors import DataFlowError, short_repr
from dataflow.models import FieldSpec
from dataflow.query import MAX_IN_VALUES, Cond
from dataflow.values import coerce, to_json

__all__ = ["ARRAY_OPERATORS", "compilers_for", "is_list_field"]

ARRAY_OPERATORS = ("$contains", "$overlap", "$any")
_COMPARISONS = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_MIRRORED = {"=": "=", "<>": "<>", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
"""``element OP value`` written as ``value MIRRORED[OP] ANY(array)``."""

Comparison = tuple[str, Any]
"""One ``$any`` condition: an SQL comparison operator and the checked value."""


def is_list_field(field: FieldSpec) -> bool:
    """A ``List[...]`` field (a native array or a JSON list), or a plain ``list`` one."""
    return field.kind == "array" or (field.kind == "json" and field.python_type is list)


def _bad(cond: Cond, message: str, solution: str) -> DataFlowError:
    return DataFlowError("DF-102", message, context={"field": cond.field.name, "operator": "$" + cond.op},
                         solutions=[solution])


def _element(cond: Cond, value: Any) -> Any:
    """``value`` checked as one element of the field's list: the element type of ``List[X]``, else a JSON scalar."""
    field = cond.field
    if field.kind == "array":
        return coerce(FieldSpec(field.name, field.element_kind or "str"), value)
    if isinstance(value, bool | str):
        if isinstance(value, str) and "\x00" in value:
            raise _bad(cond, f"A ${cond.op} value of '{field.name}' holds a NUL character.", "Remove the NUL.")
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    raise _bad(cond, f"${cond.op} on '{field.name}' compares list elements with strings, numbers or booleans, "
                     f"got {short_repr(value)}.", "Give a string, a number or True / False.")


def _values(cond: Cond, *, scalar_ok: bool) -> list[Any]:
    operand = cond.value
    if isinstance(operand, list | tuple | set | frozenset):
        if len(operand) > MAX_IN_VALUES:
            raise _bad(cond, f"${cond.op} has {len(operand)} values; the limit is {MAX_IN_VALUES}.",
                       "Split the filter.")
        return [_element(cond, v) for v in operand]
    if scalar_ok:
        return [_element(cond, operand)]
    raise _bad(cond, f"${cond.op} on '{cond.field.name}' takes a list of values, got {short_repr(operand)}.",
               f'Write {{"{cond.field.name}": {{"${cond.op}": ["a", "b"]}}}}.')


def _comparisons(cond: Cond) -> list[Comparison]:
    operand = cond.value
    if not isinstance(operand, Mapping):
        return [("=", _element(cond, operand))]
    if not operand:
        raise _bad(cond, f"$any on '{cond.field.name}' needs at least one comparison.", '{"$any": {"$gte": 90}}')
    found = []
    for key, value in operand.items():
        if key not in _COMPARISONS:
            raise _bad(cond, f"$any on '{cond.field.name}' takes comparisons ({', '.join(_COMPARISONS)}), "
                             f"got {short_repr(key)}.", '{"$any": {"$gte": 90}}')
        element = _element(cond, value)
        if isinstance(element, bool) and key not in ("$eq", "$ne"):
            raise _bad(cond, f"$any on '{cond.field.name}' orders numbers and strings, not True / False.",
                       'Use {"$any": {"$eq": true}}.')
        found.append((_COMPARISONS[key], element))
    return found


def _type_class(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


class ListOperators:
    """The three operators on one database: ``contains`` / ``overlap`` / ``any`` return a SQL condition."""

    def __init__(self, dialect: SQLDialect) -> None:
        self.dialect = dialect

    def compilers(self) -> dict[str, OperatorCompiler]:
        def checked(method: Callable[[SQLBuilder, Cond, str], str]) -> OperatorCompiler:
            def compile(b: SQLBuilder, cond: Cond) -> str:
                if not is_list_field(cond.field):
                    raise _bad(cond, f"${cond.op} filters list fields; '{cond.field.name}' is a "
                                     f"{cond.field.kind} field.", "Use $eq, $in or $like on other fields.")
                return f"({b.quote(cond.field.name)} IS NOT NULL AND {method(b, cond, b.quote(cond.field.name))})"

            return compile

        return {"$contains": checked(self.contains), "$overlap": checked(self.overlap), "$any": checked(self.any)}

    def contains(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        raise NotImplementedError

    def overlap(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        raise NotImplementedError

    def any(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        raise NotImplementedError


class PostgreSQLOperators(ListOperators):
    """Native arrays: ``@>``, ``&&``, ``value op ANY(col)`` (a GIN index serves the first two).
    JSONB lists: ``@>`` (GIN-indexable too) and ``jsonb_array_elements``."""

    ELEMENT_TYPES = {"str": "text", "int": "integer", "float": "real"}

    def _array_type(self, field: FieldSpec) -> str:
        return self.ELEMENT_TYPES[field.element_kind or "str"] + "[]"

    def contains(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        values = _values(cond, scalar_ok=True)
        if cond.field.native_array:
            return f"{column} @> {b.bind(values)}::{self._array_type(cond.field)}"
        return f"{column} @> {b.bind(to_json(values))}::jsonb"

    def overlap(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        values = _values(cond, scalar_ok=False)
        if cond.field.native_array:
            return f"{column} && {b.bind(values)}::{self._array_type(cond.field)}"
        # Each value as a one-element list: a GIN index on the column serves every @>.
        return f"{column} @> ANY({b.bind([to_json([v]) for v in values])}::jsonb[])"

    def any(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        comparisons = _comparisons(cond)
        if cond.field.native_array:
            cast = "::" + self.ELEMENT_TYPES[cond.field.element_kind or "str"]
            collate = ' COLLATE "C"' if cond.field.element_kind == "str" else ""
            if len(comparisons) == 1:
                op, value = comparisons[0]
                return f"{b.bind(value)}{cast}{collate} {_MIRRORED[op]} ANY({column})"
            tests = " AND ".join(f"e.v{collate} {op} {b.bind(value)}{cast}" for op, value in comparisons)
            return f"EXISTS (SELECT 1 FROM unnest({column}) AS e(v) WHERE {tests})"
        tests = " AND ".join(self._json_test(b, op, value) for op, value in comparisons)
        return (f"CASE WHEN jsonb_typeof({column}) = 'array' THEN EXISTS (SELECT 1 FROM "
                f"jsonb_array_elements({column}) AS e(v) WHERE {tests}) ELSE FALSE END")

    @staticmethod
    def _json_test(b: SQLBuilder, op: str, value: Any) -> str:
        kind = _type_class(value)
        if kind == "number":
            number = decimal.Decimal(repr(value)) if isinstance(value, float) else decimal.Decimal(value)
            compared = f"(e.v #>> '{{}}')::numeric {op} {b.bind(number)}::numeric"
        elif kind == "string":
            compared = f"(e.v #>> '{{}}') COLLATE \"C\" {op} {b.bind(value)}::text"
        else:
            compared = f"(e.v #>> '{{}}')::boolean {op} {b.bind(value)}::boolean"
        # CASE, not AND: PostgreSQL may evaluate either side of an AND first, and "abc"::numeric fails.
        return f"CASE WHEN jsonb_typeof(e.v) = '{kind}' THEN {compared} ELSE FALSE END"


_SQLITE_CLASS = "CASE WHEN {a}.type IN ('integer', 'real') THEN 'number' ELSE {a}.type END"


class SQLiteOperators(ListOperators):
    """JSON lists through ``json_each``; elements match by type class (``integer`` / ``real`` are one)."""

    @staticmethod
    def _same(left: str, right: str) -> str:
        return (f"{_SQLITE_CLASS.format(a=left)} = {_SQLITE_CLASS.format(a=right)} "
                f"AND {left}.atom = {right}.atom")

    @staticmethod
    def _json(mark: str) -> str:
        """The bound JSON list as the database's ``json_each`` takes it."""
        return mark

    def contains(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        given = self._json(b.bind(to_json(_values(cond, scalar_ok=True))))
        return (f"NOT EXISTS (SELECT 1 FROM json_each({given}) AS w WHERE NOT EXISTS "
                f"(SELECT 1 FROM json_each({column}) AS h WHERE {self._same('h', 'w')}))")

    def overlap(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        given = self._json(b.bind(to_json(_values(cond, scalar_ok=False))))
        return f"EXISTS (SELECT 1 FROM json_each({column}) AS h, json_each({given}) AS w WHERE {self._same('h', 'w')})"

    def any(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        tests = " AND ".join(self._json_test(b, op, value) for op, value in _comparisons(cond))
        return f"EXISTS (SELECT 1 FROM json_each({column}) AS h WHERE {tests})"

    @staticmethod
    def _json_test(b: SQLBuilder, op: str, value: Any) -> str:
        """The ``json_each`` element ``h`` compared with ``value``, only where their types agree."""
        types = {"number": "('integer', 'real')", "string": "('text')",
                 "boolean": "('true', 'false')"}[_type_class(value)]
        return f"(h.type IN {types} AND h.atom {op} {b.bind(int(value) if isinstance(value, bool) else value)})"


class MySQLOperators(ListOperators):
    """JSON lists through ``JSON_CONTAINS`` / ``JSON_OVERLAPS`` / ``JSON_TABLE`` (MySQL 8.0.17+, MariaDB 10.9+)."""

    _TYPES = {"number": "('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')", "string": "('STRING')",
              "boolean": "('BOOLEAN')"}

    def contains(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        return f"JSON_CONTAINS({column}, {b.bind(to_json(_values(cond, scalar_ok=True)))})"

    def overlap(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        return f"JSON_OVERLAPS({column}, {b.bind(to_json(_values(cond, scalar_ok=False)))})"

    def any(self, b: SQLBuilder, cond: Cond, column: str) -> str:
        tests = " AND ".join(self._json_test(b, op, value) for op, value in _comparisons(cond))
        return (f"EXISTS (SELECT 1 FROM JSON_TABLE({column}, '$[*]' COLUMNS (v JSON PATH '$', "
                f"d DOUBLE PATH '$' NULL ON ERROR, s LONGTEXT CHARACTER SET utf8mb4 PATH '$' NULL ON ERROR)) AS j "
                f"WHERE {tests})")

    @classmethod
    def _json_test(cls, b: SQLBuilder, op: str, value: Any) -> str:
        """The ``JSON_TABLE`` element ``j`` compared with ``value``, only where their types agree."""
        kind = _type_class(value)
        if kind == "number":
            compared = f"j.d {op} {b.bind(value)}"
        elif kind == "string":
            compared = f"j.s COLLATE utf8mb4_bin {op} {b.bind(value)}"
        else:
            compared = f"j.s {op} {b.bind('true' if value else 'false')}"
        return f"(JSON_TYPE(j.v) IN {cls._TYPES[kind]} AND {compared})"


_DUCKDB_NUMBERS = "('UBIGINT', 'BIGINT', 'HUGEINT', 'UHUGEINT', 'DOUBLE')"
_DUCKDB_CLASS = f"CASE WHEN {{a}}.type IN {_DUCKDB_NUMBERS} THEN 'number' ELSE {{a}}.type END"


class DuckDBOperators(SQLiteOperators):
    """JSON lists through DuckDB's ``json_each`` (the contributed dataflow-duckdb dialect stores lists as JSON),
    written as SQLite's are (``$any`` too: only the element test differs); ``json_each`` types differ, so numbers
    match by value (integers exactly, ``1`` and ``1.0`` alike) and strings by their decoded text."""

    @staticmethod
    def _same(left: str, right: str) -> str:
        number = (f"(TRY_CAST({left}.atom AS DOUBLE) = TRY_CAST({right}.atom AS DOUBLE) AND "
                  f"({left}.type = 'DOUBLE' OR {right}.type = 'DOUBLE' "
                  f"OR TRY_CAST({left}.atom AS HUGEINT) = TRY_CAST({right}.atom AS HUGEINT)))")
        text = f"json_extract_string({left}.value, '$') = json_extract_string({right}.value, '$')"
        return (f"{_DUCKDB_CLASS.format(a=left)} = {_DUCKDB_CLASS.format(a=right)} AND CASE "
                f"{_DUCKDB_CLASS.format(a=left)} WHEN 'number' THEN {number} WHEN 'VARCHAR' THEN {text} "
                f"ELSE {left}.atom = {right}.atom END")

    @staticmethod
    def _json(mark: str) -> str:
        return f"CAST({mark} AS JSON)"

    @staticmethod
    def _json_test(b: SQLBuilder, op: str, value: Any) -> str:
        kind = _type_class(value)
        if kind == "number":
            return f"(h.type IN {_DUCKDB_NUMBERS} AND TRY_CAST(h.atom AS DOUBLE) {op} {b.bind(float(value))})"
        if kind == "string":
            return f"(h.type = 'VARCHAR' AND json_extract_string(h.value, '$') {op} {b.bind(value)})"
        return f"(h.type = 'BOOLEAN' AND h.atom {op} {b.bind('true' if value else 'false')})"


_BY_DIALECT: dict[str, type[ListOperators]] = {
    "postgresql": PostgreSQLOperators,
    "sqlite": SQLiteOperators,
    "mysql": MySQLOperators,
    "duckdb": DuckDBOperators,
}


def compilers_for(dialect: SQLDialect) -> dict[str, OperatorCompiler]:
    """The operators' compilers for ``dialect``; none for a database this plugin does not know (its
    dialect plugin may offer them through ``dataflow_filter_operators``)."""
    operators = _BY_DIALECT.get(dialect.name)
    return {} if operators is None else operators(dialect).compilers()
