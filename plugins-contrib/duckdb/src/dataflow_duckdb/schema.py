"""DuckDB's half of the schema contract: its catalogue, its DDL (with table rebuilds), costs, scratch files.

- Introspection reads DuckDB's catalogue functions (``duckdb_columns()``, ``duckdb_constraints()``,
  ``duckdb_indexes()``, ``duckdb_views()``) of the current schema. DuckDB names constraints itself
  (``<table>_<columns>_key`` …): a name given in DDL is not kept.
- DDL: DuckDB's ``ALTER TABLE`` refuses to touch a table that an index depends on (even to add a
  column), and has no ``ADD CONSTRAINT`` / ``DROP CONSTRAINT``. So every change but creating and
  dropping tables and indexes, and adding a column to a table without indexes, rebuilds the table:
  create the new shape under a temporary name, copy the rows, drop the old table, rename the new one
  into place, recreate its indexes. Integer ids keep coming from the table's sequence. DDL is
  transactional: a failed migration rolls back whole.
- A table that other tables' foreign keys reference cannot be dropped, so it cannot be rebuilt; such a
  change fails and rolls back (DuckDB's limitation, documented in the README).
- The migration lock is the kernel's lease row; scratch databases are files next to this one.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError
from dataflow.schema import SchemaDialect, default_expression, is_constant
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
    ViewSchema,
)

__all__ = ["REBUILD_PREFIX", "DuckDBSchema"]

REBUILD_PREFIX = "_dataflow_new_"
"""The temporary name of a table being rebuilt."""

_IN_PLACE = frozenset({"create_table", "drop_table", "add_index", "drop_index", "add_column", "rename_table"})
_INDEX_COLUMNS = re.compile(r"\bON\s+(?:\"(?:[^\"]|\"\")+\"|[\w.]+)\s*\((.*)\)\s*;?\s*$", re.I | re.S)
_VIEW_QUERY = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?VIEW\s+(?:\"(?:[^\"]|\"\")+\"|\S+)\s*"
                         r"(?:\([^)]*\)\s*)?AS\s+(.*?);?\s*$", re.I | re.S)
_NEXTVAL = re.compile(r"^nextval\('((?:[^']|'')+)'\)$")


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) > 1 and name[0] == '"' and name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name


def _split_columns(text: str) -> tuple[str, ...]:
    """``a, "b c"`` → ("a", "b c") (commas inside quotes kept)."""
    parts: list[str] = []
    current, quoted = "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return tuple(_unquote(p) for p in parts if p.strip())


class DuckDBSchema(SchemaDialect):
    """The schema contract on DuckDB (see the module docstring)."""

    capabilities = DialectCapabilities(transactional_ddl=True, alter_column=False, triggers=False,
                                       scratch_databases=True)

    if TYPE_CHECKING:  # provided by the dialect class
        path: str
        memory: bool

        def sequence_name(self, table: str) -> str: ...

    # ---- introspection ---------------------------------------------------------------------------
    @staticmethod
    def _scope(schema: str | None) -> tuple[str, list[Any]]:
        if schema is None:
            return "schema_name = current_schema() AND database_name = current_database()", []
        return "schema_name = ? AND database_name = current_database()", [schema]

    async def table_names(self, conn: Any, *, schema: str | None = None) -> list[str]:
        where, params = self._scope(schema)
        rows = await conn.fetch(f"SELECT table_name FROM duckdb_tables() WHERE {where} AND NOT temporary "
                                "ORDER BY table_name", params)
        return [r[0] for r in rows]

    async def introspect(self, conn: Any, tables: Sequence[str] | None = None, *,
                         schema: str | None = None) -> dict[str, TableSchema]:
        if tables is not None and not tables:
            return {}
        where, params = self._scope(schema)
        if tables is not None:
            where += f" AND table_name IN ({', '.join('?' for _ in tables)})"
            params = [*params, *tables]
        names = [r[0] for r in await conn.fetch(
            f"SELECT table_name FROM duckdb_tables() WHERE {where} AND NOT temporary", params)]
        if not names:
            return {}
        columns: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for r in await conn.fetch(f"SELECT table_name, column_name, data_type, is_nullable, column_default "
                                  f"FROM duckdb_columns() WHERE {where} ORDER BY table_name, column_index", params):
            columns[r[0]].append(r)
        primary: dict[str, tuple[str, ...]] = {}
        indexes: dict[str, list[IndexSchema]] = defaultdict(list)
        foreign_keys: dict[str, list[ForeignKeySchema]] = defaultdict(list)
        checks: dict[str, list[CheckSchema]] = defaultdict(list)
        for table, kind, names_, name, ref_table, ref_columns, expression in await conn.fetch(
            "SELECT table_name, constraint_type, constraint_column_names, constraint_name, referenced_table, "
            f"referenced_column_names, expression FROM duckdb_constraints() WHERE {where} "
            "ORDER BY table_name, constraint_index", params,
        ):
            cols = tuple(names_ or ())
            if kind == "PRIMARY KEY":
                primary[table] = cols
            elif kind == "UNIQUE":
                indexes[table].append(IndexSchema(name, cols, True, constraint=True))
            elif kind == "FOREIGN KEY":
                foreign_keys[table].append(ForeignKeySchema(name, cols, ref_table, tuple(ref_columns or ()),
                                                            table=table))
            elif kind == "CHECK":
                checks[table].append(CheckSchema(name, _strip_parens(expression or "")))
        for table, name, unique, sql in await conn.fetch(
            f"SELECT table_name, index_name, is_unique, sql FROM duckdb_indexes() WHERE {where} "
            "ORDER BY table_name, index_name", params,
        ):
            found = _INDEX_COLUMNS.search(sql or "")
            cols = _split_columns(found.group(1)) if found else ()
            indexes[table].append(IndexSchema(name, cols, bool(unique), definition=(sql or "").rstrip(";") or None))
        result = {}
        for name in names:
            pk = primary.get(name, ())
            live: list[ColumnSchema] = []
            for _t, column, type_name, nullable, default in columns.get(name, []):
                generated = bool(default) and _NEXTVAL.match(str(default)) is not None
                live.append(ColumnSchema(column, type_name, bool(nullable) and column not in pk, default,
                                         column in pk, generated))
            result[name] = TableSchema(name, tuple(live), pk, tuple(indexes.get(name, ())),
                                       tuple(foreign_keys.get(name, ())), tuple(checks.get(name, ())))
        return result

    async def views(self, conn: Any, *, schema: str | None = None) -> list[ViewSchema]:
        where, params = self._scope(schema)
        rows = await conn.fetch(f"SELECT view_name, sql FROM duckdb_views() WHERE {where} AND NOT internal "
                                "AND NOT temporary ORDER BY view_oid", params)
        views = []
        for name, sql in rows:
            match = _VIEW_QUERY.match(sql or "")
            views.append(ViewSchema(name, match.group(1).strip() if match else (sql or "")))
        return views

    def database_exists(self) -> bool:
        """Connecting makes the file: an in-memory database always exists, a file only once made."""
        return self.memory or os.path.exists(self.path)

    # ---- DDL -------------------------------------------------------------------------------------
    def table_statement(self, table: TableSchema, name: str | None = None) -> str:
        """A generated integer id without a default takes the table's sequence (DuckDB has no identity)."""
        columns = tuple(
            c if not (c.autoincrement and c.default is None)
            else ColumnSchema(c.name, c.type, c.nullable, f"nextval('{self.sequence_name(table.name)}')",
                              c.primary_key, True)
            for c in table.columns)
        return super().table_statement(TableSchema(table.name, columns, table.primary_key, table.indexes,
                                                   table.foreign_keys, table.checks), name)

    def create_table_from(self, table: TableSchema) -> list[str]:
        statements = super().create_table_from(table)
        if any(c.autoincrement for c in table.columns):
            statements.insert(0, f"CREATE SEQUENCE IF NOT EXISTS {self.quote(self.sequence_name(table.name))}")
        return statements

    def foreign_key_clause(self, fk: ForeignKeySchema) -> str:
        if fk.on_delete or fk.on_update:
            raise DataFlowError(
                "DF-308",
                f"DuckDB foreign keys have no ON DELETE / ON UPDATE actions (the key on {fk.table or 'the table'}"
                f"({', '.join(fk.columns)}) asks for {fk.on_delete or fk.on_update}).",
                context={"dialect": "duckdb", "capability": "foreign key actions", "table": fk.table},
                solutions=["Declare the key without an action and delete the referencing rows first."])
        return (f"FOREIGN KEY ({self.columns_sql(fk.columns)}) REFERENCES {self.quote(fk.ref_table)} "
                f"({self.columns_sql(fk.ref_columns)})")

    def rebuild(self, before: TableSchema, after: TableSchema, renamed: dict[str, str] | None = None) -> list[str]:
        """Keep the rows aside, drop the old table, create the new shape under its own name, copy the rows
        back, re-index. No table is renamed: DuckDB does not carry a renamed table's foreign keys over.

        ``renamed`` maps new column names to the old ones their values come from.
        """
        renamed = renamed or {}
        aside = self.quote(REBUILD_PREFIX + before.name)
        targets = [c.name for c in after.columns if before.column(renamed.get(c.name, c.name)) is not None]
        sources = [renamed.get(name, name) for name in targets]
        kept = ", ".join(f"{self.quote(s)} AS {self.quote(t)}" for s, t in zip(sources, targets, strict=True))
        statements = [f"CREATE TEMPORARY TABLE {aside} AS SELECT {kept or '1 AS x'} FROM {self.quote(before.name)}"]
        statements += [f"DROP INDEX IF EXISTS {self.quote(i.name)}" for i in before.indexes if not i.constraint]
        statements += [
            f"DROP TABLE {self.quote(before.name)}",
            self.table_statement(after),
        ]
        if targets:
            statements.append(f"INSERT INTO {self.quote(after.name)} ({self.columns_sql(targets)}) "
                              f"SELECT {self.columns_sql(targets)} FROM {aside}")
        statements.append(f"DROP TABLE {aside}")
        statements += [self.index_sql(after.name, attrs_replace_index(i) if before.name != after.name else i)
                       for i in after.indexes if not i.constraint]
        return statements

    def _rebuild_change(self, change: SchemaChange) -> list[str]:
        renamed = {change.details["to"]: change.column} if change.kind == "rename_column" and change.column else None
        return self.rebuild(self._before(change), self._after(change), renamed)

    ddl_alter_type = _rebuild_change
    ddl_alter_nullability = _rebuild_change
    ddl_alter_default = _rebuild_change
    ddl_add_foreign_key = _rebuild_change
    ddl_drop_foreign_key = _rebuild_change
    ddl_add_check = _rebuild_change
    ddl_drop_check = _rebuild_change
    ddl_add_unique = _rebuild_change
    ddl_drop_column = _rebuild_change
    ddl_rename_column = _rebuild_change

    def ddl_add_column(self, change: SchemaChange) -> list[str]:
        before = self._before(change)
        column = self._column(change, self._after(change))
        if (before.indexes or (not column.nullable and column.default is None)
                or not is_constant(column.default)):
            return self._rebuild_change(change)
        return super().ddl_add_column(change)

    def ddl_rename_table(self, change: SchemaChange) -> list[str]:
        before = self._before(change)
        plain = [i for i in before.indexes if not i.constraint]
        if before.foreign_keys or any(i.constraint for i in before.indexes) or before.checks:
            return self.rebuild(before, self._after(change))
        return ([f"DROP INDEX IF EXISTS {self.quote(i.name)}" for i in plain] + super().ddl_rename_table(change)
                + [self.index_sql(change.details["to"], attrs_replace_index(i)) for i in plain])

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
        return self.rebuild(current, target, back)

    # ---- scratch databases and integrity ---------------------------------------------------------------
    def _scratch_path(self, name: str) -> str:
        folder = os.path.dirname(self.path) if not self.memory else os.path.abspath(".")
        return os.path.join(folder, f"{name}.duckdb")

    async def create_scratch(self, name: str) -> str:
        """A database file next to this one."""
        return f"duckdb:///{self._scratch_path(name)}"

    async def drop_scratch(self, name: str, url: str) -> None:
        path = self._scratch_path(name)
        for suffix in ("", ".wal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)

    # ---- costs -------------------------------------------------------------------------------------
    def change_cost(self, step: MigrationStep, table: TableSchema | None, server: ServerInfo,
                    rows: int = 0) -> ChangeCost:
        kind = step.kind
        rewrite = "DuckDB rebuilds the table (copies every row) while it holds the database's write turn"
        if kind == "add_column":
            expr = default_expression(step)
            nullable = bool(step.details.get("nullable", True))
            if table is not None and table.indexes:
                return ChangeCost(ChangeEffect.REWRITE, True, True, f"the table has indexes, which DuckDB's ALTER "
                                  f"TABLE refuses to work around: {rewrite}", "Run it while writers are paused.")
            if not nullable and expr is None:
                return ChangeCost(ChangeEffect.REWRITE, True, True,
                                  f"a NOT NULL column without a default: {rewrite}", fails_with_rows=True)
            if expr is not None and not is_constant(expr):
                return ChangeCost(ChangeEffect.REWRITE, True, True, f"the default ({expr}) is not a constant: "
                                  f"{rewrite}", "Run it while writers are paused.")
            return ChangeCost(blocks_writes=True, reason="adds a column (catalogue only)")
        if kind in ("add_index", "add_unique") and kind == "add_index":
            return ChangeCost(ChangeEffect.SCAN, True, reason="DuckDB builds the index while it holds the write "
                              "turn", mitigation="Build it while writers are paused.")
        if kind in ("create_table", "drop_table", "drop_index"):
            return ChangeCost(blocks_writes=kind != "create_table", reason="changes the catalogue only")
        if kind == "rename_table" and table is not None and not table.foreign_keys and not table.checks \
                and not any(i.constraint for i in table.indexes):
            return ChangeCost(blocks_writes=True, reason="renames the table (its indexes are made again)")
        return ChangeCost(ChangeEffect.REWRITE, True, True, rewrite, "Run it while writers are paused.")


def attrs_replace_index(index: IndexSchema) -> IndexSchema:
    """An index record without the server's own text (which names the old table)."""
    return IndexSchema(index.name, index.columns, index.unique, index.constraint)


def _strip_parens(expression: str) -> str:
    """``(n > 0)`` → ``n > 0`` when the outer parentheses wrap the whole expression."""
    text = expression.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for pos, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and pos < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text
