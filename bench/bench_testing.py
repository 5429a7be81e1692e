"""What the testing plugin costs: ``python bench/bench_testing.py [--repeats N] [--json]``.

On each database (a SQLite file, and the PostgreSQL / MariaDB test servers when they answer):

1. **A TDD test creating 100 rows**: what the ``tdd_dataflow`` fixture and such a test do, end to end:
   make the instance, declare a model, run 100 ``CreateNode``s in one workflow, roll back, close. Measured
   twice: with the table made by the test itself (auto-migration inside the TDD transaction, rolled
   back with it on PostgreSQL and SQLite) and with the table already there (a suite whose schema
   exists). Target: under 100 ms. The raw driver doing the same 100 INSERTs in a transaction and
   rolling back, in the same run, gives the ratio.
2. ``await db.cleanup_all_pools()`` releasing two pools (DataFlow's background loop and the caller's).
   Target: under 100 ms.
3. ``db.get_cleanup_metrics()``. Target: under 1 ms.

Medians of ``--repeats`` runs. Figures are printed, not asserted: benchmarks are not timed tests; the
machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import reachable_servers
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.loop import run_sync
from dataflow.testing import raw_execute
from dataflow.url import parse_url

ROWS = 100


def _declare(db: DataFlow, table: str) -> str:
    name = f"Row{table[-8:]}"
    db.model(type(name, (), {"__annotations__": {"id": str, "label": str, "n": int}, "n": 0,
                             "__tablename__": table}))
    return name


def _workflow(name: str) -> Any:
    wf = WorkflowBuilder()
    for i in range(ROWS):
        wf.add_node(f"{name}CreateNode", f"c{i}", {"id": f"r{i}", "label": f"row {i}", "n": i})
    return wf.build()


def tdd_test(url: str, table: str) -> float:
    """Seconds for one TDD test creating ROWS rows, fixture set-up and rollback included."""
    from dataflow_testing.tdd import end_transaction

    started = time.perf_counter()
    db = DataFlow(url, test_mode=True, tdd_mode=True)
    try:
        name = _declare(db, table)
        results, _ = LocalRuntime().execute(_workflow(name))
        assert len(results) == ROWS
        run_sync(end_transaction(db))
    finally:
        db.close()
    return time.perf_counter() - started


def raw_test(url: str, table: str) -> Callable[[], float]:
    """The raw driver's side: ROWS single-row INSERTs in a transaction, then ROLLBACK (a fresh connection)."""
    kind = parse_url(url).scheme.split("+")[0]
    rows = [(f"r{i}", f"row {i}", i) for i in range(ROWS)]
    if kind == "sqlite":
        path = parse_url(url).database

        def sqlite_side() -> float:
            started = time.perf_counter()
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            for row in rows:
                conn.execute(f'INSERT INTO "{table}" (id, label, n) VALUES (?, ?, ?)', row)
            conn.execute("ROLLBACK")
            conn.close()
            return time.perf_counter() - started

        return sqlite_side
    if kind in ("postgresql", "postgres"):
        import asyncpg

        async def pg_side() -> float:
            started = time.perf_counter()
            conn = await asyncpg.connect(url)
            tx = conn.transaction()
            await tx.start()
            for row in rows:
                await conn.execute(f'INSERT INTO "{table}" (id, label, n) VALUES ($1, $2, $3)', *row)
            await tx.rollback()
            await conn.close()
            return time.perf_counter() - started

        return lambda: asyncio.run(pg_side())
    import aiomysql

    parsed = parse_url(url)

    async def mysql_side() -> float:
        started = time.perf_counter()
        conn = await aiomysql.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 3306,
                                      user=parsed.username or "root", password=parsed.password or "",
                                      db=parsed.database)
        await conn.begin()
        async with conn.cursor() as cursor:
            for row in rows:
                await cursor.execute(f"INSERT INTO `{table}` (id, label, n) VALUES (%s, %s, %s)", row)
        await conn.rollback()
        conn.close()
        return time.perf_counter() - started

    return lambda: asyncio.run(mysql_side())


def cleanup_all_pools_ms(url: str, table: str, repeats: int) -> float:
    db = DataFlow(url, test_mode=True)
    try:
        name = _declare(db, table)
        count = WorkflowBuilder()
        count.add_node(f"{name}CountNode", "count", {})
        built = count.build()
        timings = []

        async def two_pools_then_cleanup() -> float:
            from dataflow import AsyncLocalRuntime

            await AsyncLocalRuntime().execute_workflow_async(built)   # the caller's loop
            await asyncio.to_thread(LocalRuntime().execute, built)    # DataFlow's background loop
            started = time.perf_counter()
            report = await db.cleanup_all_pools()
            elapsed = time.perf_counter() - started
            assert report["total_pools"] == 2 and report["cleanup_failures"] == 0, report
            return elapsed

        for _ in range(repeats):
            timings.append(asyncio.run(two_pools_then_cleanup()))
        return statistics.median(timings) * 1000
    finally:
        db.close()


def metrics_ms(url: str, table: str) -> float:
    db = DataFlow(url, test_mode=True)
    try:
        name = _declare(db, table)
        wf = WorkflowBuilder()
        wf.add_node(f"{name}CountNode", "count", {})
        LocalRuntime().execute(wf.build())
        calls = 10_000
        started = time.perf_counter()
        for _ in range(calls):
            db.get_cleanup_metrics()
        return (time.perf_counter() - started) / calls * 1000
    finally:
        db.close()


def databases(folder: Path) -> dict[str, str]:
    return {"sqlite": f"sqlite:///{folder / 'bench.db'}", **reachable_servers()}


def measure(kind: str, url: str, repeats: int) -> dict[str, Any]:
    table = f"bench_tdd_{uuid.uuid4().hex[:8]}"
    owner = DataFlow(url)
    try:
        fresh = [tdd_test(url, table) for _ in range(repeats)]          # the test makes the table
        name = _declare(owner, table)
        wf = WorkflowBuilder()
        wf.add_node(f"{name}CountNode", "count", {})
        LocalRuntime().execute(wf.build())                               # the table exists from now on
        existing = [tdd_test(url, table) for _ in range(repeats)]
        raw_side = raw_test(url, table)
        raw = [raw_side() for _ in range(repeats)]
        cleanup = cleanup_all_pools_ms(url, f"{table}_c", max(3, repeats // 2))
        metrics = metrics_ms(url, f"{table}_m")
    finally:
        for name in (table, f"{table}_c", f"{table}_m"):
            raw_execute(owner, f"DROP TABLE IF EXISTS {owner.dialect.quote(name)}")
        owner.close()
    tdd_existing = statistics.median(existing) * 1000
    raw_ms = statistics.median(raw) * 1000
    return {
        "database": kind,
        "tdd_test_100_rows_table_made_by_test_ms": round(statistics.median(fresh) * 1000, 1),
        "tdd_test_100_rows_ms": round(tdd_existing, 1),
        "raw_100_rows_rollback_ms": round(raw_ms, 1),
        "ratio_framework_raw": round(tdd_existing / raw_ms, 2),
        "cleanup_all_pools_ms": round(cleanup, 2),
        "get_cleanup_metrics_ms": round(metrics, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="runs per figure (the median is shown)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        results = [measure(kind, url, args.repeats) for kind, url in databases(Path(folder)).items()]
    if args.json:
        print(json.dumps({"load_average": load, "results": results}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"testing plugin, medians of {args.repeats} (load average {load[0]:.2f} "
                        f"{load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores)")
    for column in ("database", "TDD test, 100 rows (target < 100 ms)", "… table made by the test",
                   "raw driver, same work", "ratio", "cleanup_all_pools (< 100 ms)", "get_cleanup_metrics (< 1 ms)"):
        table.add_column(column)
    for r in results:
        table.add_row(r["database"], f"{r['tdd_test_100_rows_ms']:.1f} ms",
                      f"{r['tdd_test_100_rows_table_made_by_test_ms']:.1f} ms",
                      f"{r['raw_100_rows_rollback_ms']:.1f} ms",
                      f"{r['ratio_framework_raw']:.2f}", f"{r['cleanup_all_pools_ms']:.2f} ms",
                      f"{r['get_cleanup_metrics_ms'] * 1000:.1f} µs")
    Console().print(table)


if __name__ == "__main__":
    main()
