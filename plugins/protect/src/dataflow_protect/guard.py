"""What a write is about to do, told from a node's parameters or a raw SQL statement, before any SQL runs.

For a node: its model, its operation and the fields it may change in stored rows; for an immutable
field, whether the new value really differs from a stored one (one read, only when a field rule
names a field the write sets). For raw SQL through ``db.connection()``: whether the statement writes,
which table and which kind of write (literals and comments are stripped first, so a keyword inside a
string never counts).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from dataflow.errors import DataFlowError
from dataflow.models import ModelSpec
from dataflow.nodes import COMMON_PARAMS, Node
from dataflow.query import Count, Select, parse_filter
from dataflow.values import coerce

from dataflow_protect.rules import WriteIntent

__all__ = ["READS", "ProtectedConnection", "changed_fields", "confirm_change", "node_intent", "raw_writes"]

READS = frozenset({"read", "list", "count", "export", ""})
"""Operations of generated nodes that never write (the empty operation: a node that declares none,
judged by its ``touches``)."""
_IN_CHUNK = 1000


def changed_fields(node: Node, params: Mapping[str, Any]) -> frozenset[str] | None:
    """The fields a node's write may change in rows that already exist (None: it cannot say)."""
    operation = node.operation
    own = type(node).parameters
    if operation in ("create", "bulk_create", "delete", "bulk_delete"):
        return frozenset()
    if operation == "update":
        fields = dict(params.get("fields") or {})
        fields.update({k: v for k, v in params.items() if k not in own and k not in COMMON_PARAMS})
        return frozenset(fields)
    if operation == "bulk_update":
        if params.get("data") is not None:
            return _row_keys(params["data"]) - {"id"}
        return frozenset(params.get("fields") or params.get("update") or {})
    if operation == "upsert":
        return frozenset(params.get("update") or {})
    if operation == "bulk_upsert":
        if params.get("conflict_resolution", "update") != "update":
            return frozenset()
        return _row_keys(params.get("data") or ()) - _conflict_on(params.get("conflict_on"), ["id"])
    return None


def _row_keys(rows: Iterable[Any]) -> frozenset[str]:
    keys: set[str] = set()
    for row in rows:
        if isinstance(row, Mapping):
            keys.update(row)
    return frozenset(keys)


def _conflict_on(raw: Any, default: list[str]) -> frozenset[str]:
    value = default if raw is None else raw
    return frozenset([value] if isinstance(value, str) else value)


def _changed(field: str, value: Any) -> dict[str, Any]:
    """A filter for rows whose ``field`` differs from ``value`` (NULL counts as different)."""
    if value is None:
        return {field: {"$ne": None}}
    return {"$or": [{field: {"$ne": value}}, {field: None}]}


async def confirm_change(db: Any, model: ModelSpec, node: Node, params: Mapping[str, Any], field: str) -> bool:
    """Whether the node's write would change ``field`` in a stored row (one read).

    A parameter the node would refuse anyway (a bad filter) counts as a change: the write is refused
    before it runs, never let through unchecked.
    """
    operation = node.operation
    try:
        if operation == "update":
            fields = dict(params.get("fields") or {})
            fields.update({k: v for k, v in params.items() if k not in type(node).parameters
                           and k not in COMMON_PARAMS})
            raw = params.get("filter") or ({"id": params["id"]} if params.get("id") is not None else None)
            return await _any_row(db, model, raw, field, fields[field])
        if operation == "bulk_update":
            if params.get("data") is not None:
                return await _rows_differ(db, model, ["id"], [r for r in params["data"] if field in r], field)
            fields = params.get("fields") or params.get("update") or {}
            return await _any_row(db, model, params.get("filter") or None, field, fields[field])
        if operation == "upsert":
            where = dict(params.get("where") or {})
            row = {**where, **(params.get("create") or {})}
            conflict = sorted(_conflict_on(params.get("conflict_on"), list(where)))
            key = {c: row.get(c) for c in conflict}
            return await _any_row(db, model, key, field, (params.get("update") or {})[field])
        if operation == "bulk_upsert":
            conflict = sorted(_conflict_on(params.get("conflict_on"), ["id"]))
            rows = [r for r in params.get("data") or () if isinstance(r, Mapping) and field in r]
            return await _rows_differ(db, model, conflict, rows, field)
    except (DataFlowError, KeyError, TypeError, ValueError):
        return True
    return True


async def _any_row(db: Any, model: ModelSpec, raw: Any, field: str, value: Any) -> bool:
    """Whether a row matching ``raw`` holds another value than ``value`` in ``field``."""
    changed = _changed(field, value)
    where = parse_filter(model, {"$and": [raw, changed]} if raw else changed,
                         extra_operators=db.dialect.operators)
    return bool(await db.dialect.run(Count(model, where)))


async def _rows_differ(db: Any, model: ModelSpec, key: list[str], rows: list[Mapping[str, Any]], field: str) -> bool:
    """Whether a stored row with one of ``rows``' keys holds another value in ``field`` than that row."""
    if not rows:
        return False
    spec = model.field_map[field]
    wanted = {tuple(coerce(model.field_map[c], r[c]) for c in key): coerce(spec, r[field]) for r in rows}
    keys = list(wanted)
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start:start + _IN_CHUNK]
        if len(key) == 1:
            raw: dict[str, Any] = {key[0]: {"$in": [k[0] for k in chunk]}}
        else:
            raw = {"$or": [dict(zip(key, k, strict=True)) for k in chunk]}
        for stored in await db.dialect.run(Select(model, parse_filter(model, raw))):
            if stored[field] != wanted.get(tuple(stored[c] for c in key), stored[field]):
                return True
    return False


def node_intent(node: Node, model: ModelSpec, params: Mapping[str, Any], actor: str | None) -> WriteIntent:
    return WriteIntent(model.name, node.operation or node.type_name, changed_fields(node, params), node.node_id,
                       actor)


# ---- raw SQL --------------------------------------------------------------------------------------
_NOISE = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/|\$(\w*)\$.*?\$\1\$", re.S)
_IDENT = r"((?:`[^`]+`|\"[^\"]+\"|\[[^\]]+\]|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|\"[^\"]+\"|\[[^\]]+\]|[\w$]+))*)"
_TARGETS = [
    (re.compile(r"\bINSERT\s+(?:OR\s+\w+\s+|IGNORE\s+|LOW_PRIORITY\s+|DELAYED\s+|HIGH_PRIORITY\s+)*(?:INTO\s+)?"
                + _IDENT, re.I), "bulk_create"),
    (re.compile(r"\bREPLACE\s+(?:LOW_PRIORITY\s+|DELAYED\s+)*(?:INTO\s+)?" + _IDENT, re.I), "bulk_upsert"),
    (re.compile(r"\bMERGE\s+INTO\s+" + _IDENT, re.I), "bulk_upsert"),
    (re.compile(r"(?<!\bFOR\s)(?<!\bKEY\s)(?<!\bDO\s)\bUPDATE\s+(?:LOW_PRIORITY\s+|IGNORE\s+|ONLY\s+)*"
                r"(?!SET\b|OF\b|NOWAIT\b|SKIP\b)" + _IDENT, re.I), "bulk_update"),
    (re.compile(r"\bDELETE\s+(?:LOW_PRIORITY\s+|QUICK\s+|IGNORE\s+)*FROM\s+(?:ONLY\s+)?" + _IDENT, re.I),
     "bulk_delete"),
    (re.compile(r"\bTRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?" + _IDENT, re.I), "bulk_delete"),
    (re.compile(r"\b(?:DROP|ALTER)\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?" + _IDENT, re.I), "schema"),
]
_READ_WORDS = frozenset({"SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "VALUES", "TABLE", "BEGIN", "START",
                         "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "END", "USE", "FETCH", "DECLARE",
                         "CLOSE", "WITH", "PRAGMA", "LOCK", "UNLOCK", "LISTEN", "UNLISTEN", "RESET", "DEALLOCATE",
                         "PREPARE", "EXECUTE", "HELP", "CHECKSUM"})
"""First words of statements that change no data by themselves (WITH, EXPLAIN and PRAGMA are looked into)."""
_WRITE_INSIDE = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|REPLACE)\b", re.I)
_SET_PART = re.compile(r"\bSET\b(.*?)(?:\bWHERE\b|\bRETURNING\b|\bFROM\b|$)", re.I | re.S)


def _bare(name: str) -> str:
    last = re.split(r"\s*\.\s*", name)[-1]
    return last.strip('`"[]').lower()


def raw_writes(sql: str) -> list[tuple[str, str | None, str]]:
    """The writes of a raw statement: ``(operation, table or None, SET part)`` each; empty for a read."""
    text = _NOISE.sub(" ", sql)
    found: list[tuple[str, str | None, str]] = []
    for statement in text.split(";"):
        words = statement.split(None, 1)
        if not words:
            continue
        first = words[0].lstrip("(").upper()
        writes = first not in _READ_WORDS
        if first in ("WITH", "EXPLAIN"):
            writes = bool(_WRITE_INSIDE.search(statement))
        elif first == "PRAGMA":
            writes = "=" in statement
        elif first == "SELECT" and re.search(r"\bINTO\b", statement, re.I) and not re.search(
                r"\bINTO\s+@", statement, re.I):
            writes = True  # SELECT … INTO makes a table
        if not writes:
            continue
        targets = []
        for pattern, operation in _TARGETS:
            targets += [(m.start(), operation, _bare(m.group(1))) for m in pattern.finditer(statement)]
        set_part = " ".join(m.group(1) for m in _SET_PART.finditer(statement))
        dupe = re.search(r"\bON\s+(?:DUPLICATE\s+KEY\s+UPDATE|CONFLICT\b.*?\bDO\s+UPDATE\b)", statement, re.I | re.S)
        if not targets:
            found.append(("write", None, set_part))
            continue
        for _start, operation, table in sorted(targets):
            found.append(("bulk_upsert" if dupe and operation == "bulk_create" else operation, table, set_part))
    return found


class ProtectedConnection:
    """What ``db.connection()`` hands out while rules apply: the connection, with every statement's writes
    checked against the rules first (DF-716 before the statement reaches the database)."""

    def __init__(self, conn: Any, db: Any, guard: Any) -> None:
        self._conn = conn
        self._db = db
        self._guard = guard

    async def _check(self, sql: Any) -> None:
        if isinstance(sql, str):
            await self._guard.check_raw(self._db, sql)

    async def fetch(self, sql: str, params: Any = ()) -> Any:
        await self._check(sql)
        return await self._conn.fetch(sql, params)

    async def execute(self, sql: str, params: Any = ()) -> Any:
        await self._check(sql)
        return await self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Any) -> Any:
        await self._check(sql)
        return await self._conn.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._conn, name)  # AttributeError when the connection lacks it, as unwrapped
        if name != "fetch_named":
            return found

        async def fetch_named(sql: str, params: Any = ()) -> Any:  # raw SQL's db.fetch
            await self._check(sql)
            return await found(sql, params)

        return fetch_named
