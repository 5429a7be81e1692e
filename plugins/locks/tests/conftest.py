"""Fixtures of the lock manager's tests: a URL per real database (SQLite file, PostgreSQL, MySQL / MariaDB)."""

from __future__ import annotations

import pytest
from dataflow.testing import server_url

DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql),
            pytest.param("mysql", marks=pytest.mark.mysql)]


@pytest.fixture(params=DIALECTS)
def dataflow_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'locks.db'}"
    return server_url(request.param)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
