"""Read replicas against real replicas: a private PostgreSQL streaming pair and a MariaDB binlog pair.

Where a read ran is told by what it sees: with the replica's replay paused, a row written through
another instance is on the primary only, so a read that finds it ran on the primary and one that does
not ran on the replica. ``db.replica_metrics()`` must agree.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.testing import raises_df, raw_execute

KINDS = [pytest.param("postgresql", marks=pytest.mark.postgresql), pytest.param("mysql", marks=pytest.mark.mysql)]


@pytest.fixture(scope="module", params=KINDS)
def pair(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("pg_pair" if request.param == "postgresql" else "maria_pair")


def replica_sql(pair: Any, statement: str) -> None:
    """Run ``statement`` on the replica as an administrator."""
    if hasattr(pair, "sql"):
        pair.sql(pair.replica_port, statement)
        return
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(pair.replica_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(go())


@contextmanager
def replay_paused(pair: Any) -> Iterator[None]:
    """The replica receives changes but applies none of them (lag made on purpose)."""
    maria = hasattr(pair, "sql")
    replica_sql(pair, "STOP SLAVE SQL_THREAD" if maria else "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        replica_sql(pair, "START SLAVE SQL_THREAD" if maria else "SELECT pg_wal_replay_resume()")


@pytest.fixture
def make(pair: Any) -> Iterator[Callable[..., DataFlow]]:
    """``make(**options)``: an instance on the pair's primary reading from its replica, with an ``Item``
    model on a table of this test (``make(model="Writer", replicas=[])``: another instance on the same
    table, without replicas, its nodes ``Writer…``). Tables dropped and instances closed afterwards."""
    made: list[DataFlow] = []
    table = f"rep_{uuid.uuid4().hex[:10]}"

    def build(*, replicas: list[str] | None = None, model: str = "Item", **options: Any) -> DataFlow:
        options.setdefault("replica_check_interval", 0.2)
        options.setdefault("pool_size", 4)
        options.setdefault("max_overflow", 2)
        db = DataFlow(pair.primary_url, read_replicas=[pair.replica_url] if replicas is None else replicas,
                      **options)
        made.append(db)
        item = type(model, (), {"__annotations__": {"id": str, "name": str}, "__tablename__": table})
        db.model(item)
        return db

    yield build
    for db in made:
        db.close()
    with DataFlow(pair.primary_url) as cleaner:
        quote = cleaner.dialect.quote
        raw_execute(cleaner, f"DROP TABLE IF EXISTS {quote(table)}")


def create(db: DataFlow, row_id: str, name: str = "x") -> None:
    wf = WorkflowBuilder()
    wf.add_node(f"{next(iter(db.models))}CreateNode", "c", {"id": row_id, "name": name})
    LocalRuntime().execute(wf.build())


def read(db: DataFlow, row_id: str) -> Any:
    wf = WorkflowBuilder()
    wf.add_node(f"{next(iter(db.models))}ListNode", "l", {"filter": {"id": row_id}})
    results, _ = LocalRuntime().execute(wf.build())
    return results["l"]["records"]


def settled(db: DataFlow, *, timeout: float = 30.0) -> Any:
    """Check the replicas until every one is usable and caught up; the metrics then."""
    deadline = time.monotonic() + timeout
    while True:
        metrics = db.check_replicas()
        if all(r.usable and r.lag == 0 for r in metrics.replicas):
            return metrics
        if time.monotonic() > deadline:
            raise AssertionError(f"the replicas did not catch up: {metrics}")
        time.sleep(0.1)


def ready(make: Callable[..., DataFlow], **options: Any) -> tuple[DataFlow, DataFlow]:
    """(instance reading from the replica, writer on the primary without replicas), the table made
    on both servers; the reader's own write window closed."""
    options.setdefault("read_your_writes_window", 0)
    db = make(**options)
    writer = make(replicas=[], model="Writer")
    create(writer, "seed")
    settled(db)
    return db, writer


def test_reads_go_to_the_replica_and_writes_to_the_primary(make: Callable[..., DataFlow], pair: Any) -> None:
    db, writer = ready(make)
    before = db.replica_metrics()
    with replay_paused(pair):
        create(writer, "only-on-primary")
        got = read(db, "only-on-primary")
        assert got == [], f"the read ran on the replica, which has not applied the row {db.replica_metrics()}"
        assert read(db, "seed")[0]["name"] == "x"
    after = db.replica_metrics()
    assert after.replica_reads == before.replica_reads + 2
    assert after.primary_reads == before.primary_reads
    settled(db)
    assert read(db, "only-on-primary")[0]["id"] == "only-on-primary"


def test_a_workflow_that_wrote_reads_its_own_writes(make: Callable[..., DataFlow], pair: Any) -> None:
    db, _writer = ready(make, max_replica_lag=3600)
    with replay_paused(pair):
        wf = WorkflowBuilder()
        wf.add_node("ItemCreateNode", "c", {"id": "mine", "name": "m"})
        wf.add_node("ItemListNode", "l", {"filter": {"id": "mine"}})
        wf.add_connection("c", "id", "l", "filter.id")
        results, _ = LocalRuntime().execute(wf.build())
        assert [r["id"] for r in results["l"]["records"]] == ["mine"], "read on the primary after the run wrote"
        assert db.replica_metrics().read_your_writes >= 1
        # The window is 0 and the run is over: the next read goes back to the (paused) replica.
        assert read(db, "mine") == []


def test_the_writer_reads_the_primary_for_its_window(make: Callable[..., DataFlow], pair: Any) -> None:
    db, _writer = ready(make, read_your_writes_window=1.0, max_replica_lag=3600)
    with replay_paused(pair):
        create(db, "fresh")
        assert read(db, "fresh")[0]["id"] == "fresh", "same thread, inside its window: the primary"
        seen: list[Any] = []
        other = threading.Thread(target=lambda: seen.append(read(db, "fresh")))
        other.start()
        other.join()
        assert seen == [[]], "another thread has no window: it reads the replica"
        time.sleep(1.2)
        assert read(db, "fresh") == [], "the window is over: the replica again"


def test_async_tasks_have_windows_of_their_own(make: Callable[..., DataFlow], pair: Any) -> None:
    db, _writer = ready(make, read_your_writes_window=30, max_replica_lag=3600)
    runtime = AsyncLocalRuntime()

    async def run_one(*nodes: tuple[str, dict[str, Any]]) -> Any:
        wf = WorkflowBuilder()
        for index, (node, params) in enumerate(nodes):
            wf.add_node(node, f"n{index}", params)
        results, _ = await runtime.execute_workflow_async(wf.build(), {})
        return results[f"n{len(nodes) - 1}"]

    async def scenario() -> tuple[Any, Any]:
        await run_one(("ItemCreateNode", {"id": "task-row", "name": "t"}))
        mine = await run_one(("ItemListNode", {"filter": {"id": "task-row"}}))
        theirs = await asyncio.create_task(run_one(("ItemListNode", {"filter": {"id": "task-row"}})))
        return mine, theirs

    with replay_paused(pair):
        mine, theirs = asyncio.run(scenario())
    assert [r["id"] for r in mine["records"]] == ["task-row"]
    assert theirs["records"] == []
    db.close()


def test_express_calls_read_their_own_writes(make: Callable[..., DataFlow], pair: Any) -> None:
    db, _writer = ready(make, read_your_writes_window=30, max_replica_lag=3600)
    with replay_paused(pair):
        db.express_sync.create("Item", {"id": "express-row", "name": "e"})
        found = db.express_sync.list("Item", {"id": "express-row"})
        assert [r["id"] for r in found["records"]] == ["express-row"], "the writer's thread reads the primary"
        seen: list[Any] = []
        other = threading.Thread(target=lambda: seen.append(db.express_sync.count("Item", {"id": "express-row"})))
        other.start()
        other.join()
        assert seen == [{"count": 0}], "another thread reads the replica, which has not applied the row"


def test_transactions_and_raw_connections_use_the_primary(make: Callable[..., DataFlow], pair: Any) -> None:
    db, writer = ready(make, max_replica_lag=3600)
    with replay_paused(pair):
        create(writer, "tx-row")
        before = db.replica_metrics().replica_reads
        with db.transaction():
            assert read(db, "tx-row")[0]["id"] == "tx-row"
        assert db.replica_metrics().replica_reads == before


def test_lag_made_on_purpose_is_detected_and_reads_fall_back(make: Callable[..., DataFlow], pair: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    db, writer = ready(make, max_replica_lag=0.3)
    with replay_paused(pair), caplog.at_level(logging.WARNING, logger="dataflow.replicas"):
        create(writer, "late")
        deadline = time.monotonic() + 30
        while (metrics := db.check_replicas()).replicas[0].usable:
            assert time.monotonic() < deadline, f"the lag was never seen: {metrics}"
            time.sleep(0.1)
        replica = metrics.replicas[0]
        assert replica.healthy and replica.lag is not None and replica.lag > 0.3
        for _ in range(3):
            assert read(db, "late")[0]["id"] == "late", "no usable replica: the primary answers"
        assert db.replica_metrics().fallbacks >= 3
        warnings = [r for r in caplog.records if "DF-518" in r.getMessage()]
        assert len(warnings) == 1, "one warning, not one per read"
    metrics = settled(db)
    assert metrics.replicas[0].lag == 0


def test_an_idle_primary_is_not_lag(make: Callable[..., DataFlow], pair: Any) -> None:
    db, _writer = ready(make, max_replica_lag=0.2)
    for _ in range(4):  # nothing is written for longer than max_replica_lag
        time.sleep(0.2)
        metrics = db.check_replicas()
        assert metrics.replicas[0].usable and metrics.replicas[0].lag == 0, metrics


def test_replica_fallback_error_raises_df_518(make: Callable[..., DataFlow], pair: Any) -> None:
    db, writer = ready(make, max_replica_lag=0.2, replica_fallback="error")
    with replay_paused(pair):
        create(writer, "late")
        deadline = time.monotonic() + 30
        while db.check_replicas().replicas[0].usable:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with raises_df("DF-518"):
            read(db, "late")


def test_a_url_that_is_not_a_replica_is_df_519(make: Callable[..., DataFlow], pair: Any) -> None:
    db = make(replicas=[pair.primary_url])
    with raises_df("DF-519"):
        db.check_replicas()
    assert not db.replica_metrics().replicas[0].usable


@pytest.mark.slow
def test_a_replica_stopped_mid_run_makes_reads_fall_back_without_error(make: Callable[..., DataFlow],
                                                                       pair: Any) -> None:
    db, writer = ready(make)
    for index in range(20):
        create(writer, f"r{index}")
    settled(db)
    errors: list[BaseException] = []
    found: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                found.append(len(read(db, "r7")))
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        pair.stop_replica()
        time.sleep(1.5)
        stopped = db.replica_metrics()
        assert not stopped.replicas[0].usable
        assert stopped.fallbacks > 0
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        pair.start_replica()
    assert errors == [], f"reads failed while the replica stopped: {errors[:1]}"
    assert found and all(n == 1 for n in found)
    metrics = settled(db, timeout=60)
    assert metrics.replicas[0].usable
    before = metrics.replicas[0].reads
    read(db, "r7")
    assert db.replica_metrics().replicas[0].reads == before + 1, "back in use once a check found it"


def test_metrics_say_where_reads_went(make: Callable[..., DataFlow]) -> None:
    db, _writer = ready(make)
    metrics = db.replica_metrics()
    assert set(metrics.as_dict()) >= {"primary_reads", "fallbacks", "read_your_writes", "replicas", "replica_reads"}
    replica = metrics.replicas[0]
    assert replica.url.endswith("/test") and replica.checked_at > 0
