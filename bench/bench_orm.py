"""Aggregates: ``SaleAggregateNode`` against the raw driver running the same GROUP BY, on every database.

``python bench/bench_orm.py [--rows N] [--repeats N]``

On a SQLite file, and on the PostgreSQL / MariaDB test servers when they answer: a table of ``--rows``
sales (8 regions, 1,000 buyers, decimal amounts), then one aggregate — per region the sum and average
of the amount, the row count and the distinct buyers, groups over a threshold, sorted by total — run
through a one-node workflow on ``AsyncLocalRuntime`` and, on the raw side, the same SELECT on the
driver with its rows turned into dicts. The raw SQL is what one would write by hand for that database
(on SQLite and MariaDB, where decimals are stored as text, it casts; SQLite's raw SUM is then a float,
not an exact Decimal as DataFlow's). Best of ``--repeats`` runs, alternating sides. Figures are
printed, not asserted; the machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import decimal
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from common import Comparison, alternate, one_node, print_table, reachable_servers
from dataflow import AsyncLocalRuntime, DataFlow
from dataflow.url import parse_url

PARAMS = {"group_by": ["region"],
          "aggregates": {"total": {"$sum": "amount"}, "mean": {"$avg": "amount"}, "n": {"$count": "*"},
                         "buyers": {"$count_distinct": "user_id"}},
          "having": {"n": {"$gt": 10}}, "order_by": ["-total"]}
RAW_SQL = {
    "sqlite": 'SELECT region, SUM(amount), AVG(amount), COUNT(*), COUNT(DISTINCT user_id) FROM "{t}" '
              'GROUP BY region HAVING COUNT(*) > ? ORDER BY SUM(amount) DESC',
    "postgresql": 'SELECT region, SUM(amount), AVG(amount), COUNT(*), COUNT(DISTINCT user_id) FROM "{t}" '
                  'GROUP BY region HAVING COUNT(*) > $1 ORDER BY SUM(amount) DESC',
    "mysql": "SELECT region, SUM(CAST(amount AS DECIMAL(65, 30))), AVG(CAST(amount AS DECIMAL(65, 30))), COUNT(*), "
             "COUNT(DISTINCT user_id) FROM `{t}` GROUP BY region HAVING COUNT(*) > %s "
             "ORDER BY SUM(CAST(amount AS DECIMAL(65, 30))) DESC",
}
KEYS = ("region", "total", "mean", "n", "buyers")


def sales(rows: int) -> list[dict[str, Any]]:
    return [{"region": f"r{i % 8}", "user_id": i % 1000, "amount": decimal.Decimal(i % 997) / 4}
            for i in range(rows)]


async def raw_side(kind: str, url: str, table: str) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Any]]:
    """The raw driver's aggregate (rows as dicts) and its closing function."""
    sql = RAW_SQL[kind].format(t=table)
    if kind == "sqlite":
        conn = sqlite3.connect(parse_url(url).database or "")

        async def sqlite_run() -> list[dict[str, Any]]:
            return [dict(zip(KEYS, row, strict=True)) for row in conn.execute(sql, (10,)).fetchall()]

        return sqlite_run, conn.close
    if kind == "postgresql":
        import asyncpg

        pg = await asyncpg.connect(url)

        async def pg_run() -> list[dict[str, Any]]:
            return [dict(zip(KEYS, row, strict=True)) for row in await pg.fetch(sql, 10)]

        return pg_run, pg.close
    import aiomysql

    u = parse_url(url)
    my = await aiomysql.connect(host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
                                password=u.password or "", db=u.database, autocommit=True)

    async def mysql_run() -> list[dict[str, Any]]:
        async with my.cursor() as cur:
            await cur.execute(sql, (10,))
            return [dict(zip(KEYS, row, strict=True)) for row in await cur.fetchall()]

    return mysql_run, my.close


async def measure(kind: str, url: str, rows: int, repeats: int) -> Comparison:
    db = DataFlow(url)
    table = f"bench_sales_{uuid.uuid4().hex[:8]}"

    @db.model
    class Sale:
        region: str
        user_id: int
        amount: decimal.Decimal
        __tablename__ = table

    runtime = AsyncLocalRuntime()
    await runtime.execute_workflow_async(one_node("SaleBulkCreateNode", {"data": sales(rows)}))
    workflow = one_node("SaleAggregateNode", PARAMS)
    raw, close = await raw_side(kind, url, table)
    try:
        framework_groups = (await runtime.execute_workflow_async(workflow))[0]["n"]["groups"]
        assert [g["n"] for g in framework_groups] == [r["n"] for r in await raw()]

        async def framework() -> None:
            await runtime.execute_workflow_async(workflow)

        best_framework, best_raw = await alternate(repeats, framework, raw)
    finally:
        result = close()
        if asyncio.iscoroutine(result):
            await result
        async with db.connection() as conn:
            await conn.execute(f"DROP TABLE {db.dialect.quote(table)}", [])
        await db.close_async()
    return Comparison(f"aggregate, {kind}", best_framework, best_raw, 1, "queries", "≤ 1.2 (time)", False)


async def main(rows: int, repeats: int) -> list[Comparison]:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        results.append(await measure("sqlite", f"sqlite:///{Path(folder) / 'orm.db'}", rows, repeats))
    for kind, url in reachable_servers().items():
        results.append(await measure(kind, url, rows, repeats))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    comparisons = asyncio.run(main(args.rows, args.repeats))
    print_table(f"Aggregates ({args.rows:,} rows, GROUP BY of 8 groups): DataFlow vs the raw driver", comparisons)
    print(f"load average: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
