"""PostgreSQL's half of the schema contract: ``pg_catalog`` introspection, in-place DDL, costs, advisory locks.

- Introspection reads ``pg_catalog`` for the current schema (or ``schema=``) in a handful of batched
  queries, whatever the number of tables: columns (identity and serial columns marked), indexes with
  ``pg_get_indexdef``, constraints (foreign keys, checks with ``pg_get_expr``, unique constraints,
  validated or ``NOT VALID``), triggers with ``pg_get_triggerdef``. Views carry their exact
  dependencies from ``pg_depend``, so dependent views are found without searching text.
- DDL changes columns in place (``ALTER COLUMN … TYPE … USING``, ``SET / DROP NOT NULL``); DDL is
  transactional, so a failed migration rolls back whole.
- Costs follow PostgreSQL's locking: ``SET NOT NULL`` scans under ACCESS EXCLUSIVE, an index without
  ``CONCURRENTLY`` blocks writes, a constraint without ``NOT VALID`` validates every row, a constant
  default is instant from PostgreSQL 11.
- The migration lock is a session advisory lock (``pg_try_advisory_lock``) held on a connection of its
  own, opened outside the pool: the server releases it when that session ends (a killed holder never
  keeps it), and a pool of one connection can still run the migration it guards.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from dataflow.errors import DataFlowError
from dataflow.locking import lock_timeout_error
from dataflow.schema import SchemaDialect, compare_types, default_expression, is_volatile, parse_type
from dataflow.types import (
    ChangeCost,
    ChangeEffect,
    CheckSchema,
    ColumnSchema,
    DialectCapabilities,
    ForeignKeySchema,
    IndexSchema,
    MigrationStep,
    SchemaChange,
    ServerInfo,
    TableSchema,
    TriggerSchema,
    ViewSchema,
)

__all__ = ["PostgreSQLSchema", "advisory_key"]

T = TypeVar("T")

_SEP = "\x1f"  # joins column lists in one text cell: a unit separator cannot occur in an identifier
_ACTIONS = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_IDENTITY = {"a": "always", "d": "by default"}
_CONCURRENT_DDL = frozenset({"XX000", "42P01", "40001"})
"""Errors of a catalogue read that raced another session's DDL (a relation dropped meanwhile)."""
_RETRIES = 5
_NEXTVAL = re.compile(r"^nextval\('((?:[^']|'')+)'::regclass\)$")


def advisory_key(name: str, database: str) -> int:
    """A signed 64-bit advisory-lock key for the lock ``kind:rest`` of ``database``.

    Spelled as DataFlow always has (``dataflow-migration:<database>:<scope>``), so that during a rolling
    upgrade processes of the previous release and of this one exclude each other.
    """
    kind, _, rest = name.partition(":") if ":" in name else ("lock", "", name)
    digest = hashlib.sha256(f"dataflow-{kind}:{database}:{rest}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _pg_parts(key: int) -> tuple[int, int]:
    """How pg_locks shows a bigint advisory key: (classid, objid) = high and low 32 bits, unsigned."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def _names(array_expr: str, rel: str) -> str:
    """SQL turning an int2vector / smallint[] of attribute numbers into separator-joined names, in order."""
    return (f"(SELECT string_agg(att.attname, chr(31) ORDER BY u.ord) FROM unnest({array_expr}) WITH ORDINALITY "
            f"AS u(num, ord) JOIN pg_attribute att ON att.attrelid = {rel} AND att.attnum = u.num)")


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(text.split(_SEP)) if text else ()


_ARRAY_ELEMENTS = {"text": "text", "integer": "integer", "int4": "integer", "real": "real", "float4": "real",
                   "bigint": "bigint", "int8": "bigint", "double precision": "double precision"}


def _array_conversion(old_type: str, new_type: str) -> tuple[str, str] | None:
    """(function, its CREATE statement) turning a JSONB list into the array ``new_type``, when the change
    is from ``jsonb`` to one of the arrays native-array fields use; None otherwise.

    A JSON NULL column value stays NULL, an empty list becomes an empty array, and an element that does
    not convert (a word in an INTEGER[]) fails the statement, so the migration rolls back whole.
    """
    element = _ARRAY_ELEMENTS.get(new_type.strip().lower().removesuffix("[]").strip())
    if old_type.strip().lower() != "jsonb" or not new_type.strip().endswith("[]") or element is None:
        return None
    name = "pg_temp.dataflow_jsonb_to_" + element.replace(" ", "_") + "_array"
    body = (f"CREATE OR REPLACE FUNCTION {name}(j jsonb) RETURNS {element}[] LANGUAGE sql IMMUTABLE STRICT AS "
            f"$f$ SELECT COALESCE(array_agg(e::{element} ORDER BY n), '{{}}') "
            f"FROM jsonb_array_elements_text(j) WITH ORDINALITY AS x(e, n) $f$")
    return name, body


class PostgreSQLSchema(SchemaDialect):
    """The schema contract on PostgreSQL (see the module docstring)."""

    capabilities = DialectCapabilities(transactional_ddl=True, routines=True, scratch_databases=True,
                                       concurrent_index=True, not_valid_constraints=True, native_arrays=True)

    # ---- introspection ---------------------------------------------------------------------------
    def _where(self, schema: str | None, tables: Sequence[str] | None, first: int = 1) -> tuple[str, list[Any]]:
        params: list[Any] = []
        if schema is None:
            where = "n.nspname = current_schema()"
        else:
            where, params = f"n.nspname = {self.placeholder(first)}", [schema]
        where += " AND c.relkind IN ('r', 'p')"
        if tables is not None:
            marks = ", ".join(self.placeholder(first + len(params) + i) for i in range(len(tables)))
            where += f" AND c.relname IN ({marks})"
            params += list(tables)
        return where, params

    async def _catalog_read(self, read: Callable[[], Awaitable[T]]) -> T:
        """``read()``, again when it raced another session's DDL: the catalogue is read in several
        statements, and pg_get_indexdef() / pg_get_viewdef() & co. fail on a relation dropped in between
        ("could not open relation")."""
        for attempt in range(_RETRIES - 1):
            try:
                return await read()
            except Exception as exc:
                if getattr(exc, "sqlstate", None) not in _CONCURRENT_DDL:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        return await read()

    async def introspect(self, conn: Any, tables: Sequence[str] | None = None, *,
                         schema: str | None = None) -> dict[str, TableSchema]:
        return await self._catalog_read(lambda: self._introspect(conn, tables, schema))

    async def _introspect(self, conn: Any, tables: Sequence[str] | None,
                          schema: str | None) -> dict[str, TableSchema]:
        if tables is not None and not tables:
            return {}
        where, params = self._where(schema, tables)
        base = f"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {where}"
        rels = {r[1]: r[0] for r in await conn.fetch(f"SELECT c.oid::bigint, c.relname {base}", params)}
        if not rels:
            return {}
        columns: dict[str, list[ColumnSchema]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), a.attidentity::text "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            f"WHERE {where} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum", params,
        ):
            type_name, default, identity = r[2], r[4], _IDENTITY.get(r[5] or "", "")
            serial = bool(default) and str(default).startswith("nextval(")
            element = type_name[:-2] if type_name.endswith("[]") else None
            columns[r[0]].append(ColumnSchema(r[1], type_name, bool(r[3]), default, False,
                                              bool(identity) or serial, identity, element))
        pks: dict[str, tuple[str, ...]] = {}
        indexes: dict[str, list[IndexSchema]] = defaultdict(list)
        for r in await conn.fetch(
            f"SELECT c.relname, i.relname, ix.indisunique, ix.indisprimary, {_names('ix.indkey', 'ix.indrelid')}, "
            "pg_get_indexdef(ix.indexrelid), EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = ix.indexrelid "
            "AND k.contype = 'u'), (SELECT am.amname FROM pg_am am WHERE am.oid = i.relam) "
            "FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid "
            "JOIN pg_class c ON c.oid = ix.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE {where} ORDER BY c.relname, i.relname", params,
        ):
            if r[3]:
                pks[r[0]] = _split(r[4])
            else:
                indexes[r[0]].append(IndexSchema(r[1], _split(r[4]), bool(r[2]), bool(r[6]), r[5],
                                                 None if r[7] == "btree" else r[7]))
        foreign_keys: dict[str, list[ForeignKeySchema]] = defaultdict(list)
        checks: dict[str, list[CheckSchema]] = defaultdict(list)
        for r in await conn.fetch(
            f"SELECT c.relname, k.conname, k.contype::text, {_names('k.conkey', 'k.conrelid')}, rc.relname, "
            f"{_names('k.confkey', 'k.confrelid')}, k.confdeltype::text, k.confupdtype::text, k.convalidated, "
            "pg_get_expr(k.conbin, k.conrelid) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class rc ON rc.oid = k.confrelid "
            f"WHERE {where} AND k.contype IN ('f', 'c') ORDER BY k.conname", params,
        ):
            if r[2] == "f":
                foreign_keys[r[0]].append(ForeignKeySchema(r[1], _split(r[3]), r[4], _split(r[5]), _ACTIONS.get(r[6]),
                                                           _ACTIONS.get(r[7]), r[0], bool(r[8])))
            else:
                checks[r[0]].append(CheckSchema(r[1], r[9], bool(r[8])))
        triggers: dict[str, list[TriggerSchema]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {where} AND NOT t.tgisinternal ORDER BY t.tgname",
            params,
        ):
            triggers[r[0]].append(TriggerSchema(r[1], r[0], r[2]))
        found = {}
        for name, oid in rels.items():
            pk = pks.get(name, ())
            cols = tuple(ColumnSchema(c.name, c.type, c.nullable, c.default, c.name in pk, c.autoincrement,
                                      c.identity, c.element_type) for c in columns.get(name, []))
            found[name] = TableSchema(name, cols, pk, tuple(indexes.get(name, ())), tuple(foreign_keys.get(name, ())),
                                      tuple(checks.get(name, ())), tuple(triggers.get(name, ())), None, oid)
        return found

    async def table_names(self, conn: Any, *, schema: str | None = None) -> list[str]:
        where, params = self._where(schema, None)
        rows = await conn.fetch(f"SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                f"WHERE {where} ORDER BY c.relname", params)
        return [r[0] for r in rows]

    def _namespace(self, schema: str | None) -> tuple[str, list[Any]]:
        if schema is None:
            return "n.nspname = current_schema()", []
        return f"n.nspname = {self.placeholder(1)}", [schema]

    async def views(self, conn: Any, *, schema: str | None = None) -> list[ViewSchema]:
        return await self._catalog_read(lambda: self._views(conn, schema))

    async def _views(self, conn: Any, schema: str | None, names: Sequence[str] | None = None) -> list[ViewSchema]:
        where, params = self._namespace(schema)
        if names is not None:
            if not names:
                return []
            params.append(list(names))
            where += f" AND v.relname = ANY({self.placeholder(len(params))})"
        rows = await conn.fetch(
            "SELECT v.relname, pg_get_viewdef(v.oid), ARRAY(SELECT DISTINCT t.relname FROM pg_rewrite w "
            "JOIN pg_depend d ON d.objid = w.oid JOIN pg_class t ON t.oid = d.refobjid "
            "WHERE w.ev_class = v.oid AND t.oid <> v.oid AND t.relkind IN ('r', 'p', 'v', 'm')) "
            f"FROM pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace WHERE {where} AND v.relkind = 'v' "
            "ORDER BY v.oid", params,
        )
        return [ViewSchema(r[0], str(r[1]).strip().rstrip(";"), tuple(r[2])) for r in rows]

    async def dependent_views(self, conn: Any, table: str, column: str | None = None, *,
                              schema: str | None = None) -> list[ViewSchema]:
        """Exact, from ``pg_depend``: the views whose rewrite rules reference the table (and column)."""
        return await self._catalog_read(lambda: self._dependent_views(conn, table, column, schema))

    async def _dependent_views(self, conn: Any, table: str, column: str | None,
                               schema: str | None) -> list[ViewSchema]:
        where, params = self._namespace(schema)
        params.append(table)
        table_mark = self.placeholder(len(params))
        clause = ""
        if column is not None:
            params.append(column)
            clause = (f" AND d.refobjsubid = (SELECT attnum FROM pg_attribute WHERE attrelid = t.oid "
                      f"AND attname = {self.placeholder(len(params))})")
        names = {r[0] for r in await conn.fetch(
            "SELECT DISTINCT v.relname FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid "
            "JOIN pg_class v ON v.oid = w.ev_class JOIN pg_class t ON t.oid = d.refobjid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            f"WHERE {where} AND t.relname = {table_mark} AND v.oid <> t.oid{clause}", params)}
        return await self._views(conn, schema, sorted(names))

    async def foreign_keys_to(self, conn: Any, table: str, *, schema: str | None = None) -> list[ForeignKeySchema]:
        where, params = self._namespace(schema)
        params.append(table)
        rows = await conn.fetch(
            "SELECT DISTINCT c.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
            f"WHERE k.contype = 'f' AND {where} AND r.relname = {self.placeholder(len(params))}", params)
        found = await self.introspect(conn, [r[0] for r in rows], schema=schema)
        return [fk for t in found.values() for fk in t.foreign_keys if fk.ref_table == table]

    async def routines_referencing(self, conn: Any, name: str, *, schema: str | None = None) -> list[str]:
        where, params = self._namespace(schema)
        params.append(f"%{name}%")
        rows = await conn.fetch(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            f"WHERE {where} AND p.prosrc LIKE {self.placeholder(len(params))}", params)
        return sorted({r[0] for r in rows})

    async def server_info(self) -> ServerInfo:
        return ServerInfo.parse("postgresql", await self.server_version())

    # ---- DDL -------------------------------------------------------------------------------------
    def column_definition(self, column: ColumnSchema, *, inline_pk: bool = False) -> str:
        if column.identity:
            kind = "ALWAYS" if column.identity == "always" else "BY DEFAULT"
            sql = f"{self.quote(column.name)} {column.type} GENERATED {kind} AS IDENTITY"
            return sql if column.nullable else sql + " NOT NULL"
        return super().column_definition(column, inline_pk=inline_pk)

    def create_table_from(self, table: TableSchema) -> list[str]:
        """Serial columns read their default from a sequence: it is made first (in the current schema)
        and owned by the column afterwards, as ``SERIAL`` would."""
        sequences = [(c.name, m.group(1)) for c in table.columns if (m := _NEXTVAL.match(c.default or ""))]
        statements = [f"CREATE SEQUENCE IF NOT EXISTS {sequence}" for _, sequence in sequences]
        statements += super().create_table_from(table)
        statements += [f"ALTER SEQUENCE {sequence} OWNED BY {self.quote(table.name)}.{self.quote(column)}"
                       for column, sequence in sequences]
        return statements

    def index_sql(self, table: str, index: IndexSchema) -> str:
        # The server's text names the schema the index was read from: write plain indexes afresh, so a
        # copy made in another schema (a staging copy) indexes its own table.
        if index.columns and index.definition and " WHERE " not in index.definition:
            return super().index_sql(table, IndexSchema(index.name, index.columns, index.unique, index.constraint,
                                                        method=index.method))
        return super().index_sql(table, index)

    def alter_column_sql(self, change: SchemaChange, old: ColumnSchema, new: ColumnSchema) -> list[str]:
        table, column = self.quote(change.table), self.quote(new.name)
        statements = []
        if old.type != new.type:
            converter = _array_conversion(old.type, new.type)
            if converter:
                default_using = f"{converter[0]}({column})"
            elif old.type.strip().endswith("[]") and new.type.strip().lower() == "jsonb":
                default_using = f"to_jsonb({column})"  # an array has no cast to jsonb, but a function
            else:
                default_using = f"{column}::{new.type}"
            using = change.details.get("using") or default_using
            if converter and not change.details.get("using"):
                # USING takes no subquery: a JSON list becomes an array through a function of the session.
                statements.append(converter[1])
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {new.type} USING {using}")
            if converter and not change.details.get("using"):
                statements.append(f"DROP FUNCTION {converter[0]}(jsonb)")
        if old.nullable != new.nullable:
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} "
                              f"{'DROP NOT NULL' if new.nullable else 'SET NOT NULL'}")
        if old.default != new.default and old.identity == new.identity:
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} "
                              + ("DROP DEFAULT" if new.default is None else f"SET DEFAULT {new.default}"))
        return statements

    def drop_trigger_sql(self, table: str, name: str) -> str:
        return f"DROP TRIGGER {self.quote(name)} ON {self.quote(table)}"

    # ---- costs -------------------------------------------------------------------------------------
    def change_cost(self, step: MigrationStep, table: TableSchema | None, server: ServerInfo,
                    rows: int = 0) -> ChangeCost:
        kind, sql = step.kind, " ".join(step.sql).upper()
        exclusive = "under an ACCESS EXCLUSIVE lock (no reads, no writes)"
        if kind == "add_column":
            expr = default_expression(step)
            nullable = bool(step.details.get("nullable", True))
            if is_volatile(expr):
                return ChangeCost(ChangeEffect.REWRITE, True, True,
                                  f"the volatile default {expr} is evaluated for every existing row, rewriting the "
                                  f"table {exclusive}")
            if expr is not None and not server.at_least(11):
                return ChangeCost(ChangeEffect.REWRITE, True, True, f"PostgreSQL {server.text} (before 11) rewrites "
                                  "the table to add a column with a default")
            if not nullable and expr is None:
                return ChangeCost(blocks_writes=True, fails_with_rows=True,
                                  reason="a NOT NULL column without a default: the statement fails on a table "
                                         "with rows")
            return ChangeCost(blocks_writes=True, reason="adds a column (catalogue only)")
        if kind == "alter_nullability":
            if bool(step.details.get("to", step.details.get("nullable", False))):
                return ChangeCost(blocks_writes=True, reason="DROP NOT NULL changes the catalogue only")
            mitigation = ("Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL (no scan "
                          "from PostgreSQL 12) and drop the check." if server.at_least(12)
                          else "Upgrade to PostgreSQL 12+, or run it in a maintenance window.")
            return ChangeCost(ChangeEffect.SCAN, True, True, f"SET NOT NULL scans the whole table {exclusive}",
                              mitigation)
        if kind == "alter_type":
            old, new = _types(step, table)
            verdict = compare_types(old, new) if old else "rewrite"
            base, new_base = parse_type(old)[0], parse_type(new)[0]
            if (base, new_base) == ("varchar", "text") or (base == "text" and new_base == "varchar"
                                                              and parse_type(new)[1] is None):
                verdict = "safe"
            if verdict in ("same", "safe"):
                return ChangeCost(blocks_writes=True, reason=f"{old} → {new} is a safe widening (metadata only)")
            return ChangeCost(ChangeEffect.REWRITE, True, True,
                              f"{old or 'the column'} → {new} rewrites the table and its indexes {exclusive}",
                              narrows=verdict == "narrowing")
        if kind == "add_index":
            if "CONCURRENTLY" in sql or step.details.get("concurrently"):
                return ChangeCost(ChangeEffect.SCAN, reason="CREATE INDEX CONCURRENTLY builds without blocking")
            return ChangeCost(ChangeEffect.SCAN, True, reason="CREATE INDEX without CONCURRENTLY blocks every write "
                              "to the table while it builds", mitigation="CREATE INDEX CONCURRENTLY (outside a "
                              "transaction).")
        if kind == "drop_index":
            if "CONCURRENTLY" in sql:
                return ChangeCost(reason="DROP INDEX CONCURRENTLY")
            return ChangeCost(blocks_writes=True, blocks_reads=True,
                              reason="DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table",
                              mitigation="DROP INDEX CONCURRENTLY.")
        if kind == "add_unique":
            if "USING INDEX" in sql:
                return ChangeCost(blocks_writes=True, reason="attaches an existing unique index")
            return ChangeCost(ChangeEffect.SCAN, True, True, f"ADD UNIQUE builds its index {exclusive}",
                              "CREATE UNIQUE INDEX CONCURRENTLY, then ALTER TABLE … ADD CONSTRAINT … UNIQUE USING "
                              "INDEX.")
        if kind in ("add_foreign_key", "add_check"):
            if "NOT VALID" in sql:
                return ChangeCost(blocks_writes=True, reason="added NOT VALID: existing rows are not checked")
            what = "foreign key" if kind == "add_foreign_key" else "CHECK constraint"
            return ChangeCost(ChangeEffect.SCAN, True, reason=f"adding a {what} without NOT VALID validates every "
                              "row while it holds a lock that blocks writes", mitigation="ADD CONSTRAINT … NOT VALID, "
                              "then VALIDATE CONSTRAINT in a separate transaction.")
        return ChangeCost(blocks_writes=kind != "create_table", reason="changes the catalogue only")

    # ---- scratch databases and copies ------------------------------------------------------------
    async def create_scratch(self, name: str) -> str:
        """A schema of this database; the URL's sessions search it first."""
        async with self.connection() as conn:
            await conn.execute(f"CREATE SCHEMA {self.quote(name)}", [])
        raw = self.url.raw
        return raw + ("&" if "?" in raw else "?") + f"options=-csearch_path%3D{name}"

    async def drop_scratch(self, name: str, url: str) -> None:
        async with self.connection() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {self.quote(name)} CASCADE", [])

    def copy_rows_sql(self, table: TableSchema, columns: Sequence[str]) -> str:
        sql = super().copy_rows_sql(table, columns)
        if any(c.identity == "always" for c in table.columns if c.name in columns):
            head, _, values = sql.partition(" VALUES ")
            sql = f"{head} OVERRIDING SYSTEM VALUE VALUES {values}"
        return sql

    # ---- the migration lock ----------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _advisory(self, name: str, timeout: float) -> AsyncIterator[None]:
        key = advisory_key(name, self.url.database)
        deadline = time.monotonic() + timeout
        raw = await self.dedicated_connection()
        try:
            try:
                while not await raw.fetchval("SELECT pg_try_advisory_lock($1)", key):
                    if time.monotonic() >= deadline:
                        raise lock_timeout_error(name, timeout)
                    await asyncio.sleep(0.05)
            except DataFlowError:
                raise
            except Exception as exc:
                raise self.translate_error(exc) from exc
            yield
        finally:
            # Closing the session releases the lock even if the unlock cannot be sent.
            with contextlib.suppress(Exception):
                await raw.fetchval("SELECT pg_advisory_unlock($1)", key)
            with contextlib.suppress(Exception):
                await raw.close(timeout=5)

    portable = False
    """Portable mode (``postgres_compat="portable"``): the lease-row lock instead of advisory locks."""

    def migration_lock(self, name: str, timeout: float, *,
                       lease: float | None = None) -> contextlib.AbstractAsyncContextManager[None]:
        if self.portable:  # CockroachDB accepts pg_advisory_lock and does nothing: never trust it there
            return super().migration_lock(name, timeout, lease=lease)
        return self._advisory(name, timeout)

    async def lock_is_held(self, name: str) -> bool:
        if self.portable:
            return await super().lock_is_held(name)
        classid, objid = _pg_parts(advisory_key(name, self.url.database))
        async with self.connection() as conn:
            rows = await conn.fetch(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND classid::bigint = $1 AND objid::bigint = $2 "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                [classid, objid])
        return bool(rows)

    async def dedicated_connection(self) -> Any:
        """A connection of its own, outside the pool (the dialect class provides it)."""
        raise NotImplementedError


def _types(step: MigrationStep, table: TableSchema | None) -> tuple[str, str]:
    new = str(step.details.get("to") or step.details.get("new_type") or step.details.get("type") or "")
    old = step.details.get("from") or step.details.get("old_type")
    if old is None and table is not None and step.column:
        column = table.column(step.column)
        old = column.type if column else None
    return str(old or ""), new
