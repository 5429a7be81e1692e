"""CRUD plugin: generates create, read, update, delete, list, count, upsert and the four bulk nodes.

Loading the plugin stays cheap (its node module loads when the first model is declared, the demo's
module when ``dataflow demo`` runs), so ``dataflow --help`` and plugin listings do not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataflow.hookspecs import hookimpl


@hookimpl
def dataflow_generate_nodes(model: Any, db: Any, register: Callable[[str, type], None]) -> None:
    from dataflow_crud.nodes import make_nodes

    for name, cls in make_nodes(model).items():
        register(name, cls)


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    app.command("dataflow_crud.demo:demo", name="demo",
                help="Run the DataFlow demo: bulk load, a workflow, timings; leaves nothing behind.")
