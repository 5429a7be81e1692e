"""Export and import 1,000,000 rows in constant memory: the peak RSS of each, and the time against raw sqlite3.

    python bench/bench_export.py [--rows 1000000] [--formats csv,jsonl,parquet] [--url URL] [--batch-size 2000]

The rows are seeded first (in chunks), then each transfer runs in a fresh process of its own so that
its peak resident set size (``VmHWM``) measures that transfer alone: ``<Model>ExportNode`` to a
file, then ``<Model>ImportNode`` of that file into an empty table. The target is under 200 MB for a
million rows, whatever the table size (keyset pagination and batch-at-a-time import). On SQLite the
same work is also done with raw ``sqlite3`` (a cursor into ``csv.writer``; ``csv.reader`` into
``executemany``), and the time ratio framework / raw is printed. The machine's load average is printed
with the figures: timings on a loaded machine are noisy, the memory figures much less so.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import types
from decimal import Decimal
from pathlib import Path
from typing import Any

TARGET_MB = 200
CHUNK = 50_000
MODEL_SOURCE = '''
import datetime as dt
from decimal import Decimal
from typing import Optional

from dataflow import DataFlow

db = DataFlow({url!r})


@db.model
class Reading:
    id: int
    name: str
    email: str
    age: int
    score: float
    active: bool
    taken: dt.datetime
    balance: Decimal
    note: Optional[str] = None
    meta: dict = {{}}
    __tablename__ = {table!r}
'''


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB: ``VmHWM`` (``ru_maxrss`` would also count
    the parent's memory at the fork, which survives ``exec`` in that figure)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def declare(url: str, table: str) -> Any:
    """The DataFlow instance of a fresh module declaring ``Reading`` on ``table`` (annotations resolve there)."""
    module = types.ModuleType(f"bench_readings_{table}")
    sys.modules[module.__name__] = module
    exec(MODEL_SOURCE.format(url=url, table=table), module.__dict__)
    return module.db


def row(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"name {i}", "email": f"user{i}@example.com", "age": i % 90, "score": i / 7,
            "active": i % 3 == 0, "taken": dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=i),
            "balance": Decimal(i) / 100, "note": None if i % 5 else f"note, \"quoted\" {i}",
            "meta": {"n": i, "tags": ["a", "b"]}}


def seed(url: str, table: str, rows: int) -> None:
    from dataflow import LocalRuntime, WorkflowBuilder

    db = declare(url, table)
    runtime = LocalRuntime()
    for start in range(1, rows + 1, CHUNK):
        wf = WorkflowBuilder()
        chunk = [row(i) for i in range(start, min(start + CHUNK, rows + 1))]
        wf.add_node("ReadingBulkCreateNode", "seed", {"data": chunk})
        runtime.execute(wf.build())
    db.close()


def worker(action: str, url: str, table: str, path: str, batch_size: int) -> None:
    """One transfer in this process; prints its figures as JSON."""
    from dataflow import LocalRuntime, WorkflowBuilder

    db = declare(url, table)
    wf = WorkflowBuilder()
    node = "ReadingExportNode" if action == "export" else "ReadingImportNode"
    wf.add_node(node, "transfer", {"path": path, "batch_size": batch_size})
    runtime = LocalRuntime()
    before = current_rss_mb()
    start = time.perf_counter()
    results, _ = runtime.execute(wf.build())
    seconds = time.perf_counter() - start
    db.close()
    print(json.dumps({"seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(),
                      "result": results["transfer"]}, default=str))


def run_worker(action: str, url: str, table: str, path: Path, batch_size: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--worker", action, "--url", url, "--table", table,
                           "--path", str(path), "--batch-size", str(batch_size)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{action} worker failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def raw_sqlite(database: str, table: str, target: str, path: Path) -> tuple[float, float]:
    """Seconds for the raw export (cursor → csv.writer) and import (csv.reader → executemany)."""
    conn = sqlite3.connect(database, isolation_level=None)
    start = time.perf_counter()
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY id')
        writer.writerow([d[0] for d in cursor.description])
        while batch := cursor.fetchmany(2000):
            writer.writerows(batch)
    export_s = time.perf_counter() - start
    conn.execute(f'CREATE TABLE "{target}" AS SELECT * FROM "{table}" WHERE 0')
    start = time.perf_counter()
    with open(path, newline="") as source:
        reader = csv.reader(source)
        marks = ", ".join("?" * len(next(reader)))
        conn.execute("BEGIN")
        while chunk := [r for _, r in zip(range(2000), reader, strict=False)]:
            conn.executemany(f'INSERT INTO "{target}" VALUES ({marks})', chunk)
        conn.execute("COMMIT")
    import_s = time.perf_counter() - start
    conn.execute(f'DROP TABLE "{target}"')
    conn.close()
    return export_s, import_s


def drop(url: str, *tables: str) -> None:
    from dataflow.testing import raw_execute

    db = declare(url, tables[0])
    for table in tables:
        raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(table)}")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,jsonl,parquet")
    parser.add_argument("--url", default=None, help="database URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--worker", choices=["export", "import"])
    parser.add_argument("--table")
    parser.add_argument("--path")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.table, args.path, args.batch_size)
        return

    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    url = args.url or f"sqlite:///{folder / 'bench.db'}"
    stamp = os.getpid()
    source, target = f"bench_export_src_{stamp}", f"bench_export_dst_{stamp}"
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores; {args.rows:,} rows; {url}")
    started = time.perf_counter()
    seed(url, source, args.rows)
    print(f"seeded in {time.perf_counter() - started:.1f} s")
    try:
        print(f"{'format':8} {'transfer':9} {'seconds':>8} {'rows/s':>10} {'RSS before':>11} {'peak RSS':>9}  "
              f"{'file':>9}  target")
        measured: dict[str, dict[str, float]] = {}
        for fmt in args.formats.split(","):
            path = folder / f"readings.{fmt}"
            for action, table in (("export", source), ("import", target)):
                figures = run_worker(action, url, table, path, args.batch_size)
                moved = figures["result"].get("exported", figures["result"].get("inserted"))
                verdict = "ok" if figures["peak_rss_mb"] < TARGET_MB else f"OVER {TARGET_MB} MB"
                print(f"{fmt:8} {action:9} {figures['seconds']:8.1f} {moved / figures['seconds']:10,.0f} "
                      f"{figures['rss_before_mb']:9.0f}MB {figures['peak_rss_mb']:7.0f}MB  "
                      f"{path.stat().st_size / 2**20:7.0f}MB  < {TARGET_MB} MB: {verdict}")
                assert moved == args.rows, figures
                measured.setdefault(fmt, {})[action] = figures["seconds"]
            drop(url, target)
        if "csv" in measured and url.startswith("sqlite"):
            raw_export, raw_import = raw_sqlite(url.removeprefix("sqlite:///"), source, target, folder / "raw.csv")
            print(f"raw sqlite3 (cursor -> csv.writer, csv.reader -> executemany): export {raw_export:.1f} s, "
                  f"import {raw_import:.1f} s")
            print(f"ratio framework/raw (time, csv): export {measured['csv']['export'] / raw_export:.2f}, "
                  f"import {measured['csv']['import'] / raw_import:.2f}")
    finally:
        drop(url, source, target)
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
