"""SQLite: DataFlow against raw sqlite3 / aiosqlite, measured side by side in one run.

    python bench/bench_sqlite.py [--rows 100000] [--reads 3000]

Bulk create (BulkCreateNode) vs ``sqlite3.executemany`` in one transaction, both starting from the
same list of dicts; read-by-id through a
one-node workflow (AsyncLocalRuntime) vs ``aiosqlite.execute_fetchall``; count with a filter
(CountNode) vs the same ``COUNT(*)``.
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
from common import Comparison, alternate, print_table, rows_for
from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder

RAW_DDL = (
    "CREATE TABLE {t} (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, age INTEGER NOT NULL, "
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
    stamp = dt.datetime.now(dt.UTC).isoformat()
    tuples = [(r["id"], r["name"], r["email"], r["age"], stamp, stamp) for r in data]
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?)", tuples)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


async def main(rows: int, reads: int) -> list[Comparison]:
    folder = tempfile.mkdtemp(prefix="dataflow-bench-")
    path = os.path.join(folder, "bench.db")
    db = DataFlow(f"sqlite:///{path}")

    @db.model
    class Person:
        id: str
        name: str
        email: str
        age: int

    runtime = AsyncLocalRuntime()
    warm = WorkflowBuilder()
    warm.add_node("PersonCountNode", "count", {})
    await runtime.execute_workflow_async(warm.build())

    # Bulk create: the whole list in one node, one transaction.
    bulk_times, raw_times = [], []
    for attempt in range(5):
        data = rows_for(rows, f"a{attempt}-")
        wf = WorkflowBuilder()
        wf.add_node("PersonBulkCreateNode", "bulk", {"data": data})
        built = wf.build()
        start = time.perf_counter()
        results, _ = await runtime.execute_workflow_async(built)
        bulk_times.append(time.perf_counter() - start)
        assert results["bulk"]["inserted"] == rows
        raw_times.append(raw_bulk(path, data, f"raw_people_{attempt}"))
    bulk = Comparison("bulk create", min(bulk_times), min(raw_times), rows, "rows", "≥ 0.8", True)

    # Read by id through a one-node workflow, built once, id given per run.
    wf = WorkflowBuilder()
    wf.add_node("PersonReadNode", "read", {"id": "a0-1"})
    read_wf = wf.build()
    ids = [f"a0-{i}" for i in range(0, rows, max(1, rows // reads))][:reads]

    async def framework_reads() -> None:
        for key in ids:
            await runtime.execute_workflow_async(read_wf, {"read": {"id": key}})

    raw = await aiosqlite.connect(path)
    select = "SELECT id, name, email, age, created_at, updated_at FROM people WHERE id = ?"

    async def raw_reads() -> None:
        for key in ids:
            await raw.execute_fetchall(select, (key,))

    read = Comparison("read by id", *await alternate(5, framework_reads, raw_reads), len(ids), "reads", "≤ 1.5", False)

    wf = WorkflowBuilder()
    wf.add_node("PersonCountNode", "count", {"filter": {"age": {"$gt": 50}}})
    count_wf = wf.build()

    async def framework_count() -> None:
        for _ in range(20):
            await runtime.execute_workflow_async(count_wf)

    async def raw_count() -> None:
        for _ in range(20):
            await raw.execute_fetchall("SELECT COUNT(*) FROM people WHERE age > ?", (50,))

    count = Comparison("count with filter", *await alternate(5, framework_count, raw_count), 20, "counts", "≤ 1.1",
                       False)
    await raw.close()
    await db.close_async()
    return [bulk, read, count]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=3000)
    args = parser.parse_args()
    print_table(f"SQLite {sqlite3.sqlite_version}: DataFlow vs raw driver", asyncio.run(main(args.rows, args.reads)))
