"""Helpers of the testing plugin's tests: models with unique tables, one-node runs, raw reads."""

from __future__ import annotations

from typing import Any

from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.testing import raw_execute


def item_model(db: DataFlow, table: str, name: str = "Item") -> str:
    """Declare ``name`` (``id: str``, ``n: int``) on ``db`` with table ``table``; returns the name."""
    cls = type(name, (), {"__annotations__": {"id": str, "n": int}, "n": 0, "__tablename__": table})
    db.model(cls)
    return name


def run_node(node_type: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    wf = WorkflowBuilder()
    wf.add_node(node_type, "node", dict(params or {}))
    return LocalRuntime().execute(wf.build())[0]["node"]


def count(db: DataFlow, table: str) -> int | None:
    """Rows in ``table`` as a fresh instance sees them (committed rows); None when it does not exist."""
    other = DataFlow(str(db.url.raw))
    try:
        from dataflow.testing import table_columns

        if table_columns(other, table) is None:
            return None
        from dataflow.testing import raw_fetch

        return int(raw_fetch(other, f"SELECT COUNT(*) FROM {other.dialect.quote(table)}")[0][0])
    finally:
        other.close()


def drop(url: str, table: str) -> None:
    other = DataFlow(url)
    try:
        raw_execute(other, f"DROP TABLE IF EXISTS {other.dialect.quote(table)}")
    finally:
        other.close()
