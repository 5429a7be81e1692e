"""Export plugin: ``<Model>ExportNode`` / ``<Model>ImportNode`` for every model, ``dataflow export`` / ``import``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataflow.hookspecs import hookimpl
from dataflow.models import ModelSpec


@hookimpl
def dataflow_generate_nodes(model: ModelSpec, db: Any, register: Callable[[str, type], None]) -> None:
    from dataflow_export.nodes import make_nodes

    for name, cls in make_nodes(model).items():
        register(name, cls)


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    from dataflow_export.cli import export_command, import_command

    app.command(export_command, name="export")
    app.command(import_command, name="import")
