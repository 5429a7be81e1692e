"""``dataflow demo``: DataFlow on embedded SQLite, end to end, with timings.

Declares a model, bulk-loads rows with a progress bar, runs one workflow of list / count / upsert /
update / delete, and prints the results and the timings as tables.

It leaves nothing behind, even when it fails: the SQLite file lives in a temporary folder removed at
the end, and on a database given with ``--database`` its table has a name of its own
(``dataflow_demo_customers_<random>``) and is dropped at the end. Migrations are not part of the demo:
the migrate, locks and risk plugins stay off for it, so no migration history is written either.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import uuid
from typing import Annotated, Any

from cyclopts import Parameter

CHUNK = 10_000
_NOT_IN_THE_DEMO = ("migrate", "locks", "risk")
"""Plugins that would record migrations in the database: off for the demo's own instance."""


def demo(
    *,
    rows: int = 100_000,
    database: str | None = None,
    json_output: Annotated[bool, Parameter(name="--json")] = False,
) -> None:
    """Run the DataFlow demo on an embedded SQLite database.

    Parameters
    ----------
    rows
        How many rows to bulk-load.
    database
        A database URL to run on instead (the demo's table, made for the run, is dropped at the end);
        default a fresh SQLite file in a temporary folder, removed at the end.
    json_output
        Print the results and timings as JSON instead of tables.
    """
    with contextlib.ExitStack() as cleanup:
        # Callbacks run last-registered first: drop the table, close the instance, remove the folder.
        if database is None:
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="dataflow-demo-"))
            url, table = f"sqlite:///{folder}/demo.db", "customers"
        else:
            url, table = database, f"dataflow_demo_customers_{uuid.uuid4().hex[:8]}"
        _run(url, table, rows, json_output, cleanup)


def _run(url: str, table: str, rows: int, json_output: bool, cleanup: contextlib.ExitStack) -> None:
    from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
    from dataflow.plugins import entry_points
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=json_output)
    installed = {e.name for e in entry_points()}
    db = DataFlow(url, disable_plugins=[name for name in _NOT_IN_THE_DEMO if name in installed])
    cleanup.callback(db.close)

    @db.model
    class Customer:
        id: str
        name: str
        email: str
        age: int = 0
        tier: str = "free"
        prefs: dict = {}
        __tablename__ = table

    cleanup.callback(_drop_table, db, table)

    runtime = LocalRuntime()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with Progress(TextColumn("[bold]bulk load"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=json_output) as progress:
        task = progress.add_task("load", total=rows)
        for first in range(0, rows, CHUNK):
            batch = [
                {"id": f"c{i}", "name": f"Customer {i}", "email": f"c{i}@example.com", "age": 18 + i % 60,
                 "tier": ("free", "pro", "team")[i % 3], "prefs": {"newsletter": i % 2 == 0}}
                for i in range(first, min(rows, first + CHUNK))
            ]
            wf = WorkflowBuilder()
            wf.add_node("CustomerBulkCreateNode", "load", {"data": batch})
            runtime.execute(wf.build())
            progress.advance(task, len(batch))
    timings["bulk load"] = time.perf_counter() - start

    wf = WorkflowBuilder()
    wf.add_node("CustomerListNode", "list", {"filter": {"tier": "pro", "age": {"$gte": 40}},
                                             "order_by": ["-age", "id"], "limit": 5, "include_total": True})
    wf.add_node("CustomerCountNode", "count", {"filter": {"$or": [{"tier": "team"}, {"age": {"$lt": 20}}]}})
    wf.add_node("CustomerUpsertNode", "upsert", {
        "where": {"id": "c-new"},
        "create": {"name": "New Customer", "email": "new@example.com", "tier": "pro"},
        "update": {"tier": "team"},
    })
    wf.add_node("CustomerUpdateNode", "update", {"filter": {"id": "${upsert.record.id}"}, "fields": {"age": 42}})
    wf.add_node("CustomerDeleteNode", "delete", {"id": "c0"})
    start = time.perf_counter()
    results, run_id = runtime.execute(wf.build())
    timings["workflow (5 nodes)"] = time.perf_counter() - start

    summary: dict[str, Any] = {
        "database": str(db.url),
        "rows": rows,
        "run_id": run_id,
        "list": {"count": results["list"]["count"], "total": results["list"]["total"],
                 "first": results["list"]["records"][0]["id"] if results["list"]["records"] else None},
        "count": results["count"]["count"],
        "upsert": results["upsert"]["action"],
        "update": results["update"]["updated"],
        "delete": results["delete"]["deleted"],
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "rows_per_s": round(rows / timings["bulk load"]) if rows else 0,
    }
    if json_output:
        print(json.dumps(summary, indent=2))
        return
    _print_tables(console, summary)


def _drop_table(db: Any, table: str) -> None:
    """Drop the demo's table (its name comes from the demo itself, quoted by the dialect)."""
    from dataflow.loop import run_sync

    async def drop() -> None:
        async with db.connection() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {db.dialect.quote(table)}", [])

    run_sync(drop())


def _print_tables(console: Any, summary: dict[str, Any]) -> None:
    from rich.table import Table

    results = Table(title="Workflow results")
    results.add_column("node")
    results.add_column("output")
    results.add_row("list", f"{summary['list']['count']} of {summary['list']['total']} pro customers aged 40+, "
                            f"first {summary['list']['first']}")
    results.add_row("count", f"{summary['count']} team customers or under 20")
    results.add_row("upsert", str(summary["upsert"]))
    results.add_row("update", f"updated={summary['update']}")
    results.add_row("delete", f"deleted={summary['delete']}")
    console.print(results)
    timings = Table(title=f"Timings ({summary['database']})")
    timings.add_column("step")
    timings.add_column("seconds", justify="right")
    for step, seconds in summary["timings_s"].items():
        timings.add_row(step, f"{seconds:.3f}")
    timings.add_row("bulk rate", f"{summary['rows_per_s']:,} rows/s")
    console.print(timings)
