"""Fixtures of the MySQL plugin's tests: the MariaDB test server, runtimes, and server-side probes.

Every test runs against the real server (``DATAFLOW_TEST_MYSQL_URL``, default
``mysql://root@127.0.0.1:3306/test``); ``server_url`` skips when it is unreachable locally and fails
under ``CI=true``. Tables get unique names (``make_model``) so ``pytest -n 2`` is safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiomysql
import pytest
from dataflow import AsyncLocalRuntime, DataFlow, LocalRuntime
from dataflow.testing import server_url
from dataflow.testing.fixtures import db, make_model, run, run_node  # noqa: F401  (fixtures)
from dataflow.url import parse_url
from dataflow.workflow import WorkflowBuilder


@pytest.fixture
def dataflow_url() -> str:
    return server_url("mysql")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["local", "async"])
def execute(request: pytest.FixtureRequest) -> Callable[[WorkflowBuilder], dict[str, Any]]:
    """Run a workflow with LocalRuntime, or with AsyncLocalRuntime on a fresh event loop per call
    (so the async variant also proves that a new loop never meets another loop's pool)."""
    if request.param == "local":
        runtime = LocalRuntime()
        return lambda wf: runtime.execute(wf.build())[0]
    async_runtime = AsyncLocalRuntime()
    return lambda wf: asyncio.run(async_runtime.execute_workflow_async(wf.build()))[0]


@pytest.fixture(params=["returning", "fallback"])
def returning(request: pytest.FixtureRequest, db: DataFlow) -> bool:
    """Run a test with RETURNING (MariaDB ≥ 10.5) and with the MySQL fallback (select by id)."""
    db.dialect.use_returning = request.param == "returning"  # type: ignore[attr-defined]
    return bool(db.dialect.use_returning)  # type: ignore[attr-defined]


def live_thread_ids(url: str, ids: set[int]) -> set[int]:
    """Which of these server connection ids are still open, asked over a separate connection."""

    async def go() -> set[int]:
        u = parse_url(url)
        conn = await aiomysql.connect(host=u.host, port=u.port or 3306, user=u.username or "root",
                                      password=u.password or "", db=u.database)
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT ID FROM information_schema.PROCESSLIST")
                return {int(r[0]) for r in await cur.fetchall()} & ids
        finally:
            conn.close()

    return asyncio.run(go())


def pool_thread_ids(db: DataFlow) -> set[int]:
    """Server connection ids of every connection in the instance's pools (all loops)."""
    ids: set[int] = set()
    for _loop, state in db.dialect.pools._states.items():  # type: ignore[attr-defined]
        if state.pool is not None:
            for conn in [*state.pool._free, *state.pool._used]:
                ids.add(int(conn.server_thread_id[0]))
    return ids
