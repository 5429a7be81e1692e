"""DataFlow instances and the node registry: open instances serve their node names, closed ones are freed."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.errors import DataFlowError
from dataflow.nodes import node_registry


def test_a_closed_instance_with_models_is_freed(tmp_path: Path) -> None:
    """Its node types must not keep it alive: an application that makes and closes instances (a test
    suite, a job per tenant) would otherwise grow for ever."""
    db = DataFlow(f"sqlite:///{tmp_path / 'freed.db'}")

    class Freed:
        name: str

    db.model(Freed)
    assert node_registry.resolve("FreedCreateNode").dataflow_instance is db
    db.close()
    gone = weakref.ref(db)
    del db
    gc.collect()
    assert gone() is None
    with pytest.raises(DataFlowError) as info:
        node_registry.resolve("FreedCreateNode")
    assert info.value.code == "DF-701"


def test_an_open_instance_nobody_holds_still_serves_its_node_names(tmp_path: Path) -> None:
    def set_up() -> None:
        db = DataFlow(f"sqlite:///{tmp_path / 'kept.db'}")

        class Kept:
            name: str

        db.model(Kept)

    set_up()
    gc.collect()
    wf = WorkflowBuilder()
    wf.add_node("KeptCountNode", "count", {})
    results, _ = LocalRuntime().execute(wf.build())
    assert results["count"] == {"count": 0}
    node_registry.resolve("KeptCountNode").dataflow_instance.close()  # type: ignore[attr-defined]
