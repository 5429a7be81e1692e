"""SQLite: DataFlow against raw sqlite3 / aiosqlite, measured side by side in one run.

    python bench/bench_sqlite.py [--rows 100000] [--reads 3000]

Bulk create (BulkCreateNode) vs ``sqlite3.executemany`` in one transaction, both starting from the
same list of dicts; read-by-id through a one-node workflow (AsyncLocalRuntime) vs
``aiosqlite.execute_fetchall``; count with a filter (CountNode) vs the same ``COUNT(*)``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

import aiosqlite
from common import COLUMNS, Comparison, PersonWorkload, alternate, print_table, record_tuples
from dataflow import DataFlow

RAW_DDL = (
    'CREATE TABLE "{t}" (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, age INTEGER NOT NULL, '
    "created_at TEXT, updated_at TEXT)"
)


def raw_bulk(path: str, data: list[dict], table: str) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(RAW_DDL.format(t=table))
    # Both sides start from the application's list of dicts, so the raw side's time includes making
    # the tuples executemany wants (as bench_postgresql's raw COPY side does).
    start = time.perf_counter()
    records = record_tuples(data, dt.datetime.now(dt.UTC).isoformat())
    conn.execute("BEGIN")
    conn.executemany(f'INSERT INTO "{table}" VALUES (?, ?, ?, ?, ?, ?)', records)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


async def main(rows: int, reads: int) -> list[Comparison]:
    path = os.path.join(tempfile.mkdtemp(prefix="dataflow-bench-"), "bench.db")
    work = PersonWorkload(DataFlow(f"sqlite:///{path}"))
    await work.warm_up()

    async def raw_bulk_async(data: list[dict], table: str) -> float:
        return raw_bulk(path, data, table)

    bulk = await work.compare_bulk(rows, raw_bulk_async)
    ids = work.pick_ids(rows, reads)
    raw = await aiosqlite.connect(path)
    select = f'SELECT {", ".join(COLUMNS)} FROM "{work.table}" WHERE id = ?'

    async def raw_reads() -> None:
        for key in ids:
            await raw.execute_fetchall(select, (key,))

    async def raw_counts() -> None:
        for _ in range(20):
            await raw.execute_fetchall(f'SELECT COUNT(*) FROM "{work.table}" WHERE age > ?', (50,))

    read = Comparison("read by id", *await alternate(5, work.reads, raw_reads), len(ids), "reads", "≤ 1.5", False)
    count = Comparison("count with filter", *await alternate(5, work.counts, raw_counts), 20, "counts", "≤ 1.1",
                       False)
    await raw.close()
    await work.db.close_async()
    return [bulk, read, count]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=3000)
    args = parser.parse_args()
    print_table(f"SQLite {sqlite3.sqlite_version}: DataFlow vs raw driver", asyncio.run(main(args.rows, args.reads)))
