"""SQLite-specific behaviour: where the database file goes, ``:memory:`` sharing, WAL, schema caching."""

import asyncio
from pathlib import Path

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.testing import raw_fetch, table_columns


def _declare(db):
    @db.model
    class Item:
        name: str

    return Item


def _count(db, node="ItemCountNode"):
    wf = WorkflowBuilder()
    wf.add_node(node, "count", {"db_instance": db})
    return LocalRuntime().execute(wf.build())[0]["count"]["count"]


def _create(db, name):
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "create", {"name": name, "db_instance": db})
    return LocalRuntime().execute(wf.build())[0]["create"]


@pytest.fixture
def closing():
    """Collects DataFlow instances and closes them after the test."""
    made: list[DataFlow] = []
    yield made
    for db in made:
        db.close()


def test_no_url_uses_dataflow_db_in_the_working_directory(tmp_path, monkeypatch, closing):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    db = DataFlow()
    closing.append(db)
    assert db.url.scheme == "sqlite"
    _declare(db)
    _create(db, "a")
    assert (tmp_path / "dataflow.db").is_file()
    assert Path(db.dialect.path) == tmp_path / "dataflow.db"


def test_no_url_uses_database_url_when_set(tmp_path, monkeypatch, closing):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from_env.db")
    db = DataFlow()
    closing.append(db)
    _declare(db)
    _create(db, "a")
    assert (tmp_path / "from_env.db").is_file()
    assert not (tmp_path / "dataflow.db").exists()


def test_relative_url_is_relative_to_the_working_directory(tmp_path, monkeypatch, closing):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    db = DataFlow("sqlite:///rel.db")
    closing.append(db)
    _declare(db)
    _create(db, "a")
    assert (work / "rel.db").is_file()
    monkeypatch.chdir(tmp_path)  # moving later does not move the database
    _create(db, "b")
    assert _count(db) == 2
    assert not (tmp_path / "rel.db").exists()


def test_absolute_url_with_four_slashes(tmp_path, monkeypatch, closing):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "abs" / "abs.db"
    target.parent.mkdir()
    url = f"sqlite:///{target}"
    assert url.startswith("sqlite:////")
    db = DataFlow(url)
    closing.append(db)
    _declare(db)
    _create(db, "a")
    assert target.is_file()
    assert Path(db.dialect.path) == target


def test_memory_is_one_database_per_instance(closing):
    db = DataFlow(":memory:")
    other = DataFlow("sqlite:///:memory:")
    closing += [db, other]
    _declare(db)
    _create(db, "a")

    async def from_another_loop():
        # a new event loop gets its own connection: it must see the same in-memory database
        wf = WorkflowBuilder()
        wf.add_node("ItemCountNode", "count", {"db_instance": db})
        return (await AsyncLocalRuntime().execute_workflow_async(wf.build()))[0]["count"]["count"]

    assert asyncio.run(from_another_loop()) == 1
    assert _count(db) == 1
    _declare(other)
    assert _count(other) == 0  # another instance's :memory: is another database


def test_file_databases_use_wal(tmp_path, closing):
    db = DataFlow(f"sqlite:///{tmp_path / 'wal.db'}")
    closing.append(db)
    assert raw_fetch(db, "PRAGMA journal_mode") == [("wal",)]


def test_instances_open_a_new_file_at_the_same_moment(tmp_path, closing):
    """Switching a new file to WAL from several connections at once: SQLite answers some of them
    SQLITE_BUSY without its busy handler; the dialect tries again within busy_timeout instead of
    failing with DF-508 (seen as a flaky first operation of two instances on one new file)."""
    import threading

    failures: list[BaseException] = []

    def open_one(db: DataFlow, start: threading.Barrier) -> None:
        async def go() -> None:
            async with db.dialect.connection():
                pass

        start.wait()
        try:
            asyncio.run(go())
        except BaseException as exc:  # collected: the assertion below names them
            failures.append(exc)

    for attempt in range(40):
        url = f"sqlite:///{tmp_path / f'new-{attempt}.db'}"
        instances = [DataFlow(url) for _ in range(4)]
        start = threading.Barrier(len(instances))
        threads = [threading.Thread(target=open_one, args=(db, start)) for db in instances]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for db in instances:
                db.close()
    assert failures == []
    last = DataFlow(url)
    closing.append(last)
    assert raw_fetch(last, "PRAGMA journal_mode") == [("wal",)]


def test_a_file_locked_past_busy_timeout_while_opening_is_df508(tmp_path, closing):
    import sqlite3

    from dataflow.errors import DataFlowError

    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (i)")
    holder.execute("BEGIN EXCLUSIVE")  # a rollback-journal file: nobody else may even read it
    db = DataFlow(f"sqlite:///{path}", busy_timeout=0.3)
    closing.append(db)

    async def open_it() -> None:
        async with db.dialect.connection():
            pass

    try:
        with pytest.raises(DataFlowError) as caught:
            asyncio.run(open_it())
        assert caught.value.code == "DF-508"
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_tables_are_created_on_first_use_and_not_rechecked(tmp_path, closing, monkeypatch):
    db = DataFlow(f"sqlite:///{tmp_path / 'cache.db'}")
    closing.append(db)
    _declare(db)
    assert table_columns(db, "items") is None  # declaring a model creates nothing yet
    checks = []
    real = type(db.dialect).table_columns

    async def counting(self, conn, table):
        checks.append(table)
        return await real(self, conn, table)

    monkeypatch.setattr(type(db.dialect), "table_columns", counting)
    _create(db, "a")
    assert table_columns(db, "items") == {"id", "name", "created_at", "updated_at"}
    checks.clear()
    for i in range(5):
        _create(db, f"n{i}")
    assert _count(db) == 6
    assert checks == []  # no further schema checks, whichever plugins manage the schema and remember it


def test_timestamps_are_stored_as_fixed_width_utc_text() -> None:
    """Text order is time order only if every stored timestamp has the same width: microseconds are
    always written (six zeros too), and any offset becomes UTC."""
    import datetime as dt

    from dataflow_sqlite.dialect import encode_datetime

    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert encode_datetime(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "2024-01-02T03:04:05.000000+00:00"
    assert encode_datetime(dt.datetime(2024, 1, 2, 3, 4, 5, 7, tzinfo=dt.UTC)) == "2024-01-02T03:04:05.000007+00:00"
    assert encode_datetime(dt.datetime(2024, 1, 2, 3, 4, 5, 500000)) == "2024-01-02T03:04:05.500000+00:00"
    assert encode_datetime(dt.datetime(2024, 1, 2, 1, 0, 0, 1, tzinfo=plus_two)) == "2024-01-01T23:00:00.000001+00:00"
