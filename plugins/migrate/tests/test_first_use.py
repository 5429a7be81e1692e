"""A new instance's first use on SQLite: new tables are created in one transaction that is as exclusive
as the migration lock (``create_tables_alone``), and the lock is still taken whenever someone holds it."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from dataflow import DataFlow, LocalRuntime
from dataflow.locking import LEASE_TABLE
from dataflow.testing import raises_df, raw_execute, raw_fetch
from dataflow.workflow import WorkflowBuilder
from dataflow_locks.manager import LOCKS_TABLE

LOCK = "migration:schema_modification"


def _declare(db: DataFlow) -> str:
    db.model(type("Note", (), {"__annotations__": {"id": str, "text": str}, "__tablename__": "notes",
                               "__dataflow__": {"indexes": [{"fields": ["text"]}]}}))
    return "Note"


def _create(db: DataFlow, row_id: str) -> dict:
    wf = WorkflowBuilder()
    wf.add_node("NoteCreateNode", "n", {"id": row_id, "text": "x", "db_instance": db})
    results, _ = LocalRuntime().execute(wf.build())
    return results["n"]


def _tables(db: DataFlow) -> set[str]:
    return {row[0] for row in raw_fetch(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_first_create_makes_the_table_recorded_and_registered_without_lock_rows(tmp_path: Path) -> None:
    db = DataFlow(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        _declare(db)
        assert _create(db, "a")["id"] == "a"
        tables = _tables(db)
        assert "notes" in tables
        assert {LEASE_TABLE, LOCKS_TABLE}.isdisjoint(tables)  # no lock was taken: nothing to take it from
        [row] = db.migration_history()
        assert (row["kind"], row["status"]) == ("auto", "applied")
        assert [s["kind"] for s in row["steps"]] == ["create_table"]  # its index with it
        assert raw_fetch(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'notes' "
                             "AND sql IS NOT NULL") == [(1,)]
        assert raw_fetch(db, "SELECT name FROM dataflow_model_registry") == [("Note",)]
        assert db.migrate_plan().is_empty
    finally:
        db.close()


def test_first_create_waits_for_a_lock_someone_holds(tmp_path: Path) -> None:
    """A live lease of another holder sends auto-migration the locked way: it waits, and times out."""
    url = f"sqlite:///{tmp_path / 'held.db'}"
    other = DataFlow(url)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    raw_execute(other, f'CREATE TABLE "{LEASE_TABLE}" ("name" VARCHAR(191) PRIMARY KEY, "lock_id" VARCHAR(64), '
                       '"host" VARCHAR(255), "pid" INTEGER, "expires_at" VARCHAR(40))')
    raw_execute(other, f'INSERT INTO "{LEASE_TABLE}" VALUES (?, ?, ?, ?, ?)',
                [LOCK, uuid.uuid4().hex, "elsewhere", 1, expires])
    db = DataFlow(url, migration_lock_timeout=0.3)
    try:
        _declare(db)
        with raises_df("DF-307"):
            _create(db, "a")
        assert "notes" not in _tables(db)
        raw_execute(other, f'DELETE FROM "{LEASE_TABLE}"')  # the holder is done
        assert _create(db, "b")["id"] == "b"
        assert [r["status"] for r in db.migration_history()] == ["applied"]
    finally:
        db.close()
        other.close()


@pytest.mark.anyio
async def test_first_use_inside_the_callers_own_lock_is_not_a_deadlock(tmp_path: Path) -> None:
    db = DataFlow(f"sqlite:///{tmp_path / 'own.db'}")
    try:
        name = _declare(db)
        async with db.migration_lock_manager.acquire_migration_lock(operation_description="set-up"):
            await db.ensure_ready(db.get_model(name))  # the lock is re-entered the locked way
        async with db.connection() as conn:
            assert await conn.fetch('SELECT COUNT(*) FROM "notes"', []) == [(0,)]
    finally:
        await db.close_async()
