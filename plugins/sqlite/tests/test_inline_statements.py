"""Statements run in the event loop's thread (short reads, updates and deletes by primary key) give
what the usual path through aiosqlite gives; one past the budget changes nothing and runs there."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder
from dataflow.errors import DataFlowError
from dataflow.models import model_spec_from_class
from dataflow.query import Select, parse_filter
from dataflow_sqlite.dialect import INLINE_STEPS


def _model(db: DataFlow, **extra: object):
    name = f"Item{uuid.uuid4().hex[:6]}"
    namespace = {"__annotations__": {"id": str, "email": str, "n": int}, **extra}
    return name, db.register_model(model_spec_from_class(type(name, (), namespace)))


async def _run(node: str, params: dict) -> dict:
    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    results, _ = await AsyncLocalRuntime().execute_workflow_async(wf.build())
    return results["n"]


async def _create(name: str, rows: list[dict]) -> None:
    await _run(f"{name}BulkCreateNode", {"data": rows})


@pytest.mark.anyio
async def test_update_and_delete_by_id_run_inline_and_match_the_usual_path(tmp_path):
    db = DataFlow(f"sqlite:///{tmp_path / 'inline.db'}")
    name, spec = _model(db, __dataflow__={"indexes": [{"fields": ["email"], "unique": True}]})
    await _create(name, [{"id": f"i{k}", "email": f"e{k}", "n": k} for k in range(3)])
    updated = await _run(f"{name}UpdateNode", {"id": "i1", "fields": {"n": 10}})
    state = db.dialect._states.get()
    assert state.writer_inline is not None  # the update went inline
    assert updated["updated"] is True and updated["n"] == 10 and updated["email"] == "e1"
    async with db.transaction() as conn:  # what the usual path (aiosqlite) reads back
        stored = await db.dialect.run(Select(spec, parse_filter(spec, {"id": "i1"})), conn)
    assert {k: stored[0][k] for k in ("id", "email", "n", "created_at", "updated_at")} == {
        k: updated[k] for k in ("id", "email", "n", "created_at", "updated_at")}
    assert (await _run(f"{name}UpdateNode", {"id": "nope", "fields": {"n": 1}})) == {"updated": False}

    # A unique violation inline is the DF-coded error the usual path gives, and changes nothing.
    with pytest.raises(DataFlowError) as inline_error:
        await _run(f"{name}UpdateNode", {"id": "i1", "fields": {"email": "e2"}})
    with pytest.raises(DataFlowError) as usual_error:
        async with db.transaction():
            await _run(f"{name}UpdateNode", {"id": "i1", "fields": {"email": "e2"}})
    assert inline_error.value.cause_code == usual_error.value.cause_code == "DF-704"
    assert (await _run(f"{name}ReadNode", {"id": "i1"}))["email"] == "e1"

    deleted = await _run(f"{name}DeleteNode", {"id": "i2"})
    assert deleted == {"id": "i2", "deleted": True}
    assert (await _run(f"{name}DeleteNode", {"id": "i2"})) == {"id": "i2", "deleted": False}
    assert (await _run(f"{name}CountNode", {}))["count"] == 2
    await db.close_async()


@pytest.mark.anyio
async def test_a_write_waiting_on_another_connection_takes_the_usual_path(tmp_path):
    path = tmp_path / "busy.db"
    db = DataFlow(f"sqlite:///{path}", busy_timeout=0.2)
    name, _spec = _model(db)
    await _create(name, [{"id": "i1", "email": "e", "n": 1}])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        with pytest.raises(DataFlowError) as busy:
            await _run(f"{name}UpdateNode", {"id": "i1", "fields": {"n": 2}})
        assert busy.value.cause_code == "DF-508"  # waited busy_timeout on the usual path, as before
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await _run(f"{name}UpdateNode", {"id": "i1", "fields": {"n": 3}}))["n"] == 3
    await db.close_async()


@pytest.mark.anyio
async def test_a_write_past_the_budget_changes_nothing_inline_and_runs_once(tmp_path):
    db = DataFlow(f"sqlite:///{tmp_path / 'trigger.db'}")
    name, spec = _model(db)
    await _create(name, [{"id": "i1", "email": "e", "n": 1}])
    counters = f"counters_{uuid.uuid4().hex[:6]}"
    rows = INLINE_STEPS // 4  # every counter row updated by the trigger: far past the budget
    setup = sqlite3.connect(tmp_path / "trigger.db", isolation_level=None)  # a trigger is several statements
    setup.execute(f'CREATE TABLE "{counters}" (k INTEGER PRIMARY KEY, n INTEGER NOT NULL)')
    setup.execute(f'WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < {rows}) '
                  f'INSERT INTO "{counters}" SELECT k, 0 FROM c')
    setup.execute(f'CREATE TRIGGER "bump_{counters}" AFTER UPDATE ON "{spec.table}" '
                  f'BEGIN UPDATE "{counters}" SET n = n + 1; END')
    setup.close()
    updated = await _run(f"{name}UpdateNode", {"id": "i1", "fields": {"n": 2}})
    assert updated["n"] == 2
    assert db.dialect._states.get().writer_inline is not None  # tried inline, stopped, run again
    totals = await db.fetch(f'SELECT MIN(n) AS low, MAX(n) AS high, COUNT(*) AS rows FROM "{counters}"')
    assert totals == [{"low": 1, "high": 1, "rows": rows}]  # the stopped attempt left nothing behind
    assert any(sql.startswith(f'UPDATE "{spec.table}"') for sql in db.dialect._overran)
    await db.close_async()


@pytest.mark.anyio
async def test_long_reads_and_regex_reads_go_to_the_worker_thread_with_the_same_rows(tmp_path):
    db = DataFlow(f"sqlite:///{tmp_path / 'long.db'}")
    name, spec = _model(db)
    await _create(name, [{"id": f"i{k:05d}", "email": f"e{k}", "n": k % 7} for k in range(INLINE_STEPS // 5)])
    everything = await _run(f"{name}ListNode", {"order_by": ["id"], "limit": None})
    assert [r["id"] for r in everything["records"]] == [f"i{k:05d}" for k in range(INLINE_STEPS // 5)]
    short = await _run(f"{name}ListNode", {"filter": {"n": 3}, "order_by": ["id"], "limit": 5})
    assert [r["id"] for r in short["records"]] == ["i00003", "i00010", "i00017", "i00024", "i00031"]
    matched = await _run(f"{name}ListNode", {"filter": {"email": {"$regex": "^e1[0-2]$"}}, "order_by": ["id"]})
    assert [r["email"] for r in matched["records"]] == ["e10", "e11", "e12"]
    overran = db.dialect._overran
    assert any("REGEXP" in sql for sql in overran)
    assert sum(sql.startswith("SELECT") for sql in overran) == 2  # the full list and the $regex list
    async with db.connection() as conn:  # the usual path gives the same rows
        usual = await db.dialect.run(Select(spec, parse_filter(spec, {"n": 3}), order_by=(("id", False),),
                                            limit=5), conn)
    assert usual == short["records"]
    await db.close_async()


@pytest.mark.anyio
async def test_inline_writes_leave_checkpoints_to_the_worker_connection(tmp_path):
    path = tmp_path / "wal.db"
    db = DataFlow(f"sqlite:///{path}")
    name, _spec = _model(db)
    await _create(name, [{"id": f"i{k}", "email": "e" * 2000, "n": k} for k in range(50)])
    for k in range(1500):  # each rewrites a page or more: ~6 MB of WAL if nothing checkpointed
        await _run(f"{name}UpdateNode", {"id": f"i{k % 50}", "fields": {"email": f"{k}" * 1000}})
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size < 5_000_000
    await db.close_async()
