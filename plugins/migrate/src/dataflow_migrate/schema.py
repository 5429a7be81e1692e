"""The neutral schema description: what introspection reads from any database, and what plans diff.

Every dialect's catalogue (pg_catalog, information_schema, SQLite pragmas) is read into these frozen
records, so planning, validation and discovery never look at a database-specific shape. Types are
kept as the server spells them (``type``) plus a coarse ``family`` that compares across spellings
(``int4`` / ``integer`` / ``INT(11)`` are all ``int``), which is also the model field kind discovery
maps a column back to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "ColumnSchema",
    "ForeignKeySchema",
    "IndexSchema",
    "TableSchema",
    "normalise_type",
    "type_family",
]


@attrs.frozen
class ColumnSchema:
    """One live column.

    :param name: the column name.
    :param type: the declared type as the server reports it (``bigint``, ``varchar(255)``, ``TEXT``).
    :param nullable: NULL allowed.
    :param default: the default expression as text (server syntax), or None.
    :param primary_key: part of the primary key.
    :param autoincrement: filled by the database (serial / identity / AUTO_INCREMENT / INTEGER PRIMARY KEY).
    :param element_type: for PostgreSQL arrays, the element type (``text`` for ``text[]``).
    :param kind: for a wanted column, the model field kind (``bool`` stored as ``INTEGER`` on SQLite).
    """

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    autoincrement: bool = False
    element_type: str | None = None
    kind: str | None = attrs.field(default=None, eq=False)
    """For a column a model wants: the field kind it serves (live columns have None)."""

    @property
    def family(self) -> str:
        return "array" if self.element_type else type_family(self.type)

    def to_dict(self) -> dict[str, Any]:
        """The shape ``db.discover_schema()`` returns for a column."""
        return {
            "type": self.type,
            "family": self.family,
            "nullable": self.nullable,
            "default": self.default,
            "primary_key": self.primary_key,
            "autoincrement": self.autoincrement,
        }


@attrs.frozen
class IndexSchema:
    """A live index (unique constraints included); the primary key's own index is not listed."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False


@attrs.frozen
class ForeignKeySchema:
    """A live foreign key from ``columns`` to ``ref_table(ref_columns)``."""

    name: str | None
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str | None = None
    on_update: str | None = None


@attrs.frozen
class TableSchema:
    """A live table: columns in their physical order, primary key, indexes and foreign keys."""

    name: str
    columns: tuple[ColumnSchema, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[IndexSchema, ...] = ()
    foreign_keys: tuple[ForeignKeySchema, ...] = ()
    oid: Any = None
    """A server identity for the relation where one exists (PostgreSQL oid), for "unchanged" checks."""

    @property
    def column_map(self) -> Mapping[str, ColumnSchema]:
        return {c.name: c for c in self.columns}

    def column(self, name: str) -> ColumnSchema | None:
        return self.column_map.get(name)

    def index(self, name: str) -> IndexSchema | None:
        return next((i for i in self.indexes if i.name == name), None)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {c.name: c.to_dict() for c in self.columns}


# Aliases a server reports for one type, folded into one spelling before comparing.
_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "serial": "integer",
    "bigserial": "bigint",
    "float8": "double precision",
    "double": "double precision",
    "float4": "real",
    "bool": "boolean",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "varchar": "character varying",
    "char": "character",
    "decimal": "numeric",
}
_INT_WIDTH = re.compile(r"^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)")


def normalise_type(type_name: str) -> str:
    """A comparable spelling: lower case, one space, integer display widths dropped, aliases folded."""
    text = " ".join(type_name.strip().lower().split())
    if text == "tinyint(1)":
        return "boolean"
    text = _INT_WIDTH.sub(r"\1", text)
    text = text.replace(" unsigned", "")
    base, paren, rest = text.partition("(")
    base = _ALIASES.get(base.strip(), base.strip())
    return f"{base}({rest}" if paren else base


_FAMILIES: tuple[tuple[str, str], ...] = (
    # (prefix of the normalised type, family) — first match wins, so longer prefixes come first.
    ("boolean", "bool"),
    ("bigint", "int"),
    ("smallint", "int"),
    ("mediumint", "int"),
    ("tinyint", "int"),
    ("integer", "int"),
    ("double precision", "float"),
    ("real", "float"),
    ("float", "float"),
    ("numeric", "decimal"),
    ("timestamp", "datetime"),
    ("datetime", "datetime"),
    ("date", "date"),
    ("jsonb", "json"),
    ("json", "json"),
    ("bytea", "bytes"),
    ("blob", "bytes"),
    ("longblob", "bytes"),
    ("mediumblob", "bytes"),
    ("varbinary", "bytes"),
    ("binary", "bytes"),
    ("uuid", "str"),
    ("character", "str"),
    ("text", "str"),
    ("longtext", "str"),
    ("mediumtext", "str"),
    ("tinytext", "str"),
    ("clob", "str"),
    ("enum", "str"),
)


def type_family(type_name: str) -> str:
    """The model field kind a column type holds: ``str int float bool datetime date decimal bytes json``.

    SQLite's affinity rules are the fallback for names nobody lists (``VARCHAR2`` → str, ``BIGINTEGER``
    → int), and anything unknown is ``str``.
    """
    text = normalise_type(type_name)
    if text.endswith("[]"):
        return "array"
    for prefix, family in _FAMILIES:
        if text.startswith(prefix):
            return family
    upper = text.upper()
    if "INT" in upper:
        return "int"
    if "CHAR" in upper or "CLOB" in upper or "TEXT" in upper:
        return "str"
    if "REAL" in upper or "FLOA" in upper or "DOUB" in upper:
        return "float"
    if not upper or "BLOB" in upper:
        return "bytes"
    return "str"
