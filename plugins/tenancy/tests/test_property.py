"""Property: whatever tenants do, in whatever interleaving, no read returns and no write touches
another tenant's row (SQLite, PostgreSQL, MariaDB).

Hypothesis draws a sequence of steps; each step is one or two operations (any generated node, with
values that clash on the natural key or name another tenant's ids) run concurrently, each in its own
task under its own tenant. After each step, raw SQL checks that the rows of every tenant that did
not act are exactly as before, that every row returned belongs to the tenant that asked, and that a
refused operation changed nothing at all. ``HYPOTHESIS_PROFILE=thorough`` runs four times as many.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, DataFlowError, WorkflowBuilder
from dataflow.errors import WorkflowExecutionError
from dataflow.loop import run_sync
from dataflow.testing import raw_execute, raw_fetch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TENANTS = ("t1", "t2", "t3")
CODES = ("a", "b", "c")
ALLOWED_REFUSALS = {"DF-704", "DF-715"}
"""A duplicate natural key within a tenant, another tenant's id given: refused, nothing changed."""

operation = st.fixed_dictionaries({
    "tenant": st.sampled_from(TENANTS),
    "op": st.sampled_from(["create", "bulk_create", "read", "update", "delete", "list", "count", "bulk_update",
                           "bulk_delete", "upsert", "bulk_upsert", "foreign_create", "foreign_filter"]),
    "code": st.sampled_from(CODES),
    "pick": st.integers(0, 50),
    "value": st.integers(0, 9),
})
steps = st.lists(st.lists(operation, min_size=1, max_size=2), min_size=1, max_size=6)


def _examples(thorough: int) -> int:
    return max(3, thorough * settings().max_examples // 160)


def node_for(op: dict[str, Any], ids: list[Any]) -> tuple[str, dict[str, Any]]:
    """The node type and parameters of one drawn operation (ids: every id ever created, any tenant's)."""
    some_id = ids[op["pick"] % len(ids)] if ids else 1
    code, value, tenant = op["code"], op["value"], op["tenant"]
    other = TENANTS[(TENANTS.index(tenant) + 1) % len(TENANTS)]
    return {
        "create": ("ThingCreateNode", {"code": code, "value": value}),
        "bulk_create": ("ThingBulkCreateNode", {"data": [{"code": f"{code}{i}", "value": value} for i in range(2)],
                                                "conflict_resolution": "skip"}),
        "read": ("ThingReadNode", {"id": some_id, "raise_on_not_found": False}),
        "update": ("ThingUpdateNode", {"id": some_id, "fields": {"value": value}}),
        "delete": ("ThingDeleteNode", {"id": some_id}),
        "list": ("ThingListNode", {"filter": {"value": {"$gte": 0}}, "limit": 100}),
        "count": ("ThingCountNode", {}),
        "bulk_update": ("ThingBulkUpdateNode", {"filter": {"code": code}, "fields": {"value": value}}),
        "bulk_delete": ("ThingBulkDeleteNode", {"ids": ids[op["pick"] % 7::7] or [some_id]}),
        "upsert": ("ThingUpsertNode", {"where": {"code": code}, "update": {"value": value},
                                       "create": {"value": value}}),
        "bulk_upsert": ("ThingBulkUpsertNode", {"data": [{"code": code, "value": value}], "conflict_on": ["code"]}),
        "foreign_create": ("ThingCreateNode", {"code": code, "value": value, "tenant_id": other}),
        "foreign_filter": ("ThingListNode", {"filter": {"tenant_id": other}}),
    }[op["op"]]


def returned_rows(output: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row a node's output holds."""
    rows = list(output.get("records") or [])
    if isinstance(output.get("record"), dict):
        rows.append(output["record"])
    if "tenant_id" in output:
        rows.append(output)
    return rows


class World:
    """One database's table and the checks made after each step."""

    def __init__(self, db: DataFlow) -> None:
        self.db = db
        self.table = db.models["Thing"].table
        self.ids: list[Any] = []
        self.runtime = AsyncLocalRuntime()

    def snapshot(self) -> dict[str, set[tuple[Any, ...]]]:
        q = self.db.dialect.quote
        rows = raw_fetch(self.db, f"SELECT {q('tenant_id')}, {q('id')}, {q('code')}, {q('value')} FROM {q(self.table)}")
        by_tenant: dict[str, set[tuple[Any, ...]]] = {t: set() for t in TENANTS}
        for row in rows:
            by_tenant[row[0]].add(tuple(row))
        return by_tenant

    async def act(self, op: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any] | None, str | None]:
        node, params = node_for(op, self.ids)
        wf = WorkflowBuilder()
        wf.add_node(node, "n", params)
        async with self.db.tenant_context.aswitch(op["tenant"]):
            await asyncio.sleep(0)  # let the other task of the step interleave
            try:
                results, _ = await self.runtime.execute_workflow_async(wf.build())
            except WorkflowExecutionError as exc:
                cause = exc.__cause__
                code = cause.code if isinstance(cause, DataFlowError) else repr(cause)
                return op, node, None, code
        return op, node, dict(results["n"]), None

    def step(self, ops: list[dict[str, Any]]) -> None:
        before = self.snapshot()

        async def together() -> list[Any]:
            return await asyncio.gather(*(self.act(op) for op in ops))

        outcomes = run_sync(together())
        after = self.snapshot()
        acting = {op["tenant"] for op in ops}
        for tenant in TENANTS:
            if tenant not in acting:
                assert after[tenant] == before[tenant], f"{ops} touched tenant {tenant}'s rows"
        for op, node, output, refused in outcomes:
            if refused is not None:
                assert refused in ALLOWED_REFUSALS, f"{node} for {op['tenant']}: unexpected {refused}"
                if len(ops) == 1:
                    assert after == before, f"the refused {node} changed rows"
                continue
            if op["op"].startswith("foreign"):
                raise AssertionError(f"{node} naming another tenant was not refused: {output}")
            assert output is not None
            for row in returned_rows(output):
                assert row["tenant_id"] == op["tenant"], f"{node} for {op['tenant']} returned {row}"
            if op["op"] == "count" and len(ops) == 1:
                assert output["count"] == len(after[op["tenant"]])
            if op["op"] == "list" and len(ops) == 1:
                assert {r["id"] for r in output["records"]} == {row[1] for row in after[op["tenant"]]}
            if "id" in output and op["op"] == "create":
                self.ids.append(output["id"])
            self.ids.extend(output.get("ids") or [])
        for tenant in TENANTS:  # every id created is remembered, whoever made it
            self.ids.extend(row[1] for row in after[tenant] if row[1] not in self.ids)


@pytest.fixture
def world(tenant_db: DataFlow, make_model: Any) -> World:
    class Thing:
        code: str
        value: int = 0
        __dataflow__ = {"indexes": [{"fields": ["code"], "unique": True}]}

    make_model(Thing)
    run_sync(tenant_db.ensure_ready(tenant_db.models["Thing"]))
    return World(tenant_db)


@settings(max_examples=_examples(120), deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=steps)
def test_no_tenant_ever_sees_or_touches_another_tenants_rows(world: World, plan: list[list[dict[str, Any]]]) -> None:
    raw_execute(world.db, f"DELETE FROM {world.db.dialect.quote(world.table)}")
    world.ids.clear()
    for ops in plan:
        world.step(ops)
