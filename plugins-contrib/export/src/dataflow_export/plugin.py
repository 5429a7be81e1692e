"""Export plugin: ``<Model>ExportNode`` / ``<Model>ImportNode`` for every model, ``dataflow export`` / ``import``.

Loading the plugin stays cheap: the node module loads when the first model is declared and the
command module (rich, the readers and writers) only when one of its commands runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dataflow.hookspecs import hookimpl

if TYPE_CHECKING:
    from dataflow.models import ModelSpec


@hookimpl
def dataflow_generate_nodes(model: ModelSpec, db: Any, register: Callable[[str, type], None]) -> None:
    from dataflow_export.nodes import make_nodes

    for name, cls in make_nodes(model).items():
        register(name, cls)


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    app.command("dataflow_export.cli:export_command", name="export",
                help="Export a model's rows to a CSV, JSON Lines or Parquet file, streamed in batches.")
    app.command("dataflow_export.cli:import_command", name="import",
                help="Import a CSV, JSON Lines or Parquet file into a model's table, all or nothing.")
