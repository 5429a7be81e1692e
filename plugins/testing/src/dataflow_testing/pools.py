"""Pool clean-up with metrics: ``cleanup_stale_pools``, ``cleanup_all_pools`` and ``get_cleanup_metrics``.

The figures come from the dialect (``SQLDialect.list_pools()`` / ``close_pools()``): one pool per event
loop that used the instance, each with its connections. A pool whose loop has closed is *stale*: its
connections are still open on the server (pg_stat_activity, SHOW PROCESSLIST show them) but no code
can use them any more, so they are terminated. A dialect that does not list its pools reports none
and is released whole by ``cleanup_all_pools``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError

from dataflow_testing.mode import is_test_mode, state_of

if TYPE_CHECKING:
    from dataflow.facade import DataFlow
    from dataflow.types import PoolInfo

__all__ = ["cleanup_all_pools", "cleanup_stale_pools", "get_cleanup_metrics"]


def _describe(pool: PoolInfo | None, error: BaseException) -> str:
    where = f"{pool.key}: " if pool is not None else ""
    if isinstance(error, DataFlowError):
        return f"{where}{error.code}: {error.message}"
    return f"{where}{type(error).__name__}: {error}"


def _report(released: list[tuple[PoolInfo, BaseException | None]], errors: list[str]) -> tuple[int, int]:
    cleaned = 0
    for pool, error in released:
        if error is None:
            cleaned += 1
        else:
            errors.append(_describe(pool, error))
    return len(released), cleaned


async def cleanup_stale_pools(db: DataFlow) -> dict[str, Any]:
    """Release the pools of event loops that have closed (their connections are terminated).

    Returns ``stale_pools_found``, ``stale_pools_cleaned``, ``cleanup_failures``, ``cleanup_errors``
    (one line per pool that could not be released) and ``cleanup_duration_ms``.
    """
    started = time.perf_counter()
    errors: list[str] = []
    found, cleaned = _report(await db.dialect.close_pools(stale_only=True), errors)
    return {
        "stale_pools_found": found,
        "stale_pools_cleaned": cleaned,
        "cleanup_failures": found - cleaned,
        "cleanup_errors": errors,
        "cleanup_duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }


async def cleanup_all_pools(db: DataFlow, force: bool = False) -> dict[str, Any]:
    """Release every pool of the instance (teardown); it stays usable and makes new pools on demand.

    In TDD mode the instance's transaction is rolled back first. ``force=True`` terminates every
    connection at once instead of closing idle ones politely (for a pool whose loop is stuck).

    Returns ``total_pools``, ``pools_cleaned``, ``cleanup_failures``, ``cleanup_errors``,
    ``cleanup_duration_ms`` and ``forced``.
    """
    if not isinstance(force, bool):
        raise db.error("DF-102", f"cleanup_all_pools(force=...) takes True or False, got {force!r}.",
                       parameter="force")
    started = time.perf_counter()
    errors: list[str] = []
    held = db.dialect.instance_transaction
    if held is not None:
        try:
            await held.end()
        except Exception as exc:  # its pool is released below all the same: the server rolls it back
            errors.append(_describe(None, exc))
    total, cleaned = _report(await db.dialect.close_pools(force=force), errors)
    return {
        "total_pools": total,
        "pools_cleaned": cleaned,
        "cleanup_failures": len(errors),
        "cleanup_errors": errors,
        "cleanup_duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "forced": force,
    }


def get_cleanup_metrics(db: DataFlow) -> dict[str, Any]:
    """The instance's pools now (no I/O): ``active_pools`` (stale ones included until released),
    ``total_pools_created``, ``test_mode_enabled``, ``aggressive_cleanup_enabled``, ``pool_keys`` and
    ``event_loop_ids``."""
    pools = db.dialect.list_pools()
    state = state_of(db)
    test_mode = is_test_mode(db)
    return {
        "active_pools": len(pools),
        "total_pools_created": db.dialect.pools_created,
        "test_mode_enabled": test_mode,
        "aggressive_cleanup_enabled": bool(test_mode and state is not None and state.aggressive),
        "pool_keys": [pool.key for pool in pools],
        "event_loop_ids": sorted({pool.loop_id for pool in pools}),
    }
