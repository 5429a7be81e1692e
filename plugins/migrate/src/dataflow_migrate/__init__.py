"""dataflow-migrate: introspection, diff, plan, apply and history of DataFlow schema migrations."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "plan_migration": "dataflow_migrate.planner",
    "ColumnSchema": "dataflow_migrate.schema",
    "ForeignKeySchema": "dataflow_migrate.schema",
    "IndexSchema": "dataflow_migrate.schema",
    "TableSchema": "dataflow_migrate.schema",
})

__all__ = __dir__()
