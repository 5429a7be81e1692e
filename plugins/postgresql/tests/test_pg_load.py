"""Load: 64 concurrent tasks x 50 single-node workflows on a pool of 10; zero errors, no leaked sessions.

The full 64 x 1,000 run is ``python bench/load_postgresql.py``.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from dataflow import DataFlow
from dataflow.query import Count
from dataflow.testing.load import drive_load

TASKS = 64
PER_TASK = 50


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

    async def sampled() -> int:
        return sessions(url, name)

    result = await drive_load("Op", TASKS, PER_TASK, sampled)
    assert result.errors == ()
    assert result.done == TASKS * PER_TASK
    assert result.peak <= 10
    count = await db.dialect.run(Count(Op.__dataflow_model__))
    assert count == TASKS * (PER_TASK // 4 + (PER_TASK % 4 > 0))
    await db.close_async()
    deadline = time.monotonic() + 5
    while sessions(url, name) != baseline and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sessions(url, name) == baseline
    assert result.elapsed < 60
