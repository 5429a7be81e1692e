"""A process of the concurrency tests: starts an application on a URL and uses one model.

``python worker.py URL TABLE START_AT`` waits until the wall-clock ``START_AT`` (so every process starts
together), declares the model on a fresh DataFlow, creates one row (which makes the table ready
through auto-migration) and prints the row's id as JSON.

``python worker.py --hold-lock URL SCOPE LEASE`` takes the migration lock, prints ``held`` and sleeps
until it is killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Optional


def start_app(url: str, table: str, start_at: float) -> None:
    from dataflow import DataFlow, LocalRuntime
    from dataflow.workflow import WorkflowBuilder

    db = DataFlow(url, migration_lock_timeout=60.0)

    class Gadget:
        __tablename__ = table
        name: str
        weight: Optional[float] = None  # noqa: UP045 - annotations are read at runtime

    db.model(Gadget)
    time.sleep(max(0.0, start_at - time.time()))
    wf = WorkflowBuilder()
    wf.add_node("GadgetCreateNode", "c", {"name": "x"})
    results, _ = LocalRuntime().execute(wf.build())
    print(json.dumps({"id": results["c"]["id"]}), flush=True)
    db.close()


def hold_lock(url: str, scope: str, lease: float) -> None:
    from dataflow import DataFlow
    from dataflow_locks import MigrationLockManager

    db = DataFlow(url)

    async def hold() -> None:
        manager = MigrationLockManager(db, lease_seconds=lease)
        async with manager.acquire_migration_lock(lock_scope=scope, timeout_seconds=10,
                                                  operation_description="held until killed"):
            print("held", flush=True)
            await asyncio.sleep(3600)

    asyncio.run(hold())


if __name__ == "__main__":
    if sys.argv[1] == "--hold-lock":
        hold_lock(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        start_app(sys.argv[1], sys.argv[2], float(sys.argv[3]))
