"""What the end of each test does to the instances still open (called by the pytest plugin).

TDD instances made outside the fixtures have their transaction rolled back; instances in test mode
release the pools of event loops that have closed, and with ``test_mode_aggressive_cleanup=True``
every pool. All of it runs in one trip to DataFlow's background loop, and only when there is work.
"""

from __future__ import annotations

import logging
from typing import Any

from dataflow.loop import run_sync

from dataflow_testing import mode
from dataflow_testing.pools import cleanup_all_pools, cleanup_stale_pools
from dataflow_testing.tdd import end_transaction

__all__ = ["end_of_test"]

log = logging.getLogger("dataflow.testing")


def _work(db: Any) -> str | None:
    """What the end of a test must do to ``db``: "all", "stale", "rollback" or None (cheap, no I/O)."""
    state = mode.state_of(db)
    if state is None:
        return None
    in_test_mode = mode.is_test_mode(db)
    if in_test_mode and state.aggressive and db.dialect.list_pools():
        return "all"
    if in_test_mode and any(pool.loop_closed for pool in db.dialect.list_pools()):
        return "stale"
    held = db.dialect.instance_transaction
    if held is not None and held.begun:
        return "rollback"
    return None


def end_of_test() -> None:
    todo = [(db, work) for db in list(mode.instances) if (work := _work(db)) is not None]
    if todo:
        run_sync(_finish(todo))


async def _finish(todo: list[tuple[Any, str]]) -> None:
    for db, work in todo:
        try:
            if work == "all":
                report = await cleanup_all_pools(db)
            else:
                await end_transaction(db)
                report = await cleanup_stale_pools(db) if work == "stale" else {}
        except Exception:  # a test's end must never fail because of another test's instance
            log.warning("Cleaning up %s at the end of a test failed", db.name, exc_info=True)
            continue
        if report.get("cleanup_errors"):
            log.warning("Cleaning up %s at the end of a test: %s", db.name, report["cleanup_errors"])
