"""The kernel's own plugin (essential): default node execution and the basic schema manager.

The basic schema manager creates a model's missing table and adds columns for new fields; it never
drops or changes anything. The migrate plugin replaces it with planned, locked, recorded migrations.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError
from dataflow.hookspecs import hookimpl

if TYPE_CHECKING:
    from dataflow.facade import DataFlow
    from dataflow.models import ModelSpec
    from dataflow.nodes import Node, NodeContext


@hookimpl(trylast=True)
def dataflow_execute_node(node: Node, params: dict[str, Any], ctx: NodeContext) -> Coroutine[Any, Any, Any]:
    return node.run(params, ctx)


class BasicSchemaManager:
    """Create missing tables and add missing columns, as the options allow."""

    async def ensure(self, db: DataFlow, models: Iterable[ModelSpec]) -> None:
        dialect = db.dialect
        create = db.options["auto_migrate"] and not db.options["existing_schema_mode"]
        # Joins the open transaction when the kernel makes the schema in it (``DataFlow.ensure_ready``).
        async with dialect.scoped_connection() as conn:
            for model in models:
                try:
                    columns = await dialect.table_columns(conn, model.table)
                    if columns is None:
                        if not create:
                            raise missing_table(db, model)
                        for sql in dialect.create_table_sql(model, db.column_types(model)):
                            await conn.execute(sql, [])
                        continue
                    missing = [f for f in model.fields if f.name not in columns]
                    if missing and not create:
                        raise db.error(
                            "DF-305",
                            f"Table {model.table!r} has no column for {', '.join(f.name for f in missing)} "
                            f"of model {model.name}, and migrations are off.",
                            model=model.name,
                            table=model.table,
                            solutions=["Add the columns, or enable auto_migrate for this instance."],
                        )
                    types = db.column_types(model)
                    for field in missing:
                        await conn.execute(dialect.add_column_sql(model, field, types[field.name]), [])
                except DataFlowError:
                    raise
                except Exception as exc:
                    raise db.enhance(dialect.translate_error(exc)) from exc


def missing_table(db: DataFlow, model: ModelSpec) -> DataFlowError:
    return db.error(
        "DF-304",
        f"Table {model.table!r} of model {model.name} does not exist, and auto_migrate is off "
        "(or existing_schema_mode is on).",
        model=model.name,
        table=model.table,
        solutions=["Create the table, or make the instance with auto_migrate=True."],
    )


@hookimpl(trylast=True)
def dataflow_schema_manager(db: DataFlow) -> Any:
    return BasicSchemaManager()
