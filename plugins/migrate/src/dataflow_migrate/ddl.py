"""The DDL of each schema change, per dialect name, from neutral schema records.

PostgreSQL and MySQL change columns in place (``ALTER COLUMN … TYPE`` / ``MODIFY COLUMN``); SQLite's
ALTER TABLE only adds, renames and (for plain columns) drops, so every other change on SQLite uses the
table-rebuild recipe from the SQLite documentation: create the new shape under a temporary name, copy
the rows, drop the old table, rename the new one into place, recreate its indexes.

Defaults in DDL are the one place a value is written into SQL text (no server binds parameters in DDL):
``literal`` renders only plain scalars and escapes them for the dialect.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Sequence
from typing import Any

from dataflow.errors import DataFlowError

from dataflow_migrate.schema import ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema

__all__ = ["DDL", "REBUILD_PREFIX", "UNRENDERABLE"]

UNRENDERABLE = object()
"""Returned by ``literal`` for a value that has no safe SQL spelling (dicts, lists, datetimes …)."""

REBUILD_PREFIX = "_dataflow_new_"


class DDL:
    """Statements for one dialect; ``kind`` is ``sqlite``, ``postgresql`` or ``mysql``."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect
        name = getattr(dialect, "name", "")
        self.kind = "mysql" if name in ("mysql", "mariadb") else name
        self.q = dialect.quote

    # ---- pieces --------------------------------------------------------------------------------
    def literal(self, value: Any) -> Any:
        """A default value as SQL text, or ``UNRENDERABLE``."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return ("TRUE" if value else "FALSE") if self.kind == "postgresql" else ("1" if value else "0")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float | decimal.Decimal):
            return str(value) if math.isfinite(value) else UNRENDERABLE
        if isinstance(value, str):
            text = value.replace("'", "''")
            if self.kind == "mysql":
                text = text.replace("\\", "\\\\")
            return f"'{text}'"
        return UNRENDERABLE

    def column_def(self, column: ColumnSchema, *, inline_pk: bool = False) -> str:
        parts = [self.q(column.name), column.type]
        if inline_pk:
            parts.append("PRIMARY KEY")
        elif not column.nullable:
            parts.append("NOT NULL")
        if column.default is not None and not inline_pk:
            parts.append(f"DEFAULT {self._default_sql(column)}")
        return " ".join(parts)

    def _default_sql(self, column: ColumnSchema) -> str:
        default = str(column.default)
        # MySQL accepts a literal default on TEXT / BLOB / JSON only as an expression in parentheses.
        if self.kind == "mysql" and column.family in ("str", "json", "bytes") and "char" not in column.type.lower():
            return default if default.startswith("(") else f"({default})"
        return default

    def _cols(self, names: Sequence[str]) -> str:
        return ", ".join(self.q(n) for n in names)

    # ---- tables --------------------------------------------------------------------------------
    def drop_table(self, table: str) -> list[str]:
        return [f"DROP TABLE {self.q(table)}"]

    def rename_table(self, old: str, new: str) -> list[str]:
        if self.kind == "mysql":
            return [f"RENAME TABLE {self.q(old)} TO {self.q(new)}"]
        return [f"ALTER TABLE {self.q(old)} RENAME TO {self.q(new)}"]

    # ---- columns -------------------------------------------------------------------------------
    def add_column(self, table: str, column: ColumnSchema) -> list[str]:
        return [f"ALTER TABLE {self.q(table)} ADD COLUMN {self.column_def(column)}"]

    def rename_column(self, table: str, old: str, new: str) -> list[str]:
        return [f"ALTER TABLE {self.q(table)} RENAME COLUMN {self.q(old)} TO {self.q(new)}"]

    def drop_column(self, before: TableSchema, after: TableSchema, column: str) -> list[str]:
        if self.kind == "sqlite" and _column_is_constrained(before, column):
            # SQLite refuses DROP COLUMN on indexed, key or referenced columns: rebuild instead.
            return self.rebuild(before, after)
        return [f"ALTER TABLE {self.q(before.name)} DROP COLUMN {self.q(column)}"]

    def alter_column(self, before: TableSchema, after: TableSchema, old: ColumnSchema, new: ColumnSchema) -> list[str]:
        """Type, nullability and default of one column, from ``old`` to ``new``."""
        table = self.q(before.name)
        if self.kind == "sqlite":
            return self.rebuild(before, after)
        if self.kind == "mysql":
            return [f"ALTER TABLE {table} MODIFY COLUMN {self.column_def(new)}"]
        column = self.q(new.name)
        statements = []
        if old.type != new.type:
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {new.type} USING {column}::{new.type}")
        if old.nullable != new.nullable:
            change = "DROP NOT NULL" if new.nullable else "SET NOT NULL"
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} {change}")
        if old.default != new.default:
            change = "DROP DEFAULT" if new.default is None else f"SET DEFAULT {new.default}"
            statements.append(f"ALTER TABLE {table} ALTER COLUMN {column} {change}")
        return statements

    # ---- indexes and keys ----------------------------------------------------------------------
    def add_index(self, table: str, index: IndexSchema) -> list[str]:
        unique = "UNIQUE " if index.unique else ""
        return [f"CREATE {unique}INDEX {self.q(index.name)} ON {self.q(table)} ({self._cols(index.columns)})"]

    def drop_index(self, table: str, name: str) -> list[str]:
        if self.kind == "mysql":
            return [f"DROP INDEX {self.q(name)} ON {self.q(table)}"]
        return [f"DROP INDEX {self.q(name)}"]

    def fk_clause(self, fk: ForeignKeySchema) -> str:
        sql = f"FOREIGN KEY ({self._cols(fk.columns)}) REFERENCES {self.q(fk.ref_table)} ({self._cols(fk.ref_columns)})"
        if fk.on_delete:
            sql += f" ON DELETE {fk.on_delete}"
        if fk.on_update:
            sql += f" ON UPDATE {fk.on_update}"
        return sql

    def add_foreign_key(self, before: TableSchema, after: TableSchema, fk: ForeignKeySchema) -> list[str]:
        if self.kind == "sqlite":
            return self.rebuild(before, after)
        name = f"CONSTRAINT {self.q(fk.name)} " if fk.name else ""
        return [f"ALTER TABLE {self.q(before.name)} ADD {name}{self.fk_clause(fk)}"]

    def drop_foreign_key(self, before: TableSchema, after: TableSchema, fk: ForeignKeySchema) -> list[str]:
        if self.kind == "sqlite" or not fk.name:
            if self.kind != "sqlite":
                raise DataFlowError("DF-301", f"The foreign key on {before.name} has no name to drop it by.",
                                    context={"table": before.name})
            return self.rebuild(before, after)
        keyword = "FOREIGN KEY" if self.kind == "mysql" else "CONSTRAINT"
        return [f"ALTER TABLE {self.q(before.name)} DROP {keyword} {self.q(fk.name)}"]

    # ---- SQLite's table rebuild ------------------------------------------------------------------
    def create_table_from(self, table: TableSchema, name: str | None = None) -> str:
        """``CREATE TABLE`` for a neutral description (SQLite rebuilds; other dialects' reversals)."""
        pk = table.primary_key
        inline = len(pk) == 1 and bool(table.column(pk[0])) and table.column_map[pk[0]].autoincrement
        parts = [self.column_def(c, inline_pk=inline and c.name == pk[0]) for c in table.columns]
        if pk and not inline:
            parts.append(f"PRIMARY KEY ({self._cols(pk)})")
        parts += [f"UNIQUE ({self._cols(i.columns)})" for i in table.indexes if _implicit(i)]
        parts += [self.fk_clause(fk) for fk in table.foreign_keys]
        return f"CREATE TABLE {self.q(name or table.name)} ({', '.join(parts)})"

    def rebuild(self, before: TableSchema, after: TableSchema) -> list[str]:
        """Create the new shape, copy the rows of the columns both shapes have, swap, re-index.

        A renamed column is copied from its old name (``after`` columns carry no history, so renames
        are applied in place before any rebuild).
        """
        temp = REBUILD_PREFIX + after.name
        shared = [c.name for c in after.columns if before.column(c.name) is not None]
        statements = [
            self.create_table_from(after, temp),
            f"INSERT INTO {self.q(temp)} ({self._cols(shared)}) SELECT {self._cols(shared)} FROM {self.q(before.name)}",
            f"DROP TABLE {self.q(before.name)}",
            f"ALTER TABLE {self.q(temp)} RENAME TO {self.q(after.name)}",
        ]
        statements += [s for i in after.indexes if not _implicit(i) for s in self.add_index(after.name, i)]
        return statements


def _implicit(index: IndexSchema) -> bool:
    """SQLite's automatic index for a UNIQUE constraint: recreated as a table constraint, not by name."""
    return index.name.startswith("sqlite_autoindex_")


def _column_is_constrained(table: TableSchema, column: str) -> bool:
    return (
        column in table.primary_key
        or any(column in i.columns for i in table.indexes)
        or any(column in fk.columns for fk in table.foreign_keys)
    )
