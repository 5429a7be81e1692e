"""Live-schema introspection, one reader per dialect name, into the neutral records of ``schema.py``.

Each reader runs plain catalogue SQL through the dialect's own connection (``conn.fetch``), so it works
with whatever driver the dialect wraps: PostgreSQL reads ``pg_catalog`` for the current schema, MySQL /
MariaDB reads ``information_schema`` for the current database, SQLite reads its table-valued pragmas.
Introspection is read-only: it never issues DDL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from dataflow.errors import DataFlowError

from dataflow_migrate.schema import ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema

__all__ = ["INTERNAL_TABLES", "introspect", "list_tables"]

INTERNAL_TABLES = frozenset({"dataflow_migrations", "dataflow_migration_locks"})
"""DataFlow's own bookkeeping tables: never planned against, never discovered as models."""

_SEP = "\x1f"  # joins column lists in one text cell: a unit separator cannot occur in an identifier

Reader = Callable[[Any, Any, Sequence[str] | None], Awaitable[dict[str, TableSchema]]]


def _marks(dialect: Any, values: Sequence[Any], start: int = 1) -> str:
    return ", ".join(dialect.placeholder(start + i) for i in range(len(values)))


def _text(value: Any) -> Any:
    """Catalogue text some drivers return as bytes (MySQL's information_schema on old servers)."""
    return value.decode() if isinstance(value, bytes | bytearray) else value


# -------------------------------------------------------------------------------------------------
# SQLite
# -------------------------------------------------------------------------------------------------

_SQLITE_FK_ACTIONS = {"NO ACTION": None}


async def _sqlite(dialect: Any, conn: Any, tables: Sequence[str] | None) -> dict[str, TableSchema]:
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    params: list[Any] = []
    if tables is not None:
        if not tables:
            return {}
        sql += f" AND name IN ({_marks(dialect, tables)})"
        params = list(tables)
    found: dict[str, TableSchema] = {}
    for (name,) in await conn.fetch(sql, params):
        rows = await conn.fetch('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid',
                                [name])
        pk_cols = [r for r in rows if r[4]]
        pk = tuple(r[0] for r in sorted(pk_cols, key=lambda r: r[4]))
        columns = tuple(
            ColumnSchema(
                r[0], r[1] or "", not r[2] and not r[4], r[3], bool(r[4]),
                # A lone INTEGER PRIMARY KEY is the rowid: SQLite fills it.
                autoincrement=bool(r[4]) and len(pk) == 1 and (r[1] or "").upper() == "INTEGER",
            )
            for r in rows
        )
        indexes = []
        for index_name, unique, origin in await conn.fetch(
            'SELECT name, "unique", origin FROM pragma_index_list(?) ORDER BY name', [name]
        ):
            if origin == "pk":
                continue
            cols = await conn.fetch("SELECT name FROM pragma_index_info(?) ORDER BY seqno", [index_name])
            indexes.append(IndexSchema(index_name, tuple(c[0] for c in cols), bool(unique)))
        fks: dict[int, list[Any]] = defaultdict(list)
        for r in await conn.fetch(
            'SELECT id, seq, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?) '
            "ORDER BY id, seq", [name]
        ):
            fks[r[0]].append(r)
        foreign_keys = tuple(
            ForeignKeySchema(
                None, tuple(r[3] for r in parts), parts[0][2], tuple(r[4] or "id" for r in parts),
                _SQLITE_FK_ACTIONS.get(parts[0][6], parts[0][6]), _SQLITE_FK_ACTIONS.get(parts[0][5], parts[0][5]),
            )
            for parts in fks.values()
        )
        found[name] = TableSchema(name, columns, pk, tuple(indexes), foreign_keys)
    return found


# -------------------------------------------------------------------------------------------------
# PostgreSQL
# -------------------------------------------------------------------------------------------------

_PG_FK_ACTIONS = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _pg_columns_of(array_expr: str, rel: str) -> str:
    """SQL turning an int2vector / smallint[] of attribute numbers into separator-joined names, in order."""
    return (
        f"(SELECT string_agg(att.attname, chr(31) ORDER BY u.ord) FROM unnest({array_expr}) WITH ORDINALITY "
        f"AS u(num, ord) JOIN pg_attribute att ON att.attrelid = {rel} AND att.attnum = u.num)"
    )


async def _postgresql(dialect: Any, conn: Any, tables: Sequence[str] | None) -> dict[str, TableSchema]:
    where = "n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
    params: list[Any] = []
    if tables is not None:
        if not tables:
            return {}
        where += f" AND c.relname IN ({_marks(dialect, tables)})"
        params = list(tables)
    base = f"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {where}"
    rels = {r[1]: r[0] for r in await conn.fetch(f"SELECT c.oid::bigint, c.relname {base}", params)}
    if not rels:
        return {}
    columns: dict[str, list[ColumnSchema]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '' "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        f"WHERE {where} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
        params,
    ):
        type_name, default = r[2], r[4]
        serial = bool(default) and str(default).startswith("nextval(")
        element = type_name[:-2] if type_name.endswith("[]") else None
        columns[r[0]].append(ColumnSchema(r[1], type_name, bool(r[3]), default, False, bool(r[5]) or serial, element))
    pks: dict[str, tuple[str, ...]] = {}
    indexes: dict[str, list[IndexSchema]] = defaultdict(list)
    for r in await conn.fetch(
        f"SELECT c.relname, i.relname, ix.indisunique, ix.indisprimary, {_pg_columns_of('ix.indkey', 'ix.indrelid')} "
        "FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class c ON c.oid = ix.indrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {where} ORDER BY c.relname, i.relname",
        params,
    ):
        cols = tuple((r[4] or "").split(_SEP)) if r[4] else ()
        if r[3]:
            pks[r[0]] = cols
        else:
            indexes[r[0]].append(IndexSchema(r[1], cols, bool(r[2])))
    fks: dict[str, list[ForeignKeySchema]] = defaultdict(list)
    for r in await conn.fetch(
        f"SELECT c.relname, k.conname, {_pg_columns_of('k.conkey', 'k.conrelid')}, rc.relname, "
        f"{_pg_columns_of('k.confkey', 'k.confrelid')}, k.confdeltype, k.confupdtype "
        "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class rc ON rc.oid = k.confrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {where} AND k.contype = 'f' ORDER BY k.conname",
        params,
    ):
        fks[r[0]].append(ForeignKeySchema(
            r[1], tuple(r[2].split(_SEP)), r[3], tuple(r[4].split(_SEP)),
            _PG_FK_ACTIONS.get(str(r[5])), _PG_FK_ACTIONS.get(str(r[6])),
        ))
    found = {}
    for name, oid in rels.items():
        pk = pks.get(name, ())
        cols = tuple(
            ColumnSchema(c.name, c.type, c.nullable, c.default, c.name in pk, c.autoincrement, c.element_type)
            for c in columns.get(name, [])
        )
        found[name] = TableSchema(name, cols, pk, tuple(indexes.get(name, ())), tuple(fks.get(name, ())), oid)
    return found


# -------------------------------------------------------------------------------------------------
# MySQL / MariaDB
# -------------------------------------------------------------------------------------------------


def _mysql_default(value: Any, nullable: bool) -> str | None:
    """MariaDB reports "no default" on a nullable column as the text NULL; fold it into None."""
    value = _text(value)
    if value is None or (nullable and str(value).upper() == "NULL"):
        return None
    return str(value)


async def _mysql(dialect: Any, conn: Any, tables: Sequence[str] | None) -> dict[str, TableSchema]:
    if tables is not None and not tables:
        return {}
    params: list[Any] = list(tables or ())

    def scope(prefix: str = "", schema_column: str = "TABLE_SCHEMA") -> str:
        clause = f"{prefix}{schema_column} = DATABASE()"
        return clause + (f" AND {prefix}TABLE_NAME IN ({_marks(dialect, params)})" if tables is not None else "")

    where = scope()
    names = [_text(r[0]) for r in await conn.fetch(
        f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE {where} AND TABLE_TYPE = 'BASE TABLE'", params)]
    if not names:
        return {}
    # MariaDB stores JSON as LONGTEXT guarded by CHECK (json_valid(col)): report those columns as json.
    json_columns: set[tuple[str, str]] = set()
    try:
        for table, clause in await conn.fetch(
            f"SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE "
            f"{scope(schema_column='CONSTRAINT_SCHEMA')}", params
        ):
            text = str(_text(clause)).strip()
            if text.lower().startswith("json_valid(") and text.endswith(")"):
                json_columns.add((_text(table), text[len("json_valid("):-1].strip("`")))
    except Exception:  # servers without CHECK_CONSTRAINTS simply have no such columns
        json_columns = set()
    columns: dict[str, list[ColumnSchema]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_KEY, EXTRA "
        f"FROM information_schema.COLUMNS WHERE {where} ORDER BY TABLE_NAME, ORDINAL_POSITION",
        params,
    ):
        table, name, type_name = _text(r[0]), _text(r[1]), str(_text(r[2]))
        nullable = _text(r[3]) == "YES"
        if (table, name) in json_columns:
            type_name = "json"
        columns[table].append(ColumnSchema(
            name, type_name, nullable, _mysql_default(r[4], nullable), _text(r[5]) == "PRI",
            "auto_increment" in str(_text(r[6]) or "").lower(),
        ))
    stats: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
        f"WHERE {where} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        params,
    ):
        stats[(_text(r[0]), _text(r[1]))].append(r)
    pks: dict[str, tuple[str, ...]] = {}
    indexes: dict[str, list[IndexSchema]] = defaultdict(list)
    for (table, index_name), parts in stats.items():
        cols = tuple(_text(p[3]) for p in parts)
        if index_name == "PRIMARY":
            pks[table] = cols
        else:
            indexes[table].append(IndexSchema(index_name, cols, not int(parts[0][2])))
    fk_parts: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, "
        "rc.DELETE_RULE, rc.UPDATE_RULE FROM information_schema.KEY_COLUMN_USAGE k "
        "JOIN information_schema.REFERENTIAL_CONSTRAINTS rc ON rc.CONSTRAINT_SCHEMA = k.TABLE_SCHEMA "
        "AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND rc.TABLE_NAME = k.TABLE_NAME "
        f"WHERE {scope('k.')} "
        "AND k.REFERENCED_TABLE_NAME IS NOT NULL ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        params,
    ):
        fk_parts[(_text(r[0]), _text(r[1]))].append(r)
    fks: dict[str, list[ForeignKeySchema]] = defaultdict(list)
    for (table, fk_name), parts in fk_parts.items():
        rules = [_text(parts[0][5]), _text(parts[0][6])]
        on_delete, on_update = (None if rule in ("NO ACTION", "RESTRICT") else rule for rule in rules)
        fks[table].append(ForeignKeySchema(fk_name, tuple(_text(p[2]) for p in parts), _text(parts[0][3]),
                                           tuple(_text(p[4]) for p in parts), on_delete, on_update))
    # Indexes MySQL makes implicitly for a foreign key carry the constraint's name: they are the FK's.
    return {
        name: TableSchema(
            name, tuple(columns.get(name, ())), pks.get(name, ()),
            tuple(i for i in indexes.get(name, ()) if i.name not in {fk.name for fk in fks.get(name, ())}),
            tuple(fks.get(name, ())),
        )
        for name in names
    }


_READERS: dict[str, Reader] = {"sqlite": _sqlite, "postgresql": _postgresql, "mysql": _mysql}


def _reader(dialect: Any) -> Reader:
    name = getattr(dialect, "name", "")
    reader = _READERS.get(name) or _READERS.get("mysql" if name == "mariadb" else name)
    if reader is None:
        raise DataFlowError(
            "DF-303",
            f"Schema introspection is not available for the {name!r} dialect.",
            context={"dialect": name},
            solutions=["Use SQLite, PostgreSQL or MySQL / MariaDB, or use auto_migrate=False."],
        )
    return reader


async def introspect(db: Any, tables: Iterable[str] | None = None, conn: Any = None) -> dict[str, TableSchema]:
    """The live schema of ``tables`` (all user tables when None), keyed by table name.

    Runs on ``conn`` when given (inside a migration's transaction), else on a pooled connection.
    Driver errors come out as DF-coded errors.
    """
    dialect = db.dialect
    reader = _reader(dialect)
    wanted = None if tables is None else list(dict.fromkeys(tables))
    try:
        if conn is not None:
            return await reader(dialect, conn, wanted)
        async with dialect.connection() as fresh:
            return await reader(dialect, fresh, wanted)
    except DataFlowError:
        raise
    except Exception as exc:
        raise db.enhance(dialect.translate_error(exc)) from exc


async def list_tables(db: Any) -> list[str]:
    """Every user table name (DataFlow's own bookkeeping tables excluded), sorted."""
    return sorted(name for name in await introspect(db) if name not in INTERNAL_TABLES)
