"""The migration lock manager on real databases: exclusion, listing, timeouts, killed holders."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError
from dataflow_locks import MigrationLockManager
from dataflow_locks.manager import LOCKS_TABLE

pytestmark = pytest.mark.anyio
WORKER = str(Path(__file__).parents[2] / "migrate" / "tests" / "worker.py")


def scope() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def make_db(dataflow_url):
    made: list[DataFlow] = []

    def make(**options) -> DataFlow:
        db = DataFlow(dataflow_url, **options)
        made.append(db)
        return db

    yield make
    for db in made:
        await db.close_async()


async def test_lock_is_listed_while_held_and_gone_after(make_db):
    db = make_db()
    manager = MigrationLockManager(db)
    name = scope()
    async with manager.acquire_migration_lock(lock_scope=name, timeout_seconds=10,
                                              operation_description="Add NOT NULL column to users table",
                                              lock_metadata={"table": "users", "operation": "add_column"}) as lock:
        assert lock.scope == name and len(lock.lock_id) == 32
        active = {a.scope: a for a in await manager.get_active_locks()}
        listed = active[name]
        assert listed.operation_description == "Add NOT NULL column to users table"
        assert listed.metadata == {"table": "users", "operation": "add_column"}
        assert listed.holder == f"{os.uname().nodename}:{os.getpid()}" or str(os.getpid()) in listed.holder
        assert isinstance(listed.acquired_at, dt.datetime)
    assert name not in {a.scope for a in await manager.get_active_locks()}


async def test_timeout_is_df307(make_db):
    first, second = MigrationLockManager(make_db()), MigrationLockManager(make_db())
    name = scope()
    async with first.acquire_migration_lock(lock_scope=name, timeout_seconds=10, operation_description="long one"):
        started = time.monotonic()
        with pytest.raises(DataFlowError) as info:
            async with second.acquire_migration_lock(lock_scope=name, timeout_seconds=0.5):
                pytest.fail("acquired a lock that is held")
        assert info.value.code == "DF-307"
        assert 0.4 <= time.monotonic() - started < 5
    async with second.acquire_migration_lock(lock_scope=name, timeout_seconds=5):
        pass  # free again once released


async def test_holders_exclude_each_other(make_db):
    name = scope()
    managers = [MigrationLockManager(make_db()) for _ in range(4)]
    inside = 0
    most = 0

    async def work(manager: MigrationLockManager) -> None:
        nonlocal inside, most
        for _ in range(3):
            async with manager.acquire_migration_lock(lock_scope=name, timeout_seconds=30):
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.02)
                inside -= 1

    await asyncio.gather(*(work(m) for m in managers))
    assert most == 1


async def test_same_task_reenters(make_db):
    manager = MigrationLockManager(make_db())
    name = scope()
    async with (
        manager.acquire_migration_lock(lock_scope=name, timeout_seconds=5) as outer,
        manager.acquire_migration_lock(lock_scope=name, timeout_seconds=0.2) as inner,
    ):
        assert inner.lock_id == outer.lock_id


async def test_killed_holder_never_keeps_the_lock(make_db, dataflow_url):
    name = scope()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, WORKER, "--hold-lock", dataflow_url, name, "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line.strip() == "held", proc.stderr.read() if proc.poll() is not None else line
        manager = MigrationLockManager(make_db())
        assert name in {a.scope for a in await manager.get_active_locks()}
        with pytest.raises(DataFlowError) as info:
            async with manager.acquire_migration_lock(lock_scope=name, timeout_seconds=0.3):
                pass
        assert info.value.code == "DF-307" and str(proc.pid) in str(info.value.message)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    started = time.monotonic()
    async with manager.acquire_migration_lock(lock_scope=name, timeout_seconds=10) as lock:
        assert lock.scope == name
    assert time.monotonic() - started < 4  # well within the 3 s lease plus polling
    assert name not in {a.scope for a in await manager.get_active_locks()}


async def test_sqlite_expired_lease_of_another_host_is_taken_over(make_db, dataflow_url):
    if not dataflow_url.startswith("sqlite"):
        pytest.skip("leases are the SQLite mechanism; servers release a dead session's lock themselves")
    db = make_db()
    manager = MigrationLockManager(db, lease_seconds=30)
    name = scope()
    async with manager.acquire_migration_lock(lock_scope=scope(), timeout_seconds=5):
        pass  # creates the locks table
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    async with db.connection() as conn:
        await conn.execute(
            f'INSERT INTO "{LOCKS_TABLE}" (scope, lock_id, holder, host, pid, operation_description, metadata, '
            "acquired_at, expires_at, lock_key) VALUES (?, 'x', 'elsewhere:1', 'elsewhere', 1, 'crashed', ?, ?, ?, '')",
            [name, json.dumps({}), past, past])
    assert name not in {a.scope for a in await manager.get_active_locks()}
    async with manager.acquire_migration_lock(lock_scope=name, timeout_seconds=2) as lock:
        assert lock.holder != "elsewhere:1"


async def test_hook_returns_the_lock_used_by_migrations(make_db):
    db = make_db()
    lock = db.plugins.hook.dataflow_migration_lock(db=db, scope=scope())
    async with lock as held:
        assert held.operation_description.startswith("migration by")
    assert db.migration_lock_manager is db.state["migration_lock_manager"]
