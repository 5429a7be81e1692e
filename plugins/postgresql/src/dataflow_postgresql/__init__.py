"""dataflow-postgresql: the PostgreSQL dialect for DataFlow, on asyncpg."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "PGConnection": "dataflow_postgresql.dialect",
    "PostgreSQLDialect": "dataflow_postgresql.dialect",
})

__all__ = __dir__()
