"""PostgreSQL load run: 64 concurrent tasks x 1,000 single-node workflows each, on a pool of 10.

    python bench/load_postgresql.py [--tasks 64] [--ops 1000] [--pool 10] [--url postgresql://…]

Each task cycles create / read / update / count workflows through one AsyncLocalRuntime. Prints
operations per second, the error count (must be 0), the peak number of server sessions the
instance opened, and whether pg_stat_activity is back to its baseline after ``db.close_async()``.
The test suite runs a smaller version (64 x 50) in plugins/postgresql/tests/test_pg_load.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(__file__))

import asyncpg
from common import load_args, load_table, report_load
from dataflow import DataFlow

DEFAULT_URL = os.environ.get("DATAFLOW_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")


async def main(url: str, tasks: int, ops: int, pool: int) -> int:
    app = f"dfload_{uuid.uuid4().hex[:8]}"
    monitor = await asyncpg.connect(url)

    async def sessions() -> int:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
        return int(await monitor.fetchval(query, app))

    baseline = await sessions()
    separator = "&" if "?" in url else "?"
    db = DataFlow(f"{url}{separator}application_name={app}", pool_size=pool, max_overflow=0, pool_timeout=60)
    elapsed, errors, peak = await load_table(db, tasks, ops, sessions)
    await db.close_async()
    await asyncio.sleep(0.5)
    after = await sessions()
    await monitor.close()
    return report_load(tasks, ops, elapsed, errors, peak, pool, after, baseline)


if __name__ == "__main__":
    args = load_args(__doc__, DEFAULT_URL)
    raise SystemExit(asyncio.run(main(args.url, args.tasks, args.ops, args.pool)))
