"""dataflow-duckdb: a DuckDB dialect for DataFlow, written on the kernel's public contract only."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "DuckDBDialect": "dataflow_duckdb.dialect",
})

__all__ = __dir__()
