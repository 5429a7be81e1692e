"""Connections: per-loop pools that survive LocalRuntime calls, DF-402 / DF-507, close, load."""

from __future__ import annotations

import asyncio
import time

import aiomysql
import pytest
from dataflow import AsyncLocalRuntime, DataFlow, LocalRuntime
from dataflow.testing import raises_df, unique_table
from dataflow.url import parse_url
from dataflow.workflow import WorkflowBuilder


def live_thread_ids(url: str, ids: set[int]) -> set[int]:
    """Which of these server connection ids are still open, asked over a separate connection."""

    async def go() -> set[int]:
        u = parse_url(url)
        conn = await aiomysql.connect(host=u.host, port=u.port or 3306, user=u.username or "root",
                                      password=u.password or "", db=u.database)
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT ID FROM information_schema.PROCESSLIST")
                return {int(r[0]) for r in await cur.fetchall()} & ids
        finally:
            conn.close()

    return asyncio.run(go())


def pool_thread_ids(instance: DataFlow) -> set[int]:
    """Server connection ids of every connection in the instance's pools (all loops)."""
    ids: set[int] = set()
    for _loop, state in instance.dialect.pools._states.items():  # type: ignore[attr-defined]
        if state.pool is not None:
            for conn in [*state.pool._free, *state.pool._used]:
                ids.add(int(conn.server_thread_id[0]))
    return ids


def make_counter(db: DataFlow) -> str:
    class Hit:
        n: int = 0

    Hit.__tablename__ = unique_table("t_hit")
    db.model(Hit)
    return Hit.__tablename__


def drop(db: DataFlow, table: str) -> None:
    from dataflow.testing import raw_execute

    raw_execute(db, f"DROP TABLE IF EXISTS `{table}`")


def one_node(node_type: str, params: dict) -> WorkflowBuilder:
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", params)
    return wf


def test_unreachable_server_is_df_402_quickly():
    db = DataFlow("mysql://root@127.0.0.1:1/test", connect_timeout=3)
    make_counter(db)
    started = time.monotonic()
    with raises_df("DF-402") as caught:
        LocalRuntime().execute(one_node("HitCountNode", {}).build())
    assert time.monotonic() - started < 5
    assert caught["error"].__cause__ is not None
    db.close()


@pytest.mark.anyio
async def test_pool_exhaustion_is_df_507(dataflow_url):
    # The table is made by another instance first: migrations may use a second connection (a lock).
    maker = DataFlow(dataflow_url)
    table = make_counter(maker)
    runtime = AsyncLocalRuntime()
    await runtime.execute_workflow_async(one_node("HitCountNode", {}).build())
    await maker.close_async()
    db = DataFlow(dataflow_url, pool_size=1, max_overflow=0, pool_timeout=0.5)
    db.model(type("Hit", (), {"__annotations__": {"n": int}, "n": 0, "__tablename__": table}))
    try:
        await runtime.execute_workflow_async(one_node("HitCountNode", {}).build())
        async with db.connection():
            started = time.monotonic()
            with raises_df("DF-507"):
                await runtime.execute_workflow_async(one_node("HitCountNode", {}).build())
            assert 0.4 < time.monotonic() - started < 3
        results, _ = await runtime.execute_workflow_async(one_node("HitCountNode", {}).build())
        assert results["n"] == {"count": 0}
        async with db.connection() as conn:
            await conn.execute(f"DROP TABLE `{table}`", [])
    finally:
        await db.close_async()


def test_pools_survive_local_runtime_calls_and_close_releases_them(dataflow_url):
    db = DataFlow(dataflow_url)
    table = make_counter(db)
    runtime = LocalRuntime()
    try:
        runtime.execute(one_node("HitCreateNode", {"n": 1}).build())
        states = list(db.dialect.pools._states.items())
        assert len(states) == 1
        pool, ids = states[0][1].pool, pool_thread_ids(db)
        for _ in range(5):
            assert runtime.execute(one_node("HitCountNode", {}).build())[0]["n"] == {"count": 1}
            assert LocalRuntime().execute(one_node("HitCountNode", {}).build())[0]["n"] == {"count": 1}
        assert next(iter(db.dialect.pools._states.items()))[1].pool is pool
        assert pool_thread_ids(db) == ids and live_thread_ids(dataflow_url, ids) == ids
    finally:
        drop(db, table)
        ids = pool_thread_ids(db)
        db.close()
    assert not list(db.dialect.pools._states.items())
    assert _eventually_gone(dataflow_url, ids)


def _eventually_gone(url: str, ids: set[int]) -> bool:
    for _ in range(50):
        if not live_thread_ids(url, ids):
            return True
        time.sleep(0.1)
    return False


def test_new_loops_get_new_pools_and_closed_loops_are_released(dataflow_url):
    db = DataFlow(dataflow_url)
    table = make_counter(db)
    runtime = AsyncLocalRuntime()
    try:
        asyncio.run(runtime.execute_workflow_async(one_node("HitCreateNode", {}).build()))
        first_ids = pool_thread_ids(db)
        assert first_ids
        results, _ = asyncio.run(runtime.execute_workflow_async(one_node("HitCountNode", {}).build()))
        assert results["n"] == {"count": 1}
        # The first loop is closed: its pool was released when the second loop made its own.
        assert not first_ids & pool_thread_ids(db)
        assert _eventually_gone(dataflow_url, first_ids)
    finally:
        drop(db, table)
        db.close()


@pytest.mark.anyio
async def test_concurrent_tasks_share_the_pool(dataflow_url):
    db = DataFlow(dataflow_url, pool_size=4, max_overflow=0)
    table = make_counter(db)
    runtime = AsyncLocalRuntime()
    try:
        async def worker(i: int) -> None:
            for _ in range(5):
                await runtime.execute_workflow_async(one_node("HitCreateNode", {"n": i}).build())

        # Warm up first: the migrate plugin's first ensure holds a lock connection plus a DDL
        # connection, so 16 concurrent first calls on 4 connections would wait on each other.
        await runtime.execute_workflow_async(one_node("HitCountNode", {}).build())
        await asyncio.gather(*(worker(i) for i in range(16)))
        results, _ = await runtime.execute_workflow_async(one_node("HitCountNode", {}).build())
        assert results["n"] == {"count": 80}
        assert len(pool_thread_ids(db)) <= 4
        async with db.connection() as conn:
            await conn.execute(f"DROP TABLE `{table}`", [])
    finally:
        await db.close_async()


@pytest.mark.slow
def test_load_64_tasks_on_a_pool_of_10(dataflow_url):
    db = DataFlow(dataflow_url, pool_size=10, max_overflow=0, pool_timeout=30)
    table = make_counter(db)
    runtime = AsyncLocalRuntime()
    errors: list[BaseException] = []
    seen: set[int] = set()

    async def main() -> None:
        await runtime.execute_workflow_async(one_node("HitCountNode", {}).build())

        async def worker(i: int) -> None:
            for j in range(50):
                node = ("HitCreateNode", {"n": j}) if j % 2 else ("HitCountNode", {})
                try:
                    await runtime.execute_workflow_async(one_node(*node).build())
                except Exception as exc:
                    errors.append(exc)

        await asyncio.gather(*(worker(i) for i in range(64)))
        seen.update(pool_thread_ids(db))
        async with db.connection() as conn:
            assert (await conn.fetch(f"SELECT COUNT(*) FROM `{table}`", []))[0][0] == 64 * 25
            await conn.execute(f"DROP TABLE `{table}`", [])
        await db.close_async()

    started = time.monotonic()
    asyncio.run(main())
    assert not errors, errors[:3]
    assert 0 < len(seen) <= 10
    assert _eventually_gone(dataflow_url, seen)
    assert time.monotonic() - started < 60
