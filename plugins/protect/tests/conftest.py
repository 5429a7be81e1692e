"""Fixtures of the protect plugin's tests: each real database in turn (SQLite file, PostgreSQL, MariaDB),
instances made on it with models on tables no other test uses, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.testing import raw_execute
from dataflow.testing.fixtures import DIALECTS, dialect_url


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each real database in turn."""
    return dialect_url(request.param, tmp_path / "protect.db")


class Made:
    """Instances made by a test, each with ``User`` and ``Invoice`` models on unique tables."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.instances: list[DataFlow] = []
        self.tables: list[tuple[DataFlow, str]] = []

    def __call__(self, *, models: bool = True, **options: Any) -> DataFlow:
        db = DataFlow(self.url, **options)
        self.instances.append(db)
        if models:
            self.models(db)
        return db

    def models(self, db: DataFlow, suffix: str | None = None) -> None:
        suffix = suffix or uuid.uuid4().hex[:10]
        user = type("User", (), {"__annotations__": {"id": str, "email": str, "name": str},
                                 "name": "", "__tablename__": f"p_users_{suffix}"})
        invoice = type("Invoice", (), {"__annotations__": {"id": str, "total": float}, "total": 0.0,
                                       "__tablename__": f"p_invoices_{suffix}"})
        db.model(user)
        db.model(invoice)
        self.tables += [(db, f"p_users_{suffix}"), (db, f"p_invoices_{suffix}")]

    def close(self) -> None:
        for db in self.instances:
            state = db.state.get("protect")
            if state is not None:
                state.protection.clear()
        for db, table in self.tables:
            raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(table)}")
        for db in self.instances:
            db.close()


@pytest.fixture
def make(url: str) -> Iterator[Made]:
    made = Made(url)
    try:
        yield made
    finally:
        made.close()


def _run(*nodes: tuple[str, str, dict[str, Any]], transaction: bool = False,
        parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    results, _ = LocalRuntime().execute(wf.build(), parameters=parameters, transaction=transaction)
    return results


def _one(node_type: str, params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return _run((node_type, "n", params), **kwargs)["n"]


Runner = Callable[..., dict[str, Any]]


@pytest.fixture
def run() -> Runner:
    """``run((node_type, node_id, params), ..., transaction=False, parameters=None)`` → results by node id."""
    return _run


@pytest.fixture
def one() -> Runner:
    """``one(node_type, params)`` → that node's output (a one-node workflow)."""
    return _one
