"""dataflow-sqlite: the SQLite dialect for DataFlow, on aiosqlite."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "SQLiteDialect": "dataflow_sqlite.dialect",
})

__all__ = __dir__()
