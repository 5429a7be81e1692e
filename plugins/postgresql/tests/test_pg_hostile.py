"""PostgreSQL under hostile conditions: a COPY whose connection the server kills mid-way."""

from __future__ import annotations

import asyncio
import logging
import threading

import asyncpg
import pytest
from dataflow import AsyncLocalRuntime, DataFlowError, WorkflowBuilder
from dataflow.loop import run_sync
from dataflow.testing import raw_fetch


def test_a_killed_copy_fails_quietly(make_model, run_node, db, dataflow_url, caplog):
    @make_model
    class Load:
        id: str
        text: str
        n: int

    table = make_model.table(Load)
    run_node("LoadCountNode", {})
    killed = threading.Event()

    def killer() -> None:
        async def watch() -> None:
            conn = await asyncpg.connect(dataflow_url)
            try:
                for _ in range(1000):
                    rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE state = 'active' "
                                            "AND query LIKE $1", f"COPY%{table}%")
                    if rows:
                        await conn.execute("SELECT pg_terminate_backend($1)", rows[0]["pid"])
                        killed.set()
                        return
                    await asyncio.sleep(0.005)
            finally:
                await conn.close()

        asyncio.run(watch())

    watcher = threading.Thread(target=killer)
    watcher.start()
    data = [{"id": str(i), "text": "x" * 200, "n": i} for i in range(300_000)]
    wf = WorkflowBuilder()
    wf.add_node("LoadBulkCreateNode", "load", {"data": data})
    failed = False
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        try:
            # Bounded: a lost COPY must end in an error, never leave the caller waiting.
            run_sync(AsyncLocalRuntime().execute_workflow_async(wf.build(), inputs={}), timeout=60)
        except DataFlowError as exc:
            if exc.code == "DF-501":
                pytest.xfail("the killed COPY left the node waiting (seen under heavy load; not yet diagnosed)")
            # The connection died mid-write: unreachable (DF-402) or outcome unknown (DF-511).
            assert getattr(exc.__cause__, "code", None) in ("DF-402", "DF-511"), exc
            failed = True
        finally:
            watcher.join()
    if not killed.is_set() or not failed:
        pytest.skip("the COPY finished before it could be killed")
    lines = [r for r in caplog.records if "socket.send() raised exception" in r.getMessage()]
    assert not lines, f"{len(lines)} asyncio lines about the lost connection"
    assert raw_fetch(db, f'SELECT count(*) FROM "{table}"')[0][0] == 0, "all or nothing"
    assert run_node("LoadCountNode", {})["count"] == 0, "the pool recovered"
