"""MySQL / MariaDB load run: 64 concurrent tasks x 1,000 single-node workflows each, on a pool of 10.

    python bench/load_mysql.py [--tasks 64] [--ops 1000] [--pool 10] [--url mysql://…]

Each task cycles create / read / update / count workflows through one AsyncLocalRuntime. Prints
operations per second, the error count (must be 0), the peak number of server connections the
instance opened (its own user's threads, less the monitor's), and whether that count is back to its
baseline after ``db.close_async()``. The test suite runs a smaller version in plugins/mysql/tests.
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import aiomysql
from common import load_args, load_table, report_load
from dataflow import DataFlow
from dataflow.url import parse_url

DEFAULT_URL = os.environ.get("DATAFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


async def main(url: str, tasks: int, ops: int, pool: int) -> int:
    parsed = parse_url(url)
    monitor = await aiomysql.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 3306,
                                     user=parsed.username or "root", password=parsed.password or "",
                                     db=parsed.database, autocommit=True)

    async def sessions() -> int:
        # Connections of this user to this database, other than the monitor's own.
        async with monitor.cursor() as cursor:
            await cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                 "WHERE USER = %s AND DB = %s AND ID <> CONNECTION_ID()",
                                 (parsed.username or "root", parsed.database))
            (count,) = await cursor.fetchone()
        return int(count)

    baseline = await sessions()
    db = DataFlow(url, pool_size=pool, max_overflow=0, pool_timeout=60)
    elapsed, errors, peak = await load_table(db, tasks, ops, sessions)
    await db.close_async()
    await asyncio.sleep(0.5)
    after = await sessions()
    monitor.close()
    # The peak counts the baseline's connections too: compare the instance's own share with its pool.
    return report_load(tasks, ops, elapsed, errors, peak - baseline, pool, after, baseline)


if __name__ == "__main__":
    args = load_args(__doc__, DEFAULT_URL)
    raise SystemExit(asyncio.run(main(args.url, args.tasks, args.ops, args.pool)))
