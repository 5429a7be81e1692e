"""A process of the concurrency tests: starts an application on a URL and uses one model.

``python worker.py URL TABLE BARRIER COUNT`` declares the model on a fresh DataFlow, then waits at the
barrier (a folder where each process leaves a file) until ``COUNT`` processes are there, so that all
of them meet the new table at once; it then creates one row (which makes the table ready through
auto-migration) and prints the row's id as JSON.

``python worker.py --hold-lock URL SCOPE LEASE`` takes the migration lock, prints ``held`` and sleeps
until it is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional


def wait_for_all(barrier: Path, count: int, timeout: float = 60.0) -> None:
    """Arrive at the barrier and wait (polling the folder) until ``count`` processes have arrived."""
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout
    while len(list(barrier.iterdir())) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(list(barrier.iterdir()))} of {count} workers arrived")
        time.sleep(0.005)


def start_app(url: str, table: str, barrier: Path, count: int) -> None:
    from dataflow import DataFlow, LocalRuntime
    from dataflow.workflow import WorkflowBuilder

    db = DataFlow(url, migration_lock_timeout=60.0)

    class Gadget:
        __tablename__ = table
        name: str
        weight: Optional[float] = None  # noqa: UP045 - annotations are read at runtime

    db.model(Gadget)
    wait_for_all(barrier, count)
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
        start_app(sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
