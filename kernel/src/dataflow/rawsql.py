"""Raw SQL, one way on every database: ``db.fetch``, ``db.fetch_one``, ``db.execute`` and their ``_sync`` twins.

``await db.fetch("SELECT * FROM users WHERE age > :age", {"age": 30})`` returns the rows as dicts.
Placeholders are named (``:name``) on every dialect and rewritten to the driver's own (``?``, ``$1``,
``%s``) by a scanner that knows each dialect's literal syntax (``RawSQLSyntax``): a ``:name`` inside a
string, a quoted identifier, a comment or a PostgreSQL dollar-quoted body is left alone, as is a
``::`` cast. Values are always bound, never spliced into the text.

The tables of the models a statement names are made ready first, as a node would (auto-migration).
Statements run on the connection of the transaction open here (``db.transaction()``, a transactional
workflow, the instance transaction), else on a pooled connection in autocommit, and are logged to
``dataflow.sql`` like every other statement. A column whose name is a field of a model whose table
the statement names comes back decoded as the nodes decode it (datetimes aware in UTC, JSON parsed,
booleans as bool, decimals as Decimal); other columns are as the driver returns them.

Errors: parameters that do not match the placeholders (missing, unused, not a dict, not a name) are
DF-719; a statement that is not one non-empty SQL string, or that the database refuses for its text
(a syntax error, an unknown column or function), is DF-720; everything else is the dialect's usual
translation (DF-304 for a table that does not exist, DF-704 for a duplicate …).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from dataflow.errors import DataFlowError, did_you_mean, short_repr
from dataflow.models import FieldSpec, ModelSpec

if TYPE_CHECKING:
    from dataflow.dialect import SQLDialect
    from dataflow.facade import DataFlow

__all__ = ["BoundStatement", "RawSQLSyntax", "bind_named", "execute", "fetch", "fetch_one"]


@attrs.frozen
class RawSQLSyntax:
    """What a dialect's SQL text looks like to the placeholder scanner (``SQLDialect.raw_sql``).

    :param backslash_escapes: a backslash escapes the next character inside quoted strings (MySQL).
    :param dollar_quotes: ``$tag$ … $tag$`` bodies are literals (PostgreSQL); ``E'…'`` strings take
        backslash escapes there too.
    :param hash_comments: ``#`` starts a comment to the end of the line (MySQL).
    :param backtick_identifiers: `` `name` `` is a quoted identifier (MySQL, SQLite).
    :param bracket_identifiers: ``[name]`` is a quoted identifier (SQLite).
    :param native_marks: a regular expression matching the driver's own placeholders outside
        literals, refused (DF-719) so that a statement never mixes them with ``:name`` ones.
    :param double_percent: every ``%`` must be doubled once values are bound (drivers that format the
        statement with Python's ``%`` operator, such as PyMySQL).
    :param arrays: a list value is bound as an array (PostgreSQL: ``WHERE id = ANY(:ids)``); elsewhere
        a list is refused (DF-719).
    """

    backslash_escapes: bool = False
    dollar_quotes: bool = False
    hash_comments: bool = False
    backtick_identifiers: bool = False
    bracket_identifiers: bool = False
    native_marks: str = ""
    double_percent: bool = False
    arrays: bool = False


@functools.cache
def _scanner(syntax: RawSQLSyntax) -> re.Pattern[str]:
    """One pattern finding every token that matters to placeholders; everything between is copied."""
    quoted = r"(?:[^'\\]|''|\\.)*" if syntax.backslash_escapes else r"(?:[^']|'')*"
    double = r"(?:[^\"\\]|\"\"|\\.)*" if syntax.backslash_escapes else r"(?:[^\"]|\"\")*"
    parts = [r"(?P<comment>--[^\n]*|/\*(?:.*?\*/|.*))"]
    if syntax.hash_comments:
        parts.append(r"(?P<hash>\#[^\n]*)")
    if syntax.dollar_quotes:
        parts.append(r"(?P<estring>(?<![\w$])[eE]'(?:[^'\\]|''|\\.)*'?)")
        parts.append(r"(?P<dollar>\$(?P<tag>[A-Za-z_\x80-\uffff][\w\x80-\uffff]*)?\$(?:.*?\$(?P=tag)\$|.*))")
    parts.append(rf"(?P<string>'{quoted}'?)")
    parts.append(rf"(?P<ident>\"{double}\"?)")
    if syntax.backtick_identifiers:
        parts.append(r"(?P<backtick>`(?:[^`]|``)*`?)")
    if syntax.bracket_identifiers:
        parts.append(r"(?P<bracket>\[[^\]]*\]?)")
    parts.append(r"(?P<cast>::+)")
    parts.append(r"(?P<name>(?<![\w:]):(?P<pname>[A-Za-z_][A-Za-z0-9_]*))")
    if syntax.native_marks:
        parts.append(f"(?P<native>{syntax.native_marks})")
    parts.append(r"(?P<end>;)")
    parts.append(r"(?P<word>[A-Za-z_][\w$]*)")
    return re.compile("|".join(parts), re.S)


@attrs.frozen
class BoundStatement:
    """A statement ready for the driver: its text, the values in placeholder order, and the
    identifiers it names (bare or quoted, lower-cased), which pick the models whose columns it decodes."""

    sql: str
    values: list[Any]
    identifiers: frozenset[str]


_IDENTIFIER_GROUPS = {"ident": '"', "backtick": "`", "bracket": "]"}


def bind_named(dialect: SQLDialect, sql: Any, params: Any) -> BoundStatement:
    """``sql`` with its ``:name`` placeholders in the dialect's style and ``params`` in their order.

    DF-720 for a statement that is not one non-empty string; DF-719 for parameters that are not a
    dict of names, a placeholder with no value, a value no placeholder uses, or a native placeholder.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise DataFlowError("DF-720", f"A statement must be a non-empty SQL string, got {short_repr(sql)}.",
                            context={"statement": short_repr(sql)},
                            solutions=['await db.fetch("SELECT * FROM users WHERE id = :id", {"id": 1})'])
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise DataFlowError("DF-719", f"Parameters must be a dict of names to values, got {short_repr(params)}.",
                            context={"parameters": short_repr(params)},
                            solutions=['Name each placeholder: "… WHERE id = :id" with {"id": 1}.'])
    for key in params:
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise DataFlowError("DF-719", f"A parameter name must be a plain identifier, got {short_repr(key)}.",
                                context={"parameter": short_repr(key)})
    syntax: RawSQLSyntax = dialect.raw_sql
    out: list[str] = []
    values: list[Any] = []
    numbered: dict[str, str] = {}
    identifiers: set[str] = set()
    missing: list[str] = []
    done = 0
    ended_at = -1
    after: list[tuple[int, int]] = []
    """Comments after the statement's ';' (anything else there is a second statement)."""
    for match in _scanner(syntax).finditer(sql):
        kind = match.lastgroup
        if kind in ("tag", "pname"):  # inner groups: the outer one is what matched
            kind = "dollar" if match.group("dollar") else "name"
        start, end = match.span()
        if ended_at >= 0:
            if kind in ("comment", "hash"):
                after.append((start, end))
                continue
            raise _several_statements(sql)
        if kind == "end":
            ended_at = end
        elif kind == "native":
            raise DataFlowError(
                "DF-719", f"The statement uses the driver's own placeholder {match.group()!r} at character "
                          f"{start}: write named placeholders (:name) on every database.",
                context={"placeholder": match.group(), "position": start},
                solutions=['"… WHERE id = :id" with {"id": 1}.'])
        elif kind == "word":
            identifiers.add(match.group().lower())
        elif kind in _IDENTIFIER_GROUPS:
            identifiers.add(match.group()[1:].rstrip(_IDENTIFIER_GROUPS[kind]).lower())
        elif kind == "name":
            name = match.group("pname")
            if name not in params:
                missing.append(name)
                continue
            mark = numbered.get(name) if dialect.reuses_placeholders else None
            if mark is None:
                values.append(encode_value(dialect, params[name]))
                mark = dialect.placeholder(len(values))
                numbered[name] = mark
            out.append(_escaped(sql[done:start], syntax))
            out.append(mark)
            done = end
    if ended_at >= 0:
        rest, position = [], ended_at
        for start, end in after:
            rest.append(sql[position:start])
            position = end
        rest.append(sql[position:])
        if "".join(rest).strip():
            raise _several_statements(sql)
    if missing:
        raise DataFlowError(
            "DF-719", f"No value for the placeholder :{missing[0]}.{did_you_mean(missing[0], list(params))}",
            context={"missing": ", ".join(dict.fromkeys(missing)), "given": ", ".join(map(str, params))},
            solutions=[f'Pass {{"{missing[0]}": ...}} in the parameters.'])
    unused = [k for k in params if k not in numbered]
    if unused:
        raise DataFlowError(
            "DF-719", f"The parameter {unused[0]!r} is not used by the statement (no :{unused[0]} outside "
                      f"literals and comments).{did_you_mean(unused[0], list(numbered))}",
            context={"unused": ", ".join(unused), "placeholders": ", ".join(numbered)},
            solutions=["Remove it, or add the :name placeholder it is meant for."])
    out.append(_escaped(sql[done:], syntax))
    text = "".join(out) if values else sql
    return BoundStatement(text, values, frozenset(identifiers))


def _escaped(text: str, syntax: RawSQLSyntax) -> str:
    return text.replace("%", "%%") if syntax.double_percent else text


def _several_statements(sql: str) -> DataFlowError:
    return DataFlowError("DF-720", "One statement at a time: the text holds more than one (a ';' followed by "
                                   "more SQL).", context={"statement": short_repr(sql, 200)},
                         solutions=["Run each statement with its own call (inside db.transaction() to keep them "
                                    "together)."])


_PARAM_FIELDS = {kind: FieldSpec("param", kind) for kind in ("datetime", "date", "decimal", "json", "bool", "bytes")}


def encode_value(dialect: SQLDialect, value: Any) -> Any:
    """A parameter value as the dialect binds a model field of its type (a datetime in UTC, a Decimal
    or dict as that dialect stores them …); a list or tuple goes to the driver as it is (an array on
    PostgreSQL: ``= ANY(:ids)``)."""
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, bool):
        return dialect.encode(_PARAM_FIELDS["bool"], value)
    if isinstance(value, dt.datetime):
        return dialect.encode(_PARAM_FIELDS["datetime"], value)
    if isinstance(value, dt.date):
        return dialect.encode(_PARAM_FIELDS["date"], value)
    if isinstance(value, decimal.Decimal):
        return dialect.encode(_PARAM_FIELDS["decimal"], value)
    if isinstance(value, dict):
        return dialect.encode(_PARAM_FIELDS["json"], value)
    if isinstance(value, bytes | bytearray | memoryview):
        return dialect.encode(_PARAM_FIELDS["bytes"], bytes(value))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple) and dialect.raw_sql.arrays:
        return [encode_value(dialect, item) for item in value]
    if isinstance(value, list | tuple):
        raise DataFlowError("DF-719", f"A list cannot be bound as one value on {dialect.name} "
                                      f"({short_repr(value)}): give each item its own placeholder.",
                            context={"type": type(value).__name__},
                            solutions=['"… WHERE id IN (:a, :b)" with {"a": 1, "b": 2}; or a filter: '
                                       'db.express.list("User", {"id": {"$in": [1, 2]}}).'])
    raise DataFlowError("DF-719", f"A parameter value of type {type(value).__name__} cannot be bound: "
                                  f"{short_repr(value)}.", context={"type": type(value).__name__},
                        solutions=["Pass str, int, float, bool, None, datetime, date, Decimal, bytes, UUID, "
                                   "a dict (JSON) or a list."])


def _decoders(db: DataFlow, statement: BoundStatement,
              names: Sequence[str]) -> list[tuple[int, Callable[[Any], Any]]]:
    """(column index, decoder) for the result columns that are fields of a model the statement names."""
    models = named_models(db, statement)
    if not models:
        return []
    fields: dict[str, FieldSpec] = {}
    for model in models:
        for one in model.fields:
            fields.setdefault(one.name, one)
    found = []
    for index, name in enumerate(names):
        field = fields.get(name)
        if field is not None:
            decode = db.dialect.decoder(field)
            if decode is not None:
                found.append((index, decode))
    return found


async def fetch(db: DataFlow, sql: Any, params: Any = None) -> list[dict[str, Any]]:
    """The rows of ``sql`` as dicts (see the module docstring)."""
    statement = bind_named(db.dialect, sql, params)
    names, rows = await _run(db, statement, fetching=True)
    decoders = _decoders(db, statement, names)
    records = []
    for row in rows:
        record = list(row)
        for index, decode in decoders:
            if record[index] is not None:
                record[index] = decode(record[index])
        records.append(dict(zip(names, record, strict=False)))
    return records


async def fetch_one(db: DataFlow, sql: Any, params: Any = None) -> dict[str, Any] | None:
    """The first row of ``sql`` as a dict, or None when it returns none."""
    rows = await fetch(db, sql, params)
    return rows[0] if rows else None


async def execute(db: DataFlow, sql: Any, params: Any = None) -> int:
    """Run ``sql``; the number of rows it changed (as the driver reports it)."""
    statement = bind_named(db.dialect, sql, params)
    if db.dialect.read_router is not None:
        db.dialect.read_router.wrote()  # a raw write: this task's next reads see it (read-your-writes)
    count: int = await _run(db, statement, fetching=False)
    return count


def named_models(db: DataFlow, statement: BoundStatement) -> list[ModelSpec]:
    """The models of ``db`` whose tables ``statement`` names."""
    return [m for m in db.models.values() if m.table.lower() in statement.identifiers]


async def _run(db: DataFlow, statement: BoundStatement, *, fetching: bool) -> Any:
    dialect = db.dialect
    for model in named_models(db, statement):
        await db.ensure_ready(model)  # as a node would: the model's table exists before it is used
    try:
        async with dialect.scoped_connection() as conn:
            if db._wrap_connections:  # as db.connection() hands it out: plugins check raw statements there
                conn = db.plugins.call_chain("dataflow_connection", conn, db=db)
            if fetching:
                return await dialect.fetch_named(conn, statement.sql, statement.values)
            return await conn.execute(statement.sql, statement.values)
    except DataFlowError as exc:
        raise db.enhance(exc) from exc.__cause__
    except Exception as exc:
        raise db.enhance(statement_error(dialect, exc, statement.sql)) from exc


def statement_error(dialect: SQLDialect, exc: BaseException, sql: str) -> DataFlowError:
    """The DF error for a driver exception raised by a raw statement: DF-720 when the database refused
    the statement's text, else the dialect's translation."""
    if dialect.statement_refused(exc):
        return DataFlowError("DF-720", f"The database refused the statement: {exc}",
                             context={"statement": short_repr(sql, 200), "detail": str(exc)},
                             solutions=["Check the SQL for this database's syntax and the names it uses."])
    error = dialect.translate_error(exc)
    error.context.setdefault("statement", short_repr(sql, 200))
    return error
