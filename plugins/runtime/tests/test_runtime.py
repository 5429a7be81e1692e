"""The runtimes on a real SQLite file: ordering, concurrency, templates, code nodes, errors, reuse."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, ClassVar

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, DataFlowError, LocalRuntime, WorkflowBuilder, WorkflowExecutionError
from dataflow.nodes import Node, NodeContext, Param


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


def test_missing_template_input_is_df101_before_any_node_runs(db):
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "first", {"id": "kept-out", "name": "n"})
    wf.add_node("ItemCreateNode", "create", {"id": "${nothing}", "name": "n"})
    with pytest.raises(DataFlowError) as info:
        LocalRuntime().execute(wf.build())
    assert info.value.code == "DF-101" and info.value.context["node_id"] == "create"
    assert "nothing" in info.value.message
    count = WorkflowBuilder()
    count.add_node("ItemCountNode", "n", {})
    assert LocalRuntime().execute(count.build())[0]["n"]["count"] == 0, "no node ran"
    # a run parameter that replaces the templated parameter needs no input for it
    results, _ = LocalRuntime().execute(wf.build(), parameters={"create": {"id": "given"}})
    assert results["create"]["id"] == "given"


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


class Nap(Node):
    """Sleeps; uses no database, so nothing but connections orders it."""

    type_name = "Nap"
    parameters: ClassVar = {"seconds": Param("seconds", float, default=0.0)}
    outputs = frozenset({"done"})

    @classmethod
    def touches(cls, params: Any) -> tuple[()]:
        return ()

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        await asyncio.sleep(params.get("seconds", 0.0))
        return {"done": True}


def test_independent_branches_run_concurrently(db):
    wf = WorkflowBuilder()
    for i in range(4):
        wf.add_node(Nap, f"sleep{i}", {"seconds": 0.3})
    start = time.perf_counter()
    AsyncLocalRuntime().execute(wf.build())
    assert time.perf_counter() - start < 0.9
    start = time.perf_counter()
    AsyncLocalRuntime(max_concurrency=2).execute(wf.build())
    assert 0.6 <= time.perf_counter() - start < 1.1


def test_nodes_that_declare_nothing_keep_the_order_added(db):
    wf = WorkflowBuilder()
    for i in range(3):
        wf.add_node("AsyncPythonCodeNode", f"sleep{i}", {"code": "import asyncio, time\nawait asyncio.sleep(0.1)\n"
                                                          "at = time.monotonic()"})
    results, _ = AsyncLocalRuntime().execute(wf.build())
    assert results["sleep0"]["at"] < results["sleep1"]["at"] - 0.09 < results["sleep2"]["at"] - 0.18


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


def test_missing_output_is_df201_at_build(db):
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "a", {"id": "1", "name": "n"})
    wf.add_node("ItemReadNode", "b", {})
    wf.add_connection("a", "no_such_output", "b", "id")
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-201" and "no_such_output" in info.value.message


def test_missing_output_of_a_code_node_is_df201_when_it_runs(db):
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "a", {"code": "value = 1"})
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


def test_global_node_types_are_found_on_first_use_without_importing_the_runtime_first(tmp_path):
    import subprocess
    import sys

    script = (
        "from dataflow import WorkflowBuilder\n"
        "wf = WorkflowBuilder()\n"
        "wf.add_node('PythonCodeNode', 'code', {'code': 'result = 1'})\n"
        "built = wf.build()\n"
        "import sys\n"
        "print(built.nodes['code'].type_name)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "PythonCodeNode"


def test_short_code_runs_on_the_loop_thread_and_blocking_code_in_a_worker(db):
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "short", {"code": "import threading\nname = threading.current_thread().name"})
    wf.add_node("PythonCodeNode", "asked", {"code": "import threading\nname = threading.current_thread().name",
                                            "run_in_thread": True})
    wf.add_node("PythonCodeNode", "sleepy", {"code": "import threading, time\ntime.sleep(0)\n"
                                             "name = threading.current_thread().name"})
    results, _ = LocalRuntime().execute(wf.build())
    assert results["short"]["name"] == "dataflow-loop"
    assert results["asked"]["name"] != "dataflow-loop"
    assert results["sleepy"]["name"] != "dataflow-loop"
    with pytest.raises(DataFlowError) as info:
        bad = WorkflowBuilder()
        bad.add_node("PythonCodeNode", "bad", {"code": "x = 1", "run_in_thread": "yes"})
        bad.build()
    assert info.value.code == "DF-102"


def test_templates_beside_the_dataflow_object_itself(db):
    """Rendering templates copies only the containers on their way, never db_instance (unpicklable)."""
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "create", {"id": "${item}", "name": "n", "db_instance": db})
    wf.add_node("ItemUpdateNode", "update", {"filter": {"id": "${create.id}"}, "fields": {"qty": "${qty}"},
                                             "db_instance": db})
    built = wf.build()
    results, _ = LocalRuntime().execute(built, parameters={"item": "t1", "qty": 4})
    assert results["update"]["qty"] == 4
    assert built.nodes["update"].params["filter"] == {"id": "${create.id}"}, "the built workflow is unchanged"


def test_transactional_run_details(db, tmp_path):
    with pytest.raises(DataFlowError) as info:
        LocalRuntime().execute(WorkflowBuilder().build(), transaction="yes")
    assert info.value.code == "DF-102"

    async def opened_elsewhere():
        async with db.transaction():
            wf = WorkflowBuilder()
            wf.add_node("ItemCreateNode", "c", {"id": "loop", "name": "n"})
            LocalRuntime().execute(wf.build())  # another thread's loop: this transaction cannot follow

    with pytest.raises(DataFlowError) as info:
        asyncio.run(opened_elsewhere())
    assert info.value.code == "DF-802" and info.value.cause_code == "DF-509"
    # SQLite has one isolation level: whatever a nested block asks for is the one it has
    with db.transaction(isolation_level="SERIALIZABLE"), db.transaction(isolation_level="READ_COMMITTED"):
        pass


def test_a_partial_commit_names_what_committed(tmp_path):
    import sqlite3

    first = DataFlow(f"sqlite:///{tmp_path / 'first.db'}")
    path = tmp_path / "deferred.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE parents (id TEXT PRIMARY KEY)")
        conn.execute("CREATE TABLE kids (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES parents(id) "
                     "DEFERRABLE INITIALLY DEFERRED, created_at TEXT, updated_at TEXT)")
    second = DataFlow(f"sqlite:///{path}", existing_schema_mode=True, name="kids-db")
    try:
        first.model(type("Keep", (), {"__annotations__": {"id": str}, "__tablename__": "keeps"}))
        second.model(type("Kid", (), {"__annotations__": {"id": str, "parent_id": str}, "__tablename__": "kids"}))
        wf = WorkflowBuilder()
        wf.add_node("KeepCreateNode", "kept", {"id": "a"})
        wf.add_node("KidCreateNode", "orphan", {"id": "k", "parent_id": "nobody"})
        with pytest.raises(DataFlowError) as info:
            LocalRuntime().execute(wf.build(), transaction=True)
        assert info.value.code == "DF-804" and "kids-db" in info.value.message
        count = WorkflowBuilder()
        count.add_node("KeepCountNode", "a", {})
        count.add_node("KidCountNode", "b", {})
        results, _ = LocalRuntime().execute(count.build())
        assert (results["a"]["count"], results["b"]["count"]) == (1, 0)
    finally:
        first.close()
        second.close()
