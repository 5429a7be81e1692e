"""Conformance: the order users wrote is kept wherever it can matter.

Connections and templates come first. Beyond them, two nodes that touch the same DataFlow instance,
at least one of which writes, run in the order they were added; nodes that only read, or touch
different instances, may overlap; a node type that declares nothing (``PythonCodeNode``) keeps its
place relative to every node. Both runtimes follow the rule, and ``max_concurrency=1`` runs nodes
one at a time in the order added.
"""

import asyncio

from dataflow import AsyncLocalRuntime, LocalRuntime, WorkflowBuilder
from dataflow.testing.suite._support import person_model, tests_in


def _create_update_list(tag):
    wf = WorkflowBuilder()
    wf.add_node("PersonCreateNode", "create", {"name": f"{tag}-new", "email": f"{tag}@x.io", "age": 1})
    wf.add_node("PersonUpdateNode", "update", {"filter": {"email": f"{tag}@x.io"}, "fields": {"name": f"{tag}-done"}})
    wf.add_node("PersonListNode", "list", {"filter": {"email": f"{tag}@x.io"}})
    return wf.build()


def test_create_update_list_unconnected_keep_their_order_100_runs(make_model):
    person_model(make_model)
    runtime = LocalRuntime()
    for run in range(100):
        results, _ = runtime.execute(_create_update_list(f"r{run}"))
        assert results["update"]["updated"] is True, f"run {run}: the update ran before the create"
        assert [r["name"] for r in results["list"]["records"]] == [f"r{run}-done"], f"run {run}: list out of order"


def test_the_async_runtime_keeps_the_same_order(make_model):
    person_model(make_model)
    runtime = AsyncLocalRuntime()

    async def main():
        outcomes = await asyncio.gather(*(runtime.execute_workflow_async(_create_update_list(f"a{i}"))
                                          for i in range(20)))
        for i, (results, _) in enumerate(outcomes):
            assert results["update"]["updated"] is True
            assert [r["name"] for r in results["list"]["records"]] == [f"a{i}-done"]

    asyncio.run(main())


def test_a_list_added_after_a_create_sees_it(make_model, run):
    person_model(make_model)
    for i in range(20):
        wf = WorkflowBuilder()
        wf.add_node("PersonCreateNode", "create", {"name": f"p{i}"})
        wf.add_node("PersonListNode", "list", {"filter": {"name": f"p{i}"}})
        wf.add_node("PersonCountNode", "count", {})
        results = run(wf)
        assert results["list"]["count"] == 1 and results["count"]["count"] == i + 1


def test_writes_wait_for_the_reads_added_before_them(make_model, run, run_node):
    person_model(make_model)
    run_node("PersonBulkCreateNode", {"data": [{"name": f"n{i}", "age": i} for i in range(5)]})
    wf = WorkflowBuilder()
    wf.add_node("PersonCountNode", "before", {})
    wf.add_node("PersonListNode", "listed", {"order_by": ["age"]})
    wf.add_node("PersonBulkDeleteNode", "wipe", {"filter": {}, "confirmed": True})
    wf.add_node("PersonCountNode", "after", {})
    built = wf.build()
    assert built.nodes["listed"].ordered_after == frozenset(), "two reads may overlap"
    assert built.nodes["wipe"].ordered_after == {"before", "listed"}
    results = run(built)
    assert results["before"]["count"] == 5 and results["listed"]["count"] == 5
    assert results["wipe"]["deleted"] == 5 and results["after"]["count"] == 0


def test_other_instances_and_nodes_that_declare_nothing(make_model):
    first = make_model.db
    second = make_model.new_db(name=f"second-{id(make_model)}")

    class Ledger:
        label: str

    make_model(Ledger, db=first)

    class Journal:
        label: str

    make_model(Journal, db=second)
    wf = WorkflowBuilder()
    wf.add_node("LedgerCreateNode", "a", {"label": "one"})
    wf.add_node("JournalCreateNode", "b", {"label": "one"})
    wf.add_node("PythonCodeNode", "code", {"code": "result = 1"})
    wf.add_node("LedgerCountNode", "c", {})
    wf.add_node("JournalCountNode", "d", {})
    built = wf.build()
    assert built.nodes["b"].ordered_after == frozenset(), "another instance: may overlap"
    assert built.nodes["code"].ordered_after == {"a", "b"}, "declares nothing: waits for every node before it"
    assert built.nodes["c"].ordered_after == {"code"} and built.nodes["d"].ordered_after == {"code"}
    results, _ = LocalRuntime().execute(built)
    assert results["c"]["count"] == 1 and results["d"]["count"] == 1


def test_max_concurrency_one_runs_nodes_one_at_a_time_in_the_order_added(make_model):
    person_model(make_model)
    wf = WorkflowBuilder()
    wf.add_node("PersonListNode", "l1", {})
    wf.add_node("PersonCountNode", "c1", {})
    wf.add_node("PersonCreateNode", "create", {"name": "x"})
    wf.add_node("PersonCountNode", "c2", {})
    wf.add_node("PersonListNode", "l2", {})
    for runtime in (LocalRuntime(max_concurrency=1), AsyncLocalRuntime(max_concurrency=1)):
        results, _ = runtime.execute(wf.build())
        assert list(results) == ["l1", "c1", "create", "c2", "l2"]
        assert results["c2"]["count"] == results["c1"]["count"] + 1 == results["l2"]["count"]


def test_connections_decide_against_the_order_added(make_model, run):
    person_model(make_model)
    wf = WorkflowBuilder()
    wf.add_node("PersonReadNode", "read", {})
    wf.add_node("PersonCreateNode", "create", {"name": "first written, added second"})
    wf.add_connection("create", "id", "read", "id")
    results = run(wf)
    assert results["read"]["name"] == "first written, added second"
    assert wf.build().order == ("create", "read")


__all__ = tests_in(globals())
