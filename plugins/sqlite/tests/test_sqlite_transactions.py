"""SQLite's one writer at a time: a writer waits at most busy_timeout, then DF-508; never a hang, never a raw error."""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
import time
import uuid

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.testing import raises_df


def _model(db: DataFlow) -> str:
    name = f"Row{uuid.uuid4().hex[:6]}"
    db.model(type(name, (), {"__annotations__": {"id": str, "n": int}, "n": 0}))
    return name


def _run(node: str, params: dict) -> dict:
    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    return LocalRuntime().execute(wf.build())[0]["n"]


@pytest.fixture
def db(tmp_path):
    instance = DataFlow(f"sqlite:///{tmp_path / 'busy.db'}", busy_timeout=0.3)
    yield instance
    instance.close()


WRITES = [
    ("CreateNode", {"id": "new", "n": 1}),
    ("BulkCreateNode", {"data": [{"id": "b1"}, {"id": "b2"}]}),
    ("UpdateNode", {"filter": {"id": "a"}, "fields": {"n": 2}}),
    ("DeleteNode", {"id": "a"}),
    ("UpsertNode", {"where": {"id": "a"}, "update": {"n": 3}}),
    ("BulkUpdateNode", {"filter": {"n": 0}, "fields": {"n": 4}}),
    ("BulkDeleteNode", {"filter": {"n": 0}}),
    ("BulkUpsertNode", {"data": [{"id": "a", "n": 5}]}),
]


@pytest.mark.parametrize(("operation", "params"), WRITES, ids=[w[0] for w in WRITES])
def test_every_write_waits_busy_timeout_for_another_process_then_df508(db, operation, params):
    name = _model(db)
    _run(f"{name}CreateNode", {"id": "a"})
    other = sqlite3.connect(db.url.database, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        start = time.monotonic()
        with raises_df("DF-508") as caught:
            _run(f"{name}{operation}", params)
        waited = time.monotonic() - start
    finally:
        other.close()
    assert 0.25 <= waited < 5, waited
    assert "busy_timeout" in caught["error"].message
    assert _run(f"{name}CountNode", {})["count"] == 1, "nothing was written"


def test_a_second_transaction_of_this_process_waits_busy_timeout_then_df508(db):
    name = _model(db)

    async def main():
        runtime = AsyncLocalRuntime()
        wf = WorkflowBuilder()
        wf.add_node(f"{name}CreateNode", "c", {"id": "held"})
        async with db.transaction():
            await runtime.execute_workflow_async(wf.build())

            async def second():
                async with db.transaction():
                    pass

            started = time.monotonic()
            with raises_df("DF-508"):
                await asyncio.get_running_loop().create_task(second(), context=contextvars.Context())
            return time.monotonic() - started

    waited = asyncio.run(main())
    assert 0.25 <= waited < 5


def test_two_tasks_with_their_own_transactions_never_deadlock(db):
    name = _model(db)

    async def writer(tag: str, hold: float) -> None:
        runtime = AsyncLocalRuntime()
        async with db.transaction():
            wf = WorkflowBuilder()
            wf.add_node(f"{name}CreateNode", "c", {"id": tag})
            await runtime.execute_workflow_async(wf.build())
            await asyncio.sleep(hold)

    async def main():
        await asyncio.gather(writer("first", 0.1), writer("second", 0.0))

    asyncio.run(main())
    assert _run(f"{name}CountNode", {})["count"] == 2


def test_a_table_made_inside_a_rolled_back_transaction_is_made_again(db):
    name = _model(db)
    with pytest.raises(RuntimeError), db.transaction():
        _run(f"{name}CreateNode", {"id": "x"})  # first use: the table is created inside the transaction
        raise RuntimeError("undo, table included")
    assert _run(f"{name}CountNode", {})["count"] == 0
    assert _run(f"{name}CreateNode", {"id": "y"})["id"] == "y"


def test_transactions_on_a_memory_database(tmp_path):
    db = DataFlow("sqlite:///:memory:", busy_timeout=0.3)
    try:
        name = _model(db)
        with pytest.raises(ValueError), db.transaction():
            _run(f"{name}CreateNode", {"id": "gone"})
            raise ValueError("undo")
        with db.transaction():
            _run(f"{name}CreateNode", {"id": "kept"})
            with pytest.raises(ValueError), db.transaction():
                _run(f"{name}CreateNode", {"id": "inner"})
                raise ValueError("undo the savepoint")
        assert [r["id"] for r in _run(f"{name}ListNode", {})["records"]] == ["kept"]
    finally:
        db.close()


def test_every_transaction_is_serializable_on_sqlite(db):
    _model(db)

    async def level() -> str | None:
        async with db.transaction(isolation_level="READ_COMMITTED"):
            scope = db.dialect.current_transaction()
            assert scope is not None
            return scope.tx.isolation_level

    assert asyncio.run(level()) == "SERIALIZABLE"
