"""Conformance: transactions, the same on every database.

- ``runtime.execute(wf, transaction=True)``: every write of the workflow commits together after its last
  node succeeds, or none is kept; the DF-802 names the failing node and says the workflow was rolled back.
- ``with db.transaction():`` / ``async with db.transaction():`` covers every node of the instance run
  inside it, by either runtime, in any number of workflows; an exception rolls everything back; a nested
  block is a savepoint. A transaction belongs to the thread or task that opened it.
- Nodes that make their own transaction (update, delete, upsert, bulk) join the open one.
- A failed statement aborts the transaction (DF-509 for what follows) unless a nested block took it.
- A second writer waits for the first and then succeeds.
"""

import asyncio
import contextvars
import threading
import time

import pytest

from dataflow import AsyncLocalRuntime, LocalRuntime, WorkflowBuilder, WorkflowExecutionError
from dataflow.errors import DataFlowError
from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import PEOPLE, names, person_model, seed_people, tests_in


def _workflow(*nodes):
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    return wf.build()


def _count(run_node, **flt):
    return run_node("PersonCountNode", {"filter": flt})["count"]


def test_a_failing_last_node_of_a_transactional_workflow_leaves_nothing_written(make_model, run_node):
    person, ids = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    wf = _workflow(("PersonBulkDeleteNode", "wipe", {"filter": {}, "confirmed": True}),
                   ("PersonCreateNode", "new", {"name": "Zed", "email": "zed@x.io"}),
                   ("PersonUpdateNode", "rename", {"filter": {"id": ids["Bob"]}, "fields": {"name": "Robert"}}),
                   ("PersonBulkUpsertNode", "upsert", {"data": [{"name": "Yan", "email": "yan@x.io"}],
                                                       "conflict_on": ["email"]}),
                   ("PersonCreateNode", "clash", {"name": "dup", "email": "zed@x.io"}))
    for runtime in (LocalRuntime(), AsyncLocalRuntime()):
        with pytest.raises(WorkflowExecutionError) as info:
            runtime.execute(wf, transaction=True)
        error = info.value
        assert error.code == "DF-802" and error.node_id == "clash" and error.cause_code == "DF-704"
        assert "rolled back" in error.message and error.rolled_back
        assert raw_rows(make_model.db, person) == before


def test_a_transactional_workflow_commits_everything_after_its_last_node(make_model, run_node):
    seed_people(make_model, run_node)
    wf = _workflow(("PersonCreateNode", "a", {"name": "Ann"}), ("PersonCreateNode", "b", {"name": "Ben"}),
                   ("PersonCountNode", "count", {}))
    results, _ = LocalRuntime().execute(wf, transaction=True)
    assert results["count"]["count"] == len(PEOPLE) + 2, "a node reads the writes made before it"

    async def main():
        return await AsyncLocalRuntime().execute_workflow_async(wf, transaction=True)

    results, _ = asyncio.run(main())
    assert results["count"]["count"] == len(PEOPLE) + 4
    assert _count(run_node) == len(PEOPLE) + 4


def test_reads_that_overlap_inside_a_transaction_take_turns_on_its_connection(make_model, run_node):
    seed_people(make_model, run_node)
    nodes = [("PersonCreateNode", "c", {"name": "New", "age": 25})]
    nodes += [("PersonCountNode", f"k{i}", {"filter": {"age": 25}}) for i in range(6)]
    nodes += [("PersonListNode", f"l{i}", {"filter": {"age": 25}, "order_by": ["name"]}) for i in range(6)]
    nodes += [("PersonBulkUpdateNode", "u", {"filter": {"age": 25}, "fields": {"age": 26}})]
    built = _workflow(*nodes)
    assert built.nodes["k1"].ordered_after == {"c"} and built.nodes["l5"].ordered_after == {"c"}, "they overlap"
    for runtime, expected in ((LocalRuntime(), 3), (AsyncLocalRuntime(), 1)):  # the first run moved 25 to 26
        results, _ = runtime.execute(built, transaction=True)
        assert [results[f"k{i}"]["count"] for i in range(6)] == [expected] * 6
        assert [len(results[f"l{i}"]["records"]) for i in range(6)] == [expected] * 6
    assert _count(run_node, age=26) == 4


def test_db_transaction_spans_two_workflows_and_rolls_back(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    db = make_model.db
    before = raw_rows(db, person)
    runtime = LocalRuntime()
    with pytest.raises(KeyError), db.transaction():
        runtime.execute(_workflow(("PersonCreateNode", "c", {"name": "Temp"})))
        runtime.execute(_workflow(("PersonBulkDeleteNode", "d", {"filter": {"age": 25}})))
        results, _ = runtime.execute(_workflow(("PersonCountNode", "k", {})))
        assert results["k"]["count"] == len(PEOPLE) - 1, "the second workflow sees the first one's writes"
        raise KeyError("undo")
    assert raw_rows(db, person) == before


def test_db_transaction_commits_when_the_block_ends(make_model, run_node):
    seed_people(make_model, run_node)
    db = make_model.db

    async def main():
        runtime = AsyncLocalRuntime()
        async with db.transaction():
            await runtime.execute_workflow_async(_workflow(("PersonCreateNode", "c", {"name": "Kept"})))
            await runtime.execute_workflow_async(_workflow(("PersonBulkUpdateNode", "u",
                                                            {"filter": {"name": "Kept"}, "fields": {"age": 9}})))

    asyncio.run(main())
    assert run_node("PersonListNode", {"filter": {"name": "Kept"}})["records"][0]["age"] == 9


def test_a_nested_block_is_a_savepoint_rolled_back_while_the_outer_commits(make_model, run_node):
    seed_people(make_model, run_node)
    db = make_model.db
    runtime = LocalRuntime()
    with db.transaction():
        runtime.execute(_workflow(("PersonCreateNode", "kept", {"name": "Outer"})))
        with pytest.raises(ValueError), db.transaction():
            runtime.execute(_workflow(("PersonCreateNode", "lost", {"name": "Inner"}),
                                      ("PersonBulkDeleteNode", "gone", {"filter": {"age": 25}})))
            raise ValueError("only the inner block")
        runtime.execute(_workflow(("PersonCreateNode", "after", {"name": "After"})))
    assert sorted(names(run_node("PersonListNode", {"filter": {"name": {"$in": ["Outer", "Inner", "After"]}}})
                        ["records"])) == ["After", "Outer"]
    assert _count(run_node, age=25) == 2


def test_nodes_that_open_their_own_transaction_join_the_open_one(make_model, run_node):
    person, ids = seed_people(make_model, run_node)
    db = make_model.db
    before = raw_rows(db, person)
    runtime = LocalRuntime()
    with pytest.raises(RuntimeError), db.transaction():
        runtime.execute(_workflow(
            ("PersonUpdateNode", "u", {"filter": {"id": ids["Alice"]}, "fields": {"age": 1}}),
            ("PersonDeleteNode", "d", {"id": ids["Bob"]}),
            ("PersonUpsertNode", "up", {"where": {"email": "new@x.io"}, "create": {"name": "New"}}),
            ("PersonBulkCreateNode", "bc", {"data": [{"name": "B1"}, {"name": "B2"}], "batch_size": 1}),
            ("PersonBulkUpdateNode", "bu", {"filter": {"age": 25}, "fields": {"city": "Oslo"}}),
            ("PersonBulkUpsertNode", "bup", {"data": [{"id": ids["Carol"], "name": "C", "age": 3}]}),
            ("PersonBulkDeleteNode", "bd", {"filter": {"name": "Eve"}})))
        raise RuntimeError("roll all of it back")
    assert raw_rows(db, person) == before


def test_a_failed_statement_aborts_the_transaction_unless_a_nested_block_takes_it(make_model, run_node):
    seed_people(make_model, run_node)
    db = make_model.db
    runtime = LocalRuntime()
    duplicate = _workflow(("PersonCreateNode", "dup", {"name": "dup", "email": PEOPLE[0]["email"]}))
    with raises_df("DF-509"), db.transaction():
        with pytest.raises(DataFlowError):
            runtime.execute(duplicate)
        runtime.execute(_workflow(("PersonCreateNode", "more", {"name": "More"})))
    assert _count(run_node, name="More") == 0
    with db.transaction():
        with pytest.raises(DataFlowError), db.transaction():  # the savepoint takes the failure
            runtime.execute(duplicate)
        runtime.execute(_workflow(("PersonCreateNode", "more", {"name": "More"})))
    assert _count(run_node, name="More") == 1


def test_a_transaction_belongs_to_the_task_that_opened_it(make_model, run_node):
    seed_people(make_model, run_node)
    db = make_model.db
    runtime = AsyncLocalRuntime()

    async def count_outside():
        results, _ = await runtime.execute_workflow_async(_workflow(("PersonCountNode", "k", {})))
        return results["k"]["count"]

    async def main():
        async with db.transaction():
            await runtime.execute_workflow_async(_workflow(("PersonCreateNode", "c", {"name": "Mine"})))
            inside = (await runtime.execute_workflow_async(_workflow(("PersonCountNode", "k", {}))))[0]["k"]["count"]
            other = asyncio.get_running_loop().create_task(count_outside(), context=contextvars.Context())
            outside = await other
        return inside, outside

    inside, outside = asyncio.run(main())
    assert inside == len(PEOPLE) + 1 and outside == len(PEOPLE), "another task never sees uncommitted rows"
    assert _count(run_node) == len(PEOPLE) + 1


def test_a_second_writer_waits_for_the_first_then_succeeds(make_model, run_node):
    person_model(make_model)
    made = run_node("PersonCreateNode", {"name": "counter", "age": 0})
    db = make_model.db
    runtime = LocalRuntime()
    first_wrote = threading.Event()
    timings = {}

    def first():
        with db.transaction():
            runtime.execute(_workflow(("PersonUpdateNode", "u", {"filter": {"id": made["id"]}, "fields": {"age": 1}})))
            first_wrote.set()
            time.sleep(0.4)
            timings["first_done"] = time.monotonic()

    def second():
        first_wrote.wait(10)
        start = time.monotonic()
        with db.transaction():
            runtime.execute(_workflow(("PersonUpdateNode", "u", {"filter": {"id": made["id"]}, "fields": {"age": 2}})))
        timings["second_waited"] = time.monotonic() - start

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert timings["second_waited"] >= 0.2, "the second writer did not wait for the first"
    assert run_node("PersonReadNode", {"id": made["id"]})["age"] == 2


@pytest.mark.parametrize("level", ["READ_COMMITTED", "REPEATABLE_READ", "SERIALIZABLE", "read committed"])
def test_isolation_levels(make_model, run_node, level):
    seed_people(make_model, run_node)
    db = make_model.db
    with db.transaction(isolation_level=level) as conn:
        assert conn is not None
        LocalRuntime().execute(_workflow(("PersonCreateNode", "c", {"name": "Iso"})))
    assert _count(run_node, name="Iso") == 1
    with raises_df("DF-102"), db.transaction(isolation_level="CHAOS"):
        pass




# ---- the transaction nodes of Kailash DataFlow 2.x -----------------------------------------------------
def test_transaction_nodes_wired_as_kailash_users_wire_them(make_model, run, run_node):
    person_model(make_model)
    wf = WorkflowBuilder()
    wf.add_node("TransactionScopeNode", "start_tx", {"isolation_level": "READ_COMMITTED"})
    wf.add_node("PersonCreateNode", "create_a", {"name": "Keep"})
    wf.add_node("TransactionSavepointNode", "sp", {"name": "sp1"})
    wf.add_node("PersonCreateNode", "create_b", {"name": "Drop"})
    wf.add_node("PersonListNode", "seen", {"filter": {"name": {"$in": ["Keep", "Drop"]}}})
    wf.add_node("TransactionRollbackToSavepointNode", "rollback_sp", {"savepoint": "sp1"})
    wf.add_node("TransactionCommitNode", "commit_tx", {})
    outputs = {"start_tx": "result", "create_a": "id", "sp": "result", "create_b": "id", "seen": "count",
               "rollback_sp": "result"}
    for source, target in (("start_tx", "create_a"), ("create_a", "sp"), ("sp", "create_b"),
                           ("create_b", "seen"), ("seen", "rollback_sp"), ("rollback_sp", "commit_tx")):
        wf.add_connection(source, outputs[source], target, "input_data")
    results = run(wf)
    assert results["start_tx"]["status"] == "started" and results["start_tx"]["result"]["status"] == "started"
    assert results["seen"]["count"] == 2, "nodes inside the transaction read its uncommitted writes"
    assert results["rollback_sp"]["status"] == "rolled_back_to_savepoint"
    assert results["commit_tx"]["status"] == "committed"
    assert results["commit_tx"]["transaction_id"] == results["start_tx"]["transaction_id"]
    assert names(run_node("PersonListNode", {})["records"]) == ["Keep"]


def test_a_rollback_node_keeps_nothing_and_nodes_after_it_autocommit(make_model, run, run_node):
    person_model(make_model)
    results = run(_workflow(("TransactionScopeNode", "tx", {}),
                            ("PersonCreateNode", "doomed", {"name": "Doomed"}),
                            ("PythonCodeNode", "decide", {"code": "result = {'status': 'error'}"}),
                            ("TransactionRollbackNode", "undo", {}),
                            ("PersonCreateNode", "after", {"name": "After"})))
    assert results["undo"]["status"] == "rolled_back"
    assert names(run_node("PersonListNode", {})["records"]) == ["After"]


def test_a_failing_node_rolls_the_scope_back_or_only_itself(make_model, run_node):
    person_model(make_model)
    runtime = LocalRuntime()
    failing = ("PersonCreateNode", "clash", {"name": "Clash", "email": "a@x.io"})
    wf = _workflow(("PersonCreateNode", "before", {"name": "Before", "email": "a@x.io"}),
                   ("TransactionScopeNode", "tx", {}),
                   ("PersonCreateNode", "inside", {"name": "Inside"}), failing,
                   ("TransactionCommitNode", "commit", {}))
    with pytest.raises(WorkflowExecutionError) as info:
        runtime.execute(wf)
    assert info.value.node_id == "clash" and "'tx' was rolled back" in info.value.message
    assert names(run_node("PersonListNode", {"order_by": ["name"]})["records"]) == ["Before"]
    wf = _workflow(("TransactionScopeNode", "tx", {"rollback_on_error": False}),
                   ("PersonCreateNode", "inside", {"name": "Inside"}),
                   ("PersonBulkCreateNode", "half", {"data": [{"name": "Half", "email": "h@x.io"},
                                                               {"name": "Clash", "email": "a@x.io"}]}),
                   ("TransactionCommitNode", "commit", {}))
    with pytest.raises(WorkflowExecutionError) as info:
        runtime.execute(wf)
    assert info.value.node_id == "half"
    assert names(run_node("PersonListNode", {"order_by": ["name"]})["records"]) == ["Before", "Inside"]


def test_a_scope_left_open_commits_when_the_workflow_succeeds(make_model, run, run_node):
    person_model(make_model)
    run(_workflow(("TransactionScopeNode", "tx", {"timeout": 30}), ("PersonCreateNode", "c", {"name": "Open"})))
    assert names(run_node("PersonListNode", {})["records"]) == ["Open"]


def test_transaction_node_misuse_is_df803(make_model, run):
    person_model(make_model)
    with raises_df("DF-803"):
        run(_workflow(("TransactionCommitNode", "commit", {})))
    with raises_df("DF-803"):
        run(_workflow(("TransactionScopeNode", "a", {}), ("TransactionScopeNode", "b", {}),
                      ("PersonCountNode", "k", {})))
    with raises_df("DF-803"):
        run(_workflow(("TransactionScopeNode", "a", {}), ("PersonCountNode", "k", {}),
                      ("TransactionRollbackToSavepointNode", "back", {"savepoint": "never_made"})))
    with raises_df("DF-102"):
        _workflow(("TransactionScopeNode", "a", {"isolation_level": "CHAOS"}))


__all__ = tests_in(globals())


def test_a_failed_update_by_id_inside_a_transaction_leaves_it_usable(make_model, run_node):
    """A single-row update is one statement, run in the node's savepoint inside a transaction: its
    failure is undone alone, and the caller's transaction goes on (then commits or rolls back whole)."""
    person, ids = seed_people(make_model, run_node)
    db = make_model.db
    runtime = LocalRuntime()
    with db.transaction():
        runtime.execute(_workflow(("PersonUpdateNode", "a", {"id": ids["Alice"], "fields": {"age": 77}})))
        with pytest.raises(WorkflowExecutionError) as info:
            runtime.execute(_workflow(("PersonUpdateNode", "b", {"id": ids["Bob"],
                                                                 "fields": {"email": "alice@example.com"}})))
        assert info.value.cause_code == "DF-704"
        runtime.execute(_workflow(("PersonUpdateNode", "c", {"id": ids["Carol"], "fields": {"age": 78}})))
    assert run_node("PersonReadNode", {"id": ids["Alice"]})["age"] == 77
    assert run_node("PersonReadNode", {"id": ids["Bob"]})["email"] == "bob@example.com"
    assert run_node("PersonReadNode", {"id": ids["Carol"]})["age"] == 78
    before = raw_rows(db, person)
    with pytest.raises(KeyError), db.transaction():
        runtime.execute(_workflow(("PersonUpdateNode", "d", {"id": ids["Dave"], "fields": {"age": 1}})))
        raise KeyError("undo")
    assert raw_rows(db, person) == before
