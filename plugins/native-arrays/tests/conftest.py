"""Fixtures of the native-arrays plugin's tests: the PostgreSQL test server and the suite's fixtures.

Native arrays exist on PostgreSQL only; the refusals on SQLite and MySQL / MariaDB have their own
instances (``dialect_url``). Tables get unique names (``make_model``), so ``pytest -n 2`` is safe.
"""

from __future__ import annotations

import pytest
from dataflow.testing import server_url
from dataflow.testing.fixtures import db, make_model, run, run_node  # noqa: F401  (fixtures)


@pytest.fixture
def dataflow_url() -> str:
    return server_url("postgresql")
