"""CRUD plugin: generates create, read, update, delete, list, count, upsert and the four bulk nodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataflow.hookspecs import hookimpl
from dataflow.models import ModelSpec

from dataflow_crud.nodes import make_nodes


@hookimpl
def dataflow_generate_nodes(model: ModelSpec, db: Any, register: Callable[[str, type], None]) -> None:
    for name, cls in make_nodes(model).items():
        register(name, cls)


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    from dataflow_crud.demo import demo

    app.command(demo, name="demo")
