"""TDD mode outside the fixtures, on every database: ``DataFlow(url, tdd_mode=True)`` keeps everything
it writes in one transaction, joined from threads, other event loops and nested blocks, rolled back by
``close()`` and ``cleanup_all_pools()``; tables auto-migration makes inside it are handled per database."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder
from dataflow.loop import run_sync
from dataflow.testing import raises_df
from dataflow_testing import TDDTestContext
from dataflow_testing_support import count, drop, item_model, run_node  # type: ignore[import-not-found]


async def _create_async(name: str, item_id: str) -> None:
    wf = WorkflowBuilder()
    wf.add_node(f"{name}CreateNode", "c", {"id": item_id})
    await AsyncLocalRuntime().execute_workflow_async(wf.build())


def test_everything_an_instance_writes_is_one_transaction_rolled_back_by_close(url: str, table: str) -> None:
    db = DataFlow(url, tdd_mode=True)
    try:
        name = item_model(db, table)
        run_node(f"{name}CreateNode", {"id": "sync"})
        asyncio.run(_create_async(name, "other-loop"))          # AsyncLocalRuntime on a loop of its own
        worker = threading.Thread(target=run_node, args=(f"{name}CreateNode", {"id": "thread"}))
        worker.start()
        worker.join()
        with db.transaction():                                   # a savepoint of the TDD transaction
            run_node(f"{name}UpdateNode", {"filter": {"id": "sync"}, "fields": {"n": 5}})
        assert run_node(f"{name}CountNode", {})["count"] == 3
        assert db.dialect.instance_transaction is not None and db.dialect.instance_transaction.begun
        assert count(db, table) in (0, None), "nothing is committed: another instance sees no row"
    finally:
        db.close()
    left = count(db, table)
    if db.dialect.name == "mysql":
        assert left == 0, "MySQL: the table stays (its DDL commits at once), empty"
    else:
        assert left is None, "the table auto-migration made is rolled back with the rows"
    drop(url, table)


def test_cleanup_all_pools_rolls_back_and_the_next_statement_begins_a_new_transaction(url: str, table: str) -> None:
    db = DataFlow(url, tdd_mode=True)
    try:
        name = item_model(db, table)
        run_node(f"{name}CreateNode", {"id": "a"})
        report = asyncio.run(db.cleanup_all_pools())
        assert report["cleanup_failures"] == 0 and report["pools_cleaned"] == report["total_pools"] >= 1
        assert db.get_cleanup_metrics()["active_pools"] == 0, "no transaction begun again until needed"
        assert not db.dialect.instance_transaction.begun
        assert run_node(f"{name}CountNode", {})["count"] == 0, "rolled back (the table is made again)"
        run_node(f"{name}CreateNode", {"id": "a"})
        assert run_node(f"{name}CountNode", {})["count"] == 1
    finally:
        db.close()
        drop(url, table)
    assert db.dialect.instance_transaction is None


def test_a_failing_nested_block_undoes_only_its_own_writes(url: str, table: str) -> None:
    db = DataFlow(url, tdd_mode=True)
    try:
        name = item_model(db, table)
        run_node(f"{name}CreateNode", {"id": "kept"})
        with pytest.raises(RuntimeError), db.transaction():
            run_node(f"{name}CreateNode", {"id": "undone"})
            raise RuntimeError("boom")

        async def nested_elsewhere() -> None:  # from another loop: the savepoint is made on the TDD one
            with pytest.raises(RuntimeError):
                async with db.transaction():
                    await _create_async(name, "undone-too")
                    raise RuntimeError("boom")
            async with db.transaction():
                await _create_async(name, "kept-too")

        asyncio.run(nested_elsewhere())
        ids = sorted(r["id"] for r in run_node(f"{name}ListNode", {})["records"])
        assert ids == ["kept", "kept-too"]
    finally:
        db.close()
        drop(url, table)


def test_a_duplicate_in_a_savepoint_leaves_the_test_transaction_usable(url: str, table: str) -> None:
    db = DataFlow(url, tdd_mode=True)
    try:
        name = item_model(db, table)
        run_node(f"{name}CreateNode", {"id": "a"})
        with raises_df("DF-704"), db.transaction():
            run_node(f"{name}CreateNode", {"id": "a"})
        assert run_node(f"{name}CountNode", {})["count"] == 1
    finally:
        db.close()
        drop(url, table)


def test_the_test_context_reports_what_the_test_changed(url: str, table: str) -> None:
    setup = DataFlow(url)
    name = item_model(setup, table)
    try:
        run_node(f"{name}BulkCreateNode", {"data": [{"id": "old1", "n": 1}, {"id": "old2", "n": 2}]})
        db = DataFlow(url, tdd_mode=True)
        ctx = TDDTestContext(db)
        try:
            item_model(db, table)
            run_node(f"{name}CreateNode", {"id": "new", "n": 3})
            run_node(f"{name}UpdateNode", {"filter": {"id": "old1"}, "fields": {"n": 10}})
            run_node(f"{name}DeleteNode", {"id": "old2"})
            changes = ctx.changes(name)[name]
            assert [r["id"] for r in changes.inserted] == ["new"]
            assert [(r["id"], r["n"]) for r in changes.updated] == [("old1", 10)]
            assert changes.deleted == ["old2"]
            assert sorted(r["id"] for r in ctx.rows_written(name)) == ["new", "old1"]
            with ctx.savepoint() as savepoint:
                run_node(f"{name}CreateNode", {"id": "tmp"})
                savepoint.rollback()
            assert run_node(f"{name}CountNode", {})["count"] == 2
            assert ctx.rollback() is True
            assert not ctx.transaction.begun
            assert ctx.changes(name)[name].written == []
        finally:
            db.close()
        assert count(setup, table) == 2, "the committed rows were never touched"
    finally:
        setup.close()
        drop(url, table)


@pytest.mark.mysql
def test_mysql_ddl_that_waits_for_the_tests_own_transaction_is_df516(tmp_path, table: str) -> None:
    from dataflow.testing import server_url

    url = server_url("mysql")
    writer = DataFlow(url, tdd_mode=True)
    other = DataFlow(url, tdd_mode=True)
    try:
        name = item_model(writer, table)
        run_node(f"{name}CreateNode", {"id": "a"})     # the test's transaction now holds the table
        cls = type("Wider", (), {"__annotations__": {"id": str, "n": int, "extra": str}, "n": 0, "extra": "",
                                 "__tablename__": table})
        other.model(cls)
        other.schema_manager.wait = 0.5
        started = time.monotonic()
        with raises_df("DF-516", match="waited"):
            run_node("WiderCreateNode", {"id": "b"})
        assert time.monotonic() - started < 5
    finally:
        writer.close()
        other.close()
        drop(url, table)


def test_end_of_test_rolls_back_tdd_instances_made_outside_the_fixtures(url: str, table: str) -> None:
    from dataflow_testing.session import end_of_test

    db = DataFlow(url, tdd_mode=True)
    try:
        name = item_model(db, table)
        run_node(f"{name}CreateNode", {"id": "a"})
        end_of_test()
        assert not db.dialect.instance_transaction.begun
        assert run_node(f"{name}CountNode", {})["count"] == 0
    finally:
        db.close()
        drop(url, table)


def test_the_rollback_waits_for_a_statement_in_flight(url: str, table: str) -> None:
    db = DataFlow(url, tdd_mode=True)
    try:
        name = item_model(db, table)
        run_node(f"{name}CreateNode", {"id": "a"})

        async def scenario() -> bool:
            async with db.connection() as conn:
                ending = asyncio.ensure_future(db.dialect.instance_transaction.end())
                await asyncio.sleep(0.05)
                assert not ending.done(), "the rollback waits for the borrowed connection"
                await conn.fetch("SELECT 1", [])
            return await ending

        assert asyncio.run(scenario()) is True
        assert run_sync(db.dialect.instance_transaction.end()) is False
    finally:
        db.close()
        drop(url, table)
