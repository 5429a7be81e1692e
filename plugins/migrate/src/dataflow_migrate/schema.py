"""The neutral schema records migrations diff, kept importable from here: they live in ``dataflow.types``."""

from __future__ import annotations

from dataflow.types import ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema, normalise_type, type_family

__all__ = ["ColumnSchema", "ForeignKeySchema", "IndexSchema", "TableSchema", "normalise_type", "type_family"]
