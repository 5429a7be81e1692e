"""Pool clean-up with real figures on every database: a pool left behind by a closed event loop is
found and closed, and the server's own view (pg_stat_activity, SHOW PROCESSLIST) agrees.

Other test processes use the same servers at the same time: only this test's own connections are
counted (an application_name of its own on PostgreSQL, the connection ids it owns on MariaDB).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder
from dataflow.testing import raw_fetch
from dataflow_testing_support import drop, item_model, run_node  # type: ignore[import-not-found]

STALE_KEYS = {"stale_pools_found", "stale_pools_cleaned", "cleanup_failures", "cleanup_errors", "cleanup_duration_ms"}
ALL_KEYS = {"total_pools", "pools_cleaned", "cleanup_failures", "cleanup_errors", "cleanup_duration_ms", "forced"}


def _own_url(url: str, app: str) -> str:
    """PostgreSQL: the URL with an application_name of this test's own."""
    if url.startswith("postgresql"):
        return f"{url}{'&' if '?' in url else '?'}application_name={app}"
    return url


def _server_sessions(url: str, app: str, ids: list[int]) -> Callable[[], int | None]:
    """Counts this test's sessions as the server sees them (None for SQLite: no server)."""
    observer = DataFlow(url)

    def count() -> int | None:
        if url.startswith("postgresql"):
            rows = raw_fetch(observer, "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1", [app])
        elif url.startswith("mysql"):
            marks = ", ".join(["%s"] * len(ids))
            rows = raw_fetch(observer, f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN ({marks})",
                             list(ids))
        else:
            return None
        return int(rows[0][0])

    count.close = observer.close  # type: ignore[attr-defined]
    return count


def _eventually(probe: Callable[[], int | None], expected: int, timeout: float = 5.0) -> int | None:
    """The server ends a session a moment after its socket closes: poll for a while (not at all where
    ``probe`` says None: SQLite has no server to ask, and waiting the whole ``timeout`` would change nothing)."""
    deadline = time.monotonic() + timeout
    value = probe()
    while value is not None and value != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        value = probe()
    return value


async def _use_in_a_loop_of_its_own(db: DataFlow, name: str, ids: list[int]) -> None:
    """Run a node on this (short-lived) loop, noting the connection id it used (MariaDB)."""
    wf = WorkflowBuilder()
    wf.add_node(f"{name}CreateNode", "c", {"id": uuid.uuid4().hex[:8]})
    await AsyncLocalRuntime().execute_workflow_async(wf.build())
    if db.dialect.name == "mysql":
        async with db.connection() as conn:
            ids.append(int((await conn.fetch("SELECT CONNECTION_ID()", []))[0][0]))


def test_a_pool_left_by_a_closed_loop_is_found_and_closed_and_the_server_agrees(url: str, table: str) -> None:
    app = f"df_testing_{uuid.uuid4().hex[:8]}"
    db = DataFlow(_own_url(url, app), test_mode=True)
    ids: list[int] = []
    sessions = _server_sessions(url, app, ids)
    try:
        name = item_model(db, table)
        asyncio.run(_use_in_a_loop_of_its_own(db, name, ids))  # the loop closes; its pool stays behind
        metrics = db.get_cleanup_metrics()
        assert metrics["active_pools"] == 1 and metrics["total_pools_created"] == 1
        stale = db.dialect.list_pools()[0]
        assert stale.loop_closed and stale.connections >= 1
        if sessions() is not None:
            assert sessions() >= 1, "the stale pool's connections are still open on the server"

        report = asyncio.run(db.cleanup_stale_pools())
        assert set(report) == STALE_KEYS
        assert report["stale_pools_found"] == 1 and report["stale_pools_cleaned"] == 1
        assert report["cleanup_failures"] == 0 and report["cleanup_errors"] == []
        assert report["cleanup_duration_ms"] >= 0
        assert db.get_cleanup_metrics()["active_pools"] == 0
        assert _eventually(sessions, 0) in (0, None), "the server sees none of this test's sessions any more"
        again = asyncio.run(db.cleanup_stale_pools())
        assert again["stale_pools_found"] == 0

        assert run_node(f"{name}CountNode", {})["count"] == 1, "the instance goes on with a new pool"
        assert db.get_cleanup_metrics()["total_pools_created"] == 2
    finally:
        sessions.close()  # type: ignore[attr-defined]
        db.close()
        drop(url, table)


def test_cleanup_all_pools_releases_every_loops_pool_and_the_instance_goes_on(url: str, table: str) -> None:
    app = f"df_testing_{uuid.uuid4().hex[:8]}"
    db = DataFlow(_own_url(url, app), test_mode=True)
    ids: list[int] = []
    sessions = _server_sessions(url, app, ids)
    try:
        name = item_model(db, table)
        run_node(f"{name}CreateNode", {"id": "bg"})  # DataFlow's background loop

        async def scenario() -> dict[str, object]:
            await _use_in_a_loop_of_its_own(db, name, ids)  # this loop, still running
            assert db.get_cleanup_metrics()["active_pools"] == 2
            return await db.cleanup_all_pools()

        if db.dialect.name == "mysql":
            async def background_id() -> int:
                async with db.connection() as conn:
                    return int((await conn.fetch("SELECT CONNECTION_ID()", []))[0][0])

            from dataflow.loop import run_sync

            ids.append(run_sync(background_id()))
        report = asyncio.run(scenario())
        assert set(report) == ALL_KEYS
        assert report["total_pools"] == 2 and report["pools_cleaned"] == 2 and report["forced"] is False
        assert report["cleanup_failures"] == 0 and report["cleanup_errors"] == []
        metrics = db.get_cleanup_metrics()
        assert metrics["active_pools"] == 0 and metrics["pool_keys"] == [] and metrics["total_pools_created"] == 2
        assert _eventually(sessions, 0) in (0, None)

        assert run_node(f"{name}CountNode", {})["count"] == 2, "pools are made again on demand"
        forced = asyncio.run(db.cleanup_all_pools(force=True))
        assert forced["forced"] is True and forced["total_pools"] == 1 and forced["pools_cleaned"] == 1
    finally:
        sessions.close()  # type: ignore[attr-defined]
        db.close()
        drop(url, table)


@pytest.mark.parametrize("aggressive", [False, True])
def test_the_end_of_a_test_releases_what_test_mode_says(url: str, table: str, aggressive: bool) -> None:
    from dataflow_testing.session import end_of_test

    db = DataFlow(url, test_mode=True, test_mode_aggressive_cleanup=aggressive)
    try:
        name = item_model(db, table)
        run_node(f"{name}CreateNode", {"id": "bg"})
        asyncio.run(_use_in_a_loop_of_its_own(db, name, []))
        assert db.get_cleanup_metrics()["active_pools"] == 2
        end_of_test()
        assert db.get_cleanup_metrics()["active_pools"] == (0 if aggressive else 1)
        left = db.dialect.list_pools()
        assert all(not pool.loop_closed for pool in left), "a stale pool never outlives its test"
    finally:
        db.close()
        drop(url, table)
