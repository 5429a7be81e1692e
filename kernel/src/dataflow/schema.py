"""The schema half of the dialect contract: introspection, DDL per schema change, change costs, the lock.

``SQLDialect`` inherits ``SchemaDialect``: everything about one database's schema lives in its
dialect, and the migrate, risk and locks plugins only ask it. A dialect plugin implements:

- **introspection** into the records of ``dataflow.types``: ``introspect`` (tables with columns,
  primary key, indexes, foreign keys, checks, triggers), ``views``, and optionally the faster
  ``foreign_keys_to`` / ``dependent_views`` / ``routines_referencing`` / ``estimate_rows``;
- **DDL** for each migration step kind, from records: ``schema_change_sql(SchemaChange)`` dispatches to
  ``ddl_<kind>``; the defaults here are standard SQL (PostgreSQL's spelling), so a dialect overrides
  only what its database spells differently or cannot do in place (SQLite rebuilds tables);
- **change costs**: ``change_cost(step, table, server)`` says what a step does to the table on this
  database (instant, scan, rewrite or refused; which locks), which the risk rules judge;
- **the migration lock primitive**: ``migration_lock(name, timeout)`` and ``lock_is_held(name)``;
  the default is a lease row (``dataflow.locking``), correct on any SQL database. Where a write
  transaction excludes every other writer (``exclusive_writes``, SQLite) and the lock is that lease,
  ``lock_kept_free(conn, name)`` tells a transaction that it is as exclusive as the lock;
- **capabilities** (``DialectCapabilities``): what exists at all (foreign keys, views, triggers,
  transactional DDL, scratch databases …), which gates behaviour and conformance tests.

Defaults in DDL are the one place a value is written into SQL text (no server binds parameters in DDL):
``literal`` renders only plain scalars, escaped for the dialect, and returns None for anything else.
"""

from __future__ import annotations

import contextlib
import decimal
import math
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import attrs

from dataflow.errors import DataFlowError
from dataflow.types import (
    ChangeCost,
    ChangeEffect,
    ColumnSchema,
    DialectCapabilities,
    ForeignKeySchema,
    IndexSchema,
    MigrationStep,
    RowEstimate,
    SchemaChange,
    ServerInfo,
    TableSchema,
    ViewSchema,
)

if TYPE_CHECKING:
    from dataflow.models import FieldSpec, ModelSpec
    from dataflow.url import DatabaseURL

__all__ = ["ROW_COUNT_CAP", "SchemaDialect", "compare_types", "default_expression", "is_constant", "is_volatile",
           "mentions", "parse_type", "type_affinity"]

ROW_COUNT_CAP = 10_000_000
"""Counting rows stops here: beyond it a table is simply "very large" and an exact count costs a scan."""


def mentions(text: str, name: str) -> bool:
    """``name`` appears in SQL ``text`` as a whole identifier (quoted or not)."""
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text or "", re.IGNORECASE) is not None


_LITERAL = re.compile(r"""^\s*(?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?|TRUE|FALSE|NULL)\s*(?:::[\w\s\[\]()]+)?$""", re.I)
_VOLATILE = re.compile(r"\b(random|clock_timestamp|timeofday|gen_random_uuid|uuid_generate_v[14]\w*|nextval|uuid|"
                       r"rand|sys_guid|newid|setseed)\s*\(", re.I)


def default_expression(step: MigrationStep) -> str | None:
    """The default a step gives a column, as SQL text: an explicit expression, the DEFAULT clause of its
    SQL, or its ``default`` detail (a value, rendered as a literal)."""
    for key in ("default_expression", "default_sql", "server_default"):
        if step.details.get(key) is not None:
            return str(step.details[key])
    found = re.search(r"\bDEFAULT\s+(.+?)(?:\s+(?:NOT\s+NULL|NULL|CHECK|REFERENCES|CONSTRAINT|PRIMARY|UNIQUE)\b|;|$)",
                      " ".join(step.sql), re.I)
    if found:
        return found.group(1).strip()
    value = step.details.get("default")
    if value is None:
        return None
    return str(value) if isinstance(value, int | float) else "'" + str(value).replace("'", "''") + "'"


def is_volatile(expr: str | None) -> bool:
    """A default evaluated anew for every row (random(), uuid(), nextval() …)."""
    return bool(expr) and _VOLATILE.search(expr or "") is not None


def is_constant(expr: str | None) -> bool:
    """No default, or a plain literal (a string, a number, TRUE / FALSE / NULL, optionally cast)."""
    return expr is None or _LITERAL.match(expr) is not None


_TYPE = re.compile(r"^\s*([a-z_ ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*(unsigned)?\s*$", re.I)
_TYPE_ALIASES = {
    "character varying": "varchar", "character": "char", "int4": "integer", "int": "integer", "int8": "bigint",
    "int2": "smallint", "decimal": "numeric", "float8": "double precision", "double": "double precision",
    "float4": "real", "bool": "boolean", "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
}
_INT_RANK = {"tinyint": 1, "smallint": 2, "mediumint": 3, "integer": 4, "bigint": 5}
_TEXT_LIKE = frozenset({"varchar", "text", "char", "longtext", "mediumtext"})


def parse_type(text: str) -> tuple[str, int | None, int | None]:
    """``varchar(20)`` → ("varchar", 20, None); ``numeric(10,2)`` → ("numeric", 10, 2)."""
    found = _TYPE.match(text or "")
    if not found:
        return (text or "").strip().lower(), None, None
    base = " ".join(found.group(1).lower().split())
    base = _TYPE_ALIASES.get(base, base)
    return base, int(found.group(2)) if found.group(2) else None, int(found.group(3)) if found.group(3) else None


def type_affinity(type_text: str) -> str:
    """SQLite's column affinity rules (section 3.1 of its datatype page)."""
    t = (type_text or "").upper()
    if "INT" in t:
        return "INTEGER"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def compare_types(old: str, new: str, *, by_affinity: bool = False) -> str:
    """How a column type change relates the two types, in standard SQL terms: ``"same"``, ``"safe"``
    (every value fits and nothing is rewritten), ``"narrowing"`` (values may not fit) or ``"rewrite"``.

    With ``by_affinity``, types compare by SQLite's affinity rules (a declared size is never enforced there).
    Dialects refine the answer for their own storage (``change_cost``).
    """
    if by_affinity:
        return "same" if type_affinity(old) == type_affinity(new) else "rewrite"
    (ob, ol, os_), (nb, nl, ns) = parse_type(old), parse_type(new)
    if (ob, ol, os_) == (nb, nl, ns):
        return "same"
    if ob in ("varchar", "char") and nb == ob:
        return "safe" if nl is None or (ol is not None and nl >= ol) else "narrowing"
    if ob == "numeric" and nb == "numeric":
        if nl is None or (ol is not None and nl >= ol and (ns or 0) == (os_ or 0)):
            return "safe"
        return "narrowing" if ol is not None and (nl < ol or (ns or 0) < (os_ or 0)) else "rewrite"
    if ob in _INT_RANK and nb in _INT_RANK:
        return "rewrite" if _INT_RANK[nb] > _INT_RANK[ob] else "narrowing"
    if ob in _TEXT_LIKE and nb in _TEXT_LIKE:
        return "rewrite" if nb in ("text", "longtext", "mediumtext") else "narrowing"
    if ob in _TEXT_LIKE or (ob == "numeric" and nb in _INT_RANK):
        return "narrowing"
    return "rewrite"


class SchemaDialect:
    """What a dialect knows about its database's schema (see the module docstring)."""

    capabilities = DialectCapabilities()

    if TYPE_CHECKING:  # provided by SQLDialect, which inherits this class
        name: str
        url: DatabaseURL
        schema_in_transaction: bool

        def quote(self, name: str) -> str: ...
        def placeholder(self, index: int) -> str: ...
        def connection(self) -> Any: ...
        def transaction(self, isolation_level: Any = None, *, timeout: float | None = None,
                        connection: Any = None) -> Any: ...
        def transaction_connection(self) -> Any: ...
        def translate_error(self, exc: BaseException) -> DataFlowError: ...
        def table_suffix(self) -> str: ...
        def encode(self, field: FieldSpec, value: Any) -> Any: ...
        async def server_version(self) -> str: ...
        async def table_columns(self, conn: Any, table: str) -> set[str] | None: ...

    # =============================================================================================
    # Introspection
    # =============================================================================================
    def _not_implemented(self, what: str) -> DataFlowError:
        return DataFlowError(
            "DF-303",
            f"The {self.name!r} dialect does not implement {what}.",
            context={"dialect": self.name},
            solutions=["Use a dialect that implements the schema contract (docs/plugin-authors.md), "
                       "or turn migrations off with auto_migrate=False."],
        )

    async def introspect(self, conn: Any, tables: Sequence[str] | None = None, *,
                         schema: str | None = None) -> dict[str, TableSchema]:
        """The live tables named ``tables`` (every user table when None) of ``schema`` (the connection's
        own when None), keyed by name; a name that is not a table is simply absent."""
        raise self._not_implemented("schema introspection")

    async def table_names(self, conn: Any, *, schema: str | None = None) -> list[str]:
        """The names of every user table, sorted (cheaper than ``introspect`` where the dialect says so)."""
        return sorted(await self.introspect(conn, schema=schema))

    async def views(self, conn: Any, *, schema: str | None = None) -> list[ViewSchema]:
        """Every view, in an order they can be created again in (creation order where known)."""
        if self.capabilities.views:
            raise self._not_implemented("view introspection")
        return []

    async def foreign_keys_to(self, conn: Any, table: str, *, schema: str | None = None) -> list[ForeignKeySchema]:
        """Foreign keys of any table (``table`` itself included) that reference ``table``."""
        if not self.capabilities.foreign_keys:
            return []
        found = await self.introspect(conn, schema=schema)
        return [fk for t in found.values() for fk in t.foreign_keys if fk.ref_table == table]

    async def dependent_views(self, conn: Any, table: str, column: str | None = None, *,
                              schema: str | None = None) -> list[ViewSchema]:
        """Views that read ``table`` (and ``column``): from the catalogue's dependencies where the
        dialect records them in ``ViewSchema.depends_on``, else by searching the view's query."""
        if not self.capabilities.views:
            return []
        found = []
        for view in await self.views(conn, schema=schema):
            reads = table in view.depends_on if view.depends_on is not None else mentions(view.query, table)
            if reads and (column is None or mentions(view.query, column)):
                found.append(view)
        return found

    async def routines_referencing(self, conn: Any, name: str, *, schema: str | None = None) -> list[str]:
        """Stored procedures / functions whose source names ``name`` (none where routines do not exist)."""
        return []

    async def estimate_rows(self, conn: Any, table: str, *, cap: int = ROW_COUNT_CAP,
                            schema: str | None = None) -> RowEstimate:
        """How many rows ``table`` holds, counted up to ``cap`` (a bounded scan, never a whole huge table)."""
        rows = await conn.fetch(f"SELECT COUNT(*) FROM (SELECT 1 AS x FROM {self.qualify(table, schema)} "
                                f"LIMIT {self.placeholder(1)}) AS c", [cap])
        count = int(rows[0][0])
        return RowEstimate(count, exact=count < cap, capped=count >= cap)

    def database_exists(self) -> bool:
        """Whether the database is there already, answered without connecting (a connection may create
        it: an SQLite file). Read-only tools refuse to work on a database that is not there."""
        return True

    async def server_info(self) -> ServerInfo:
        """The server's product and version."""
        return ServerInfo.parse(self.name, await self.server_version())

    def qualify(self, table: str, schema: str | None = None) -> str:
        """``table`` as SQL text, inside ``schema`` when given."""
        return f"{self.quote(schema)}.{self.quote(table)}" if schema else self.quote(table)

    # =============================================================================================
    # DDL pieces
    # =============================================================================================
    def literal(self, value: Any) -> str | None:
        """A value as an SQL literal for a DDL default, or None when it has no safe spelling."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float | decimal.Decimal):
            return str(value) if math.isfinite(value) else None
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        return None

    def field_default_sql(self, field: FieldSpec) -> str | None:
        """The DDL default for a model field's default value (as the dialect stores it), or None."""
        from dataflow.models import MISSING

        if field.default is MISSING or field.default is None or field.primary_key or field.auto:
            return None
        try:
            return self.literal(self.encode(field, field.default))
        except (TypeError, ValueError):
            return None

    def default_clause(self, column: ColumnSchema) -> str:
        """The ``DEFAULT`` expression of ``column`` as this dialect writes it."""
        return str(column.default)

    def column_definition(self, column: ColumnSchema, *, inline_pk: bool = False) -> str:
        """``name type [PRIMARY KEY] [NOT NULL] [DEFAULT …]`` for a column record."""
        parts = [self.quote(column.name), column.type]
        if inline_pk:
            parts.append("PRIMARY KEY")
        elif not column.nullable:
            parts.append("NOT NULL")
        if column.default is not None and not inline_pk:
            parts.append(f"DEFAULT {self.default_clause(column)}")
        return " ".join(parts)

    def columns_sql(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    def foreign_key_clause(self, fk: ForeignKeySchema) -> str:
        sql = (f"FOREIGN KEY ({self.columns_sql(fk.columns)}) REFERENCES {self.quote(fk.ref_table)} "
               f"({self.columns_sql(fk.ref_columns)})")
        if fk.on_delete:
            sql += f" ON DELETE {fk.on_delete}"
        if fk.on_update:
            sql += f" ON UPDATE {fk.on_update}"
        return sql

    def _constraint(self, name: str | None) -> str:
        return f"CONSTRAINT {self.quote(name)} " if name else ""

    def constraint_clauses(self, table: TableSchema) -> list[str]:
        """The table constraints of a CREATE TABLE: unique constraints, foreign keys, checks."""
        parts = [f"{self._constraint(i.name)}UNIQUE ({self.columns_sql(i.columns)})"
                 for i in table.indexes if i.constraint]
        parts += [f"{self._constraint(fk.name)}{self.foreign_key_clause(fk)}" for fk in table.foreign_keys]
        parts += [f"{self._constraint(c.name)}CHECK ({c.expression})" for c in table.checks]
        return parts

    def table_statement(self, table: TableSchema, name: str | None = None) -> str:
        """The ``CREATE TABLE`` statement of a record (under ``name`` when given: rebuilds, copies)."""
        parts = [self.column_definition(c) for c in table.columns]
        if table.primary_key:
            parts.append(f"PRIMARY KEY ({self.columns_sql(table.primary_key)})")
        parts += self.constraint_clauses(table)
        return f"CREATE TABLE {self.quote(name or table.name)} ({', '.join(parts)}){self.table_suffix()}"

    def create_table_from(self, table: TableSchema) -> list[str]:
        """The table of a record, with its keys, unique constraints and checks, then its other indexes
        and its triggers."""
        statements = [self.table_statement(table)]
        statements += [self.index_sql(table.name, i) for i in table.indexes if not i.constraint]
        return statements + [t.definition for t in table.triggers]

    def table_for_model(self, model: ModelSpec, column_types: Mapping[str, str]) -> TableSchema:
        """The table a model needs, as a record: the columns with the types this instance creates
        (``column_types``), model defaults as DDL defaults, the declared indexes."""
        columns = []
        for field in model.fields:
            nullable = (field.nullable or field.auto) and not field.primary_key
            columns.append(ColumnSchema(field.name, column_types[field.name], nullable, self.field_default_sql(field),
                                        field.primary_key, field.primary_key and field.generated, kind=field.kind))
        indexes = tuple(IndexSchema(i.name, tuple(i.fields), i.unique, method=i.using) for i in model.indexes)
        return TableSchema(model.table, tuple(columns), ("id",), indexes, self.model_foreign_keys(model))

    def model_foreign_keys(self, model: ModelSpec) -> tuple[ForeignKeySchema, ...]:
        """The foreign keys a model declares (``__dataflow__["foreign_keys"]``), as records."""
        return tuple(ForeignKeySchema(r.constraint, (r.field,), r.ref_table, ("id",), r.on_delete_sql, None,
                                      model.table) for r in model.relations if r.ref_table)

    def model_foreign_key_clauses(self, model: ModelSpec) -> list[str]:
        """The ``CONSTRAINT … FOREIGN KEY …`` clauses of a model's CREATE TABLE."""
        return [f"{self._constraint(fk.name)}{self.foreign_key_clause(fk)}" for fk in self.model_foreign_keys(model)]

    def index_sql(self, table: str, index: IndexSchema) -> str:
        """``CREATE [UNIQUE] INDEX`` for a record (the server's own text when it kept one)."""
        if index.definition and index.name in index.definition:
            return index.definition
        unique = "UNIQUE " if index.unique else ""
        columns = self.columns_sql(index.columns)
        using = f" USING {index.method}" if index.method else ""
        return f"CREATE {unique}INDEX {self.quote(index.name)} ON {self.quote(table)}{using} ({columns})"

    def create_view_sql(self, view: ViewSchema) -> str:
        return f"CREATE VIEW {self.quote(view.name)} AS {view.query}"

    def drop_view_sql(self, name: str) -> str:
        return f"DROP VIEW IF EXISTS {self.quote(name)}"

    def drop_trigger_sql(self, table: str, name: str) -> str:
        return f"DROP TRIGGER {self.quote(name)}"

    # =============================================================================================
    # DDL per schema change
    # =============================================================================================
    def schema_change_sql(self, change: SchemaChange) -> list[str]:
        """The statements making ``change`` on this database (``ddl_<kind>``); DF-301 for an unknown kind."""
        method = getattr(self, f"ddl_{change.kind}", None)
        if method is None:
            raise DataFlowError("DF-301", f"Unknown schema change kind {change.kind!r}.",
                                context={"step": change.kind, "dialect": self.name})
        statements: list[str] = method(change)
        return statements

    @staticmethod
    def _before(change: SchemaChange) -> TableSchema:
        if change.before is None:
            raise DataFlowError("DF-301", f"Cannot {change.kind.replace('_', ' ')} on {change.table!r}: "
                                "the table does not exist.", context={"table": change.table, "step": change.kind})
        return change.before

    @staticmethod
    def _after(change: SchemaChange) -> TableSchema:
        assert change.after is not None, f"{change.kind} needs the table after the change"
        return change.after

    def _column(self, change: SchemaChange, table: TableSchema) -> ColumnSchema:
        column = table.column(change.column or "")
        if column is None:
            raise DataFlowError("DF-301", f"Table {change.table!r} has no column {change.column!r}.",
                                context={"table": change.table, "column": change.column, "step": change.kind})
        return column

    def ddl_create_table(self, change: SchemaChange) -> list[str]:
        return self.create_table_from(self._after(change))

    @contextlib.asynccontextmanager
    async def prepare_schema_changes(self, statements: Sequence[str]) -> AsyncIterator[Any]:
        """Around applying ``statements``: what the database needs set before the transaction begins.
        Yields the connection to begin it on (``transaction(connection=…)``), or None for any. SQLite
        turns foreign-key enforcement off on its own connection around a table rebuild. Nothing by
        default."""
        yield None

    async def verify_schema_changes(self, conn: Any) -> None:
        """Inside the migration's transaction, before it commits: DF-301 when the changes left data
        that breaks a constraint the database did not check while they ran. Nothing by default."""

    def ddl_drop_table(self, change: SchemaChange) -> list[str]:
        return [f"DROP TABLE {self.quote(change.table)}"]

    def ddl_rename_table(self, change: SchemaChange) -> list[str]:
        return [f"ALTER TABLE {self.quote(change.table)} RENAME TO {self.quote(change.details['to'])}"]

    def ddl_add_column(self, change: SchemaChange) -> list[str]:
        column = self._column(change, self._after(change))
        return [f"ALTER TABLE {self.quote(change.table)} ADD COLUMN {self.column_definition(column)}"]

    def ddl_drop_column(self, change: SchemaChange) -> list[str]:
        return [f"ALTER TABLE {self.quote(change.table)} DROP COLUMN {self.quote(change.column or '')}"]

    def ddl_rename_column(self, change: SchemaChange) -> list[str]:
        return [f"ALTER TABLE {self.quote(change.table)} RENAME COLUMN {self.quote(change.column or '')} "
                f"TO {self.quote(change.details['to'])}"]

    def alter_column_sql(self, change: SchemaChange, old: ColumnSchema, new: ColumnSchema) -> list[str]:
        """Type, nullability and default of one column, from ``old`` to ``new`` (in place)."""
        table, column = self.quote(change.table), self.quote(new.name)
        statements = []
        if old.type != new.type:
            using = change.details.get("using")
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} SET DATA TYPE {new.type}"
                              + (f" USING {using}" if using else ""))
        if old.nullable != new.nullable:
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} "
                              f"{'DROP NOT NULL' if new.nullable else 'SET NOT NULL'}")
        if old.default != new.default:
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} "
                              + ("DROP DEFAULT" if new.default is None else f"SET DEFAULT {self.default_clause(new)}"))
        return statements

    def _alter(self, change: SchemaChange) -> list[str]:
        before, after = self._before(change), self._after(change)
        return self.alter_column_sql(change, self._column(change, before), self._column(change, after))

    ddl_alter_type = _alter
    ddl_alter_nullability = _alter
    ddl_alter_default = _alter

    def _named_index(self, change: SchemaChange) -> IndexSchema:
        after = self._after(change)
        index = after.index(change.details["name"])
        assert index is not None, f"{change.kind} needs the index in the table after the change"
        return index

    def ddl_add_index(self, change: SchemaChange) -> list[str]:
        return [self.index_sql(change.table, self._named_index(change))]

    def ddl_add_unique(self, change: SchemaChange) -> list[str]:
        index = self._named_index(change)
        return [f"ALTER TABLE {self.quote(change.table)} ADD {self._constraint(index.name)}"
                f"UNIQUE ({self.columns_sql(index.columns)})"]

    def ddl_drop_index(self, change: SchemaChange) -> list[str]:
        before = self._before(change)
        index = before.index(change.details["name"])
        if index is not None and index.constraint:
            return [f"ALTER TABLE {self.quote(change.table)} DROP CONSTRAINT {self.quote(index.name)}"]
        return [f"DROP INDEX {self.quote(change.details['name'])}"]

    def _new_foreign_key(self, change: SchemaChange) -> ForeignKeySchema:
        before, after = self._before(change), self._after(change)
        added = [fk for fk in after.foreign_keys if fk not in before.foreign_keys]
        assert added, "add_foreign_key needs the key in the table after the change"
        return added[0]

    def ddl_add_foreign_key(self, change: SchemaChange) -> list[str]:
        fk = self._new_foreign_key(change)
        return [f"ALTER TABLE {self.quote(change.table)} ADD {self._constraint(fk.name)}{self.foreign_key_clause(fk)}"]

    def _dropped_foreign_key(self, change: SchemaChange) -> ForeignKeySchema:
        before, after = self._before(change), self._after(change)
        gone = [fk for fk in before.foreign_keys if fk not in after.foreign_keys]
        if not gone:
            raise DataFlowError("DF-301", f"No such foreign key on {change.table!r}.", context={"table": change.table})
        return gone[0]

    def ddl_drop_foreign_key(self, change: SchemaChange) -> list[str]:
        fk = self._dropped_foreign_key(change)
        if not fk.name:
            raise DataFlowError("DF-301", f"The foreign key on {change.table} has no name to drop it by.",
                                context={"table": change.table})
        return [f"ALTER TABLE {self.quote(change.table)} DROP CONSTRAINT {self.quote(fk.name)}"]

    def ddl_add_check(self, change: SchemaChange) -> list[str]:
        before, after = self._before(change), self._after(change)
        added = [c for c in after.checks if c not in before.checks]
        assert added, "add_check needs the check in the table after the change"
        return [f"ALTER TABLE {self.quote(change.table)} ADD {self._constraint(c.name)}CHECK ({c.expression})"
                for c in added]

    def ddl_drop_check(self, change: SchemaChange) -> list[str]:
        return [f"ALTER TABLE {self.quote(change.table)} DROP CONSTRAINT {self.quote(change.details['name'])}"]

    # =============================================================================================
    # Making a table match a record again (schema rollback)
    # =============================================================================================
    def sync_table_sql(self, current: TableSchema, target: TableSchema,
                       renamed: dict[str, str] | None = None) -> list[str]:
        """Statements turning ``current`` into ``target`` in place (same table name).

        ``renamed`` maps current column names to target names for columns to rename back. Columns
        the target lacks are dropped (their data is gone); columns it has and the table lacks are added.
        """
        renamed = renamed or {}
        name = target.name
        state = current
        out: list[str] = []

        def change(kind: str, after: TableSchema, column: str | None = None, **details: Any) -> None:
            nonlocal state
            out.extend(self.schema_change_sql(SchemaChange(kind, name, state, after, column, details)))
            state = after

        for trigger in current.triggers:
            if trigger not in target.triggers:
                out.append(self.drop_trigger_sql(name, trigger.name))
        state = _evolve(state, triggers=tuple(t for t in state.triggers if t in target.triggers))
        for fk in state.foreign_keys:
            if fk not in target.foreign_keys:
                change("drop_foreign_key", _evolve(state, foreign_keys=tuple(f for f in state.foreign_keys if f != fk)))
        for check in state.checks:
            if check not in target.checks:
                out.extend(self.ddl_drop_check(SchemaChange("drop_check", name, state, state, None,
                                                            {"name": check.name})))
        state = _evolve(state, checks=tuple(c for c in state.checks if c in target.checks))
        for index in state.indexes:
            if index not in target.indexes:
                change("drop_index", _evolve(state, indexes=tuple(i for i in state.indexes if i != index)),
                       name=index.name)
        for old, new in renamed.items():
            columns = tuple(_evolve(c, name=new) if c.name == old else c for c in state.columns)
            change("rename_column", _evolve(state, columns=columns), old, to=new)
        for column in state.columns:
            if target.column(column.name) is None:
                change("drop_column", _evolve(state, columns=tuple(c for c in state.columns if c.name != column.name)),
                       column.name)
        for wanted in target.columns:
            have = state.column(wanted.name)
            if have is None:
                change("add_column", _evolve(state, columns=(*state.columns, wanted)), wanted.name)
            elif have != wanted:
                columns = tuple(wanted if c.name == wanted.name else c for c in state.columns)
                change("alter_type", _evolve(state, columns=columns), wanted.name)
        for index in target.indexes:
            if index not in state.indexes:
                change("add_unique" if index.constraint else "add_index",
                       _evolve(state, indexes=(*state.indexes, index)), name=index.name)
        for check in target.checks:
            if check not in state.checks:
                change("add_check", _evolve(state, checks=(*state.checks, check)))
        for fk in target.foreign_keys:
            if fk not in state.foreign_keys:
                change("add_foreign_key", _evolve(state, foreign_keys=(*state.foreign_keys, fk)))
        out += [t.definition for t in target.triggers if t not in current.triggers]
        return out

    # =============================================================================================
    # Scratch databases (staging copies), copying rows, integrity
    # =============================================================================================
    async def create_scratch(self, name: str) -> str:
        """Make an isolated, empty database named after ``name`` (a schema, a database or a file) and
        return the URL of a DataFlow on it; DF-308 where ``capabilities.scratch_databases`` is False."""
        raise self._unsupported("scratch databases")

    async def drop_scratch(self, name: str, url: str) -> None:
        """Remove a scratch database ``create_scratch`` made (quietly when it is already gone)."""
        raise self._unsupported("scratch databases")

    def _unsupported(self, what: str) -> DataFlowError:
        return DataFlowError(
            "DF-308",
            f"The {self.name!r} database does not offer {what}.",
            context={"dialect": self.name, "capability": what},
            solutions=["Run this on a database whose dialect declares the capability "
                       "(`db.dialect.capabilities`)."],
        )

    def copy_rows_sql(self, table: TableSchema, columns: Sequence[str]) -> str:
        """``INSERT`` of one row of ``columns`` into a copy of ``table``, keeping the values generated
        columns had (identity columns accept them)."""
        marks = ", ".join(self.placeholder(i + 1) for i in range(len(columns)))
        return f"INSERT INTO {self.quote(table.name)} ({self.columns_sql(columns)}) VALUES ({marks})"

    async def integrity_check(self, conn: Any) -> tuple[bool, str]:
        """(ok, what was checked): the database's own consistency check where it has one; by default
        that every table's catalogue can be read."""
        tables = await self.table_names(conn)
        return True, f"{len(tables)} tables readable"

    # =============================================================================================
    # What a change costs on this database
    # =============================================================================================
    def change_cost(self, step: MigrationStep, table: TableSchema | None, server: ServerInfo,
                    rows: int = 0) -> ChangeCost:
        """What running ``step`` does to ``table`` (holding ``rows`` rows) on this server. The default is
        the cautious answer for an unknown database: every change to existing columns or constraints
        rewrites the table while blocking readers and writers; adding a column or an index blocks writes."""
        kind = step.kind
        if kind in ("create_table", "drop_table", "rename_table", "rename_column", "drop_index",
                    "drop_foreign_key"):
            return ChangeCost(ChangeEffect.INSTANT, blocks_writes=kind != "create_table",
                              reason="changes the catalogue only")
        if kind == "add_column":
            nullable = bool(step.details.get("nullable", True))
            if not nullable and default_expression(step) is None:
                return ChangeCost(blocks_writes=True, fails_with_rows=True,
                                  reason="a NOT NULL column without a default cannot be filled for existing rows")
            return ChangeCost(ChangeEffect.INSTANT, True, reason="adds a column")
        if kind in ("add_index", "add_unique"):
            return ChangeCost(ChangeEffect.SCAN, True, reason="building an index reads every row and blocks writes")
        return ChangeCost(ChangeEffect.REWRITE, True, True,
                          reason=f"{kind.replace('_', ' ')} rewrites the table while it blocks readers and writers",
                          mitigation="Run it in a maintenance window.")

    # =============================================================================================
    # The migration lock primitive
    # =============================================================================================
    def migration_lock(self, name: str, timeout: float, *,
                       lease: float | None = None) -> AbstractAsyncContextManager[None]:
        """Hold the lock ``name`` (across processes and hosts) for an ``async with`` block; DF-307 when
        it stays held elsewhere for ``timeout`` seconds. Held outside the connection pool, so a pool of
        one connection still migrates. The default: a lease row (``dataflow.locking.LeaseLock``) that
        lasts ``lease`` seconds unless renewed; session locks ignore ``lease``."""
        return self._leases().hold(name, timeout, lease)

    async def lock_is_held(self, name: str) -> bool:
        """Whether anyone holds the lock ``name`` right now."""
        return await self._leases().is_held(name)

    exclusive_writes = False
    """True when a write transaction keeps every other writer of the database out until it ends
    (SQLite: ``BEGIN IMMEDIATE`` takes the one write lock of the file)."""

    async def lock_kept_free(self, conn: Any, name: str) -> bool:
        """Inside the write transaction on ``conn``: True when nobody holds the lock ``name`` and nobody
        can take it before this transaction ends, so work done in the transaction is as exclusive as
        under the lock. True only where writes are exclusive and the lock is the default lease row
        (taking it is a write); a dialect with a session lock of its own answers False."""
        if not self.exclusive_writes or type(self).migration_lock is not SchemaDialect.migration_lock:
            return False
        return not await self._leases().is_held_on(conn, name)

    def _leases(self) -> Any:
        leases = self.__dict__.get("_lease_lock")
        if leases is None:
            from dataflow.locking import LeaseLock

            leases = self.__dict__["_lease_lock"] = LeaseLock(self)  # type: ignore[arg-type]
        return leases


_evolve = attrs.evolve
