"""The runtimes on a real SQLite file: ordering, concurrency, templates, code nodes, errors, reuse."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, DataFlowError, LocalRuntime, WorkflowBuilder, WorkflowExecutionError


@pytest.fixture
def db(tmp_path):
    instance = DataFlow(f"sqlite:///{tmp_path / 'runtime.db'}")

    @instance.model
    class Item:
        id: str
        name: str
        qty: int = 0
        __tablename__ = f"items_{uuid.uuid4().hex[:8]}"

    yield instance
    instance.close()


def test_results_are_the_node_outputs_themselves(db):
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "create", {"id": "a", "name": "apple"})
    results, run_id = LocalRuntime().execute(wf.build())
    assert results["create"]["id"] == "a" and results["create"]["name"] == "apple"
    assert isinstance(run_id, str) and run_id


def test_connections_and_dotted_paths(db):
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "prepare", {"code": "result = {'filter': {'id': 'a'}, 'fields': {'qty': 5}}"})
    wf.add_node("ItemCreateNode", "create", {"id": "a", "name": "apple"})
    wf.add_node("ItemUpdateNode", "update", {})
    wf.add_connection("prepare", "result.filter", "update", "filter")
    wf.add_connection("prepare", "result.fields", "update", "fields")
    wf.add_connection("create", "id", "update", "filter.id")
    results, _ = LocalRuntime().execute(wf.build())
    assert results["update"]["qty"] == 5 and results["update"]["updated"] is True


def test_templates_from_inputs_and_nodes_keep_types(db):
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "create", {"id": "${item_id}", "name": "n-{{item_id}}", "qty": "${qty}"})
    wf.add_node("ItemReadNode", "read", {"id": "${create.id}"})
    results, _ = LocalRuntime().execute(wf.build(), parameters={"item_id": "x1", "qty": 7})
    assert results["create"]["qty"] == 7  # a whole-string template keeps the value's type
    assert results["create"]["name"] == "n-x1"
    assert results["read"]["found"] is True


def test_missing_template_input_is_df101(db):
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "create", {"id": "${nothing}", "name": "n"})
    with pytest.raises(WorkflowExecutionError) as info:
        LocalRuntime().execute(wf.build())
    assert info.value.code == "DF-802" and info.value.cause_code == "DF-101"


def test_python_code_node_outputs(db):
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "multi", {"code": "filter_data = {'id': x}\nflag = True", "x": "k"})
    wf.add_node("AsyncPythonCodeNode", "async", {"code": "import asyncio\nawait asyncio.sleep(0)\nvalue = 3"})
    results, _ = LocalRuntime().execute(wf.build())
    assert results["multi"] == {"filter_data": {"id": "k"}, "x": "k", "flag": True} or \
        results["multi"]["filter_data"] == {"id": "k"}
    assert results["async"]["value"] == 3


def test_failing_node_raises_df802_naming_node_with_cause(db):
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "boom", {"code": "raise ValueError('bad thing')"})
    with pytest.raises(WorkflowExecutionError) as info:
        LocalRuntime().execute(wf.build())
    assert info.value.code == "DF-802" and info.value.node_id == "boom"
    assert isinstance(info.value.__cause__, ValueError)
    assert "boom" in str(info.value)


def test_independent_branches_run_concurrently(db):
    wf = WorkflowBuilder()
    for i in range(4):
        wf.add_node("AsyncPythonCodeNode", f"sleep{i}", {"code": "import asyncio\nawait asyncio.sleep(0.3)\ndone = 1"})
    start = time.perf_counter()
    AsyncLocalRuntime().execute(wf.build())
    assert time.perf_counter() - start < 0.9


def test_runtime_reusable_across_calls_and_event_loops(db):
    runtime = LocalRuntime()
    for i in range(3):
        wf = WorkflowBuilder()
        wf.add_node("ItemCreateNode", "c", {"id": f"r{i}", "name": "n"})
        runtime.execute(wf.build())
    async_runtime = AsyncLocalRuntime()

    async def count() -> int:
        wf = WorkflowBuilder()
        wf.add_node("ItemCountNode", "count", {})
        results, _ = await async_runtime.execute_workflow_async(wf.build(), inputs={})
        return results["count"]["count"]

    assert asyncio.run(count()) == 3
    assert asyncio.run(count()) == 3  # a second loop never meets the first loop's connection


def test_build_errors(db):
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "a", {"id": "1", "name": "n"})
    with pytest.raises(DataFlowError) as info:
        wf.add_node("ItemCreateNode", "a", {})
    assert info.value.code == "DF-801"
    wf.add_node("ItemReadNode", "b", {})
    wf.add_connection("a", "id", "b", "id")
    wf.add_connection("b", "id", "a", "id")
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-801" and "cycle" in info.value.message


def test_unknown_node_type_suggests_the_closest(db):
    wf = WorkflowBuilder()
    wf.add_node("ItemCreatNode", "a", {})
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-701" and "ItemCreateNode" in info.value.message


def test_missing_output_is_df201(db):
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "a", {"id": "1", "name": "n"})
    wf.add_node("ItemReadNode", "b", {})
    wf.add_connection("a", "no_such_output", "b", "id")
    with pytest.raises(WorkflowExecutionError) as info:
        LocalRuntime().execute(wf.build())
    assert info.value.cause_code == "DF-201"


def test_unknown_runtime_option_is_df401():
    with pytest.raises(DataFlowError) as info:
        LocalRuntime(persistant_mode=True)
    assert info.value.code == "DF-401" and "persistent_mode" in info.value.message


def test_runtime_is_not_a_builder_error():
    with pytest.raises(DataFlowError) as info:
        LocalRuntime().execute("not a workflow")
    assert info.value.code == "DF-801"
