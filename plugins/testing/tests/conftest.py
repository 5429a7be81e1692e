"""Fixtures of the testing plugin's tests: a URL per real database (SQLite file, PostgreSQL, MariaDB)."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataflow.testing.fixtures import DIALECTS, anyio_backend, dialect_url  # noqa: F401  (fixtures)
from dataflow_testing import mode

# Tests are collected with --import-mode=importlib, which puts no test folder on sys.path.
_spec = importlib.util.spec_from_file_location("dataflow_testing_support", Path(__file__).with_name("support.py"))
assert _spec is not None and _spec.loader is not None
sys.modules[_spec.name] = _support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_support)


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Each real database in turn."""
    return dialect_url(request.param, tmp_path / "testing.db")


@pytest.fixture
def table() -> str:
    """A table name no other test uses."""
    return f"t_testing_{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def fresh_switch() -> Iterator[None]:
    """Every test starts and ends with the process-wide test-mode switch unset."""
    mode.reset_test_mode()
    yield
    mode.reset_test_mode()
