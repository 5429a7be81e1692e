"""dataflow-migrate: introspection, diff, plan, apply and history of DataFlow schema migrations."""

from dataflow_migrate.planner import plan_migration
from dataflow_migrate.schema import ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema

__all__ = ["ColumnSchema", "ForeignKeySchema", "IndexSchema", "TableSchema", "plan_migration"]
