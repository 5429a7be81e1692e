"""MySQL / MariaDB's half of the schema contract: ``information_schema``, MODIFY-style DDL, costs, GET_LOCK.

- Introspection reads ``information_schema`` for the current database (or ``schema=``). MariaDB stores
  JSON as LONGTEXT guarded by ``CHECK (json_valid(col))``: those columns are reported as ``json`` and
  their guard is not listed as a check. The index MySQL makes implicitly for a foreign key carries the
  key's name and belongs to the key, so it is not listed as an index.
- DDL: ``MODIFY COLUMN`` restates the whole column; ``RENAME TABLE``; ``DROP INDEX … ON``; ``DROP FOREIGN
  KEY``. A literal default on TEXT / BLOB / JSON is written as an expression in parentheses. Every DDL
  statement commits implicitly, so migrations checkpoint step by step (``transactional_ddl`` is False).
- Costs follow InnoDB's online DDL: adding a column (with a constant default) is instant from MySQL
  8.0.12 / MariaDB 10.3; ``MODIFY … NOT NULL`` and type changes copy the table; a NOT NULL column added
  without a default silently gets the type's implicit value in existing rows.
- The migration lock is ``GET_LOCK`` held on a connection of its own, outside the pool; lock names are
  server-wide, so the database's name is part of it. The server releases it when that session ends.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

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

__all__ = ["MySQLSchema"]

_NO_ACTION = ("NO ACTION", "RESTRICT")


def _text(value: Any) -> Any:
    """Catalogue text some servers return as bytes."""
    return value.decode() if isinstance(value, bytes | bytearray) else value


def _default(value: Any, nullable: bool) -> str | None:
    """MariaDB reports "no default" on a nullable column as the text NULL; fold it into None."""
    value = _text(value)
    if value is None or (nullable and str(value).upper() == "NULL"):
        return None
    return str(value)


def _json_guard(clause: Any) -> str | None:
    """The column a ``json_valid(col)`` check guards, else None."""
    text = str(_text(clause)).strip()
    if text.lower().startswith("json_valid(") and text.endswith(")"):
        return text[len("json_valid("):-1].strip("`")
    return None


class MySQLSchema(SchemaDialect):
    """The schema contract on MySQL and MariaDB (see the module docstring)."""

    capabilities = DialectCapabilities(transactional_ddl=False, routines=True, scratch_databases=True,
                                       views_follow_renames=False)

    # ---- introspection ---------------------------------------------------------------------------
    def _scope(self, schema: str | None, tables: Sequence[str] | None, prefix: str = "",
               column: str = "TABLE_SCHEMA", table_column: str = "TABLE_NAME") -> tuple[str, list[Any]]:
        """A WHERE clause (and its parameters) keeping ``schema`` (default: the current database) and,
        when given, only ``tables``; ``column`` / ``table_column`` name the view's columns for them."""
        params: list[Any] = []
        if schema is None:
            clause = f"{prefix}{column} = DATABASE()"
        else:
            clause, params = f"{prefix}{column} = %s", [schema]
        if tables is not None:
            clause += f" AND {prefix}{table_column} IN ({', '.join('%s' for _ in tables)})"
            params += list(tables)
        return clause, params

    async def _foreign_key_columns(self, conn: Any, schema: str | None,
                                   tables: Sequence[str] | None) -> list[tuple[Any, ...]]:
        """``(table, constraint, column, referenced table, referenced column, on delete, on update)`` per
        column of each foreign key, in key order.

        Two filtered reads joined here rather than one join in SQL: the server cannot narrow the
        REFERENTIAL_CONSTRAINTS side of a join by the other side's table names, and reads every
        schema's constraints for it (tens of ms on a busy server, against well under one for each
        filtered read); a table without foreign keys needs the first read only.
        """
        key_where, key_params = self._scope(schema, tables, "k.")
        columns = await conn.fetch(
            "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME "
            f"FROM information_schema.KEY_COLUMN_USAGE k WHERE {key_where} AND k.REFERENCED_TABLE_NAME IS NOT NULL "
            "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION", key_params)
        if not columns:
            return []
        rule_where, rule_params = self._scope(schema, tables, "", "CONSTRAINT_SCHEMA")
        rules = {(_text(r[0]), _text(r[1])): (r[2], r[3]) for r in await conn.fetch(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE "
            f"FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE {rule_where}", rule_params)}
        return [(*r, *rules[key]) for r in columns if (key := (_text(r[0]), _text(r[1]))) in rules]

    async def introspect(self, conn: Any, tables: Sequence[str] | None = None, *,
                         schema: str | None = None) -> dict[str, TableSchema]:
        if tables is not None and not tables:
            return {}
        where, params = self._scope(schema, tables)
        names = [_text(r[0]) for r in await conn.fetch(
            f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE {where} AND TABLE_TYPE = 'BASE TABLE'", params)]
        if not names:
            return {}
        json_columns: set[tuple[str, str]] = set()
        checks: dict[str, list[CheckSchema]] = defaultdict(list)
        check_where, check_params = self._scope(schema, tables, "c.", "CONSTRAINT_SCHEMA")
        for table, name, clause in await conn.fetch(
            f"SELECT c.TABLE_NAME, c.CONSTRAINT_NAME, c.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS c "
            f"WHERE {check_where} ORDER BY c.CONSTRAINT_NAME", check_params,
        ):
            guarded = _json_guard(clause)
            if guarded is not None:
                json_columns.add((_text(table), guarded))
            else:
                checks[_text(table)].append(CheckSchema(_text(name), str(_text(clause))))
        columns: dict[str, list[ColumnSchema]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_KEY, EXTRA "
            f"FROM information_schema.COLUMNS WHERE {where} ORDER BY TABLE_NAME, ORDINAL_POSITION", params,
        ):
            table, name, type_name = _text(r[0]), _text(r[1]), str(_text(r[2]))
            nullable = _text(r[3]) == "YES"
            columns[table].append(ColumnSchema(
                name, "json" if (table, name) in json_columns else type_name, nullable, _default(r[4], nullable),
                _text(r[5]) == "PRI", "auto_increment" in str(_text(r[6]) or "").lower()))
        stats: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
            f"WHERE {where} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX", params,
        ):
            stats[(_text(r[0]), _text(r[1]))].append(r)
        kinds = {(_text(r[0]), _text(r[1])): _text(r[2]) for r in await conn.fetch(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS "
            f"WHERE {where}", params)}
        fk_parts: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for r in await self._foreign_key_columns(conn, schema, tables):
            fk_parts[(_text(r[0]), _text(r[1]))].append(r)
        foreign_keys: dict[str, list[ForeignKeySchema]] = defaultdict(list)
        for (table, name), group in fk_parts.items():
            on_delete, on_update = (None if _text(rule) in _NO_ACTION else _text(rule) for rule in group[0][5:7])
            foreign_keys[table].append(ForeignKeySchema(name, tuple(_text(p[2]) for p in group), _text(group[0][3]),
                                                        tuple(_text(p[4]) for p in group), on_delete, on_update, table))
        pks: dict[str, tuple[str, ...]] = {}
        indexes: dict[str, list[IndexSchema]] = defaultdict(list)
        for (table, index_name), group in stats.items():
            cols = tuple(_text(p[3]) for p in group)
            if index_name == "PRIMARY":
                pks[table] = cols
            elif index_name not in {fk.name for fk in foreign_keys.get(table, ())}:
                indexes[table].append(IndexSchema(index_name, cols, not int(group[0][2]),
                                                  kinds.get((table, index_name)) == "UNIQUE"))
        triggers: dict[str, list[TriggerSchema]] = defaultdict(list)
        # Narrowed to the tables asked for: the server then reads only their trigger files.
        trigger_where, trigger_params = self._scope(schema, tables, "", "EVENT_OBJECT_SCHEMA", "EVENT_OBJECT_TABLE")
        for name, table, timing, event, statement in await conn.fetch(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT "
            f"FROM information_schema.TRIGGERS WHERE {trigger_where} ORDER BY TRIGGER_NAME", trigger_params,
        ):
            table = _text(table)
            definition = (f"CREATE TRIGGER {self.quote(_text(name))} {_text(timing)} {_text(event)} ON "
                          f"{self.quote(table)} FOR EACH ROW {_text(statement)}")
            triggers[table].append(TriggerSchema(_text(name), table, definition))
        return {
            name: TableSchema(name, tuple(columns.get(name, ())), pks.get(name, ()), tuple(indexes.get(name, ())),
                              tuple(foreign_keys.get(name, ())), tuple(checks.get(name, ())),
                              tuple(triggers.get(name, ())))
            for name in names
        }

    async def table_names(self, conn: Any, *, schema: str | None = None) -> list[str]:
        where, params = self._scope(schema, None)
        rows = await conn.fetch(f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE {where} "
                                "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", params)
        return [_text(r[0]) for r in rows]

    async def views(self, conn: Any, *, schema: str | None = None) -> list[ViewSchema]:
        where, params = self._scope(schema, None)
        rows = await conn.fetch(
            f"SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE {where} ORDER BY TABLE_NAME",
            params)
        return [ViewSchema(_text(r[0]), str(_text(r[1]) or "")) for r in rows]

    async def foreign_keys_to(self, conn: Any, table: str, *, schema: str | None = None) -> list[ForeignKeySchema]:
        where, params = self._scope(schema, None)
        rows = await conn.fetch(
            f"SELECT DISTINCT TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE {where} "
            "AND REFERENCED_TABLE_NAME = %s", [*params, table])
        found = await self.introspect(conn, [_text(r[0]) for r in rows], schema=schema)
        return [fk for t in found.values() for fk in t.foreign_keys if fk.ref_table == table]

    async def routines_referencing(self, conn: Any, name: str, *, schema: str | None = None) -> list[str]:
        where, params = self._scope(schema, None, "", "ROUTINE_SCHEMA")
        rows = await conn.fetch(f"SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE {where} "
                                "AND ROUTINE_DEFINITION LIKE %s", [*params, f"%{name}%"])
        return sorted({_text(r[0]) for r in rows})

    # ---- DDL -------------------------------------------------------------------------------------
    def literal(self, value: Any) -> str | None:
        if isinstance(value, bool):
            return "1" if value else "0"
        rendered = super().literal(value)
        if isinstance(value, str) and rendered is not None:
            # MySQL reads a backslash in a string literal as an escape: a value ending in one would
            # otherwise end the literal early.
            rendered = rendered.replace("\\", "\\\\")
        return rendered

    def default_clause(self, column: ColumnSchema) -> str:
        default = str(column.default)
        # MySQL accepts a literal default on TEXT / BLOB / JSON only as an expression in parentheses.
        if column.family in ("str", "json", "bytes") and "char" not in column.type.lower():
            return default if default.startswith("(") else f"({default})"
        return default

    def column_definition(self, column: ColumnSchema, *, inline_pk: bool = False) -> str:
        sql = super().column_definition(column, inline_pk=inline_pk)
        return sql + " AUTO_INCREMENT" if column.autoincrement else sql

    def ddl_rename_table(self, change: SchemaChange) -> list[str]:
        return [f"RENAME TABLE {self.quote(change.table)} TO {self.quote(change.details['to'])}"]

    def alter_column_sql(self, change: SchemaChange, old: ColumnSchema, new: ColumnSchema) -> list[str]:
        return [f"ALTER TABLE {self.quote(change.table)} MODIFY COLUMN {self.column_definition(new)}"]

    def ddl_drop_index(self, change: SchemaChange) -> list[str]:
        return [f"DROP INDEX {self.quote(change.details['name'])} ON {self.quote(change.table)}"]

    def ddl_drop_foreign_key(self, change: SchemaChange) -> list[str]:
        fk = self._dropped_foreign_key(change)
        if not fk.name:
            raise DataFlowError("DF-301", f"The foreign key on {change.table} has no name to drop it by.",
                                context={"table": change.table})
        return [f"ALTER TABLE {self.quote(change.table)} DROP FOREIGN KEY {self.quote(fk.name)}"]

    # ---- costs -------------------------------------------------------------------------------------
    def change_cost(self, step: MigrationStep, table: TableSchema | None, server: ServerInfo,
                    rows: int = 0) -> ChangeCost:
        kind = step.kind
        mariadb = "mariadb" in server.text.lower()
        online = "Use an online schema change tool (gh-ost, pt-online-schema-change) on a large table."
        if kind == "add_column":
            expr = default_expression(step)
            if is_volatile(expr):
                return ChangeCost(ChangeEffect.REWRITE, True, True,
                                  f"the volatile default {expr} is evaluated for every existing row: the table is "
                                  "copied", online)
            old_server = not server.at_least(10, 3) if mariadb else not server.at_least(8, 0, 12)
            if old_server:
                name = "MariaDB" if mariadb else "MySQL"
                return ChangeCost(ChangeEffect.REWRITE, True, True,
                                  f"{name} {server.text} copies the table to add a column", online)
            if not bool(step.details.get("nullable", True)) and expr is None:
                return ChangeCost(blocks_writes=True, fills_existing=True,
                                  reason="a NOT NULL column without a default: MySQL fills the rows already there "
                                         "with the type's implicit default ('' / 0), silently")
            return ChangeCost(reason="adds a column in place (instant)")
        if kind == "alter_nullability":
            if bool(step.details.get("to", step.details.get("nullable", False))):
                return ChangeCost(ChangeEffect.REWRITE, True, reason="MODIFY … NULL rebuilds the table",
                                  mitigation=online)
            return ChangeCost(ChangeEffect.REWRITE, True, True, "MODIFY … NOT NULL rebuilds the table", online)
        if kind == "alter_type":
            new = str(step.details.get("to") or step.details.get("new_type") or step.details.get("type") or "")
            old = step.details.get("from") or step.details.get("old_type")
            if old is None and table is not None and step.column:
                column = table.column(step.column)
                old = column.type if column else None
            old = str(old or "")
            verdict = compare_types(old, new) if old else "rewrite"
            (ob, ol, _), (_, nl, _) = parse_type(old), parse_type(new)
            if verdict == "safe" and ob in ("varchar", "char") and ol is not None and nl is not None \
                    and (ol * 4 < 256) != (nl * 4 < 256):
                verdict = "rewrite"  # the length prefix grows from one byte to two: InnoDB copies the table
            if verdict in ("same", "safe"):
                return ChangeCost(reason=f"{old} → {new} is a safe widening (metadata only)")
            return ChangeCost(ChangeEffect.REWRITE, True, True, f"{old or 'the column'} → {new} copies the table",
                              online, narrows=verdict == "narrowing")
        if kind == "add_unique":
            return ChangeCost(ChangeEffect.SCAN, True, reason="adding a UNIQUE key to a populated table builds an "
                              "index and rejects concurrent duplicates", mitigation="Use ALGORITHM=INPLACE, LOCK=NONE.")
        if kind in ("add_foreign_key", "add_check"):
            what = "foreign key" if kind == "add_foreign_key" else "CHECK constraint"
            mitigation = ("SET foreign_key_checks = 0 lets InnoDB add a foreign key in place; validate with a query "
                          "afterwards." if kind == "add_foreign_key" else online)
            return ChangeCost(ChangeEffect.REWRITE, True, reason=f"adding a {what} copies the table (ALGORITHM=COPY)",
                              mitigation=mitigation)
        if kind == "add_index":
            return ChangeCost(ChangeEffect.SCAN, reason="builds the index online (INPLACE, concurrent writes allowed)")
        return ChangeCost(reason="changes the catalogue only")

    # ---- scratch databases ----------------------------------------------------------------------
    async def create_scratch(self, name: str) -> str:
        """A database on this server; the URL names it instead of this one."""
        async with self.connection() as conn:
            await conn.execute(f"CREATE DATABASE {self.quote(name)}", [])
        scheme, _, rest = self.url.raw.partition("://")
        authority, _, tail = rest.partition("/")
        query = tail.partition("?")[2]
        return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")

    async def drop_scratch(self, name: str, url: str) -> None:
        async with self.connection() as conn:
            await conn.execute(f"DROP DATABASE IF EXISTS {self.quote(name)}", [])

    # ---- the migration lock ----------------------------------------------------------------------
    def lock_name(self, name: str) -> str:
        """The GET_LOCK name of the lock ``kind:rest`` (at most 64 characters; lock names are server-wide,
        so the database is part of it). Spelled as DataFlow always has (``dataflow_migration_<sha1>``), so
        that during a rolling upgrade processes of the previous release and of this one exclude each other."""
        kind, _, rest = name.partition(":") if ":" in name else ("lock", "", name)
        return f"dataflow_{kind[:14]}_" + hashlib.sha1(f"{self.url.database}:{rest}".encode()).hexdigest()

    @contextlib.asynccontextmanager
    async def _get_lock(self, name: str, timeout: float) -> AsyncIterator[None]:
        lock = self.lock_name(name)
        conn = await self.dedicated_connection()
        try:
            try:
                got = (await conn.fetch("SELECT GET_LOCK(%s, %s)", [lock, max(0.0, timeout)]))[0][0]
            except Exception as exc:
                raise self.translate_error(exc) from exc
            if got != 1:
                raise lock_timeout_error(name, timeout)
            yield
        finally:
            # Closing the session releases the lock even if the release cannot be sent.
            with contextlib.suppress(Exception):
                await conn.fetch("SELECT RELEASE_LOCK(%s)", [lock])
            conn.raw.close()

    def migration_lock(self, name: str, timeout: float, *,
                       lease: float | None = None) -> contextlib.AbstractAsyncContextManager[None]:
        return self._get_lock(name, timeout)

    async def lock_is_held(self, name: str) -> bool:
        async with self.connection() as conn:
            used = await conn.fetch("SELECT IS_USED_LOCK(%s)", [self.lock_name(name)])
        return bool(used) and used[0][0] is not None

    async def dedicated_connection(self) -> Any:
        """A connection of its own, outside the pool (the dialect class provides it)."""
        raise NotImplementedError
