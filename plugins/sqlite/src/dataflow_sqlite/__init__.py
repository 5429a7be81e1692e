"""dataflow-sqlite: the SQLite dialect for DataFlow, on aiosqlite."""

from dataflow_sqlite.dialect import SQLiteDialect

__all__ = ["SQLiteDialect"]
