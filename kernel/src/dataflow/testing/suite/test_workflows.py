"""Conformance: the dialect under the workflow machinery: concurrency, runtime and pool reuse across
calls and event loops, templates, connections, failures, and several instances side by side."""

import asyncio

import pytest

from dataflow import AsyncLocalRuntime, LocalRuntime, WorkflowBuilder, WorkflowExecutionError
from dataflow.errors import DataFlowError
from dataflow.testing.suite._support import PEOPLE, person_model, seed_people, tests_in


def _create(name, age=0):
    wf = WorkflowBuilder()
    wf.add_node("PersonCreateNode", "create", {"name": name, "age": age})
    wf.add_node("PersonReadNode", "read", {})
    wf.add_connection("create", "id", "read", "id")
    return wf.build()


def test_fifty_concurrent_tasks(make_model, run_node):
    person_model(make_model)
    runtime = AsyncLocalRuntime()

    async def main():
        async def one(i):
            results, run_id = await runtime.execute_workflow_async(_create(f"p{i:02d}", i), inputs={})
            assert results["read"]["name"] == f"p{i:02d}" and results["read"]["found"] is True
            return results["create"]["id"], run_id

        return await asyncio.gather(*(one(i) for i in range(50)))

    outcome = asyncio.run(main())
    assert len({i for i, _ in outcome}) == 50 and len({r for _, r in outcome}) == 50
    assert run_node("PersonCountNode", {}) == {"count": 50}
    out = run_node("PersonListNode", {"order_by": ["-age"], "limit": 3})
    assert [r["name"] for r in out["records"]] == ["p49", "p48", "p47"]


def test_concurrent_reads_and_writes_in_one_workflow(make_model, run, run_node):
    seed_people(make_model, run_node)
    wf = WorkflowBuilder()
    for i in range(10):
        wf.add_node("PersonCreateNode", f"c{i}", {"name": f"n{i}"})
        wf.add_node("PersonCountNode", f"k{i}", {"filter": {"age": 25}})
    results = run(wf)
    assert all(results[f"k{i}"] == {"count": 2} for i in range(10))
    assert len({results[f"c{i}"]["id"] for i in range(10)}) == 10


def test_local_runtime_is_reusable(make_model):
    person_model(make_model)
    runtime = LocalRuntime()
    first, _ = runtime.execute(_create("a"))
    second, _ = runtime.execute(_create("b"))
    third, _ = LocalRuntime().execute(_create("c"))
    assert [r["read"]["name"] for r in (first, second, third)] == ["a", "b", "c"]


def test_async_runtime_across_event_loops(make_model, run_node):
    person_model(make_model)
    runtime = AsyncLocalRuntime()

    async def main(name):
        results, _ = await runtime.execute_workflow_async(_create(name), inputs={})
        return results["read"]["name"]

    assert asyncio.run(main("loop1")) == "loop1"
    assert asyncio.run(main("loop2")) == "loop2"  # a new loop: no "event loop is closed"
    assert asyncio.run(AsyncLocalRuntime().execute_workflow_async(_create("loop3")))[0]["read"]["found"] is True
    # and the synchronous runtime still works after those loops are gone
    assert run_node("PersonCountNode", {}) == {"count": 3}
    results, _ = LocalRuntime().execute(_create("sync"))
    assert results["read"]["name"] == "sync"


def test_templates(make_model, run):
    person_model(make_model)
    wf = WorkflowBuilder()
    wf.add_node("PersonCreateNode", "create", {"name": "${who}", "age": "${age}"})
    wf.add_node("PersonUpdateNode", "rename", {"filter": {"id": "${create.id}"},
                                               "fields": {"name": "Dr {{create.name}} (${age})"}})
    wf.add_node("PersonReadNode", "read", {"id": "{{rename.id}}"})
    results = run(wf, {"who": "Zed", "age": 44})
    assert results["create"]["age"] == 44  # a whole-string template keeps the value's type
    assert results["rename"]["name"] == "Dr Zed (44)"
    assert results["read"]["name"] == "Dr Zed (44)" and results["read"]["age"] == 44


def test_dotted_connections(make_model, run, run_node):
    _, ids = seed_people(make_model, run_node)
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "make", {"code": "result = {'filter': {'age': age}, 'when': {'id': pick}}",
                                           "age": 25, "pick": ids["Carol"]})
    wf.add_node("PersonListNode", "list", {"order_by": ["name"]})
    wf.add_node("PersonUpdateNode", "update", {"fields": {"city": "Rome"}})
    wf.add_node("PersonReadNode", "read", {})
    wf.add_connection("make", "result.filter", "list", "filter")
    wf.add_connection("make", "result.when.id", "update", "filter.id")
    wf.add_connection("update", "id", "read", "id")
    results = run(wf)
    assert [r["name"] for r in results["list"]["records"]] == ["Bob", "Dave"]
    assert results["update"]["updated"] is True and results["read"]["city"] == "Rome"
    assert results["read"]["id"] == ids["Carol"]


def test_failing_node_raises_df802_naming_it(make_model, run):
    person_model(make_model)
    wf = WorkflowBuilder()
    wf.add_node("PersonCreateNode", "create", {"name": "ok"})
    wf.add_node("PersonReadNode", "lookup", {"id": 987654})
    with pytest.raises(WorkflowExecutionError) as info:
        run(wf)
    error = info.value
    assert isinstance(error, DataFlowError) and error.code == "DF-802"
    assert error.node_id == "lookup" and "lookup" in error.message
    assert isinstance(error.__cause__, DataFlowError) and error.__cause__.code == "DF-703"
    assert error.cause_code == "DF-703"


def test_driver_errors_never_escape_raw(make_model, run_node):
    _person, _ = seed_people(make_model, run_node)
    with pytest.raises(WorkflowExecutionError) as info:
        run_node("PersonCreateNode", {"name": "dup", "email": PEOPLE[0]["email"]})
    cause = info.value.__cause__
    assert isinstance(cause, DataFlowError) and cause.code == "DF-704"
    assert cause.__cause__ is not None  # the driver's exception is chained, not lost


def test_instances_with_the_same_model_stay_isolated(make_model, run_node):
    first = make_model.db
    second = make_model.new_db(name=f"second-{id(make_model)}")

    class Shared:
        label: str

    make_model(Shared, db=first)

    class Shared:  # type: ignore[no-redef]  # the same model name on the other instance, its own table
        label: str

    make_model(Shared, db=second)
    run_node("SharedCreateNode", {"label": "one", "db_instance": first})
    run_node("SharedBulkCreateNode", {"data": [{"label": "x"}, {"label": "y"}], "db_instance": second})
    assert run_node("SharedCountNode", {"db_instance": first}) == {"count": 1}
    assert run_node("SharedCountNode", {"db_instance": second}) == {"count": 2}
    assert run_node("SharedCountNode", {"db_instance": second.name}) == {"count": 2}
    # without db_instance, the instance that registered the model last is used
    assert run_node("SharedCountNode", {}) == {"count": 2}
    listed = run_node("SharedListNode", {"db_instance": first, "order_by": ["label"]})
    assert [r["label"] for r in listed["records"]] == ["one"]


__all__ = tests_in(globals())
