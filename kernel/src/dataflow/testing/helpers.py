"""Small building blocks that several test modules (kernel, dialect plugins, workspace tests) share.

Unlike ``dataflow.testing.fixtures`` these are plain functions and classes, not pytest fixtures:

- ``ScalarFields``: a mixin with one field of each scalar type, for "every type" models;
- ``person_model``: declares the ``Person`` model the node tests use, through ``make_model``;
- ``create_then_read``: a two-node workflow, a create whose ``id`` feeds a read;
- ``run_nodes``: builds and runs a workflow of ``(type, id, params)`` nodes on a LocalRuntime.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from dataflow.workflow import WorkflowBuilder

__all__ = ["ScalarFields", "create_then_read", "person_model", "run_nodes"]


class ScalarFields:
    """One field of each scalar type (str, int, float, bool, datetime, date, Decimal, bytes).

    Subclass it and add the rest (JSON fields, optionals, an ``id``): model declarations read the
    annotations of base classes first, so these fields keep their place at the front of the model.
    """

    s: str
    i: int
    f: float
    b: bool
    when: dt.datetime
    day: dt.date
    amount: Decimal
    blob: bytes


def person_model(make_model: Callable[[type], Any]) -> Any:
    """Declare ``Person`` (str ``id``, ``name``, ``age`` defaulting to 0, nullable ``nickname``) with
    ``make_model`` (the fixture, which gives it a table of its own) and return the model class."""

    class Person:
        id: str
        name: str
        age: int = 0
        nickname: str | None = None

    return make_model(Person)


def create_then_read(model: str, values: Mapping[str, Any]) -> WorkflowBuilder:
    """A workflow whose node ``create`` makes a ``model`` row from ``values`` and whose node ``read``
    reads it back by the created ``id`` (passed along a connection, not as a parameter)."""
    wf = WorkflowBuilder()
    wf.add_node(f"{model}CreateNode", "create", dict(values))
    wf.add_node(f"{model}ReadNode", "read", {})
    wf.add_connection("create", "id", "read", "id")
    return wf


def run_nodes(*nodes: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    """Build and run a workflow of ``(type, id, params)`` nodes on a new LocalRuntime; its results."""
    from dataflow import LocalRuntime  # the runtime comes from a plugin: import it only when running

    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    results, _run_id = LocalRuntime().execute(wf.build())
    return results
