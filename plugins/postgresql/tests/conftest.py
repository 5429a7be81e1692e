"""Fixtures of the PostgreSQL plugin's tests: the test server's URL and the shared suite fixtures.

Every test runs against the real server (``DATAFLOW_TEST_POSTGRES_URL``, default
``postgresql://root@127.0.0.1:5432/test``); ``server_url`` skips when it is unreachable locally and
fails under ``CI=true``. Tables get unique names (``make_model``) so ``pytest -n 2`` is safe.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Callable

import asyncpg
import pytest
from dataflow.testing import server_url
from dataflow.testing.fixtures import anyio_backend, db, execute, make_model, run, run_node  # noqa: F401  (fixtures)


@pytest.fixture
def dataflow_url() -> str:
    return server_url("postgresql")


@pytest.fixture
def app_url(dataflow_url: str) -> tuple[str, str]:
    """(URL tagged with a unique application_name, that name): lets a test count its own sessions."""
    name = f"dftest_{uuid.uuid4().hex[:10]}"
    separator = "&" if "?" in dataflow_url else "?"
    return f"{dataflow_url}{separator}application_name={name}", name


def count_sessions(url: str, application_name: str) -> int:
    """Server sessions opened with ``application_name``, counted from a separate connection."""

    async def go() -> int:
        conn = await asyncpg.connect(url.split("?")[0])
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application_name))
        finally:
            await conn.close()

    # A thread of its own, so that async tests (already inside a loop) can call it too.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


@pytest.fixture
def sessions() -> Callable[[str, str], int]:
    return count_sessions
