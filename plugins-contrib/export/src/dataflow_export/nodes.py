"""``<Model>ExportNode`` and ``<Model>ImportNode``: the streaming export and import as workflow nodes.

Generated for every model through ``dataflow_generate_nodes``, bound to the instance that declared the
model, and accepting ``db_instance`` / ``model_name`` like every model node (through the kernel's
``resolve_model_instance``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from dataflow.errors import DataFlowError
from dataflow.models import ModelSpec
from dataflow.nodes import Node, NodeContext, Param, resolve_model_instance

from dataflow_export.stream import DEFAULT_BATCH_SIZE, export_model, import_model

__all__ = ["ExportNode", "ImportNode", "make_nodes"]


class _FileNode(Node):
    """Shared by both nodes: the instance, parameter checks, and errors that name the node."""

    model: ClassVar[ModelSpec]

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        params = dict(params)
        db, model = resolve_model_instance(self, params)
        try:
            self.check_parameter_names(params, self.node_id)
            if "path" not in params:
                raise DataFlowError("DF-101", f"{self.type_name} needs 'path', the file to use.",
                                    context={"missing": "path"},
                                    solutions=['Pass {"path": "users.csv"} (csv, jsonl or parquet).'])
            return await self.transfer(db, model, params)
        except DataFlowError as exc:
            exc.context.setdefault("node", self.node_id)
            exc.context.setdefault("node_type", self.type_name)
            exc.context.setdefault("model", model.name)
            raise db.enhance(exc) from exc.__cause__

    async def transfer(self, db: Any, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def _flag(node: Node, params: dict[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise DataFlowError("DF-102", f"'{name}' must be True or False, got {value!r}.",
                            context={"node": node.node_id, "parameter": name})
    return value


class ExportNode(_FileNode):
    """Stream rows matching ``filter`` to a CSV, JSON Lines or Parquet file, in ``order_by`` order."""

    parameters = {
        "path": Param("path", str, required=True, description="The file to write (replaced when complete)."),
        "format": Param("format", str, description="csv, jsonl or parquet; default: from the file's suffix."),
        "filter": Param("filter", dict, description="Which rows, as in ListNode."),
        "order_by": Param("order_by", list, description="Row order, as in ListNode; id breaks ties."),
        "fields": Param("fields", list, description="The columns to write (default: every field)."),
        "batch_size": Param("batch_size", int, default=DEFAULT_BATCH_SIZE, description="Rows per read."),
        "overwrite": Param("overwrite", bool, default=True, description="Replace an existing file."),
    }

    async def transfer(self, db: Any, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        return await export_model(
            db, model, params["path"], format=params.get("format"), filter=params.get("filter"),
            order_by=params.get("order_by"), fields=params.get("fields"), batch_size=params.get("batch_size"),
            overwrite=_flag(self, params, "overwrite", True),
        )


class ImportNode(_FileNode):
    """Load a CSV, JSON Lines or Parquet file in one transaction: every row, or none and DF-712 naming the line."""

    parameters = {
        "path": Param("path", str, required=True, description="The file to read."),
        "format": Param("format", str, description="csv, jsonl or parquet; default: from the file's suffix."),
        "batch_size": Param("batch_size", int, default=DEFAULT_BATCH_SIZE, description="Rows per statement."),
        "conflict_resolution": Param("conflict_resolution", str, default="error",
                                     description="A row whose id exists: error (default), skip or update."),
    }

    async def transfer(self, db: Any, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        return await import_model(
            db, model, params["path"], format=params.get("format"), batch_size=params.get("batch_size"),
            conflict_resolution=params.get("conflict_resolution", "error"),
        )


def make_nodes(model: ModelSpec) -> dict[str, type[Node]]:
    """``<Model>ExportNode`` and ``<Model>ImportNode`` for ``model``."""
    made: dict[str, type[Node]] = {}
    for operation, base in (("Export", ExportNode), ("Import", ImportNode)):
        name = f"{model.name}{operation}Node"
        made[name] = type(name, (base,), {"type_name": name, "model": model, "operation": operation.lower(),
                                          "__doc__": base.__doc__, "__module__": __name__})
    return made
