"""The whole conformance suite on PostgreSQL in portable mode (``postgres_compat="portable"``), plus what
that mode promises: no binary COPY, no ``xmax`` upsert, no advisory lock, sequences moved with setval."""

from typing import Any

import pytest
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.testing import raises_df, raw_fetch, server_url
from dataflow.testing.suite import *  # noqa: F403
from dataflow_postgresql.dialect import PGConnection


@pytest.fixture
def dataflow_url():
    return server_url("postgresql")


@pytest.fixture
def dataflow_options():
    return {"postgres_compat": "portable"}


def _statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL text the PostgreSQL connections run from now on; binary COPY is refused outright."""
    seen: list[str] = []
    fetch, execute = PGConnection.fetch, PGConnection.execute

    async def spy_fetch(self: Any, sql: str, params: Any) -> Any:
        seen.append(sql)
        return await fetch(self, sql, params)

    async def spy_execute(self: Any, sql: str, params: Any) -> Any:
        seen.append(sql)
        return await execute(self, sql, params)

    async def no_copy(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("binary COPY in portable mode")

    monkeypatch.setattr(PGConnection, "fetch", spy_fetch)
    monkeypatch.setattr(PGConnection, "execute", spy_execute)
    monkeypatch.setattr(PGConnection, "copy_rows", no_copy)
    return seen


def _run(*nodes: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    return LocalRuntime().execute(wf.build())[0]


def test_portable_writes_use_no_copy_unnest_or_xmax(db: DataFlow, make_model: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert db.dialect.portable

    @make_model
    class Gadget:
        id: int
        name: str

    seen = _statements(monkeypatch)
    rows = [{"name": f"g{i}"} for i in range(100)]
    assert _run(("GadgetBulkCreateNode", "b", {"data": rows}))["b"]["inserted"] == 100
    explicit = [{"id": 1000 + i, "name": f"e{i}"} for i in range(40)]
    _run(("GadgetBulkCreateNode", "e", {"data": explicit}))
    created = _run(("GadgetCreateNode", "c", {"name": "after explicit ids"}))["c"]
    assert created["id"] > 1039, "the identity sequence moved past the explicit ids"
    upserted = _run(("GadgetBulkUpsertNode", "u", {"data": [{"id": 1000, "name": "changed"},
                                                            {"id": 5000, "name": "new"}]}))["u"]
    assert (upserted["inserted"], upserted["updated"]) == (1, 1)
    writes = [sql.lower() for sql in seen if sql.lstrip().upper().startswith(("INSERT", "WITH", "SELECT SETVAL"))]
    assert any(sql.startswith("insert") and "values" in sql for sql in writes)
    text = " ".join(writes)
    assert "xmax" not in text and "unnest" not in text and "pg_sequence_last_value" not in text


def test_portable_migration_lock_is_a_lease_row(db: DataFlow) -> None:
    import asyncio

    async def hold() -> tuple[bool, int]:
        async with db.dialect.migration_lock("portable-test", 5.0):
            held = await db.dialect.lock_is_held("portable-test")
            async with db.dialect.connection() as conn:
                advisory = await conn.fetch("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
                                            "AND pid = ANY(SELECT pid FROM pg_stat_activity "
                                            "WHERE datname = current_database())", [])
        return held, int(advisory[0][0])

    held, _advisory = asyncio.run(hold())
    assert held
    assert raw_fetch(db, "SELECT COUNT(*) FROM dataflow_lock_leases WHERE name = 'portable-test'")[0][0] == 0


def test_auto_mode_asks_the_server(dataflow_url: str) -> None:
    import asyncio

    with DataFlow(dataflow_url, postgres_compat="auto") as db:

        async def probe() -> str:
            async with db.dialect.connection() as conn:
                return await db.dialect.probe_server(conn)

        assert asyncio.run(probe()) == "postgresql"
        assert not db.dialect.portable, "plain PostgreSQL keeps the native forms"


def test_unknown_compat_mode_is_df_401(dataflow_url: str) -> None:
    with raises_df("DF-401", match="postgres_compat"):
        DataFlow(dataflow_url, postgres_compat="cockroach")
