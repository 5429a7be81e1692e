"""The DuckDB dialect's own behaviour: URLs, running off the event loop, the write turn, timeouts,
cancellation, one process per file, and auto-migration of a table DuckDB cannot ALTER in place."""

import asyncio
import subprocess
import sys

import pytest
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.loop import run_sync
from dataflow.testing import raises_df


@pytest.fixture
def dataflow_url(tmp_path):
    return f"duckdb:///{tmp_path / 'dialect.duckdb'}"


def _node(db, node_type, params):
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", params)
    return LocalRuntime().execute(wf.build())[0]["n"]


def _item(db, table, **extra):
    annotations = {"name": str, **{name: type(value) for name, value in extra.items()}}
    return db.model(type("Item", (), {"__annotations__": annotations, "__tablename__": table, **extra,
                                      "__dataflow__": {"indexes": [{"fields": ["name"]}]}}))


@pytest.mark.parametrize("url", ["duckdb:///:memory:", "duckdb://"])
def test_in_memory_urls_are_private_databases(url):
    first, second = DataFlow(url), DataFlow(url)
    try:
        _item(first, "items")
        _node(first, "ItemCreateNode", {"name": "only in the first"})
        assert _node(first, "ItemCountNode", {})["count"] == 1
        _item(second, "items")
        assert _node(second, "ItemCountNode", {})["count"] == 0
    finally:
        first.close()
        second.close()


def test_a_file_is_shared_by_instances_and_survives_them(dataflow_url):
    with DataFlow(dataflow_url) as first:
        _item(first, "items")
        _node(first, "ItemCreateNode", {"name": "kept"})
        with DataFlow(dataflow_url) as second:
            _item(second, "items")
            assert _node(second, "ItemCountNode", {})["count"] == 1
    with DataFlow(dataflow_url) as again:
        _item(again, "items")
        assert [r["name"] for r in _node(again, "ItemListNode", {})["records"]] == ["kept"]


def test_auto_migration_adds_a_field_to_an_indexed_table(dataflow_url):
    """DuckDB's ALTER TABLE refuses a table with an index: the column is added by a rebuild, rows kept."""
    pytest.importorskip("dataflow_migrate", reason="planned migrations come with the migrate plugin")
    with DataFlow(dataflow_url) as old:
        _item(old, "items")
        created = _node(old, "ItemCreateNode", {"name": "before"})
    with DataFlow(dataflow_url) as new:
        _item(new, "items", qty=7)
        assert _node(new, "ItemReadNode", {"id": created["id"]})["qty"] == 7
        later = _node(new, "ItemCreateNode", {"name": "after", "qty": 1})
        assert later["id"] > created["id"], "ids keep coming from the table's sequence"
        assert _node(new, "ItemListNode", {"filter": {"name": "before"}})["count"] == 1


def test_the_event_loop_runs_while_a_statement_does(dataflow_url):
    """Statements run in worker threads: a slow query never stops other tasks of the loop."""
    db = DataFlow(dataflow_url)
    ticks = 0

    async def ticker(done):
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async def main():
        done = asyncio.Event()
        task = asyncio.ensure_future(ticker(done))
        async with db.connection() as conn:
            rows = await conn.fetch("SELECT COUNT(*) FROM range(30000000) t(x) WHERE x % 7 = 3", [])
        done.set()
        await task
        return rows

    try:
        assert asyncio.run(main())[0][0] > 0
        assert ticks > 1
    finally:
        db.close()


def test_statement_timeout_stops_a_statement_with_df512(dataflow_url):
    db = DataFlow(dataflow_url, statement_timeout=0.2)

    async def endless():
        async with db.connection() as conn:
            await conn.fetch("SELECT COUNT(*) FROM range(1000000000000) a(x), range(1000000) b(y)", [])

    try:
        with raises_df("DF-512"):
            run_sync(endless())
    finally:
        db.close()


def test_a_cancelled_statement_is_interrupted_and_its_connection_dropped(dataflow_url):
    db = DataFlow(dataflow_url)

    async def main():
        async with db.connection() as conn:
            work = asyncio.ensure_future(conn.fetch("SELECT COUNT(*) FROM range(1000000000000) a(x)", []))
            await asyncio.sleep(0.2)
            work.cancel()
            with pytest.raises(asyncio.CancelledError):
                await work
            assert conn.broken
        async with db.connection() as fresh:
            assert fresh is not conn
            return await fresh.fetch("SELECT 42", [])

    try:
        assert asyncio.run(main()) == [(42,)]
    finally:
        db.close()


def test_writers_wait_in_line_and_a_held_turn_is_df508_after_busy_timeout(dataflow_url):
    db = DataFlow(dataflow_url, busy_timeout=0.3)
    _item(db, "items")
    _node(db, "ItemCountNode", {})

    async def main():
        async with db.transaction():  # holds the write turn until it ends
            with raises_df("DF-508", match="one writer at a time"):
                await asyncio.ensure_future(_autocommit_insert(db))

    try:
        asyncio.run(main())
        assert _node(db, "ItemCountNode", {})["count"] == 0
    finally:
        db.close()


async def _autocommit_insert(db):
    """An insert from a task that is not in the transaction (its own context: it must wait)."""
    from dataflow.transactions import activate

    activate({db.dialect: None})
    async with db.dialect.connection() as conn:
        await conn.execute('INSERT INTO "items" ("name") VALUES ($1)', ["waits"])


def test_a_second_process_on_the_file_is_df413(dataflow_url, tmp_path):
    path = str(tmp_path / "dialect.duckdb")
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; held = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", path], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"open"
        with DataFlow(dataflow_url) as db:
            _item(db, "items")
            with raises_df("DF-413", match="another process"):
                _node(db, "ItemCountNode", {})
    finally:
        holder.kill()
        holder.wait()


_CORE = ["duckdb", "crud", "runtime"]
"""The dialect and the core product only: the kernel's basic schema manager makes the tables."""


def test_the_basic_schema_manager_adds_a_field_to_an_indexed_table(dataflow_url):
    """Without the migrate plugin, the kernel adds the column with a plain ALTER TABLE … ADD COLUMN: the
    dialect drops and remakes the table's indexes around it, in one transaction."""
    with DataFlow(dataflow_url, plugins=_CORE) as old:
        _item(old, "items")
        created = _node(old, "ItemCreateNode", {"name": "before"})
    with DataFlow(dataflow_url, plugins=_CORE) as new:
        _item(new, "items", qty=7)
        assert _node(new, "ItemReadNode", {"id": created["id"]})["qty"] is None  # added nullable
        _node(new, "ItemCreateNode", {"name": "after", "qty": 1})
        assert _node(new, "ItemListNode", {"filter": {"name": "after"}})["count"] == 1

        async def indexes():
            async with new.connection() as conn:
                return await conn.fetch("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'items'", [])

        assert len(run_sync(indexes())) == 1, "the index was made again"
