"""Tests a server dialect runs to show what happens when the server ends a session (real kills).

Each test kills only a session of its own: one it opened itself (found by its own session id), or the
one waiting on a lock that the test itself holds on a table unique to the test; never another
session of the shared server. A server dialect's test module star-imports this module and provides
``dataflow_url`` and ``session_admin`` (a ``SessionAdmin`` saying how its server names, finds and
kills sessions and locks a table)::

    from dataflow.testing.fixtures import *  # noqa: F403
    from dataflow.testing.session_loss import *  # noqa: F403

    @pytest.fixture
    def session_admin():
        return SessionAdmin(own_id="SELECT pg_backend_pid()", ...)

What they pin down (the contract of ``SQLDialect.recover`` / ``lost_error``):

- a pooled connection whose session the server ended while it sat idle is never used: the next read
  and the next write both succeed on a fresh connection;
- a read whose session ends under it is run once more on a fresh connection;
- a write on its own whose session ends under it is DF-510 (applied or not: unknown);
- a statement inside the user's transaction whose session ends is DF-511 (rolled back: nothing
  applied); a node whose own transaction lost its session that way runs once more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import attrs

from dataflow import AsyncLocalRuntime
from dataflow.dialect import Connection
from dataflow.facade import DataFlow
from dataflow.loop import run_sync
from dataflow.query import Count, Insert, Select, equals
from dataflow.testing.fixtures import raises_df
from dataflow.workflow import WorkflowBuilder

__all__ = [
    "SessionAdmin",
    "test_a_lost_read_runs_again_on_a_fresh_connection",
    "test_a_lost_session_in_a_users_transaction_is_df511",
    "test_a_lost_update_by_id_on_its_own_is_df510",
    "test_a_lost_write_on_its_own_is_df510",
    "test_a_node_whose_own_transaction_lost_its_session_runs_again",
    "test_an_idle_connection_the_server_ended_is_never_used",
]

_WAIT = 10.0
"""Seconds to wait for a session to block on a lock or to be gone."""


@attrs.frozen
class SessionAdmin:
    """How one server names, finds and ends sessions; ``{}`` in a statement is a session id or a table.

    :param own_id: the session id of the connection running it.
    :param kill: ends the session ``{}``.
    :param alive: counts sessions with id ``{}`` (0 once it is gone).
    :param waiting: the ids of sessions, other than the one asking, blocked in a statement on table ``{}``.
    :param lock_table: statements that make other sessions' reads of table ``{}`` wait.
    :param unlock_table: statements that release it.
    """

    own_id: str
    kill: str
    alive: str
    waiting: str
    lock_table: Sequence[str]
    unlock_table: Sequence[str]


def _item(make_model: Any) -> Any:
    class Item:
        id: str
        name: str

    return make_model(Item)


async def _scalar(conn: Connection, sql: str) -> Any:
    return (await conn.fetch(sql, []))[0][0]


async def _blocked_session(admin: DataFlow, how: SessionAdmin, table: str) -> Any:
    """The id of the session waiting on ``table`` (this test's own: the table is unique to it)."""
    async with admin.connection() as conn:
        for _ in range(int(_WAIT / 0.05)):
            rows = await conn.fetch(how.waiting.format(table), [])
            if rows:
                return rows[0][0]
            await asyncio.sleep(0.05)
    raise AssertionError(f"no session blocked on {table} within {_WAIT} s")


async def _end(admin: DataFlow, how: SessionAdmin, session: Any) -> None:
    """End ``session`` and wait until the server has let it go."""
    async with admin.connection() as conn:
        await conn.execute(how.kill.format(int(session)), [])
        for _ in range(int(_WAIT / 0.02)):
            if not await _scalar(conn, how.alive.format(int(session))):
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"session {session} still alive after {_WAIT} s")


def test_an_idle_connection_the_server_ended_is_never_used(make_model: Any, run_node: Any,
                                                           session_admin: SessionAdmin) -> None:
    item = _item(make_model)
    spec = item.__dataflow_model__
    run_node("ItemCreateNode", {"id": "a", "name": "A"})
    db, admin = make_model.db, make_model.new_db()

    async def scenario() -> None:
        for attempt in ("read", "write"):
            async with db.connection() as conn:  # this loop's pool keeps the connection, idle
                session = await _scalar(conn, session_admin.own_id)
            # Ended from DataFlow's background loop while this loop waits: this loop never sees the
            # server's goodbye before the next statement.
            run_sync(_end(admin, session_admin, session))
            if attempt == "read":
                assert await db.dialect.run(Count(spec)) == 1
            else:
                row = ("b", "B")
                stored = await db.dialect.run(Insert(spec, ("id", "name"), [row], returning=True))
                assert [r["id"] for r in stored] == ["b"]
        await db.close_async()

    asyncio.run(scenario())
    assert run_node("ItemCountNode", {})["count"] == 2


def test_a_lost_read_runs_again_on_a_fresh_connection(make_model: Any, run_node: Any,
                                                      session_admin: SessionAdmin) -> None:
    item = _item(make_model)
    spec = item.__dataflow_model__
    run_node("ItemCreateNode", {"id": "a", "name": "A"})
    db, admin = make_model.db, make_model.new_db()

    async def scenario() -> list[dict[str, Any]]:
        async with admin.connection() as holder:
            for sql in session_admin.lock_table:
                await holder.execute(sql.format(spec.table), [])
            try:
                read = asyncio.create_task(db.dialect.run(Select(spec, equals(spec.id_field, "a"))))
                await _end(admin, session_admin, await _blocked_session(admin, session_admin, spec.table))
                await asyncio.sleep(0.1)  # the second attempt starts, and waits for the lock too
            finally:
                for sql in session_admin.unlock_table:
                    await holder.execute(sql, [])
            rows = await read
        await db.close_async()
        await admin.close_async()
        return rows

    assert [r["name"] for r in asyncio.run(scenario())] == ["A"]


async def _write_blocked_by_a_row_lock(make_model: Any, session_admin: SessionAdmin, node: str,
                                       params: dict[str, Any], row_lock: str, *, in_transaction: bool = False) -> None:
    """Run ``node`` (inside ``db.transaction()`` when ``in_transaction``) while another transaction holds
    ``row_lock`` (a statement on the test's table), end the node's session while it waits, then roll
    that transaction back; the node's error, if any, is raised."""
    db = make_model.db
    table = db.models["Item"].table
    admin = make_model.new_db()
    wf = WorkflowBuilder()
    wf.add_node(node, "write", {**params, "db_instance": db})
    try:
        async with admin.connection() as holder:
            await holder.execute("BEGIN", [])
            try:
                await holder.execute(row_lock.format(table), [])
                write = asyncio.create_task(_run(db, wf, in_transaction))
                await _end(admin, session_admin, await _blocked_session(admin, session_admin, table))
            finally:
                await holder.execute("ROLLBACK", [])
            await write
    finally:
        await db.close_async()
        await admin.close_async()


async def _run(db: DataFlow, wf: WorkflowBuilder, in_transaction: bool) -> Any:
    if not in_transaction:
        return await AsyncLocalRuntime().execute_workflow_async(wf.build())
    async with db.transaction():
        return await AsyncLocalRuntime().execute_workflow_async(wf.build())


def test_a_lost_write_on_its_own_is_df510(make_model: Any, run_node: Any, session_admin: SessionAdmin) -> None:
    _item(make_model)
    run_node("ItemCountNode", {})
    # Another transaction has inserted id "x" and not committed: a create of "x" waits for it.
    insert = "INSERT INTO {} (id, name) VALUES ('x', 'theirs')"
    with raises_df("DF-510"):
        asyncio.run(_write_blocked_by_a_row_lock(make_model, session_admin, "ItemCreateNode",
                                                 {"id": "x", "name": "ours"}, insert))


def test_a_node_whose_own_transaction_lost_its_session_runs_again(make_model: Any, run_node: Any,
                                                                  session_admin: SessionAdmin) -> None:
    _item(make_model)
    run_node("ItemCreateNode", {"id": "x", "name": "before"})
    # Another transaction has updated row "x" and not committed: an update of "x" waits for it. The
    # update node's own transaction (a filter on a field that is not unique: match, then update) loses
    # its session, is rolled back by the server, and runs again. An update by id is one statement on its
    # own: losing it is DF-510, as for any single write.
    update = "UPDATE {} SET name = name WHERE id = 'x'"
    asyncio.run(_write_blocked_by_a_row_lock(make_model, session_admin, "ItemUpdateNode",
                                             {"filter": {"name": "before"}, "fields": {"name": "after"}}, update))
    assert run_node("ItemReadNode", {"id": "x"})["name"] == "after"


def test_a_lost_update_by_id_on_its_own_is_df510(make_model: Any, run_node: Any,
                                                 session_admin: SessionAdmin) -> None:
    _item(make_model)
    run_node("ItemCreateNode", {"id": "x", "name": "before"})
    update = "UPDATE {} SET name = name WHERE id = 'x'"
    with raises_df("DF-510"):
        asyncio.run(_write_blocked_by_a_row_lock(make_model, session_admin, "ItemUpdateNode",
                                                 {"filter": {"id": "x"}, "fields": {"name": "after"}}, update))


def test_a_lost_session_in_a_users_transaction_is_df511(make_model: Any, run_node: Any,
                                                        session_admin: SessionAdmin) -> None:
    _item(make_model)
    run_node("ItemCreateNode", {"id": "x", "name": "before"})
    update = "UPDATE {} SET name = name WHERE id = 'x'"
    with raises_df("DF-511"):
        asyncio.run(_write_blocked_by_a_row_lock(make_model, session_admin, "ItemUpdateNode",
                                                 {"filter": {"id": "x"}, "fields": {"name": "after"}}, update,
                                                 in_transaction=True))
    assert run_node("ItemReadNode", {"id": "x"})["name"] == "before"
