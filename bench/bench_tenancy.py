"""What the tenancy filter costs: ``python bench/bench_tenancy.py [--rows N] [--reads N] [--repeats N]``.

On each database (a SQLite file, and the PostgreSQL / MariaDB test servers when they answer), the same
work with the tenancy plugin on (``multi_tenant=True``, tenant ``acme`` current) and off
(``disable_plugins=["tenancy"]``), in one run, on one ``AsyncLocalRuntime``, alternating rounds:

1. **Read by id**: ``--reads`` one-node read workflows, the id given per run.
2. **Bulk create**: ``--rows`` rows (10,000) in one ``BulkCreateNode``.

With the plugin off the model declares the tenant column and the plugin's index itself, and the rows
carry the tenant: the table is the same, so the ratio is what the plugin's filter, stamping and checks
cost. Target: under 1.05 (5 %). The last column compares with a model without the tenant column at
all (what the extra indexed column costs the database), for information.

Best of ``--repeats`` rounds; figures are printed, never asserted. The machine's load is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import alternate, one_node, reachable_servers
from dataflow import AsyncLocalRuntime, DataFlow

TENANT = "acme"


class Side:
    """One configuration: an instance, its model (a name of its own) and the work on it."""

    def __init__(self, label: str, db: DataFlow, *, tenant_column: bool, tenant_current: bool) -> None:
        self.label = label
        self.db = db
        self.tenant_current = tenant_current
        self.stamp = {"tenant_id": TENANT} if tenant_column else {}
        name = f"Bench{label.title()}{uuid.uuid4().hex[:6]}"
        fields: dict[str, Any] = {"id": str, "name": str, "email": str, "age": int}
        options: dict[str, Any] = {}
        if tenant_column:
            fields["tenant_id"] = str
            options = {"indexes": [{"fields": ["tenant_id", "id"], "unique": True}]}
        cls = type(name, (), {"__annotations__": fields, "__tablename__": f"bench_tn_{uuid.uuid4().hex[:10]}",
                              "__dataflow__": options})
        db.model(cls)
        self.name = name
        self.table = db.models[name].table
        self.runtime = AsyncLocalRuntime()
        self.read = one_node(f"{name}ReadNode", {"id": "x"}, "read")
        self.batches = 0
        self.ids: list[str] = []

    async def _run(self, workflow: Any, inputs: Any = None) -> Any:
        if self.tenant_current:
            async with self.db.tenant_context.aswitch(TENANT):
                return await self.runtime.execute_workflow_async(workflow, inputs)
        return await self.runtime.execute_workflow_async(workflow, inputs)

    async def bulk(self, rows: int) -> None:
        prefix = f"b{self.batches}-"
        self.batches += 1
        data = [{"id": f"{prefix}{i}", "name": f"user {i}", "email": f"u{i}@example.com", "age": i % 90,
                 **self.stamp} for i in range(rows)]
        results, _ = await self._run(one_node(f"{self.name}BulkCreateNode", {"data": data}, "bulk"))
        assert results["bulk"]["inserted"] == rows
        if not self.ids:
            self.ids = [f"{prefix}{i}" for i in range(0, rows, 7)]

    async def reads(self, count: int) -> None:
        for key in self.ids[:count]:
            results, _ = await self._run(self.read, {"read": {"id": key}})
            assert results["read"]["found"]

    async def drop(self) -> None:
        async with self.db.connection() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {self.db.dialect.quote(self.table)}", [])


async def bench_one(url: str, rows: int, reads: int, repeats: int) -> list[tuple[str, float, float, float]]:
    """(workload, plugin-on seconds, ratio on/off, ratio on/plain) for one database."""
    on_db = DataFlow(url, multi_tenant=True)
    off_db = DataFlow(url, disable_plugins=["tenancy"])
    sides = [Side("on", on_db, tenant_column=False, tenant_current=True),
             Side("off", off_db, tenant_column=True, tenant_current=False),
             Side("plain", off_db, tenant_column=False, tenant_current=False)]
    try:
        for side in sides:  # tables made, pools open, ids to read
            await side.bulk(rows)
        read_times = await alternate(repeats, *(lambda s=s: s.reads(reads) for s in sides))
        bulk_times = await alternate(repeats, *(lambda s=s: s.bulk(rows) for s in sides))
    finally:
        for side in sides:
            await side.drop()
        await on_db.close_async()
        await off_db.close_async()
    return [(f"read by id (x{reads})", read_times[0], read_times[0] / read_times[1], read_times[0] / read_times[2]),
            (f"bulk create ({rows:,} rows)", bulk_times[0], bulk_times[0] / bulk_times[1],
             bulk_times[0] / bulk_times[2])]


def urls(selected: list[str] | None, folder: str) -> dict[str, str]:
    found = {"sqlite": f"sqlite:///{Path(folder) / 'bench_tenancy.db'}", **reachable_servers(selected)}
    return {k: v for k, v in found.items() if not selected or k in selected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql", "mysql"],
                        help="Only this database (repeatable).")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Tenancy filter: plugin on / plugin off (same table), best of each")
    for column in ("database", "workload", "plugin on", "on / off", "on / no tenant column", "target"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as folder:
        for name, url in urls(args.db, folder).items():
            for workload, seconds, ratio, plain in asyncio.run(bench_one(url, args.rows, args.reads, args.repeats)):
                table.add_row(name, workload, f"{seconds * 1000:.1f} ms", f"{ratio:.3f}", f"{plain:.3f}", "< 1.05")
    Console().print(table)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
