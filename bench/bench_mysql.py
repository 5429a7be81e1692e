"""MySQL / MariaDB: DataFlow against raw aiomysql, measured side by side in one run.

    python bench/bench_mysql.py [--rows 100000] [--reads 3000] [--url mysql://…]

Bulk create (BulkCreateNode via AsyncLocalRuntime) vs aiomysql ``executemany`` (which rewrites the
INSERT into multi-row statements) in one transaction; read-by-id through a one-node workflow vs a
plain ``SELECT`` on a held connection (and, for reference, ``pool.acquire()`` + ``SELECT`` as an
application would write it); count with a filter (CountNode) vs the same ``COUNT(*)``. The URL
defaults to DATAFLOW_TEST_MYSQL_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))

import aiomysql
from common import Comparison, best_of_async, print_table
from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder
from dataflow.url import parse_url

DEFAULT_URL = os.environ.get("DATAFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
RAW_DDL = ("CREATE TABLE `{t}` (id VARCHAR(255) PRIMARY KEY, name LONGTEXT NOT NULL, email LONGTEXT NOT NULL, "
           "age BIGINT NOT NULL, created_at DATETIME(6), updated_at DATETIME(6)) "
           "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin")
COLUMNS = ["id", "name", "email", "age", "created_at", "updated_at"]


def rows_for(n: int, prefix: str) -> list[dict]:
    return [{"id": f"{prefix}{i}", "name": f"user {i}", "email": f"u{i}@example.com", "age": i % 90} for i in range(n)]


def connect_kwargs(url: str) -> dict:
    u = parse_url(url)
    return {"host": u.host or "127.0.0.1", "port": u.port or 3306, "user": u.username or "root",
            "password": u.password or "", "db": u.database, "charset": "utf8mb4", "autocommit": True}


async def raw_bulk(conn: aiomysql.Connection, data: list[dict], table: str) -> float:
    async with conn.cursor() as cur:
        await cur.execute(RAW_DDL.format(t=table))
    stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    start = time.perf_counter()
    records = [(r["id"], r["name"], r["email"], r["age"], stamp, stamp) for r in data]
    await conn.begin()
    async with conn.cursor() as cur:
        await cur.executemany(f"INSERT INTO `{table}` ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s)",
                              records)
    await conn.commit()
    return time.perf_counter() - start


async def main(url: str, rows: int, reads: int) -> list[Comparison]:
    tag = uuid.uuid4().hex[:8]
    db = DataFlow(url)

    @db.model
    class Person:
        id: str
        name: str
        email: str
        age: int
        __tablename__ = f"bench_people_{tag}"

    table = Person.__dataflow_model__.table
    runtime = AsyncLocalRuntime()
    warm = WorkflowBuilder()
    warm.add_node("PersonCountNode", "count", {})
    await runtime.execute_workflow_async(warm.build())
    raw = await aiomysql.connect(**connect_kwargs(url))
    raw_tables: list[str] = []
    try:
        # Bulk create: the whole list in one node, one transaction; alternate the two sides.
        bulk_times, raw_times = [], []
        for attempt in range(3):
            data = rows_for(rows, f"a{attempt}-")
            wf = WorkflowBuilder()
            wf.add_node("PersonBulkCreateNode", "bulk", {"data": data})
            built = wf.build()
            start = time.perf_counter()
            results, _ = await runtime.execute_workflow_async(built)
            bulk_times.append(time.perf_counter() - start)
            assert results["bulk"]["inserted"] == rows
            raw_tables.append(f"bench_raw_{tag}_{attempt}")
            raw_times.append(await raw_bulk(raw, data, raw_tables[-1]))
        bulk = Comparison("bulk create", min(bulk_times), min(raw_times), rows, "rows", "≥ 0.8", True)

        # Read by id through a one-node workflow, built once, id given per run.
        wf = WorkflowBuilder()
        wf.add_node("PersonReadNode", "read", {"id": "a0-1"})
        read_wf = wf.build()
        ids = [f"a0-{i}" for i in range(0, rows, max(1, rows // reads))][:reads]
        select = f"SELECT {', '.join(COLUMNS)} FROM `{table}` WHERE id = %s"

        async def framework_reads() -> None:
            for key in ids:
                await runtime.execute_workflow_async(read_wf, {"read": {"id": key}})

        async def raw_reads() -> None:
            async with raw.cursor() as cur:
                for key in ids:
                    await cur.execute(select, (key,))
                    await cur.fetchone()

        pool = await aiomysql.create_pool(minsize=1, maxsize=2, **connect_kwargs(url))

        async def pooled_reads() -> None:
            for key in ids:
                async with pool.acquire() as conn, conn.cursor() as cur:
                    await cur.execute(select, (key,))
                    await cur.fetchone()

        framework_read_s = await best_of_async(5, framework_reads)
        read = Comparison("read by id", framework_read_s, await best_of_async(5, raw_reads), len(ids), "reads",
                          "≤ 1.5", False)
        read_pooled = Comparison("read by id (raw via pool.acquire)", framework_read_s,
                                 await best_of_async(5, pooled_reads), len(ids), "reads", "(reference)", False)
        pool.close()
        await pool.wait_closed()

        wf = WorkflowBuilder()
        wf.add_node("PersonCountNode", "count", {"filter": {"age": {"$gt": 50}}})
        count_wf = wf.build()
        count_sql = f"SELECT COUNT(*) FROM `{table}` WHERE age > %s"

        async def framework_count() -> None:
            for _ in range(20):
                await runtime.execute_workflow_async(count_wf)

        async def raw_count() -> None:
            async with raw.cursor() as cur:
                for _ in range(20):
                    await cur.execute(count_sql, (50,))
                    await cur.fetchone()

        count = Comparison("count with filter", await best_of_async(3, framework_count),
                           await best_of_async(3, raw_count), 20, "counts", "≤ 1.1", False)
        return [bulk, read, read_pooled, count]
    finally:
        async with raw.cursor() as cur:
            for name in [table, *raw_tables]:
                await cur.execute(f"DROP TABLE IF EXISTS `{name}`")
        raw.close()
        await db.close_async()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    results = asyncio.run(main(args.url, args.rows, args.reads))
    print_table(f"MySQL / MariaDB ({args.rows:,} rows): DataFlow vs aiomysql", results)
