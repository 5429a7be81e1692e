"""MySQL / MariaDB: DataFlow against raw aiomysql, measured side by side in one run.

    python bench/bench_mysql.py [--rows 100000] [--reads 3000] [--url mysql://…]

Bulk create (BulkCreateNode via AsyncLocalRuntime) vs aiomysql ``executemany`` (which rewrites the
INSERT into multi-row statements) in one transaction; read-by-id through a one-node workflow vs a
plain ``SELECT`` on a held connection (and, for reference, ``pool.acquire()`` + ``SELECT`` as an
application would write it); update by id (UpdateNode, which returns the stored record) vs an
autocommit ``UPDATE``, and, for reference, vs the raw driver keeping the same guarantee: ``START
TRANSACTION; UPDATE; SELECT; COMMIT`` sent as one text, as the dialect does (MariaDB has no
``UPDATE … RETURNING``), so that the part of the gap the read-back itself costs shows apart from
DataFlow's own; count with a filter (CountNode) vs the same ``COUNT(*)``. The URL defaults to
DATAFLOW_TEST_MYSQL_URL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import aiomysql
from common import (
    COLUMNS,
    Comparison,
    PersonWorkload,
    alternate,
    best_of_async,
    print_table,
    record_tuples,
    server_args,
)
from dataflow import DataFlow
from dataflow.url import parse_url

DEFAULT_URL = os.environ.get("DATAFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
RAW_DDL = ("CREATE TABLE `{t}` (id VARCHAR(255) PRIMARY KEY, name LONGTEXT NOT NULL, email LONGTEXT NOT NULL, "
           "age BIGINT NOT NULL, created_at DATETIME(6), updated_at DATETIME(6)) "
           "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin")


def connect_kwargs(url: str) -> dict:
    u = parse_url(url)
    return {"host": u.host or "127.0.0.1", "port": u.port or 3306, "user": u.username or "root",
            "password": u.password or "", "db": u.database, "charset": "utf8mb4", "autocommit": True}


async def raw_bulk(conn: aiomysql.Connection, data: list[dict], table: str) -> float:
    async with conn.cursor() as cur:
        await cur.execute(RAW_DDL.format(t=table))
    stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    start = time.perf_counter()
    records = record_tuples(data, stamp)
    await conn.begin()
    async with conn.cursor() as cur:
        await cur.executemany(f"INSERT INTO `{table}` ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s)",
                              records)
    await conn.commit()
    return time.perf_counter() - start


async def main(url: str, rows: int, reads: int) -> list[Comparison]:
    work = PersonWorkload(DataFlow(url))
    table = work.table
    await work.warm_up()
    raw = await aiomysql.connect(**connect_kwargs(url))
    try:
        bulk = await work.compare_bulk(rows, lambda data, name: raw_bulk(raw, data, name))

        # Read by id through a one-node workflow, built once, id given per run.
        ids = work.pick_ids(rows, reads)
        select = f"SELECT {', '.join(COLUMNS)} FROM `{table}` WHERE id = %s"

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

        framework_read_s = await best_of_async(5, work.reads)
        read = Comparison("read by id", framework_read_s, await best_of_async(5, raw_reads), len(ids), "reads",
                          "≤ 1.5", False)
        read_pooled = Comparison("read by id (raw via pool.acquire)", framework_read_s,
                                 await best_of_async(5, pooled_reads), len(ids), "reads", "(reference)", False)
        pool.close()
        await pool.wait_closed()

        # Update by id: the same ids, on the raw side's copy of the rows (its first bulk table).
        raw_table = work.raw_tables[0]
        update_sql = f"UPDATE `{raw_table}` SET name = %s, updated_at = %s WHERE id = %s"
        read_back = (f"START TRANSACTION; {update_sql}; SELECT {', '.join(COLUMNS)} FROM `{raw_table}` "
                     f"WHERE id = %s; COMMIT")

        async def raw_updates() -> None:
            async with raw.cursor() as cur:
                for key in ids:
                    await cur.execute(update_sql, (f"new {key}", dt.datetime.now(dt.UTC).replace(tzinfo=None), key))

        async def raw_read_back_updates() -> None:
            async with raw.cursor() as cur:
                for key in ids:
                    await cur.execute(read_back, (f"new {key}", dt.datetime.now(dt.UTC).replace(tzinfo=None), key, key))
                    while await cur.nextset():
                        pass

        framework_update_s, raw_update_s, raw_read_back_s = await alternate(3, work.updates, raw_updates,
                                                                            raw_read_back_updates)
        update = Comparison("update by id", framework_update_s, raw_update_s, len(ids), "updates", "≤ 1.5", False)
        update_read_back = Comparison("update by id (raw UPDATE + SELECT in one transaction)", framework_update_s,
                                      raw_read_back_s, len(ids), "updates", "(reference)", False)
        read_back_cost = Comparison("  raw UPDATE + SELECT vs raw UPDATE", raw_read_back_s, raw_update_s, len(ids),
                                    "updates", "(reference)", False)

        count_sql = f"SELECT COUNT(*) FROM `{table}` WHERE age > %s"

        async def raw_count() -> None:
            async with raw.cursor() as cur:
                for _ in range(20):
                    await cur.execute(count_sql, (50,))
                    await cur.fetchone()

        count = Comparison("count with filter", await best_of_async(3, work.counts),
                           await best_of_async(3, raw_count), 20, "counts", "≤ 1.1", False)
        return [bulk, read, read_pooled, update, update_read_back, read_back_cost, count]
    finally:
        async with raw.cursor() as cur:
            for name in [table, *work.raw_tables]:
                await cur.execute(f"DROP TABLE IF EXISTS `{name}`")
        raw.close()
        await work.db.close_async()


if __name__ == "__main__":
    args = server_args(__doc__, DEFAULT_URL)
    results = asyncio.run(main(args.url, args.rows, args.reads))
    print_table(f"MySQL / MariaDB ({args.rows:,} rows): DataFlow vs aiomysql", results)
