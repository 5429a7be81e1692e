"""Load: 64 concurrent tasks x 50 single-node workflows on a pool of 10; zero errors, no leaked sessions.

The full 64 x 1,000 run is ``python bench/load_postgresql.py``.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from dataflow import AsyncLocalRuntime, DataFlow
from dataflow.workflow import WorkflowBuilder

TASKS = 64
PER_TASK = 50


def _one(node: str, params: dict) -> object:
    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    return wf.build()


@pytest.mark.slow
@pytest.mark.anyio
async def test_load_64_tasks(make_model, app_url, sessions):
    url, name = app_url
    baseline = sessions(url, name)
    db = DataFlow(url, pool_size=10, max_overflow=0, pool_timeout=30)

    @make_model(db=db)
    class Op:
        task: int
        step: int
        note: str = ""

    runtime = AsyncLocalRuntime()
    await runtime.execute_workflow_async(_one("OpCountNode", {}))
    errors: list[BaseException] = []

    async def worker(task: int) -> int:
        done = 0
        last_id = None
        for step in range(PER_TASK):
            kind = step % 4
            try:
                if kind == 0 or last_id is None:
                    results, _ = await runtime.execute_workflow_async(
                        _one("OpCreateNode", {"task": task, "step": step}))
                    last_id = results["n"]["id"]
                elif kind == 1:
                    results, _ = await runtime.execute_workflow_async(_one("OpReadNode", {"id": last_id}))
                    assert results["n"]["task"] == task
                elif kind == 2:
                    await runtime.execute_workflow_async(
                        _one("OpUpdateNode", {"filter": {"id": last_id}, "fields": {"note": f"s{step}"}}))
                else:
                    await runtime.execute_workflow_async(_one("OpCountNode", {"filter": {"task": task}}))
                done += 1
            except BaseException as exc:  # counted, not raised: the test reports every failure
                errors.append(exc)
        return done

    start = time.monotonic()
    done = await asyncio.gather(*(worker(t) for t in range(TASKS)))
    elapsed = time.monotonic() - start
    assert errors == []
    assert sum(done) == TASKS * PER_TASK
    assert sessions(url, name) <= 10
    results, _ = await runtime.execute_workflow_async(_one("OpCountNode", {}))
    assert results["n"]["count"] == TASKS * (PER_TASK // 4 + (PER_TASK % 4 > 0))
    await db.close_async()
    deadline = time.monotonic() + 5
    while sessions(url, name) != baseline and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sessions(url, name) == baseline
    assert elapsed < 60
