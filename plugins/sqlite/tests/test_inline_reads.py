"""Reads by primary key run inline on a WAL reader: committed rows only, same results as the usual path."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import uuid

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder
from dataflow.models import model_spec_from_class
from dataflow.query import Insert, Select, equals


def _read(node: str, key: str) -> WorkflowBuilder:
    wf = WorkflowBuilder()
    wf.add_node(node, "read", {"id": key, "raise_on_not_found": False})
    return wf


@pytest.mark.anyio
async def test_a_read_by_id_never_sees_an_open_transaction(tmp_path):
    db = DataFlow(f"sqlite:///{tmp_path / 'inline.db'}")
    name = f"Note{uuid.uuid4().hex[:6]}"
    spec = db.register_model(model_spec_from_class(type(name, (), {"__annotations__": {"id": str, "text": str}})))
    runtime = AsyncLocalRuntime()
    first, _ = await runtime.execute_workflow_async(_read(f"{name}ReadNode", "n1").build())
    assert first["read"]["found"] is False
    assert db.dialect._states.get().reader is not None  # the read went inline
    async with db.transaction() as conn:
        stamp = dt.datetime.now(dt.UTC)
        await db.dialect.run(Insert(spec, ("id", "text", "created_at", "updated_at"), [("n1", "x", stamp, stamp)]),
                             conn)
        inside, _ = await runtime.execute_workflow_async(_read(f"{name}ReadNode", "n1").build())
        assert inside["read"]["found"] is True  # a workflow run inside the transaction reads its writes
        outside = asyncio.get_running_loop().create_task(
            runtime.execute_workflow_async(_read(f"{name}ReadNode", "n1").build()), context=contextvars.Context())
        during, _ = await outside
        assert during["read"]["found"] is False  # another task, outside the transaction: uncommitted, invisible
    after, _ = await runtime.execute_workflow_async(_read(f"{name}ReadNode", "n1").build())
    assert after["read"]["found"] is True and after["read"]["text"] == "x"
    inline = await db.dialect.run(Select(spec, equals(spec.id_field, "n1"), limit=2))
    async with db.connection() as conn:  # the usual path, through aiosqlite
        usual = await db.dialect.run(Select(spec, equals(spec.id_field, "n1"), limit=2), conn)
    assert inline == usual
    await db.close_async()
