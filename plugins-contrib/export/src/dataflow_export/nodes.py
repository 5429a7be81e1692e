"""``<Model>ExportNode`` and ``<Model>ImportNode``: the streaming export and import as workflow nodes.

Generated for every model through ``dataflow_generate_nodes``, bound to the instance that declared the
model, and accepting ``db_instance`` / ``model_name`` like every model node (through the kernel's
``resolve_model_instance``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dataflow.errors import DataFlowError
from dataflow.models import ModelSpec
from dataflow.nodes import UNKNOWN, Node, NodeContext, Param, Touch, check_parameters, resolve_model_instance

from dataflow_export.formats import FORMATS
from dataflow_export.stream import CONFLICT_RESOLUTIONS, DEFAULT_BATCH_SIZE, export_model, import_model

__all__ = ["ExportNode", "ImportNode", "make_nodes"]


class _FileNode(Node):
    """Shared by both nodes: the instance, parameter checks, and errors that name the node."""

    model: ClassVar[ModelSpec]
    writes: ClassVar[bool] = False

    @classmethod
    def touches(cls, params: Mapping[str, Any]) -> tuple[Touch, ...]:
        """The model's instance: read by an export, written by an import (so runtimes order them)."""
        db = None if params.get("db_instance") is UNKNOWN else cls.dataflow_instance
        return (Touch(db, cls.writes, (cls.model.name,)),)

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        params = dict(params)
        db, model = resolve_model_instance(self, params)
        try:
            params = check_parameters(type(self), params, node_id=self.node_id)
            return await self.transfer(db, model, params)
        except DataFlowError as exc:
            exc.context.setdefault("node", self.node_id)
            exc.context.setdefault("node_type", self.type_name)
            exc.context.setdefault("model", model.name)
            raise db.enhance(exc) from exc.__cause__

    async def transfer(self, db: Any, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


_PATH = Param("path", object, required=True, description="The file (a str or path; csv, jsonl, parquet, "
                                                        "and .gz for csv / jsonl).")
_FORMAT = Param("format", str, choices=FORMATS, description="The format; default: from the file's suffix.")
_BATCH = Param("batch_size", int, default=DEFAULT_BATCH_SIZE, minimum=1, maximum=1_000_000,
               description="Rows per batch.")


class ExportNode(_FileNode):
    """Stream rows matching ``filter`` to a CSV, JSON Lines or Parquet file, in ``order_by`` order."""

    parameters = {
        "path": _PATH,
        "format": _FORMAT,
        "filter": Param("filter", dict | None, description="Which rows, as in ListNode."),
        "order_by": Param("order_by", list | str | dict | None,
                          description="Row order, as in ListNode; id breaks ties."),
        "fields": Param("fields", list | None, description="The columns to write (default: every field)."),
        "batch_size": _BATCH,
        "overwrite": Param("overwrite", bool, default=True, description="Replace an existing file."),
    }
    outputs = frozenset({"path", "format", "exported", "bytes", "duration_ms", "success"})

    async def transfer(self, db: Any, model: ModelSpec, params: dict[str, Any]) -> dict[str, Any]:
        return await export_model(
            db, model, params["path"], format=params.get("format"), filter=params.get("filter"),
            order_by=params.get("order_by"), fields=params.get("fields"), batch_size=params.get("batch_size"),
            overwrite=params.get("overwrite", True),
        )


class ImportNode(_FileNode):
    """Load a CSV, JSON Lines or Parquet file in one transaction: every row, or none and DF-712 naming the line."""

    writes = True
    parameters = {
        "path": _PATH,
        "format": _FORMAT,
        "batch_size": _BATCH,
        "conflict_resolution": Param("conflict_resolution", str, default="error", choices=CONFLICT_RESOLUTIONS,
                                     description="A row whose id exists: error (default), skip or update."),
    }
    outputs = frozenset({"path", "format", "processed", "inserted", "updated", "skipped", "duration_ms",
                         "success"})

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
