"""Shared helpers of the benchmarks: timing, a rich results table, ratio formatting, and the
DataFlow side of the server benchmarks (a Person model, bulk create, read by id, count).

Benchmarks compare DataFlow with the raw driver in the same run, on the same machine, and print
ratios; they are not timed assertions.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder
from dataflow.errors import redact_url
from dataflow.testing.fixtures import probe_server
from dataflow.workflow import Workflow

COLUMNS = ["id", "name", "email", "age", "created_at", "updated_at"]
"""The Person table's columns, in the order the raw sides write and read them."""

RawBulk = Callable[[list[dict], str], Awaitable[float]]
"""The raw side of bulk create: ``(rows, table) -> seconds``; it creates ``table`` itself."""


@attrs.frozen
class Comparison:
    """One measured pair: framework and raw seconds for the same work."""

    name: str
    framework_s: float
    raw_s: float
    work: int
    unit: str
    target: str
    higher_is_better: bool

    @property
    def ratio(self) -> float:
        """Throughput ratio (framework / raw) for bulk work; time ratio (framework / raw) otherwise."""
        return self.raw_s / self.framework_s if self.higher_is_better else self.framework_s / self.raw_s

    def row(self) -> list[str]:
        kind = "throughput" if self.higher_is_better else "time"
        return [self.name, self._rate(self.framework_s), self._rate(self.raw_s), f"{self.ratio:.2f} ({kind})",
                self.target]

    def _rate(self, seconds: float) -> str:
        return f"{self.work / seconds:,.0f} {self.unit}/s"


SERVER_KINDS = ("postgresql", "mysql")


def reachable_servers(selected: list[str] | None = None) -> dict[str, str]:
    """The test servers (kind → URL, ``DATAFLOW_TEST_*_URL`` or the defaults) that answer, among
    ``selected`` when given; each missing one is said and skipped."""
    found = {}
    for kind in SERVER_KINDS:
        if selected and kind not in selected:
            continue
        url, problem = probe_server(kind)
        if problem is None:
            found[kind] = url
        else:
            print(f"{kind}: the test server at {redact_url(url)} does not answer ({problem}); skipped")
    return found


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


async def best_of_async(repeats: int, fn: Callable[[], Awaitable[Any]]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        await fn()
        best = min(best, time.perf_counter() - start)
    return best


def print_table(title: str, comparisons: list[Comparison]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("benchmark", "DataFlow", "raw driver", "ratio", "target"):
        table.add_column(column)
    for c in comparisons:
        table.add_row(*c.row())
    Console().print(table)


async def alternate(repeats: int, framework: Callable[[], Awaitable[Any]],
                    *raws: Callable[[], Awaitable[Any]]) -> list[float]:
    """Best time of each function, running them in turn ``repeats`` times; the order rotates each
    round, so that whatever the previous run leaves behind (caches, hint bits) favours no side."""
    fns = (framework, *raws)
    best = [float("inf")] * len(fns)
    for round_ in range(repeats):
        for step in range(len(fns)):
            index = (step + round_) % len(fns)
            best[index] = min(best[index], await best_of_async(1, fns[index]))
    return best


def rows_for(n: int, prefix: str) -> list[dict]:
    """``n`` Person rows with ids ``{prefix}0`` … (ages 0-89, so a filter on age has a fixed selectivity)."""
    return [{"id": f"{prefix}{i}", "name": f"user {i}", "email": f"u{i}@example.com", "age": i % 90} for i in range(n)]


def one_node(node: str, params: dict[str, Any], node_id: str = "n") -> Workflow:
    """A workflow of the single node ``node`` (id ``node_id``) with ``params``."""
    wf = WorkflowBuilder()
    wf.add_node(node, node_id, params)
    return wf.build()


def record_tuples(data: list[dict], stamp: Any) -> list[tuple[Any, ...]]:
    """Person rows as the raw side writes them: tuples in COLUMNS order, both timestamps ``stamp``."""
    return [(r["id"], r["name"], r["email"], r["age"], stamp, stamp) for r in data]


class PersonWorkload:
    """The DataFlow side of a server benchmark: a Person model on ``db`` in a table unique to the run,
    run through one AsyncLocalRuntime with workflows built once (as an application would hold them)."""

    def __init__(self, db: DataFlow) -> None:
        self.db = db
        self.tag = uuid.uuid4().hex[:8]

        @db.model
        class Person:
            id: str
            name: str
            email: str
            age: int
            __tablename__ = f"bench_people_{self.tag}"

        self.table: str = Person.__dataflow_model__.table
        self.raw_tables: list[str] = []
        """The tables the raw side made (for the caller to drop with ``table``)."""
        self.runtime = AsyncLocalRuntime()
        self._read = one_node("PersonReadNode", {"id": "a0-1"}, "read")
        self._count = one_node("PersonCountNode", {"filter": {"age": {"$gt": 50}}}, "count")
        self._update = one_node("PersonUpdateNode", {"id": "a0-1", "fields": {"name": "x"}}, "update")
        self.ids: list[str] = []

    async def warm_up(self) -> None:
        """Create the table and open the pool before anything is timed."""
        await self.runtime.execute_workflow_async(one_node("PersonCountNode", {}, "count"))

    async def compare_bulk(self, rows: int, raw_bulk: RawBulk) -> Comparison:
        """Bulk create ``rows`` rows, three times on each side, the best of each kept: the whole list in one
        node, one transaction. The raw side's tables are recorded in ``raw_tables``."""
        bulk_times, raw_times = [], []
        for attempt in range(3):
            data = rows_for(rows, f"a{attempt}-")
            built = one_node("PersonBulkCreateNode", {"data": data}, "bulk")
            start = time.perf_counter()
            results, _ = await self.runtime.execute_workflow_async(built)
            bulk_times.append(time.perf_counter() - start)
            assert results["bulk"]["inserted"] == rows
            self.raw_tables.append(f"bench_raw_{self.tag}_{attempt}")
            raw_times.append(await raw_bulk(data, self.raw_tables[-1]))
        return Comparison("bulk create", min(bulk_times), min(raw_times), rows, "rows", "≥ 0.8", True)

    def pick_ids(self, rows: int, reads: int) -> list[str]:
        """``reads`` ids spread over the first bulk create's ``rows`` rows; kept for :meth:`reads`."""
        self.ids = [f"a0-{i}" for i in range(0, rows, max(1, rows // reads))][:reads]
        return self.ids

    async def reads(self) -> None:
        """Read every picked id through the one-node read workflow, the id given per run."""
        for key in self.ids:
            await self.runtime.execute_workflow_async(self._read, {"read": {"id": key}})

    async def updates(self) -> None:
        """Update every picked id's name through the one-node update workflow (each its own
        transaction, the stored record returned)."""
        for key in self.ids:
            await self.runtime.execute_workflow_async(self._update,
                                                      {"update": {"id": key, "fields": {"name": f"new {key}"}}})

    async def counts(self) -> None:
        """Twenty counts with the filter ``age > 50``."""
        for _ in range(20):
            await self.runtime.execute_workflow_async(self._count)


def server_args(doc: str | None, default_url: str) -> argparse.Namespace:
    """The command line of a server benchmark: ``--rows``, ``--reads``, ``--url``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--url", default=default_url)
    return parser.parse_args()


async def load_table(db: DataFlow, tasks: int, ops: int,
                     sessions: Callable[[], Awaitable[int]]) -> tuple[float, list[BaseException], int]:
    """The load run every server shares (``dataflow.testing.load.drive_load``) on a table of its own,
    dropped afterwards. Returns the elapsed seconds, the errors and the peak of ``sessions()``."""
    from dataflow.testing.load import drive_load

    @db.model
    class LoadOp:
        task: int
        step: int
        note: str = ""
        __tablename__ = f"load_ops_{uuid.uuid4().hex[:8]}"

    result = await drive_load("LoadOp", tasks, ops, sessions)
    async with db.connection() as conn:
        await conn.execute(f"DROP TABLE {db.dialect.quote(LoadOp.__dataflow_model__.table)}", [])
    return result.elapsed, list(result.errors), result.peak


def report_load(tasks: int, ops: int, elapsed: float, errors: list[BaseException], peak: int, pool: int,
                after: int, baseline: int) -> int:
    """Print a load run's figures; the exit status is 1 on any error or a connection left behind."""
    total = tasks * ops
    print(f"{total:,} operations by {tasks} tasks in {elapsed:.1f} s: {total / elapsed:,.0f} ops/s")
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]!r})" if errors else ""))
    print(f"server sessions: peak {peak} (pool {pool}); after close {after} (baseline {baseline})")
    return 1 if errors or after != baseline or peak > pool else 0


def load_args(doc: str | None, default_url: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--url", default=default_url)
    return parser.parse_args()
