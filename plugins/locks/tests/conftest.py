"""Fixtures of the lock manager's tests: a URL per real database (SQLite file, PostgreSQL, MySQL / MariaDB)."""

from __future__ import annotations

import pytest
from dataflow.testing.fixtures import DIALECTS, anyio_backend, dialect_url  # noqa: F401  (fixtures)


@pytest.fixture(params=DIALECTS)
def dataflow_url(request: pytest.FixtureRequest, tmp_path) -> str:
    return dialect_url(request.param, tmp_path / "locks.db")
