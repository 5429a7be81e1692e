"""``dataflow.runtime.observe_nodes``: both runtimes tell observers of every node run, code nodes too."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, LocalRuntime, WorkflowBuilder, WorkflowExecutionError
from dataflow.runtime import observe_nodes


@pytest.fixture
def db(tmp_path):
    instance = DataFlow(f"sqlite:///{tmp_path / 'observe.db'}")

    @instance.model
    class Item:
        id: str
        name: str
        __tablename__ = f"items_{uuid.uuid4().hex[:8]}"

    yield instance
    instance.close()


def _workflow() -> WorkflowBuilder:
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "prepare", {"code": "result = 'apple'"})
    wf.add_node("ItemCreateNode", "create", {"id": "a"})
    wf.add_node("ItemCountNode", "count", {})
    wf.add_connection("prepare", "result", "create", "name")
    return wf


def test_every_node_is_observed_once_with_its_times(db):
    seen = []
    with observe_nodes(lambda ctx, start, end, error: seen.append((ctx.node_id, ctx.run_id, start, end, error))):
        _, run_id = LocalRuntime().execute(_workflow().build())
    assert sorted(s[0] for s in seen) == ["count", "create", "prepare"]
    assert all(s[1] == run_id and s[2] <= s[3] and s[4] is None for s in seen)
    times = {s[0]: (s[2], s[3]) for s in seen}
    assert times["prepare"][1] <= times["create"][0], "create waited for the node feeding it"
    LocalRuntime().execute(_count_only())
    assert len(seen) == 3, "nothing is observed outside the block"


def _count_only():
    wf = WorkflowBuilder()
    wf.add_node("ItemCountNode", "count", {})
    return wf.build()


def test_async_runtime_and_failures_are_observed(db):
    seen = []
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "create", {"id": "a", "name": "one"})
    wf.add_node("ItemCreateNode", "again", {"id": "a", "name": "two"})

    async def run() -> None:
        await AsyncLocalRuntime().execute_workflow_async(wf.build())

    with observe_nodes(lambda ctx, start, end, error: seen.append((ctx.node_id, error))), \
            pytest.raises(WorkflowExecutionError):
        asyncio.run(run())
    assert seen[0] == ("create", None)
    assert seen[1][0] == "again" and seen[1][1] is not None
