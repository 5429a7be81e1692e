"""dataflow-export: streaming CSV / JSON Lines / Parquet export and import nodes and commands."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "ExportNode": "dataflow_export.nodes",
    "ImportNode": "dataflow_export.nodes",
    "export_model": "dataflow_export.stream",
    "import_model": "dataflow_export.stream",
})

__all__ = __dir__()
