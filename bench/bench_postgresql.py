"""PostgreSQL: DataFlow against raw asyncpg, measured side by side in one run.

    python bench/bench_postgresql.py [--rows 100000] [--reads 3000] [--url postgresql://…]

Bulk create (BulkCreateNode via AsyncLocalRuntime) vs ``copy_records_to_table`` (both start from the
same list of dicts: the raw side's timing includes turning them into record tuples); read-by-id through a
one-node workflow vs a prepared statement's ``fetchrow`` on a held connection (and, for reference,
``pool.acquire()`` + ``fetchrow`` as an application would write it); count with a filter (CountNode)
vs ``fetchval`` of the same ``COUNT(*)``. The URL defaults to DATAFLOW_TEST_POSTGRES_URL.

Framework and raw runs alternate and the best of each is kept, so that load from other processes
on the machine hits both sides alike.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import asyncpg
from common import COLUMNS, Comparison, PersonWorkload, alternate, print_table, record_tuples, server_args
from dataflow import DataFlow

DEFAULT_URL = os.environ.get("DATAFLOW_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
RAW_DDL = ('CREATE TABLE "{t}" (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, age BIGINT NOT NULL, '
           "created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ)")


async def raw_bulk(conn: asyncpg.Connection, data: list[dict], table: str) -> float:
    await conn.execute(RAW_DDL.format(t=table))
    start = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC)
    records = record_tuples(data, stamp)
    async with conn.transaction():
        await conn.copy_records_to_table(table, records=records, columns=COLUMNS)
    return time.perf_counter() - start


async def main(url: str, rows: int, reads: int) -> list[Comparison]:
    work = PersonWorkload(DataFlow(url))
    table = work.table
    await work.warm_up()
    raw = await asyncpg.connect(url)
    try:
        bulk = await work.compare_bulk(rows, lambda data, name: raw_bulk(raw, data, name))
        await raw.execute(f'ANALYZE "{table}"')

        # Read by id through a one-node workflow, built once, id given per run.
        ids = work.pick_ids(rows, reads)
        select = await raw.prepare(f'SELECT {", ".join(COLUMNS)} FROM "{table}" WHERE id = $1')

        async def raw_reads() -> None:
            for key in ids:
                await select.fetchrow(key)

        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        sql = f'SELECT {", ".join(COLUMNS)} FROM "{table}" WHERE id = $1'

        async def pooled_reads() -> None:
            for key in ids:
                async with pool.acquire() as conn:
                    await conn.fetchrow(sql, key)

        framework_s, raw_s, pooled_s = await alternate(5, work.reads, raw_reads, pooled_reads)
        read = Comparison("read by id", framework_s, raw_s, len(ids), "reads", "≤ 1.5", False)
        read_pooled = Comparison("read by id (raw via pool.acquire)", framework_s, pooled_s, len(ids), "reads",
                                 "(reference)", False)
        await pool.close()

        count_sql = f'SELECT COUNT(*) FROM "{table}" WHERE age > $1'

        async def raw_count() -> None:
            for _ in range(20):
                await raw.fetchval(count_sql, 50)

        framework_s, raw_s = await alternate(5, work.counts, raw_count)
        count = Comparison("count with filter", framework_s, raw_s, 20, "counts", "≤ 1.1", False)
        return [bulk, read, read_pooled, count]
    finally:
        for name in [table, *work.raw_tables]:
            await raw.execute(f'DROP TABLE IF EXISTS "{name}"')
        await raw.close()
        await work.db.close_async()


if __name__ == "__main__":
    args = server_args(__doc__, DEFAULT_URL)
    results = asyncio.run(main(args.url, args.rows, args.reads))
    print_table(f"PostgreSQL ({args.rows:,} rows): DataFlow vs asyncpg", results)
