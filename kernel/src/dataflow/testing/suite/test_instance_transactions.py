"""Conformance: the instance transaction and the pool listing, the same on every database.

- ``dialect.hold_transaction()``: every statement of the instance joins one transaction, whether it
  comes from ``LocalRuntime``, from ``AsyncLocalRuntime`` on another event loop, or from another
  thread; other instances see none of it; ``db.transaction()`` inside it is a savepoint; ``end()``
  rolls it back and the next statement begins a new one; ``release_transaction()`` stops holding it.
- ``list_pools()`` / ``pools_created`` / ``close_pools()``: one pool per event loop that used the
  instance; the pool of a loop that has closed is listed as such and released by
  ``close_pools(stale_only=True)``; the instance goes on with a new pool (dialects that list pools).
"""

import asyncio
import threading

import pytest

from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder
from dataflow.loop import run_sync
from dataflow.testing.fixtures import raw_fetch, table_columns
from dataflow.testing.suite._support import tests_in


class Tally:
    label: str
    n: int = 0


def _count(db, model):
    other = DataFlow(str(db.url.raw))
    try:
        if table_columns(other, model.__dataflow_model__.table) is None:
            return None
        return raw_fetch(other, f"SELECT COUNT(*) FROM {other.dialect.quote(model.__dataflow_model__.table)}")[0][0]
    finally:
        other.close()


async def _create_on_this_loop(label):
    wf = WorkflowBuilder()
    wf.add_node("TallyCreateNode", "c", {"label": label})
    await AsyncLocalRuntime().execute_workflow_async(wf.build())


def test_an_instance_transaction_is_joined_from_every_context_and_rolled_back(make_model, run_node):
    db = make_model.db
    tally = make_model(Tally)
    run_node("TallyCountNode", {})  # the table exists and is committed before the transaction
    held = db.dialect.hold_transaction()
    try:
        run_node("TallyCreateNode", {"label": "sync"})
        asyncio.run(_create_on_this_loop("other loop"))
        worker = threading.Thread(target=run_node, args=("TallyCreateNode", {"label": "thread"}))
        worker.start()
        worker.join()
        with pytest.raises(RuntimeError), db.transaction():
            run_node("TallyCreateNode", {"label": "undone by its savepoint"})
            raise RuntimeError("boom")
        assert held.begun and run_node("TallyCountNode", {})["count"] == 3
        assert _count(db, tally) == 0, "nothing is committed"
        assert run_sync(held.end()) is True and not held.begun
        assert run_node("TallyCountNode", {})["count"] == 0
        run_node("TallyCreateNode", {"label": "next"})
        assert held.begun, "the next statement began a new transaction"
    finally:
        assert run_sync(db.dialect.release_transaction()) is True
    assert db.dialect.instance_transaction is None
    assert _count(db, tally) == 0
    run_node("TallyCreateNode", {"label": "autocommit again"})
    assert _count(db, tally) == 1


def test_a_table_made_inside_an_instance_transaction_is_ready_inside_it(make_model, run_node):
    db = make_model.db
    tally = make_model(Tally)
    db.dialect.hold_transaction()
    try:
        run_node("TallyCreateNode", {"label": "a"})
        assert run_node("TallyCountNode", {})["count"] == 1
    finally:
        run_sync(db.dialect.release_transaction())
    left = _count(db, tally)
    if db.dialect.transactional_ddl or db.dialect.schema_in_transaction:
        assert left is None, "made in the transaction: rolled back with it"
    else:
        assert left == 0, "made on a connection of its own (the DDL commits): it stays, empty"
    assert run_node("TallyCountNode", {})["count"] == 0, "the schema cache forgot a table rolled back"


def test_pools_are_listed_per_loop_and_a_closed_loops_pool_is_released(make_model, run_node):
    db = make_model.db
    if not db.dialect.lists_pools:
        pytest.skip(f"the {db.dialect.name} dialect does not list its pools")
    make_model(Tally)
    run_node("TallyCreateNode", {"label": "background loop"})
    before = db.dialect.pools_created
    asyncio.run(_create_on_this_loop("short-lived loop"))
    pools = db.dialect.list_pools()
    assert db.dialect.pools_created == before + 1
    stale = [pool for pool in pools if pool.loop_closed]
    assert len(stale) == 1 and stale[0].connections >= 1 and stale[0].in_use == 0
    assert len({pool.key for pool in pools}) == len(pools) == 2
    released = asyncio.run(db.dialect.close_pools(stale_only=True))
    assert [(pool.key, error) for pool, error in released] == [(stale[0].key, None)]
    assert [pool.loop_closed for pool in db.dialect.list_pools()] == [False]
    assert run_node("TallyCountNode", {})["count"] == 2


__all__ = tests_in(globals())
