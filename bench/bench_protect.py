"""What write protection costs: ``python bench/bench_protect.py [--repeats N] [--rows N] [--db NAME] [--json]``.

On each database (a SQLite file, and the PostgreSQL / MariaDB test servers when they answer), two
instances on the same database in the same run: one with the protect plugin disabled
(``disable_plugins=["protect"]``), one with four rules that are checked on every write and refuse none
of these (a field rule on the model, a delete rule, a runtime ``when``, a read-only rule on another
model). Both run:

1. **A read by id** (a one-node workflow with ``ReadNode``): single reads in pairs, one on each side, the
   side going first alternating; the medians compared (200 times ``--repeats`` pairs);
2. **A 10,000-row bulk create** (``BulkCreateNode``; the table is emptied between samples, untimed).

Target: the protected instance within 5 % of the unprotected one (ratio ≤ 1.05). Bulk samples
alternate between the instances (the order rotating each round) and the best of ``--repeats`` is kept,
so load on the machine hits both alike; the load average is printed with the figures. A third line
shows the audit trail's cost on the bulk create (``audit_log=True``), for information: it reads the
rows back and writes 10,000 audit rows.
Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
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

READS = 200
TARGET = 1.05
RULES: list[dict[str, Any]] = [
    {"level": "field", "model": "Person", "field": "email", "immutable": True},
    {"level": "operation", "model": "Person", "operations": ["delete"]},
    {"level": "runtime", "when": lambda ctx: False},
    {"level": "model", "model": "Ledger", "read_only": True},
]


def _declare(db: DataFlow, suffix: str) -> list[str]:
    person = f"bp_person_{suffix}"
    ledger = f"bp_ledger_{suffix}"
    db.model(type("Person", (), {"__annotations__": {"id": str, "name": str, "email": str, "age": int},
                                 "age": 0, "__tablename__": person}))
    db.model(type("Ledger", (), {"__annotations__": {"id": str}, "__tablename__": ledger}))
    return [person, ledger]


def _one(node_type: str, params: dict[str, Any]) -> Any:
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", params)
    return wf.build()


class Side:
    """One instance, its tables, and its two workloads."""

    def __init__(self, url: str, label: str, rows: int, **options: Any) -> None:
        self.label = label
        self.db = DataFlow(url, **options)
        self.tables = _declare(self.db, uuid.uuid4().hex[:8])
        self.runtime = LocalRuntime()
        self.data = [{"id": f"p{i}", "name": f"Person {i}", "email": f"p{i}@example.com", "age": i % 90}
                     for i in range(rows)]
        self.runtime.execute(_one("PersonCreateNode", {"id": "reader", "name": "R", "email": "r@example.com"}))
        self.read = _one("PersonReadNode", {"id": "reader"})
        self.bulk = _one("PersonBulkCreateNode", {"data": self.data})

    def reads(self) -> float:
        started = time.perf_counter()
        for _ in range(READS):
            self.runtime.execute(self.read)
        return time.perf_counter() - started

    def untimed(self, sql: str) -> None:
        """A statement on the dialect's own connection (past the rules: the clean-up between samples)."""

        async def go() -> None:
            async with self.db.dialect.connection() as conn:
                await conn.execute(sql, [])

        run_sync(go())

    def bulk_create(self) -> float:
        q = self.db.dialect.quote
        self.untimed(f"DELETE FROM {q(self.tables[0])} WHERE {q('id')} <> 'reader'")
        started = time.perf_counter()
        self.runtime.execute(self.bulk)
        return time.perf_counter() - started

    def close(self, extra: tuple[str, ...] = ()) -> None:
        for table in (*self.tables, *extra):
            self.untimed(f"DROP TABLE IF EXISTS {self.db.dialect.quote(table)}")
        self.db.close()


def _best(repeats: int, *workloads: Callable[[], float]) -> list[float]:
    """The best time of each workload, samples alternating between them; the order rotates each round.

    On one SQLite file the sample that follows another side's big write pays that write's WAL
    checkpoint: in a fixed order the same side always would (about 10 % on a 10,000-row bulk create).
    """
    best = [float("inf")] * len(workloads)
    for round_ in range(repeats):
        for step in range(len(workloads)):
            index = (step + round_) % len(workloads)
            best[index] = min(best[index], workloads[index]())
    return best


def _paired_reads(off: Side, on: Side, pairs: int) -> tuple[float, float]:
    """Seconds for READS reads on each side: the medians of ``pairs`` single reads taken in pairs (the
    side that goes first alternating), so the machine's load moves both alike."""
    times: dict[str, list[float]] = {"off": [], "on": []}
    for index in range(pairs):
        order = (("off", off), ("on", on)) if index % 2 else (("on", on), ("off", off))
        for key, side in order:
            started = time.perf_counter()
            side.runtime.execute(side.read)
            times[key].append(time.perf_counter() - started)
    return statistics.median(times["off"]) * READS, statistics.median(times["on"]) * READS


def bench(url: str, repeats: int, rows: int) -> list[dict[str, Any]]:
    audit_table = f"bp_audit_{uuid.uuid4().hex[:8]}"
    off = Side(url, "plugin disabled", rows, disable_plugins=["protect"])
    on = Side(url, "protected", rows, write_protection=RULES)
    audited = Side(url, "audited", rows, audit_log=True, audit_table=audit_table)
    try:
        off.reads(), on.reads()  # warm both (schema cache, pools, statement caches)
        read_off, read_on = _paired_reads(off, on, READS * repeats)
        bulk_off, bulk_on, bulk_audit = _best(repeats, off.bulk_create, on.bulk_create, audited.bulk_create)
    finally:
        off.close()
        on.close()
        audited.close((audit_table, f"{audit_table}_head"))
    return [
        {"measure": f"read by id (x{READS})", "disabled_s": read_off, "protected_s": read_on,
         "ratio": read_on / read_off, "target": f"<= {TARGET}"},
        {"measure": f"bulk create {rows:,} rows", "disabled_s": bulk_off, "protected_s": bulk_on,
         "ratio": bulk_on / bulk_off, "target": f"<= {TARGET}"},
        {"measure": f"bulk create {rows:,} rows, audit_log=True", "disabled_s": bulk_off,
         "protected_s": bulk_audit, "ratio": bulk_audit / bulk_off, "target": "(information)"},
    ]


def urls(selected: list[str] | None = None) -> dict[str, str]:
    found = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench_protect.db'}", **reachable_servers(selected)}
    return {kind: url for kind, url in found.items() if not selected or kind in selected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql", "mysql"],
                        help="Only this database (repeatable).")
    args = parser.parse_args()
    load = os.getloadavg()
    report = {kind: bench(url, args.repeats, args.rows) for kind, url in urls(args.db).items()}
    if args.json:
        print(json.dumps({"load": load, "results": report}, indent=2))
        return
    print(f"Write protection vs the plugin disabled (best of {args.repeats}; load {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f})")
    for kind, results in report.items():
        print(f"\n{kind}")
        for r in results:
            print(f"  {r['measure']:<38} disabled {r['disabled_s'] * 1000:9.1f} ms   with plugin "
                  f"{r['protected_s'] * 1000:9.1f} ms   ratio {r['ratio']:.3f}  target {r['target']}")


if __name__ == "__main__":
    main()
