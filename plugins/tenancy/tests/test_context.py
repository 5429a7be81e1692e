"""The current tenant: switch / aswitch, threads and asyncio tasks, run keywords, bad ids, and the
plugin switched off (DF-401, never an unfiltered database)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow, DataFlowError
from dataflow.testing import raises_df


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'context.db'}"


def test_switch_nests_and_restores(sqlite_url: str) -> None:
    with DataFlow(sqlite_url, multi_tenant=True) as db:
        ctx = db.tenant_context
        assert ctx.current() is None
        with ctx.switch("acme"):
            assert ctx.current() == "acme"
            with pytest.raises(RuntimeError), ctx.switch("globex"):
                assert ctx.current() == "globex"
                raise RuntimeError
            assert ctx.current() == "acme"
        assert ctx.current() is None


def test_threads_do_not_share_the_tenant(sqlite_url: str) -> None:
    with DataFlow(sqlite_url, multi_tenant=True) as db:
        ctx = db.tenant_context
        seen: dict[str, Any] = {}
        barrier = threading.Barrier(2)

        def worker(tenant: str) -> None:
            with ctx.switch(tenant):
                barrier.wait(timeout=30)  # both inside their block at once
                seen[tenant] = ctx.current()

        def bystander() -> None:
            seen["bystander"] = ctx.current()

        with ctx.switch("main"):
            threads = [threading.Thread(target=worker, args=(t,)) for t in ("acme", "globex")]
            threads.append(threading.Thread(target=bystander))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert ctx.current() == "main"
        assert seen == {"acme": "acme", "globex": "globex", "bystander": None}


def test_asyncio_tasks_keep_their_own_tenant(sqlite_url: str) -> None:
    with DataFlow(sqlite_url, multi_tenant=True) as db:
        ctx = db.tenant_context

        async def task(tenant: str, started: asyncio.Event, go: asyncio.Event) -> list[Any]:
            async with ctx.aswitch(tenant):
                started.set()
                await go.wait()
                inner = await asyncio.create_task(asyncio.sleep(0, result=ctx.current()))
                return [ctx.current(), inner]

        async def main() -> list[Any]:
            events = [(asyncio.Event(), asyncio.Event()) for _ in range(2)]
            tasks = [asyncio.create_task(task(t, s, g)) for t, (s, g) in zip(("acme", "globex"), events, strict=True)]
            for started, _ in events:
                await started.wait()
            assert ctx.current() is None  # the tasks' switches stay theirs
            for _, go in events:
                go.set()
            return [await t for t in tasks]

        assert asyncio.run(main()) == [["acme", "acme"], ["globex", "globex"]]


@pytest.mark.parametrize("bad", ["", "x" * 65, "a\x00b", 42, None])
def test_bad_tenant_ids_are_df102(sqlite_url: str, bad: Any) -> None:
    with DataFlow(sqlite_url, multi_tenant=True) as db, raises_df("DF-102"), db.tenant_context.switch(bad):
        pass


def test_schema_isolation_needs_schema_safe_ids() -> None:
    from dataflow_tenancy import TenantContext

    ctx = TenantContext("x", schema_safe=True)
    with raises_df("DF-102"), ctx.switch("acme-corp"):
        pass
    with ctx.switch("acme_corp"):
        assert ctx.current() == "acme_corp"


def test_multi_tenant_without_the_plugin_is_df401(sqlite_url: str) -> None:
    with raises_df("DF-401", match="dataflow-tenancy"):
        DataFlow(sqlite_url, multi_tenant=True, disable_plugins=["tenancy"])
    with DataFlow(sqlite_url, disable_plugins=["tenancy"]) as db:
        class Invoice:
            total: float
            __dataflow__ = {"multi_tenant": True}

        with raises_df("DF-401", match="dataflow-tenancy"):
            db.model(Invoice)
        assert "Invoice" not in db.models


def test_the_plugin_disabled_leaves_everything_else_working(sqlite_url: str) -> None:
    from dataflow import LocalRuntime, WorkflowBuilder

    with DataFlow(sqlite_url, disable_plugins=["tenancy"]) as db:
        @db.model
        class Note:
            text: str

        assert "tenant_id" not in db.models["Note"].field_map and not db.model_scopes
        with pytest.raises(AttributeError, match="tenant_context"):
            db.tenant_context  # noqa: B018
        wf = WorkflowBuilder()
        wf.add_node("NoteCreateNode", "c", {"text": "hi"})
        wf.add_node("NoteCountNode", "n", {})
        wf.add_connection("c", "id", "n", "input_data")
        results, _ = LocalRuntime().execute(wf.build())
        assert results["n"]["count"] == 1


def test_bad_options_are_df401(sqlite_url: str) -> None:
    for options in ({"tenant_isolation": "table"}, {"tenant_field": "org id"}, {"tenant_isolation": None}):
        with raises_df("DF-401"):
            DataFlow(sqlite_url, multi_tenant=True, **options)
    with DataFlow(sqlite_url, multi_tenant=True, tenant_field="org_id") as db:
        class Doc:
            title: str

        db.model(Doc)
        assert "org_id" in db.models["Doc"].field_map

        class Clash:
            org_id: str

        with raises_df("DF-401"):
            db.model(Clash)


def test_an_undeclared_run_keyword_is_df102(sqlite_url: str) -> None:
    from dataflow import LocalRuntime, WorkflowBuilder

    with DataFlow(sqlite_url, multi_tenant=True) as db:
        @db.model
        class Note:
            text: str

        wf = WorkflowBuilder()
        wf.add_node("NoteCountNode", "n", {})
        with pytest.raises(DataFlowError) as info:
            LocalRuntime().execute(wf.build(), tenantid="acme")
        assert info.value.code == "DF-102" and "tenant_id" in info.value.message
        with raises_df("DF-102"):
            LocalRuntime().execute(wf.build(), tenant_id="")  # a run's tenant is checked like any other
