"""A load driver shared by the load tests and ``bench/load_*.py``: many tasks, single-node workflows.

Each task cycles create / read / update / count workflows of one model (fields ``task: int``,
``step: int``, ``note: str``) through one AsyncLocalRuntime, counting failures instead of raising,
while an optional sampler records the peak of the server's connection count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from dataflow.workflow import Workflow, WorkflowBuilder

__all__ = ["LoadResult", "drive_load"]


@attrs.frozen
class LoadResult:
    """What a load run did: seconds taken, operations completed, errors, peak sampled connections."""

    elapsed: float
    done: int
    errors: tuple[BaseException, ...]
    peak: int


def _one(node: str, params: dict[str, Any]) -> Workflow:
    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    return wf.build()


async def drive_load(model: str, tasks: int, ops: int,
                     sessions: Callable[[], Awaitable[int]] | None = None) -> LoadResult:
    """Run ``tasks`` concurrent tasks of ``ops`` workflows each on the nodes of ``model``."""
    from dataflow import AsyncLocalRuntime

    runtime = AsyncLocalRuntime()
    await runtime.execute_workflow_async(_one(f"{model}CountNode", {}))  # table ready, pool open
    errors: list[BaseException] = []
    peak = 0

    async def worker(task: int) -> int:
        done, last_id = 0, None
        for step in range(ops):
            kind = step % 4
            try:
                if kind == 0 or last_id is None:
                    results, _ = await runtime.execute_workflow_async(
                        _one(f"{model}CreateNode", {"task": task, "step": step}))
                    last_id = results["n"]["id"]
                elif kind == 1:
                    results, _ = await runtime.execute_workflow_async(_one(f"{model}ReadNode", {"id": last_id}))
                    if results["n"]["task"] != task:
                        raise AssertionError(f"task {task} read another task's row: {results['n']}")
                elif kind == 2:
                    await runtime.execute_workflow_async(
                        _one(f"{model}UpdateNode", {"filter": {"id": last_id}, "fields": {"note": f"s{step}"}}))
                else:
                    await runtime.execute_workflow_async(_one(f"{model}CountNode", {"filter": {"task": task}}))
                done += 1
            except Exception as exc:  # counted, not raised: a run reports every failure
                errors.append(exc)
        return done

    async def watch() -> None:
        nonlocal peak
        while sessions is not None:
            peak = max(peak, await sessions())
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(watch())
    start = time.perf_counter()
    done = await asyncio.gather(*(worker(t) for t in range(tasks)))
    elapsed = time.perf_counter() - start
    watcher.cancel()
    return LoadResult(elapsed, sum(done), tuple(errors), peak)
