"""SQLite's half of the schema contract: its catalogue, its DDL (with table rebuilds), its costs.

- Introspection reads ``sqlite_master`` and the table-valued pragmas (``pragma_table_info`` …), of the
  main database or an attached one (``schema=``). Foreign keys have no names in SQLite's catalogue
  (``ForeignKeySchema.name`` is None); CHECK constraints are read from the table's ``CREATE TABLE`` text.
- DDL: SQLite's ``ALTER TABLE`` only adds, renames and (for plain columns) drops. Every other change —
  a column's type, nullability or default, a NOT NULL column without a constant default, keys,
  checks, unique constraints, dropping an indexed column — uses the table-rebuild recipe of SQLite's
  ALTER TABLE page: create the new shape under a temporary name, copy the rows, drop the old table,
  rename the new one into place, recreate its indexes and triggers. Foreign-key enforcement is off
  for the duration (``prepare_schema_changes``) and ``PRAGMA foreign_key_check`` runs before the
  commit (``verify_schema_changes``), so references from other tables are neither cascaded nor broken.
- Costs: a rebuild rewrites the table while holding the database's write lock.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError
from dataflow.schema import SchemaDialect, compare_types, default_expression, is_constant
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

__all__ = ["REBUILD_PREFIX", "SQLiteSchema"]

REBUILD_PREFIX = "_dataflow_new_"
"""The temporary name of a table being rebuilt."""

_REBUILT_KINDS = frozenset({"alter_type", "alter_nullability", "alter_default", "add_foreign_key",
                            "drop_foreign_key", "add_check", "drop_check", "add_unique"})
_CHECK = re.compile(r"(?:\bCONSTRAINT\s+(\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|\w+)\s+)?\bCHECK\s*\(", re.I)
_VIEW_QUERY = re.compile(r"^\s*CREATE\s+(?:TEMP\w*\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                         r"(?:\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|\S+)\s*(?:\([^)]*\)\s*)?AS\s+(.*)$", re.I | re.S)
_ACTIONS = {"NO ACTION": None}


def _unquote(name: str) -> str:
    if name[:1] in "\"`[" and len(name) > 1:
        return name[1:-1].replace('""', '"')
    return name


def _checks(ddl: str) -> tuple[CheckSchema, ...]:
    """The CHECK constraints of a CREATE TABLE statement (balanced parentheses); unnamed ones get
    ``check_<n>`` so that a rebuild writes them back under a stable name."""
    found = []
    for number, match in enumerate(_CHECK.finditer(ddl or "")):
        depth, start = 0, match.end() - 1
        for pos in range(start, len(ddl)):
            depth += {"(": 1, ")": -1}.get(ddl[pos], 0)
            if depth == 0:
                name = _unquote(match.group(1)) if match.group(1) else f"check_{number}"
                found.append(CheckSchema(name, ddl[start + 1 : pos].strip()))
                break
    return tuple(found)


class SQLiteSchema(SchemaDialect):
    """The schema contract on SQLite (see the module docstring)."""

    capabilities = DialectCapabilities(transactional_ddl=True, alter_column=False, scratch_databases=True)

    if TYPE_CHECKING:  # provided by the dialect class
        path: str
        uri: bool

    # ---- introspection ---------------------------------------------------------------------------
    def _master(self, schema: str | None) -> str:
        return f"{self.quote(schema)}.sqlite_master" if schema else "sqlite_master"

    async def introspect(self, conn: Any, tables: Sequence[str] | None = None, *,
                         schema: str | None = None) -> dict[str, TableSchema]:
        db = schema or "main"
        sql = (f"SELECT name, sql FROM {self._master(schema)} WHERE type = 'table' "
               "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        params: list[Any] = []
        if tables is not None:
            if not tables:
                return {}
            sql += f" AND name IN ({', '.join('?' for _ in tables)})"
            params = list(tables)
        found: dict[str, TableSchema] = {}
        for name, ddl in await conn.fetch(sql, params):
            found[name] = await self._table(conn, name, ddl or "", db)
        return found

    async def table_names(self, conn: Any, *, schema: str | None = None) -> list[str]:
        rows = await conn.fetch(f"SELECT name FROM {self._master(schema)} WHERE type = 'table' "
                                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", [])
        return [r[0] for r in rows]

    async def _table(self, conn: Any, name: str, ddl: str, db: str) -> TableSchema:
        rows = await conn.fetch('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?, ?) '
                                "ORDER BY cid", [name, db])
        pk = tuple(r[0] for r in sorted((r for r in rows if r[4]), key=lambda r: r[4]))
        columns = tuple(
            ColumnSchema(r[0], r[1] or "", not r[2] and not r[4], r[3], bool(r[4]),
                         # A lone INTEGER PRIMARY KEY is the rowid: SQLite fills it.
                         autoincrement=bool(r[4]) and len(pk) == 1 and (r[1] or "").upper() == "INTEGER")
            for r in rows
        )
        indexes = []
        for index_name, unique, origin in await conn.fetch(
            'SELECT name, "unique", origin FROM pragma_index_list(?, ?) ORDER BY name', [name, db]
        ):
            if origin == "pk":
                continue
            cols = await conn.fetch("SELECT name FROM pragma_index_info(?, ?) ORDER BY seqno", [index_name, db])
            text = await conn.fetch(f"SELECT sql FROM {self._master(db if db != 'main' else None)} "
                                    "WHERE type = 'index' AND name = ?", [index_name])
            indexes.append(IndexSchema(index_name, tuple(c[0] for c in cols if c[0] is not None), bool(unique),
                                       constraint=origin == "u", definition=text[0][0] if text else None))
        parts: dict[int, list[Any]] = defaultdict(list)
        for r in await conn.fetch('SELECT id, seq, "table", "from", "to", on_update, on_delete '
                                  "FROM pragma_foreign_key_list(?, ?) ORDER BY id, seq", [name, db]):
            parts[r[0]].append(r)
        foreign_keys = tuple(
            ForeignKeySchema(None, tuple(r[3] for r in group), group[0][2], tuple(r[4] or "id" for r in group),
                             _ACTIONS.get(group[0][6], group[0][6]), _ACTIONS.get(group[0][5], group[0][5]), name)
            for group in parts.values()
        )
        triggers = tuple(
            TriggerSchema(r[0], name, r[1] or "")
            for r in await conn.fetch(f"SELECT name, sql FROM {self._master(db if db != 'main' else None)} "
                                      "WHERE type = 'trigger' AND tbl_name = ? ORDER BY name", [name])
        )
        return TableSchema(name, columns, pk, tuple(indexes), foreign_keys, _checks(ddl), triggers, ddl)

    async def views(self, conn: Any, *, schema: str | None = None) -> list[ViewSchema]:
        rows = await conn.fetch(f"SELECT name, sql FROM {self._master(schema)} WHERE type = 'view' ORDER BY rowid", [])
        views = []
        for name, sql in rows:
            match = _VIEW_QUERY.match(sql or "")
            views.append(ViewSchema(name, match.group(1).strip() if match else (sql or "")))
        return views

    # ---- DDL -------------------------------------------------------------------------------------
    def literal(self, value: Any) -> str | None:
        if isinstance(value, bool):
            return "1" if value else "0"
        return super().literal(value)

    def table_statement(self, table: TableSchema, name: str | None = None) -> str:
        pk = table.primary_key
        rowid = pk[0] if len(pk) == 1 and table.column(pk[0]) is not None and table.column_map[pk[0]].autoincrement \
            else None
        parts = []
        for column in table.columns:
            if column.name == rowid:
                keyword = " AUTOINCREMENT" if "AUTOINCREMENT" in (table.ddl or "").upper() else ""
                parts.append(f"{self.quote(column.name)} INTEGER PRIMARY KEY{keyword}")
            else:
                parts.append(self.column_definition(column))
        if pk and rowid is None:
            parts.append(f"PRIMARY KEY ({self.columns_sql(pk)})")
        parts += self.constraint_clauses(table)
        return f"CREATE TABLE {self.quote(name or table.name)} ({', '.join(parts)})"

    def rebuild(self, before: TableSchema, after: TableSchema, renamed: dict[str, str] | None = None) -> list[str]:
        """Create the new shape, copy the rows of the columns both shapes have, swap, re-index.

        ``renamed`` maps new column names to the old ones their values come from.
        """
        renamed = renamed or {}
        temp = REBUILD_PREFIX + after.name
        targets = [c.name for c in after.columns if before.column(renamed.get(c.name, c.name)) is not None]
        sources = [renamed.get(name, name) for name in targets]
        statements = [
            self.table_statement(after, temp),
            f"INSERT INTO {self.quote(temp)} ({self.columns_sql(targets)}) "
            f"SELECT {self.columns_sql(sources)} FROM {self.quote(before.name)}",
            f"DROP TABLE {self.quote(before.name)}",
            f"ALTER TABLE {self.quote(temp)} RENAME TO {self.quote(after.name)}",
        ]
        statements += [self.index_sql(after.name, i) for i in after.indexes if not i.constraint]
        statements += [t.definition for t in after.triggers]
        return statements

    def _rebuild_change(self, change: SchemaChange) -> list[str]:
        return self.rebuild(self._before(change), self._after(change))

    ddl_alter_type = _rebuild_change
    ddl_alter_nullability = _rebuild_change
    ddl_alter_default = _rebuild_change
    ddl_add_foreign_key = _rebuild_change
    ddl_drop_foreign_key = _rebuild_change
    ddl_add_check = _rebuild_change
    ddl_drop_check = _rebuild_change
    ddl_add_unique = _rebuild_change

    def ddl_add_column(self, change: SchemaChange) -> list[str]:
        column = self._column(change, self._after(change))
        # ADD COLUMN refuses NOT NULL without a default (even on an empty table) and non-constant defaults.
        if (not column.nullable and column.default is None) or not is_constant(column.default):
            return self._rebuild_change(change)
        return super().ddl_add_column(change)

    def ddl_drop_column(self, change: SchemaChange) -> list[str]:
        if _drop_needs_rebuild(self._before(change), change.column or ""):
            # SQLite refuses DROP COLUMN on indexed, key, checked or referenced columns: rebuild instead.
            return self._rebuild_change(change)
        return super().ddl_drop_column(change)

    def ddl_drop_index(self, change: SchemaChange) -> list[str]:
        index = self._before(change).index(change.details["name"])
        if index is not None and index.constraint:
            return self._rebuild_change(change)
        return [f"DROP INDEX {self.quote(change.details['name'])}"]

    def sync_table_sql(self, current: TableSchema, target: TableSchema,
                       renamed: dict[str, str] | None = None) -> list[str]:
        if current == target and not renamed:
            return []
        back = {new: old for old, new in (renamed or {}).items()}
        drop_triggers = [self.drop_trigger_sql(current.name, t.name) for t in current.triggers]
        return drop_triggers + self.rebuild(current, target, back)

    @contextlib.asynccontextmanager
    async def prepare_schema_changes(self, statements: Sequence[str]) -> AsyncIterator[Any]:
        """A rebuild drops and recreates a table that others may reference, so foreign-key enforcement
        is off for it (``foreign_key_check`` runs before the commit instead) and legacy renames on, so no
        other table's references or views are rewritten to the temporary name. The pragmas are no-ops
        inside a transaction: they are set on the transaction's own connection before BEGIN (yielded for
        ``transaction(connection=…)``) and set back afterwards."""
        if not any(REBUILD_PREFIX in sql for sql in statements):
            yield None
            return
        async with self.transaction_connection() as own:
            await own.execute("PRAGMA foreign_keys = OFF", [])
            await own.execute("PRAGMA legacy_alter_table = ON", [])
            try:
                yield own
            finally:
                await own.execute("PRAGMA legacy_alter_table = OFF", [])
                await own.execute("PRAGMA foreign_keys = ON", [])

    async def verify_schema_changes(self, conn: Any) -> None:
        problems = await conn.fetch("PRAGMA foreign_key_check", [])
        if problems:
            raise DataFlowError("DF-301", f"The rebuilt tables leave {len(problems)} rows violating foreign keys.",
                                context={"violations": len(problems)})

    def database_exists(self) -> bool:
        """Connecting makes the file: an in-memory database always exists, a file only once made."""
        return self.uri or os.path.exists(self.path)

    # ---- scratch databases and integrity ---------------------------------------------------------------
    def _scratch_path(self, name: str) -> str:
        folder = os.path.dirname(self.path) if not self.uri else os.path.abspath(".")
        return os.path.join(folder, f"{name}.db")

    async def create_scratch(self, name: str) -> str:
        """A database file next to this one."""
        return f"sqlite:///{self._scratch_path(name)}"

    async def drop_scratch(self, name: str, url: str) -> None:
        path = self._scratch_path(name)
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)

    async def integrity_check(self, conn: Any) -> tuple[bool, str]:
        result = (await conn.fetch("PRAGMA quick_check", []))[0][0]
        violations = await conn.fetch("PRAGMA foreign_key_check", [])
        return result == "ok" and not violations, f"quick_check: {result}; {len(violations)} foreign key violations"

    # ---- costs -------------------------------------------------------------------------------------
    def change_cost(self, step: MigrationStep, table: TableSchema | None, server: ServerInfo,
                    rows: int = 0) -> ChangeCost:
        kind = step.kind
        rewrite = "SQLite rebuilds the table (copies every row) while it holds the database's write lock"
        if kind == "add_column":
            expr = default_expression(step)
            nullable = bool(step.details.get("nullable", True))
            # A step carrying its own ALTER TABLE … ADD COLUMN runs as written, and SQLite refuses these;
            # the DDL this dialect writes rebuilds the table instead.
            as_written = any("ADD COLUMN" in sql.upper() for sql in step.sql)
            if expr is not None and not is_constant(expr):
                if as_written:
                    return ChangeCost(ChangeEffect.REFUSED, reason=f"SQLite cannot add a column whose default "
                                      f"({expr}) is not a constant", mitigation="Add the column with a constant "
                                      "default (or nullable), then fill it with an UPDATE.")
                return ChangeCost(ChangeEffect.REWRITE, True, True, f"the default ({expr}) is not a constant: "
                                  f"{rewrite}", "Run it while writers are paused.")
            if not nullable and expr is None:
                if as_written:
                    return ChangeCost(ChangeEffect.REFUSED, reason="SQLite refuses to add a NOT NULL column without "
                                      "a default, even to an empty table")
                return ChangeCost(ChangeEffect.REWRITE, True, True,
                                  f"a NOT NULL column without a default: {rewrite}", fails_with_rows=True)
            return ChangeCost(reason="adds a column (catalogue only)")
        if kind == "alter_type":
            old = _old_type(step, table)
            new = str(step.details.get("to") or step.details.get("new_type") or step.details.get("type") or "")
            if old is not None and compare_types(old, new, by_affinity=True) == "same":
                return ChangeCost(ChangeEffect.REWRITE, True, True, f"the type keeps its affinity, but {rewrite}")
            return ChangeCost(ChangeEffect.REWRITE, True, True, f"the column's affinity changes and stored values "
                              f"convert: {rewrite}", "Run it while writers are paused.")
        if kind in _REBUILT_KINDS or (kind == "drop_column" and table is not None
                                      and _drop_needs_rebuild(table, step.column or "")):
            return ChangeCost(ChangeEffect.REWRITE, True, True, rewrite, "Run it while writers are paused.")
        if kind == "add_index":
            if rows >= 10_000:
                return ChangeCost(ChangeEffect.SCAN, True, reason="SQLite holds the database write lock while it "
                                  "builds the index", mitigation="Build it while writers are paused.")
            return ChangeCost(ChangeEffect.SCAN, reason="builds the index")
        return ChangeCost(reason="changes the catalogue only")


def _old_type(step: MigrationStep, table: TableSchema | None) -> str | None:
    old = step.details.get("from") or step.details.get("old_type")
    if old is None and table is not None and step.column:
        column = table.column(step.column)
        old = column.type if column else None
    return None if old is None else str(old)


def _drop_needs_rebuild(table: TableSchema, column: str) -> bool:
    """SQLite refuses DROP COLUMN on a key, indexed, checked or referencing column."""
    return (column in table.primary_key or any(column in i.columns for i in table.indexes)
            or any(column in fk.columns for fk in table.foreign_keys)
            or any(re.search(rf"\b{re.escape(column)}\b", c.expression) for c in table.checks))
