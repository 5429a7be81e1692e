"""Native arrays against JSON lists and LIKE: ``python bench/bench_arrays.py [--rows N] [--repeats N] [--json]``.

On the PostgreSQL test server (skipped with a message when it does not answer), ``--rows`` rows
(default 100,000) of five tags each, in four tables written through DataFlow's bulk create:

1. ``TEXT[]`` (``use_native_arrays``) with a GIN index: ``{"tags": {"$contains": "rare-7"}}``;
2. the same list as JSONB, no index: the same filter;
3. the same list as JSONB with a GIN index: the same filter;
4. the tags joined into one text column: ``{"tags_text": {"$like": "%rare-7%"}}`` (the spec's "before").

``rare-7`` is on 0.1 % of the rows (a selective query, where an index matters). After the load the
tables are ``VACUUM ANALYZE``d: a GIN index filled by a bulk load keeps the new entries in its pending
list, which only (auto)vacuum merges, and until then the planner prices the index scan above a
sequential scan; a plain ``ANALYZE`` leaves it so, and every variant was a sequential scan. Each query is
timed twice: as a ``ListNode`` through the runtime, and as the SQL that node sends (captured from the
``dataflow.sql`` log of the warm-up run and checked against the compiled statement), run alone on one
pooled connection (the database's share). The plan PostgreSQL chose for it is printed beside it.
Fastest of ``--repeats`` runs after one warm-up (on a loaded shared machine the fastest run is the one
least disturbed; the median is printed too); the ratios are the other variants' times over the native
array's, for the SQL alone and through the node. The spec claims 2-10 times over JSON storage. Figures are
printed, not asserted; the machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import time
import uuid
from typing import Any

from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.loop import run_sync
from dataflow.query import Select, parse_filter
from dataflow.sqllog import SQL_LOGGER
from dataflow.testing import raw_execute
from dataflow.testing.fixtures import probe_server

URL = os.environ.get("DATAFLOW_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
RARE = "rare-7"


def _rows(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    words = [f"tag-{i}" for i in range(1000)]
    rows = []
    for i in range(count):
        tags = rng.sample(words, 5)
        if i % 1000 == 7:
            tags[2] = RARE
        rows.append({"id": f"r{i}", "tags": tags})
    return rows


def _declare(db: DataFlow, kind: str, suffix: str) -> tuple[str, str]:
    name, table = f"Bench{kind}{suffix}", f"bench_{kind.lower()}_{suffix}"
    if kind == "Text":
        annotations: dict[str, Any] = {"id": str, "tags_text": str}
        options: dict[str, Any] = {}
    else:
        annotations = {"id": str, "tags": list[str]}
        options = {"use_native_arrays": kind == "Native"}
        if kind in ("Native", "JsonGin"):
            options["indexes"] = [{"fields": ["tags"], "using": "gin"}]
    db.model(type(name, (), {"__annotations__": annotations, "__tablename__": table, "__dataflow__": options}))
    return name, table


def _run(runtime: LocalRuntime, node: str, params: dict[str, Any]) -> dict[str, Any]:
    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    return runtime.execute(wf.build())[0]["n"]


class _Captured(logging.Handler):
    """The statements the ``dataflow.sql`` logger sees while installed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(getattr(record, "sql", ""))


def _node_sql(runtime: LocalRuntime, node: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Run the node once with the SQL log on: its result and the statements it sent."""
    handler, level = _Captured(), SQL_LOGGER.level
    SQL_LOGGER.addHandler(handler)
    SQL_LOGGER.setLevel(logging.DEBUG)
    try:
        return _run(runtime, node, params), handler.statements
    finally:
        SQL_LOGGER.removeHandler(handler)
        SQL_LOGGER.setLevel(level)


async def _plan(db: DataFlow, sql: str, values: list[Any]) -> str:
    """How PostgreSQL runs ``sql``: the scan nodes of its plan (``Bitmap Index Scan on ix_…``, ``Seq Scan``)."""
    async with db.connection() as conn:
        lines = [row[0] for row in await conn.fetch(f"EXPLAIN {sql}", values)]
    scans = [line.strip().removeprefix("->").strip().split("  (")[0] for line in lines if "Scan" in line]
    return ", ".join(scans)


async def _time_sql(db: DataFlow, sql: str, values: list[Any], repeats: int) -> tuple[float, float]:
    times = []
    async with db.connection() as conn:
        await conn.fetch(sql, values)
        for _ in range(repeats):
            started = time.perf_counter()
            await conn.fetch(sql, values)
            times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    _, problem = probe_server("postgresql")  # the same DATAFLOW_TEST_POSTGRES_URL as URL
    if problem is not None:
        print(f"bench_arrays: the PostgreSQL test server does not answer ({problem}); skipped")
        return
    db = DataFlow(URL)
    runtime = LocalRuntime()
    suffix = uuid.uuid4().hex[:8]
    rows = _rows(args.rows)
    variants = {kind: _declare(db, kind, suffix) for kind in ("Native", "Json", "JsonGin", "Text")}
    results: dict[str, float] = {}
    sql_times: dict[str, tuple[float, float]] = {}
    try:
        for kind, (name, table) in variants.items():
            data = ([{"id": r["id"], "tags_text": " ".join(r["tags"])} for r in rows] if kind == "Text" else rows)
            for start in range(0, len(data), 20_000):
                _run(runtime, f"{name}BulkCreateNode", {"data": data[start:start + 20_000]})
            raw_execute(db, f"VACUUM ANALYZE {table}")  # merges the GIN pending list (see the docstring)
        expected = sum(1 for r in rows if RARE in r["tags"])
        plans: dict[str, str] = {}
        for kind, (name, _table) in variants.items():
            flt = {"tags_text": {"$like": f"%{RARE}%"}} if kind == "Text" else {"tags": {"$contains": RARE}}
            params = {"filter": flt, "limit": 10_000}
            # Warm-up: the answer is checked once, and the statement the node sent is captured.
            found, sent = _node_sql(runtime, f"{name}ListNode", params)
            assert len(found["records"]) == expected, (kind, len(found["records"]), expected)
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                _run(runtime, f"{name}ListNode", params)
                times.append(time.perf_counter() - started)
            results[kind] = min(times)
            model = db.get_model(name)
            sql, values = db.dialect.compile_select(Select(model, parse_filter(model, flt, extra_operators=db.dialect
                                                                                .operators), limit=10_000))
            # The raw side runs exactly the node's statement (its values are the compiled ones).
            assert sql in sent, (kind, sql, sent)
            plans[kind] = run_sync(_plan(db, sql, values))
            sql_times[kind] = run_sync(_time_sql(db, sql, values, args.repeats))
    finally:
        for _name, table in variants.values():
            raw_execute(db, f"DROP TABLE IF EXISTS {table}")
        db.close()
    labels = {"Native": "TEXT[] + GIN, $contains", "Json": "JSONB list, $contains", "JsonGin": "JSONB list + GIN, "
              "$contains", "Text": "text column, $like '%tag%'"}
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"rows": args.rows, "matches": expected,
                          "node_best_ms": {k: v * 1000 for k, v in results.items()},
                          "sql_best_ms": {k: v[0] * 1000 for k, v in sql_times.items()},
                          "sql_median_ms": {k: v[1] * 1000 for k, v in sql_times.items()},
                          "sql_ratio_to_native": {k: v[0] / sql_times["Native"][0] for k, v in sql_times.items()},
                          "node_ratio_to_native": {k: v / results["Native"] for k, v in results.items()},
                          "plans": plans,
                          "load": load}))
        return
    print(f"$contains on {args.rows:,} rows ({expected} match), PostgreSQL, {args.repeats} runs each")
    print(f"  {'':<34} {'ListNode best':>13} {'SQL best':>10} {'SQL median':>11}   {'SQL ratio':>9} "
          f"{'node ratio':>10}   plan")
    native, native_node = sql_times["Native"][0], results["Native"]
    for kind, seconds in results.items():
        best, median = sql_times[kind]
        print(f"  {labels[kind]:<34} {seconds * 1000:10.2f} ms {best * 1000:7.2f} ms {median * 1000:8.2f} ms   "
              f"{best / native:8.1f}x {seconds / native_node:9.1f}x   {plans[kind]}")
    print("  ratios: the variant's best time over the native array's (SQL alone, and through the ListNode)")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
