"""Live schema facts from the database's own catalogue, one small query set per dialect.

The risk rules, the analysers and the schema snapshots all need the same facts: which tables exist,
their columns, indexes, constraints, the foreign keys and views that depend on them, their triggers,
how many rows they hold and which server version runs them. ``catalog_for(db)`` returns the
catalogue for the instance's dialect (SQLite, PostgreSQL, MySQL / MariaDB). Every value is a bound
parameter; identifiers that must appear in SQL text are quoted by the dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.errors import DataFlowError

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = [
    "Catalog",
    "CheckInfo",
    "ColumnInfo",
    "ForeignKeyInfo",
    "IndexInfo",
    "ServerVersion",
    "TableInfo",
    "TriggerInfo",
    "ViewInfo",
    "catalog_for",
]

ROW_COUNT_CAP = 10_000_000
"""Counting stops here: beyond it a table is simply "very large" and an exact count costs a scan."""


@attrs.frozen
class ServerVersion:
    """The database product and its version, compared as a tuple (``v >= (11,)``)."""

    product: str
    numbers: tuple[int, ...]
    text: str = ""

    def at_least(self, *numbers: int) -> bool:
        return self.numbers >= numbers

    @property
    def is_mariadb(self) -> bool:
        return self.product == "mariadb"

    @classmethod
    def parse(cls, product: str, text: str) -> ServerVersion:
        found = re.match(r"\s*(\d+(?:\.\d+)*)", text or "")
        numbers = tuple(int(n) for n in found.group(1).split(".")) if found else ()
        if product == "mysql" and "mariadb" in (text or "").lower():
            product = "mariadb"
        return cls(product, numbers, text)


@attrs.frozen
class ColumnInfo:
    name: str
    type: str
    nullable: bool
    default: str | None
    primary_key: bool = False
    extra: str = ""


@attrs.frozen
class IndexInfo:
    name: str
    columns: tuple[str, ...]
    unique: bool
    primary: bool = False
    definition: str | None = None
    constraint: bool = False
    """Backs a UNIQUE / PRIMARY KEY constraint (dropped with the constraint, not on its own)."""


@attrs.frozen
class ForeignKeyInfo:
    name: str
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    definition: str | None = None
    validated: bool = True


@attrs.frozen
class CheckInfo:
    name: str
    definition: str
    validated: bool = True


@attrs.frozen
class ViewInfo:
    name: str
    definition: str


@attrs.frozen
class TriggerInfo:
    name: str
    table: str
    definition: str


@attrs.frozen
class TableInfo:
    """Everything the catalogue knows about one table (its DDL where the database gives it)."""

    name: str
    columns: tuple[ColumnInfo, ...]
    indexes: tuple[IndexInfo, ...] = ()
    foreign_keys: tuple[ForeignKeyInfo, ...] = ()
    checks: tuple[CheckInfo, ...] = ()
    uniques: tuple[IndexInfo, ...] = ()
    triggers: tuple[TriggerInfo, ...] = ()
    ddl: str | None = None

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _words(text: str, name: str) -> bool:
    """``name`` appears in ``text`` as a whole identifier (quoted or not)."""
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text or "", re.IGNORECASE) is not None


class Catalog:
    """Catalogue queries for one DataFlow instance; a subclass per dialect fills in the SQL."""

    dialect_name = "sql"

    def __init__(self, db: DataFlow, schema: str | None = None) -> None:
        self.db = db
        self.dialect = db.dialect
        self.schema = schema
        self._version: ServerVersion | None = None

    # ---- plumbing ----------------------------------------------------------------------------
    def sql(self, text: str) -> str:
        """Write queries with ``?`` markers; this puts the dialect's placeholders in."""
        counter = iter(range(1, 1000))
        return re.sub(r"\?", lambda _m: self.dialect.placeholder(next(counter)), text)

    def q(self, name: str) -> str:
        return self.dialect.quote(name)

    def qualified(self, table: str) -> str:
        """The table name as SQL text, schema-qualified when this catalogue has a schema."""
        return f"{self.q(self.schema)}.{self.q(table)}" if self.schema else self.q(table)

    @contextlib.contextmanager
    def translated_errors(self) -> Iterator[None]:
        """Driver exceptions raised inside become the dialect's DataFlowError (enhanced by the instance);
        DataFlowErrors, cancellation and KeyboardInterrupt pass through unchanged."""
        try:
            yield
        except DataFlowError:
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise self.db.enhance(self.dialect.translate_error(exc)) from exc

    async def fetch(self, text: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        with self.translated_errors():
            async with self.dialect.connection() as conn:
                return list(await conn.fetch(self.sql(text), list(params)))

    async def execute(self, statements: Sequence[str], *, transaction: bool = True) -> None:
        """Run DDL statements, in one transaction where the database makes DDL transactional."""
        with self.translated_errors():
            if transaction and self.transactional_ddl:
                async with self.dialect.transaction() as conn:
                    for statement in statements:
                        await conn.execute(statement, [])
            else:
                async with self.dialect.connection() as conn:
                    for statement in statements:
                        await conn.execute(statement, [])

    transactional_ddl = True

    # ---- facts shared by every dialect ----------------------------------------------------------
    async def server_version(self) -> ServerVersion:
        if self._version is None:
            self._version = ServerVersion.parse(self.dialect_name, await self.version_text())
        return self._version

    async def version_text(self) -> str:
        return str(await self.dialect.server_version())

    async def row_count(self, table: str, cap: int = ROW_COUNT_CAP) -> int:
        """Rows in ``table``, counted up to ``cap`` (a bounded scan, never the whole of a huge table)."""
        rows = await self.fetch(
            f"SELECT COUNT(*) FROM (SELECT 1 AS x FROM {self.qualified(table)} LIMIT ?) AS c", [cap]
        )
        return int(rows[0][0])

    async def null_count(self, table: str, column: str) -> int:
        rows = await self.fetch(f"SELECT COUNT(*) FROM {self.qualified(table)} WHERE {self.q(column)} IS NULL")
        return int(rows[0][0])

    async def duplicate_count(self, table: str, columns: Sequence[str]) -> int:
        """How many values of ``columns`` occur more than once (what a UNIQUE constraint would reject)."""
        cols = ", ".join(self.q(c) for c in columns)
        not_null = " AND ".join(f"{self.q(c)} IS NOT NULL" for c in columns)
        rows = await self.fetch(
            f"SELECT COUNT(*) FROM (SELECT {cols} FROM {self.qualified(table)} WHERE {not_null} "
            f"GROUP BY {cols} HAVING COUNT(*) > 1) AS d"
        )
        return int(rows[0][0])

    async def orphan_count(self, table: str, columns: Sequence[str], ref_table: str, ref_columns: Sequence[str]) -> int:
        """Rows whose ``columns`` point at no row of ``ref_table`` (what a new foreign key would reject)."""
        join = " AND ".join(f"r.{self.q(rc)} = t.{self.q(c)}" for c, rc in zip(columns, ref_columns, strict=True))
        present = " AND ".join(f"t.{self.q(c)} IS NOT NULL" for c in columns)
        rows = await self.fetch(
            f"SELECT COUNT(*) FROM {self.qualified(table)} t WHERE {present} AND NOT EXISTS "
            f"(SELECT 1 FROM {self.qualified(ref_table)} r WHERE {join})"
        )
        return int(rows[0][0])

    async def table_exists(self, table: str) -> bool:
        return table in await self.tables()

    async def referencing_fks(self, table: str, column: str | None = None) -> list[ForeignKeyInfo]:
        """Foreign keys of *other* tables (or self-references) that point at ``table`` (/ ``column``)."""
        return await self._fks_pointing_at(table, column, await self.tables())

    async def _fks_pointing_at(
        self, table: str, column: str | None, candidates: Sequence[str]
    ) -> list[ForeignKeyInfo]:
        """The foreign keys of the ``candidates`` tables that point at ``table`` (/ ``column``)."""
        found = []
        for name in candidates:
            info = await self.table(name)
            found += [
                fk
                for fk in (info.foreign_keys if info else ())
                if fk.ref_table == table and (column is None or column in fk.ref_columns)
            ]
        return found

    async def dependent_views(self, table: str, column: str | None = None) -> list[ViewInfo]:
        """Views whose definition uses ``table`` (and ``column``); text search where no catalogue exists."""
        return [
            v
            for v in await self.views()
            if _words(v.definition, table) and (column is None or _words(v.definition, column))
        ]

    async def snapshot_tables(self) -> dict[str, TableInfo]:
        result = {}
        for name in sorted(await self.tables()):
            info = await self.table(name)
            if info is not None:
                result[name] = info
        return result

    # ---- per dialect -------------------------------------------------------------------------
    async def tables(self) -> list[str]:
        raise NotImplementedError

    async def table(self, name: str) -> TableInfo | None:
        raise NotImplementedError

    async def views(self) -> list[ViewInfo]:
        raise NotImplementedError


class SQLiteCatalog(Catalog):
    """SQLite: ``sqlite_master`` and the ``pragma_*`` table-valued functions."""

    dialect_name = "sqlite"

    def qualified(self, table: str) -> str:
        return self.q(table)

    async def tables(self) -> list[str]:
        rows = await self.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
            "ESCAPE '\\' ORDER BY name"
        )
        return [r[0] for r in rows]

    async def table(self, name: str) -> TableInfo | None:
        ddl_rows = await self.fetch("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
        if not ddl_rows:
            return None
        ddl = ddl_rows[0][0] or ""
        cols = await self.fetch(
            'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid', [name]
        )
        columns = tuple(ColumnInfo(r[0], r[1] or "", not r[2] and not r[4], r[3], bool(r[4])) for r in cols)
        indexes: list[IndexInfo] = []
        uniques: list[IndexInfo] = []
        for iname, unique, origin in await self.fetch(
            'SELECT name, "unique", origin FROM pragma_index_list(?) ORDER BY name', [name]
        ):
            icols = tuple(
                r[0] for r in await self.fetch("SELECT name FROM pragma_index_info(?) ORDER BY seqno", [iname])
            )
            sql_rows = await self.fetch("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", [iname])
            definition = sql_rows[0][0] if sql_rows else None
            index = IndexInfo(iname, icols, bool(unique), origin == "pk", definition, origin in ("pk", "u"))
            (uniques if origin == "u" else indexes).append(index)
        fk_rows = await self.fetch(
            'SELECT id, seq, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?) '
            "ORDER BY id, seq",
            [name],
        )
        grouped = _group_by_first(fk_rows)
        fks = tuple(
            ForeignKeyInfo(
                f"fk_{name}_{fid}",
                name,
                tuple(r[3] for r in rows),
                rows[0][2],
                tuple(r[4] or "id" for r in rows),
                rows[0][6],
                rows[0][5],
            )
            for fid, rows in sorted(grouped.items())
        )
        checks = tuple(CheckInfo(f"check_{i}", m) for i, m in enumerate(_sqlite_checks(ddl)))
        triggers = tuple(
            TriggerInfo(r[0], name, r[1] or "")
            for r in await self.fetch(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name", [name]
            )
        )
        return TableInfo(name, columns, tuple(indexes), fks, checks, tuple(uniques), triggers, ddl)

    async def views(self) -> list[ViewInfo]:
        rows = await self.fetch("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name")
        return [ViewInfo(r[0], r[1] or "") for r in rows]


def _group_by_first(rows: Sequence[Sequence[Any]]) -> dict[Any, list[Sequence[Any]]]:
    """Catalogue rows grouped by their first column (an index or key name / id), each group in row order."""
    grouped: dict[Any, list[Sequence[Any]]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped


def _sqlite_checks(ddl: str) -> list[str]:
    """The CHECK (...) clauses of a CREATE TABLE statement, with balanced parentheses."""
    found = []
    for match in re.finditer(r"\bCHECK\s*\(", ddl, re.IGNORECASE):
        depth, start = 0, match.end() - 1
        for pos in range(start, len(ddl)):
            depth += {"(": 1, ")": -1}.get(ddl[pos], 0)
            if depth == 0:
                found.append(ddl[match.start() : pos + 1])
                break
    return found


class PostgresCatalog(Catalog):
    """PostgreSQL: ``pg_catalog`` (``pg_get_*def`` give exact definitions), one schema at a time."""

    dialect_name = "postgresql"

    async def current_schema(self) -> str:
        if self.schema is None:
            self.schema = str((await self.fetch("SELECT current_schema()"))[0][0])
        return self.schema

    def qualified(self, table: str) -> str:
        return f"{self.q(self.schema)}.{self.q(table)}" if self.schema else self.q(table)

    async def version_text(self) -> str:
        return str((await self.fetch("SHOW server_version"))[0][0])

    async def _oid(self, name: str) -> int | None:
        schema = await self.current_schema()
        rows = await self.fetch(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relname = ? AND c.relkind IN ('r', 'p')",
            [schema, name],
        )
        return int(rows[0][0]) if rows else None

    async def tables(self) -> list[str]:
        schema = await self.current_schema()
        rows = await self.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            [schema],
        )
        return [r[0] for r in rows]

    async def table(self, name: str) -> TableInfo | None:
        oid = await self._oid(name)
        if oid is None:
            return None
        cols = await self.fetch(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), "
            "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary "
            "AND a.attnum = ANY(i.indkey)), a.attidentity::text "
            "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = ? AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [oid],
        )
        columns = tuple(ColumnInfo(r[0], r[1], not r[2], r[3], bool(r[4]), r[5] or "") for r in cols)
        idx_rows = await self.fetch(
            "SELECT i.relname, x.indisunique, x.indisprimary, pg_get_indexdef(x.indexrelid), "
            "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u')), "
            "ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(n, o) "
            "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o) "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = ? ORDER BY i.relname",
            [oid],
        )
        indexes: list[IndexInfo] = []
        uniques: list[IndexInfo] = []
        con_rows = await self.fetch(
            "SELECT c.conname, c.contype::text, pg_get_constraintdef(c.oid), c.convalidated, "
            "ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o), "
            "r.relname, "
            "ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o) "
            "JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o), "
            "c.confdeltype::text, c.confupdtype::text "
            "FROM pg_constraint c LEFT JOIN pg_class r ON r.oid = c.confrelid "
            "WHERE c.conrelid = ? ORDER BY c.conname",
            [oid],
        )
        unique_constraints = {r[0] for r in con_rows if r[1] == "u"}
        for r in idx_rows:
            index = IndexInfo(r[0], tuple(r[5]), bool(r[1]), bool(r[2]), r[3], bool(r[4]))
            (uniques if r[0] in unique_constraints else indexes).append(index)
        actions = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
        fks = tuple(
            ForeignKeyInfo(
                r[0],
                name,
                tuple(r[4]),
                r[5],
                tuple(r[6]),
                actions.get(r[7], r[7]),
                actions.get(r[8], r[8]),
                r[2],
                bool(r[3]),
            )
            for r in con_rows
            if r[1] == "f"
        )
        checks = tuple(CheckInfo(r[0], r[2], bool(r[3])) for r in con_rows if r[1] == "c")
        triggers = tuple(
            TriggerInfo(r[0], name, r[1])
            for r in await self.fetch(
                "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE tgrelid = ? AND NOT tgisinternal ORDER BY tgname",
                [oid],
            )
        )
        return TableInfo(name, columns, tuple(indexes), fks, checks, tuple(uniques), triggers, None)

    async def views(self) -> list[ViewInfo]:
        schema = await self.current_schema()
        rows = await self.fetch(
            "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relkind IN ('v', 'm') ORDER BY c.relname",
            [schema],
        )
        return [ViewInfo(r[0], r[1]) for r in rows]

    async def dependent_views(self, table: str, column: str | None = None) -> list[ViewInfo]:
        """Exact, from ``pg_depend``: the views whose rewrite rules reference the table (column)."""
        oid = await self._oid(table)
        if oid is None:
            return []
        column_clause = (
            ("AND d.refobjsubid = (SELECT attnum FROM pg_attribute WHERE attrelid = d.refobjid AND attname = ?)")
            if column
            else ""
        )
        params: list[Any] = [oid, oid] + ([column] if column else [])
        rows = await self.fetch(
            "SELECT DISTINCT v.relname, pg_get_viewdef(v.oid) FROM pg_depend d "
            "JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class v ON v.oid = w.ev_class "
            f"WHERE d.refobjid = ? AND v.oid <> ? {column_clause} ORDER BY v.relname",
            params,
        )
        return [ViewInfo(r[0], r[1]) for r in rows]

    async def referencing_fks(self, table: str, column: str | None = None) -> list[ForeignKeyInfo]:
        oid = await self._oid(table)
        if oid is None:
            return []
        rows = await self.fetch(
            "SELECT DISTINCT r.relname FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid "
            "WHERE c.contype = 'f' AND c.confrelid = ?",
            [oid],
        )
        return await self._fks_pointing_at(table, column, [r[0] for r in rows])


class MySQLCatalog(Catalog):
    """MySQL / MariaDB: ``information_schema`` of the current database, ``SHOW CREATE TABLE`` for DDL."""

    dialect_name = "mysql"
    transactional_ddl = False  # every DDL statement commits implicitly

    def qualified(self, table: str) -> str:
        return f"{self.q(self.schema)}.{self.q(table)}" if self.schema else self.q(table)

    def _schema_sql(self) -> tuple[str, list[Any]]:
        return ("?", [self.schema]) if self.schema else ("DATABASE()", [])

    async def version_text(self) -> str:
        return str((await self.fetch("SELECT VERSION()"))[0][0])

    async def tables(self) -> list[str]:
        marker, params = self._schema_sql()
        rows = await self.fetch(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
            f"{marker} AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            params,
        )
        return [r[0] for r in rows]

    async def table(self, name: str) -> TableInfo | None:
        marker, params = self._schema_sql()
        cols = await self.fetch(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_KEY, EXTRA "
            f"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {marker} AND TABLE_NAME = ? "
            "ORDER BY ORDINAL_POSITION",
            [*params, name],
        )
        if not cols:
            return None
        columns = tuple(ColumnInfo(r[0], r[1], r[2] == "YES", r[3], r[4] == "PRI", r[5] or "") for r in cols)
        stats = await self.fetch(
            "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
            f"WHERE TABLE_SCHEMA = {marker} AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            [*params, name],
        )
        grouped = _group_by_first(stats)
        constraint_rows = await self.fetch(
            "SELECT CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS "
            f"WHERE TABLE_SCHEMA = {marker} AND TABLE_NAME = ?",
            [*params, name],
        )
        kinds = {r[0]: r[1] for r in constraint_rows}
        indexes: list[IndexInfo] = []
        uniques: list[IndexInfo] = []
        for iname, rows in sorted(grouped.items()):
            index = IndexInfo(
                iname,
                tuple(r[2] for r in rows),
                not int(rows[0][1]),
                iname == "PRIMARY",
                None,
                kinds.get(iname) in ("UNIQUE", "PRIMARY KEY"),
            )
            (uniques if kinds.get(iname) == "UNIQUE" else indexes).append(index)
        fk_rows = await self.fetch(
            "SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, "
            "r.DELETE_RULE, r.UPDATE_RULE FROM information_schema.KEY_COLUMN_USAGE k "
            "JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
            "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME "
            f"WHERE k.TABLE_SCHEMA = {marker} AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL "
            "ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
            [*params, name],
        )
        fk_groups = _group_by_first(fk_rows)
        fks = tuple(
            ForeignKeyInfo(
                fname, name, tuple(r[1] for r in rows), rows[0][2], tuple(r[3] for r in rows), rows[0][4], rows[0][5]
            )
            for fname, rows in sorted(fk_groups.items())
        )
        check_rows = await self.fetch(
            "SELECT c.CONSTRAINT_NAME, c.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS c "
            "JOIN information_schema.TABLE_CONSTRAINTS t ON t.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA "
            "AND t.CONSTRAINT_NAME = c.CONSTRAINT_NAME AND t.CONSTRAINT_TYPE = 'CHECK' "
            f"WHERE t.TABLE_SCHEMA = {marker} AND t.TABLE_NAME = ? ORDER BY c.CONSTRAINT_NAME",
            [*params, name],
        )
        checks = tuple(CheckInfo(r[0], r[1]) for r in check_rows)
        triggers = tuple(
            TriggerInfo(r[0], name, f"{r[1]} {r[2]} {r[3]}")
            for r in await self.fetch(
                "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT "
                "FROM information_schema.TRIGGERS "
                f"WHERE EVENT_OBJECT_SCHEMA = {marker} AND EVENT_OBJECT_TABLE = ? ORDER BY TRIGGER_NAME",
                [*params, name],
            )
        )
        ddl_rows = await self.fetch(f"SHOW CREATE TABLE {self.qualified(name)}")
        ddl = ddl_rows[0][1] if ddl_rows else None
        return TableInfo(name, columns, tuple(indexes), fks, checks, tuple(uniques), triggers, ddl)

    async def views(self) -> list[ViewInfo]:
        marker, params = self._schema_sql()
        rows = await self.fetch(
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
            f"WHERE TABLE_SCHEMA = {marker} ORDER BY TABLE_NAME",
            params,
        )
        return [ViewInfo(r[0], r[1] or "") for r in rows]

    async def referencing_fks(self, table: str, column: str | None = None) -> list[ForeignKeyInfo]:
        marker, params = self._schema_sql()
        rows = await self.fetch(
            "SELECT DISTINCT TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE "
            f"WHERE TABLE_SCHEMA = {marker} AND REFERENCED_TABLE_NAME = ?",
            [*params, table],
        )
        return await self._fks_pointing_at(table, column, [r[0] for r in rows])


_CATALOGS: dict[str, type[Catalog]] = {"sqlite": SQLiteCatalog, "postgresql": PostgresCatalog, "mysql": MySQLCatalog}


def catalog_for(db: DataFlow, schema: str | None = None) -> Catalog:
    """The catalogue for ``db``'s dialect (DF-403 for a database this plugin does not know)."""
    cls = _CATALOGS.get(db.dialect.name)
    if cls is None:
        raise db.error(
            "DF-403",
            f"The risk plugin has no catalogue queries for the {db.dialect.name!r} dialect.",
            dialect=db.dialect.name,
            solutions=["Use SQLite, PostgreSQL or MySQL / MariaDB."],
        )
    return cls(db, schema)
