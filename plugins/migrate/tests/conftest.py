"""Fixtures of the migrate plugin's tests: one URL per real database, and model factories on it.

``dataflow_url`` is parametrized over SQLite (a file in tmp_path), PostgreSQL and MySQL / MariaDB; the
server ones skip locally when unreachable and fail under ``CI=true`` (``server_url``).
"""

from __future__ import annotations

import pytest
from dataflow.testing.fixtures import DIALECTS, db, dialect_url, make_model  # noqa: F401 - fixtures used by the tests


@pytest.fixture(params=DIALECTS)
def dataflow_url(request: pytest.FixtureRequest, tmp_path) -> str:
    return dialect_url(request.param, tmp_path / "migrate.db")


@pytest.fixture
def transactional_url(dataflow_url: str) -> str:
    """Only the databases with transactional DDL (PostgreSQL, SQLite)."""
    if dataflow_url.startswith("mysql"):
        pytest.skip("MySQL commits DDL implicitly: covered by the checkpoint tests")
    return dataflow_url
