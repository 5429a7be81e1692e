"""Fixtures of the tenancy plugin's tests: a multi-tenant instance on each real database.

``tenant_db`` is ``DataFlow(url, multi_tenant=True)`` on SQLite (a file), PostgreSQL and MariaDB;
``make_model`` declares models on it with table names unique to the test and drops them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.testing.fixtures import DIALECTS, ModelFactory, dialect_url


@pytest.fixture(params=DIALECTS)
def dataflow_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return dialect_url(request.param, tmp_path / "tenancy.db")


@pytest.fixture
def tenant_db(dataflow_url: str) -> Iterator[DataFlow]:
    db = DataFlow(dataflow_url, multi_tenant=True)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def make_model(tenant_db: DataFlow, dataflow_url: str) -> Iterator[ModelFactory]:
    factory = ModelFactory(tenant_db, dataflow_url)
    try:
        yield factory
    finally:
        factory.teardown()


def _run_one(node_type: str, params: dict[str, Any], **context: Any) -> dict[str, Any]:
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", params)
    results, _ = LocalRuntime().execute(wf.build(), **context)
    return dict(results["n"])


@pytest.fixture
def run_one() -> Any:
    """``run_one(node_type, params, **run_keywords)``: the output of a one-node workflow."""
    return _run_one
