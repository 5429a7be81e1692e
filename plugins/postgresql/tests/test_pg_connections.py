"""Pools per event loop, kept across runs, dropped with their loops; DF-402, DF-507; close()."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, DataFlowError, LocalRuntime
from dataflow.loop import run_sync
from dataflow.testing import raises_df, unique_table
from dataflow.workflow import WorkflowBuilder


def _count_wf(node: str) -> WorkflowBuilder:
    wf = WorkflowBuilder()
    wf.add_node(node, "count", {})
    return wf


@contextlib.asynccontextmanager
async def _pool_of_one(make_model, run_node, url: str, model: str, pool_timeout: float) -> AsyncIterator[DataFlow]:
    """An instance with a single pooled connection and ``model`` (one ``name`` field) declared on it.

    The table is made through the shared instance first: a migration takes a lock on one connection
    while it inspects the schema on a second, which a pool of one cannot serve.
    """
    table = unique_table(f"t_{model.lower()}")
    make_model(type(model, (), {"__annotations__": {"name": str}}), table=table)
    run_node(f"{model}CountNode", {})
    db = DataFlow(url, pool_size=1, max_overflow=0, pool_timeout=pool_timeout)
    try:
        make_model(type(model, (), {"__annotations__": {"name": str}}), db=db, table=table)
        yield db
    finally:
        await db.close_async()


def _wait_for_sessions(sessions, url: str, name: str, expected: int, timeout: float = 5.0, *,
                       at_most: bool = False) -> int:
    """The server notices closed sessions a moment later: poll until the count is ``expected`` (or, with
    ``at_most``, no more than that: a count already within bounds needs no wait for the whole timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found = sessions(url, name)
        if (found <= expected if at_most else found == expected) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_unreachable_port_is_df_402_quickly():
    db = DataFlow("postgresql://root@127.0.0.1:1/test", connect_timeout=2)

    @db.model
    class Nowhere:
        name: str
        __tablename__ = unique_table("t_nowhere")

    start = time.monotonic()
    with raises_df("DF-402") as caught:
        LocalRuntime().execute(_count_wf("NowhereCountNode").build())
    assert time.monotonic() - start < 5
    assert "127.0.0.1:1" in caught["error"].message
    assert isinstance(caught["error"].__cause__, OSError)
    db.close()


async def _touch(db: DataFlow) -> None:
    async with db.connection():
        pass


def test_unroutable_host_times_out_as_df_402():
    db = DataFlow("postgresql://root@10.255.255.1:5432/test", connect_timeout=1)
    start = time.monotonic()
    with raises_df("DF-402"):
        run_sync(_touch(db))
    assert time.monotonic() - start < 5
    db.close()


@pytest.mark.anyio
async def test_pool_exhaustion_is_df_507(make_model, dataflow_url, run_node):
    async with _pool_of_one(make_model, run_node, dataflow_url, "Busy", pool_timeout=0.5) as db:
        runtime = AsyncLocalRuntime()
        await runtime.execute_workflow_async(_count_wf("BusyCountNode").build())
        async with db.connection():
            start = time.monotonic()
            with raises_df("DF-507"):
                await runtime.execute_workflow_async(_count_wf("BusyCountNode").build())
            assert 0.4 < time.monotonic() - start < 10  # the 0.5 s pool timeout, not a hang
        results, _ = await runtime.execute_workflow_async(_count_wf("BusyCountNode").build())
        assert results["count"] == {"count": 0}


def test_pools_survive_local_runtime_calls(make_model, app_url, sessions):
    url, name = app_url
    db = DataFlow(url, pool_size=3, max_overflow=0)

    @make_model(db=db)
    class Kept:
        name: str

    runtime = LocalRuntime()
    runtime.execute(_count_wf("KeptCountNode").build())
    pool = run_sync(db.dialect.pool())
    for _ in range(20):
        LocalRuntime().execute(_count_wf("KeptCountNode").build())
    assert run_sync(db.dialect.pool()) is pool
    assert 1 <= sessions(url, name) <= 3
    db.close()
    assert _wait_for_sessions(sessions, url, name, 0) == 0


def test_new_loops_get_new_pools_and_old_ones_are_dropped(make_model, app_url, sessions):
    url, name = app_url
    db = DataFlow(url, pool_size=2, max_overflow=0)

    @make_model(db=db)
    class Looped:
        name: str

    runtime = AsyncLocalRuntime()
    pools = []

    async def once() -> None:
        await runtime.execute_workflow_async(_count_wf("LoopedCountNode").build())
        pools.append(await db.dialect.pool())

    for _ in range(4):
        asyncio.run(once())  # a fresh loop each time, closed afterwards
    assert len({id(p) for p in pools}) == 4
    # Only the last (closed) loop's pool may still be open; the earlier ones were terminated.
    assert _wait_for_sessions(sessions, url, name, 2, at_most=True) <= 2
    db.close()
    assert _wait_for_sessions(sessions, url, name, 0) == 0
    # A closed instance opens a fresh pool when used again.
    assert LocalRuntime().execute(_count_wf("LoopedCountNode").build())[0]["count"] == {"count": 0}
    db.close()


@pytest.mark.anyio
async def test_many_concurrent_tasks(make_model, dataflow_url, app_url, sessions):
    url, name = app_url
    db = DataFlow(url, pool_size=5, max_overflow=5)

    @make_model(db=db)
    class Hit:
        task: int
        step: int

    runtime = AsyncLocalRuntime()

    async def worker(task: int) -> None:
        for step in range(5):
            wf = WorkflowBuilder()
            wf.add_node("HitCreateNode", "create", {"task": task, "step": step})
            wf.add_node("HitReadNode", "read", {})
            wf.add_connection("create", "id", "read", "id")
            results, _ = await runtime.execute_workflow_async(wf.build())
            assert results["read"]["task"] == task

    # No warm-up: the first operations of 64 tasks all race to create the table.
    await asyncio.gather(*(worker(t) for t in range(64)))
    results, _ = await runtime.execute_workflow_async(_count_wf("HitCountNode").build())
    assert results["count"]["count"] == 320
    assert sessions(url, name) <= 10
    await db.close_async()


def test_schemes_and_driver_suffix(make_model, dataflow_url):
    for scheme in ("postgres", "postgresql+asyncpg"):
        db = DataFlow(scheme + dataflow_url[dataflow_url.index("://"):])
        assert db.dialect.name == "postgresql"

        @make_model(db=db)
        class Schemed:
            name: str

        assert LocalRuntime().execute(_count_wf("SchemedCountNode").build())[0]["count"] == {"count": 0}
        db.close()


def test_transaction_rolls_back(make_model, run_node, db):
    @make_model
    class Ledger:
        amount: int

    run_node("LedgerCountNode", {})

    async def fail_midway() -> None:
        async with db.transaction() as conn:
            await conn.execute(f'INSERT INTO "{Ledger.__dataflow_model__.table}" ("amount") VALUES ($1)', [5])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_sync(fail_midway())
    assert run_node("LedgerCountNode", {})["count"] == 0


def test_close_is_idempotent_and_errors_are_dataflow_errors(dataflow_url):
    db = DataFlow(dataflow_url)
    db.close()
    db.close()
    assert isinstance(db.dialect.translate_error(ConnectionRefusedError("x")), DataFlowError)


@pytest.mark.anyio
async def test_cancelled_query_does_not_poison_the_pool(make_model, dataflow_url, run_node):
    # A poisoned pool would keep its one connection until the 60-second sleep ends (or the pool times
    # out at 30 s): the count must come back well before either, however loaded the machine is.
    async with _pool_of_one(make_model, run_node, dataflow_url, "Slow", pool_timeout=30) as db:
        async def hold() -> None:
            async with db.connection() as conn:
                await conn.fetch("SELECT pg_sleep(60)", [])

        task = asyncio.create_task(hold())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        start = time.monotonic()
        results, _ = await AsyncLocalRuntime().execute_workflow_async(_count_wf("SlowCountNode").build())
        assert results["count"] == {"count": 0} and time.monotonic() - start < 20
