"""The audit trail: one row per written record, in the same transaction as the write, hash-chained.

Each audit row holds ``seq`` (1, 2, 3 … with no gap), ``written_at`` (ISO-8601, UTC), ``actor``,
``model``, ``operation`` (the node's), ``action`` (create / update / delete, for this record),
``record_id``, ``before_values`` / ``after_values`` (JSON of the changed fields) and ``prev_hash`` /
``row_hash``: ``row_hash`` is the SHA-256 of the previous row's hash and every other column as stored,
so changing, removing or inserting a past row breaks the chain from there on. A one-row head table
(``<table>_head``) holds the last ``seq`` and hash: rows removed from the end are detected too, and
writers take its row lock, so concurrent writers append one after the other (never forking the
chain). Rows of one node are written with multi-row INSERTs, a batch at a time.

The rows a write touches are read before it (updates, deletes, upserts) and after it, in its
transaction: auditing costs those reads, never a row-by-row statement.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from dataflow.errors import DataFlowError
from dataflow.models import ModelSpec
from dataflow.nodes import Node
from dataflow.query import Select, parse_filter

from dataflow_protect.rules import invalid

__all__ = ["GENESIS", "AuditTrail", "VerifyReport", "row_hash", "rows_identified"]

GENESIS = "0" * 64
"""The ``prev_hash`` of the first row."""
COLUMNS = ("seq", "written_at", "actor", "model", "operation", "action", "record_id", "before_values",
           "after_values", "prev_hash", "row_hash")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,50}$")
_IN_CHUNK = 1000
_INSERT_BATCH = 500
_SKIPPED = frozenset({"updated_at"})
"""Fields never listed as changed: the audit row's own time says when."""


def _plain(value: Any) -> Any:
    """A value as JSON holds it, the same on every database (datetimes in ISO-8601, decimals as text)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _json(values: Mapping[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps(values, default=_plain, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def row_hash(prev_hash: str, row: Sequence[Any]) -> str:
    """The hash of one audit row: SHA-256 over the previous hash and the row's other columns as stored."""
    seq, *rest = row
    payload = json.dumps([prev_hash, int(seq), *rest], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@attrs.frozen
class VerifyReport:
    """What ``db.audit.verify()`` found: ``ok``, the rows checked, and the first bad row (its ``seq``)
    with the reason when the chain is broken."""

    ok: bool
    rows: int
    first_bad: int | None = None
    reason: str = ""
    table: str = ""

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class _Entry:
    action: str
    record_id: Any
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditTrail:
    """``db.audit``: writes the trail of one instance (when ``audit_log=True``) and verifies it."""

    def __init__(self, db: Any, table: Any = "dataflow_audit") -> None:
        self._db = weakref.ref(db)
        self.enabled = False
        """Whether this instance records its writes (``audit_log=True``)."""
        self._ready = False
        self.use_table(table)

    def use_table(self, table: Any) -> None:
        """Name the audit table (its head is ``<table>_head``); DF-411 for a name that is not one."""
        if not isinstance(table, str) or not _IDENTIFIER.match(table):
            raise invalid(f"audit_table= must be a table name (letters, digits, _; at most 51 characters), "
                          f"got {table!r}.", option="audit_table")
        self.table = table
        self.head = f"{table}_head"
        self._ready = False

    def _instance(self) -> Any:
        db = self._db()
        if db is None:
            raise invalid("The DataFlow instance of this audit trail is gone.")
        return db

    def verify(self) -> VerifyReport:
        """Check the chain (see ``verify_async``); ``report.ok``, ``report.first_bad``, ``report.reason``."""
        from dataflow.loop import run_sync

        return run_sync(self.verify_async())

    def require_intact(self) -> VerifyReport:
        """``verify()``, raising DF-717 naming the first bad row when the chain is broken (for start-up
        checks and scheduled jobs)."""
        report = self.verify()
        if not report.ok:
            raise DataFlowError(
                "DF-717", f"The audit trail {report.table!r} is broken at row {report.first_bad}: {report.reason}.",
                context={"table": report.table, "first_bad": report.first_bad, "rows_verified": report.rows},
                solutions=["Find who changed the audit table; restore it from a backup taken after the last "
                           "verified row."])
        return report

    def rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The trail's rows in order (the first ``limit`` of them), as dicts, for reports and tests."""
        from dataflow.loop import run_sync

        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise invalid(f"rows(limit=) takes a whole number of rows (0 or more), got {limit!r}.", key="limit")

        async def fetch() -> list[dict[str, Any]]:
            db = self._instance()
            q = db.dialect.quote
            await self.ensure(db)
            sql = f"SELECT {', '.join(q(c) for c in COLUMNS)} FROM {q(self.table)} ORDER BY {q('seq')}"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            async with db.dialect.connection() as conn:
                found = await conn.fetch(sql, [])
            return [dict(zip(COLUMNS, (int(r[0]), *r[1:]), strict=True)) for r in found]

        return run_sync(fetch())

    # ---- the tables ------------------------------------------------------------------------------
    async def ensure(self, db: Any) -> None:
        """Create the audit table and its head, once per instance: on a connection of their own (MySQL
        commits the open transaction at any DDL), except where the database has one writer at a time
        (SQLite) and a transaction is open here: there they are made in it, and known ready once it
        commits (as the kernel makes model tables)."""
        if self._ready:
            return
        dialect = db.dialect
        scope = dialect.current_transaction()
        inside = scope is not None and dialect.schema_in_transaction
        q = dialect.quote
        text = "LONGTEXT" if dialect.name == "mysql" else "TEXT"
        short = "VARCHAR(255)"
        columns = [f"{q('seq')} BIGINT NOT NULL PRIMARY KEY", f"{q('written_at')} VARCHAR(40) NOT NULL",
                   f"{q('actor')} {short}", f"{q('model')} {short} NOT NULL", f"{q('operation')} {short} NOT NULL",
                   f"{q('action')} VARCHAR(20) NOT NULL", f"{q('record_id')} {short}", f"{q('before_values')} {text}",
                   f"{q('after_values')} {text}", f"{q('prev_hash')} CHAR(64) NOT NULL",
                   f"{q('row_hash')} CHAR(64) NOT NULL"]
        suffix = dialect.table_suffix()
        async with (dialect.scoped_connection() if inside else dialect.connection()) as conn:
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {q(self.table)} ({', '.join(columns)}){suffix}", [])
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {q(self.head)} ({q('id')} INTEGER NOT NULL PRIMARY KEY, "
                               f"{q('seq')} BIGINT NOT NULL, {q('row_hash')} CHAR(64) NOT NULL){suffix}", [])
            if not await conn.fetch(f"SELECT {q('seq')} FROM {q(self.head)} WHERE {q('id')} = 1", []):
                try:
                    p = dialect.placeholder
                    await conn.execute(f"INSERT INTO {q(self.head)} ({q('id')}, {q('seq')}, {q('row_hash')}) "
                                       f"VALUES (1, 0, {p(1)})", [GENESIS])
                except DataFlowError:
                    raise
                except Exception:  # another instance made it first: the row is there either way
                    if not await conn.fetch(f"SELECT {q('seq')} FROM {q(self.head)} WHERE {q('id')} = 1", []):
                        raise
        if inside:
            scope.tx.on_commit(self._made)
        else:
            self._ready = True

    def _made(self) -> None:
        self._ready = True

    # ---- recording ---------------------------------------------------------------------------------
    async def record(self, db: Any, model: ModelSpec, node: Node, params: dict[str, Any], coro: Any,
                     actor: str | None, hide_ids: bool = False) -> Any:
        """Run the node's write and its audit rows in one transaction; return the node's output."""
        try:
            await self.ensure(db)
            await db.ensure_ready(model)  # the reads before the write need the model's table
        except BaseException:
            coro.close()
            raise
        operation = node.operation or node.type_name
        async with db.transaction():
            try:
                before = await self._before(db, model, operation, params)
            except BaseException:
                coro.close()
                raise
            output = await coro
            entries = await self._entries(db, model, operation, params, output, before)
            if entries:
                await self._append(db, model.name, operation, entries, actor)
        if hide_ids and isinstance(output, dict):
            output.pop("ids", None)
        return output

    async def _select(self, db: Any, model: ModelSpec, raw: Any) -> list[dict[str, Any]]:
        if raw is None:
            return list(await db.dialect.run(Select(model, None)))
        return list(await db.dialect.run(Select(model, parse_filter(model, raw, extra_operators=db.dialect.operators))))

    async def _by_ids(self, db: Any, model: ModelSpec, ids: Iterable[Any]) -> dict[Any, dict[str, Any]]:
        wanted = list(ids)
        found: dict[Any, dict[str, Any]] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            for row in await self._select(db, model, {"id": {"$in": wanted[start:start + _IN_CHUNK]}}):
                found[row["id"]] = row
        return found

    async def _by_keys(self, db: Any, model: ModelSpec, key: list[str], rows: list[Mapping[str, Any]]
                       ) -> dict[Any, dict[str, Any]]:
        """Stored rows whose ``key`` columns match one of ``rows``' (by id)."""
        found: dict[Any, dict[str, Any]] = {}
        usable = [r for r in rows if all(c in r for c in key)]
        for start in range(0, len(usable), _IN_CHUNK):
            chunk = usable[start:start + _IN_CHUNK]
            if len(key) == 1:
                raw: dict[str, Any] = {key[0]: {"$in": [r[key[0]] for r in chunk]}}
            else:
                raw = {"$or": [{c: r[c] for c in key} for r in chunk]}
            for row in await self._select(db, model, raw):
                found[row["id"]] = row
        return found

    async def _before(self, db: Any, model: ModelSpec, operation: str, params: Mapping[str, Any]
                      ) -> dict[Any, dict[str, Any]]:
        """The stored rows the write may change, by id (read in its transaction, before it)."""
        try:
            if operation in ("update", "delete"):
                raw = params.get("filter") or ({"id": params["id"]} if params.get("id") is not None else None)
                return {} if raw is None else {r["id"]: r for r in await self._select(db, model, raw)}
            if operation == "bulk_update":
                if params.get("data") is not None:
                    return await self._by_ids(db, model, [r["id"] for r in params["data"]
                                                          if isinstance(r, Mapping) and "id" in r])
                return {r["id"]: r for r in await self._select(db, model, params.get("filter") or None)}
            if operation == "bulk_delete":
                if params.get("ids") is not None:
                    return await self._by_ids(db, model, params["ids"])
                return {r["id"]: r for r in await self._select(db, model, params.get("filter") or None)}
            if operation == "upsert":
                where = dict(params.get("where") or {})
                row = {**where, **(params.get("create") or {})}
                return await self._by_keys(db, model, _conflict_on(params.get("conflict_on"), list(where)), [row])
            if operation == "bulk_upsert":
                rows = [r for r in params.get("data") or () if isinstance(r, Mapping)]
                return await self._by_keys(db, model, _conflict_on(params.get("conflict_on"), ["id"]), rows)
        except (DataFlowError, KeyError, TypeError, ValueError):
            return {}  # parameters the node itself refuses: it raises before writing anything
        return {}

    async def _entries(self, db: Any, model: ModelSpec, operation: str, params: Mapping[str, Any], output: Any,
                       before: dict[Any, dict[str, Any]]) -> list[_Entry]:
        """One entry per record the write changed, with the values before and after."""
        out = output if isinstance(output, Mapping) else {}
        fields = [f.name for f in model.fields]
        if operation == "create":
            return [_Entry("create", out.get("id"), None, _row(out, fields))] if "id" in out else []
        if operation == "update":
            if not out.get("updated"):
                return []
            return [_Entry("update", out["id"], before.get(out["id"]), _row(out, fields))]
        if operation == "delete":
            if not out.get("deleted"):
                return []
            return [_Entry("delete", out["id"], before.get(out["id"]), None)]
        if operation == "upsert":
            record = out.get("record") or {}
            if "id" not in record:
                return []
            action = "create" if out.get("created") else "update"
            return [_Entry(action, record["id"], before.get(record["id"]), _row(record, fields))]
        if operation == "bulk_create":
            if "ids" not in out and rows_identified(params):
                # Every row carries its id and all were inserted (or the node failed): the rows as given.
                return [_Entry("create", row["id"], None, dict(row)) for row in params["data"]]
            after = await self._by_ids(db, model, out.get("ids") or ())
            return [_Entry("create", rid, None, row) for rid, row in after.items()]
        if operation in ("bulk_update", "bulk_delete", "bulk_upsert"):
            after = await self._by_ids(db, model, before)
            if operation == "bulk_upsert":
                keys = _conflict_on(params.get("conflict_on"), ["id"])
                after.update(await self._by_keys(db, model, keys, [r for r in params.get("data") or ()
                                                                    if isinstance(r, Mapping)]))
            entries = []
            for rid in {**before, **after}:
                old, new = before.get(rid), after.get(rid)
                if new is None:
                    entries.append(_Entry("delete", rid, old, None))
                elif old is None:
                    entries.append(_Entry("create", rid, None, new))
                elif operation != "bulk_delete" and (old != new or operation == "bulk_update"):
                    entries.append(_Entry("update", rid, old, new))
            return entries
        # Another plugin's writing node: which records it wrote cannot be told; its run is recorded.
        summary = {k: v for k, v in out.items() if isinstance(v, int | float | str | bool)}
        return [_Entry(operation, None, None, summary)]

    async def _append(self, db: Any, model: str, operation: str, entries: list[_Entry], actor: str | None) -> None:
        """Append ``entries`` to the chain, under the head's row lock, in the current transaction."""
        dialect = db.dialect
        q, p = dialect.quote, dialect.placeholder
        written_at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        async with dialect.scoped_connection() as conn:
            # A real change to the head row takes its lock on every database (an UPDATE reads the latest
            # committed row and waits for another writer's lock; no dialect-specific FOR UPDATE), and the
            # row then read back is this transaction's own version: the latest seq + 1, the latest hash.
            await conn.execute(f"UPDATE {q(self.head)} SET {q('seq')} = {q('seq')} + 1 WHERE {q('id')} = 1", [])
            head = await conn.fetch(f"SELECT {q('seq')}, {q('row_hash')} FROM {q(self.head)} WHERE {q('id')} = 1", [])
            seq, prev = int(head[0][0]) - 1, str(head[0][1])
            rows: list[tuple[Any, ...]] = []
            for entry in entries:
                seq += 1
                old, new = _changed(entry.before, entry.after)
                values = (seq, written_at, actor, model, operation, entry.action,
                          None if entry.record_id is None else str(entry.record_id), _json(old), _json(new))
                current = row_hash(prev, values)
                rows.append((*values, prev, current))
                prev = current
            columns = ", ".join(q(c) for c in COLUMNS)
            for start in range(0, len(rows), _INSERT_BATCH):
                batch = rows[start:start + _INSERT_BATCH]
                marks: list[str] = []
                bound: list[Any] = []
                for row in batch:
                    marks.append("(" + ", ".join(p(len(bound) + i + 1) for i in range(len(row))) + ")")
                    bound.extend(row)
                await conn.execute(f"INSERT INTO {q(self.table)} ({columns}) VALUES {', '.join(marks)}", bound)
            await conn.execute(f"UPDATE {q(self.head)} SET {q('seq')} = {p(1)}, {q('row_hash')} = {p(2)} "
                               f"WHERE {q('id')} = 1", [seq, prev])

    # ---- verifying -------------------------------------------------------------------------------------
    async def verify_async(self) -> VerifyReport:
        """Walk the chain from its first row: every ``seq`` follows the previous one, every ``prev_hash``
        is the previous row's hash, every ``row_hash`` is recomputed from the row, and the head matches
        the last row. Reads in pages, so any length of trail is checked in constant memory."""
        db = self._instance()
        dialect = db.dialect
        q, p = dialect.quote, dialect.placeholder
        columns = ", ".join(q(c) for c in COLUMNS)
        async with dialect.connection() as conn:
            if await dialect.table_columns(conn, self.table) is None:
                return VerifyReport(False, 0, None, f"there is no audit table {self.table!r} in this database",
                                    self.table)
            checked, last_seq, last_hash = 0, 0, GENESIS
            while True:
                page = await conn.fetch(f"SELECT {columns} FROM {q(self.table)} WHERE {q('seq')} > {p(1)} "
                                        f"ORDER BY {q('seq')} LIMIT 1000", [last_seq])
                for fetched in page:
                    row = tuple(fetched)
                    seq = int(row[0])
                    problem = None
                    if seq != last_seq + 1:
                        problem = f"row {last_seq + 1} is missing (the next row is {seq})"
                    elif row[9] != last_hash:
                        problem = f"row {seq}'s prev_hash is not row {last_seq}'s hash"
                    elif row_hash(row[9], row[:9]) != row[10]:
                        problem = f"row {seq} was changed after it was written (its hash does not match)"
                    if problem:
                        return VerifyReport(False, checked, last_seq + 1 if "missing" in problem else seq, problem,
                                            self.table)
                    checked, last_seq, last_hash = checked + 1, seq, str(row[10])
                if len(page) < 1000:
                    break
            head = await conn.fetch(f"SELECT {q('seq')}, {q('row_hash')} FROM {q(self.head)} WHERE {q('id')} = 1", [])
        if head and (int(head[0][0]), str(head[0][1])) != (last_seq, last_hash):
            return VerifyReport(False, checked, last_seq + 1,
                                f"the chain head says {int(head[0][0])} rows but the table ends at row {last_seq} "
                                f"(rows removed from the end)", self.table)
        return VerifyReport(True, checked, None, "", self.table)


def rows_identified(params: Mapping[str, Any]) -> bool:
    """Whether a bulk create's rows each carry their id and none may be skipped (so every row given is a
    row inserted, and the audit needs no ids back from the database)."""
    data = params.get("data")
    return (params.get("conflict_resolution", "error") == "error" and isinstance(data, list)
            and all(isinstance(row, Mapping) and row.get("id") is not None for row in data))


def _row(record: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    return {f: record[f] for f in fields if f in record}


def _changed(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
             ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The changed fields' values before and after (every field for a create or a delete)."""
    if before is None or after is None:
        return (None if before is None else dict(before)), (None if after is None else dict(after))
    names = [k for k in after if k not in _SKIPPED and before.get(k) != after[k]]
    return {k: before.get(k) for k in names}, {k: after[k] for k in names}


def _conflict_on(raw: Any, default: list[str]) -> list[str]:
    value = default if raw is None else raw
    return [value] if isinstance(value, str) else list(value)
