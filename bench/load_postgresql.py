"""PostgreSQL load run: 64 concurrent tasks x 1,000 single-node workflows each, on a pool of 10.

    python bench/load_postgresql.py [--tasks 64] [--ops 1000] [--pool 10] [--url postgresql://…]

Each task cycles create / read / update / count workflows through one AsyncLocalRuntime. Prints
operations per second, the error count (must be 0), the peak number of server sessions the
instance opened, and whether pg_stat_activity is back to its baseline after ``db.close_async()``.
The test suite runs a smaller version (64 x 50) in plugins/postgresql/tests/test_pg_load.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))

import asyncpg
from common import one_node as one
from dataflow import AsyncLocalRuntime, DataFlow

DEFAULT_URL = os.environ.get("DATAFLOW_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")


async def sessions(monitor: asyncpg.Connection, app: str) -> int:
    return int(await monitor.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app))


async def main(url: str, tasks: int, ops: int, pool: int) -> int:
    app = f"dfload_{uuid.uuid4().hex[:8]}"
    monitor = await asyncpg.connect(url)
    baseline = await sessions(monitor, app)
    separator = "&" if "?" in url else "?"
    db = DataFlow(f"{url}{separator}application_name={app}", pool_size=pool, max_overflow=0, pool_timeout=60)

    @db.model
    class LoadOp:
        task: int
        step: int
        note: str = ""
        __tablename__ = f"load_ops_{uuid.uuid4().hex[:8]}"

    runtime = AsyncLocalRuntime()
    await runtime.execute_workflow_async(one("LoadOpCountNode", {}))
    errors: list[BaseException] = []
    peak = 0

    async def worker(task: int) -> None:
        last_id = None
        for step in range(ops):
            kind = step % 4
            try:
                if kind == 0 or last_id is None:
                    results, _ = await runtime.execute_workflow_async(
                        one("LoadOpCreateNode", {"task": task, "step": step}))
                    last_id = results["n"]["id"]
                elif kind == 1:
                    await runtime.execute_workflow_async(one("LoadOpReadNode", {"id": last_id}))
                elif kind == 2:
                    await runtime.execute_workflow_async(
                        one("LoadOpUpdateNode", {"filter": {"id": last_id}, "fields": {"note": f"s{step}"}}))
                else:
                    await runtime.execute_workflow_async(one("LoadOpCountNode", {"filter": {"task": task}}))
            except Exception as exc:
                errors.append(exc)

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, await sessions(monitor, app))
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(watch())
    start = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(tasks)))
    elapsed = time.perf_counter() - start
    watcher.cancel()
    async with db.connection() as conn:
        await conn.execute(f'DROP TABLE "{LoadOp.__dataflow_model__.table}"', [])
    await db.close_async()
    await asyncio.sleep(0.5)
    after = await sessions(monitor, app)
    await monitor.close()
    total = tasks * ops
    print(f"{total:,} operations by {tasks} tasks in {elapsed:.1f} s: {total / elapsed:,.0f} ops/s")
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]!r})" if errors else ""))
    print(f"server sessions: peak {peak} (pool {pool}); after close {after} (baseline {baseline})")
    return 1 if errors or after != baseline or peak > pool else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.url, args.tasks, args.ops, args.pool)))
