"""Fixtures of the MySQL plugin's tests: the MariaDB test server, runtimes, and server-side probes.

Every test runs against the real server (``DATAFLOW_TEST_MYSQL_URL``, default
``mysql://root@127.0.0.1:3306/test``); ``server_url`` skips when it is unreachable locally and fails
under ``CI=true``. Tables get unique names (``make_model``) so ``pytest -n 2`` is safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, LocalRuntime
from dataflow.testing import server_url
from dataflow.testing.fixtures import db, make_model, run, run_node  # noqa: F401  (fixtures)
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
def returning(request: pytest.FixtureRequest) -> bool:
    """Run a test with RETURNING (MariaDB ≥ 10.5) and with the MySQL fallback (select by id)."""
    instance: DataFlow = request.getfixturevalue("db")
    instance.dialect.use_returning = request.param == "returning"  # type: ignore[attr-defined]
    return bool(instance.dialect.use_returning)  # type: ignore[attr-defined]
