"""Fixtures of the MySQL plugin's tests: the MariaDB test server, runtimes, and server-side probes.

Every test runs against the real server (``DATAFLOW_TEST_MYSQL_URL``, default
``mysql://root@127.0.0.1:3306/test``); ``server_url`` skips when it is unreachable locally and fails
under ``CI=true``. Tables get unique names (``make_model``) so ``pytest -n 2`` is safe.
"""

from __future__ import annotations

import pytest
from dataflow import DataFlow
from dataflow.testing import server_url
from dataflow.testing.fixtures import anyio_backend, db, execute, make_model, run, run_node  # noqa: F401  (fixtures)


@pytest.fixture
def dataflow_url() -> str:
    return server_url("mysql")


@pytest.fixture(params=["returning", "fallback"])
def returning(request: pytest.FixtureRequest) -> bool:
    """Run a test with RETURNING (MariaDB ≥ 10.5) and with the MySQL fallback (select by id)."""
    instance: DataFlow = request.getfixturevalue("db")
    instance.dialect.use_returning = request.param == "returning"  # type: ignore[attr-defined]
    return bool(instance.dialect.use_returning)  # type: ignore[attr-defined]
