"""Schema isolation on PostgreSQL: each tenant's tables in its own schema, the same API as rows;
DF-410 on the other databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow
from dataflow.loop import run_sync
from dataflow.query import Count
from dataflow.testing import raises_df, raw_execute, raw_fetch, server_url, unique_table

pytestmark = pytest.mark.postgresql


@pytest.fixture
def schema_db() -> Iterator[DataFlow]:
    """A schema-isolated instance; the tenants' schemas and the shared tables are dropped afterwards."""
    db = DataFlow(server_url("postgresql"), multi_tenant=True, tenant_isolation="schema")
    tenants: list[str] = []
    db.state["test_tenants"] = tenants
    try:
        yield db
    finally:
        for tenant in tenants:
            db.tenant_context.drop_tenant(tenant)
        for spec in db.models.values():
            raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(spec.table)}")
        db.close()


def tenants_for(db: DataFlow, count: int) -> list[str]:
    made = [f"t{uuid.uuid4().hex[:12]}" for _ in range(count)]
    db.state["test_tenants"].extend(made)
    return made


def test_each_tenant_has_its_own_tables(schema_db: DataFlow, run_one: Any) -> None:
    table = unique_table("t_item")

    class Item:
        sku: str
        qty: int = 0
        __tablename__ = table
        __dataflow__ = {"indexes": [{"fields": ["sku"], "unique": True}]}

    schema_db.model(Item)
    assert "tenant_id" not in schema_db.models["Item"].field_map
    acme, globex = tenants_for(schema_db, 2)
    ctx = schema_db.tenant_context
    with ctx.switch(acme):
        first = run_one("ItemCreateNode", {"sku": "A1", "qty": 1})
        run_one("ItemBulkCreateNode", {"data": [{"sku": f"B{i}"} for i in range(3)]})
        run_one("ItemUpsertNode", {"where": {"sku": "A1"}, "update": {"qty": 5}, "create": {"qty": 0}})
    run_one("ItemCreateNode", {"sku": "A1", "qty": 9}, tenant_id=globex)  # the same natural key
    with ctx.switch(acme):
        assert run_one("ItemCountNode", {})["count"] == 4
        assert run_one("ItemReadNode", {"id": first["id"]})["qty"] == 5
    with ctx.switch(globex):
        assert [(r["sku"], r["qty"]) for r in run_one("ItemListNode", {})["records"]] == [("A1", 9)]
    stored = raw_fetch(schema_db, f'SELECT sku FROM "{ctx.schema_of(acme)}"."{table}" ORDER BY sku')
    assert [r[0] for r in stored] == ["A1", "B0", "B1", "B2"]
    assert raw_fetch(schema_db, f'SELECT count(*) FROM "{table}"') == [(0,)]  # the shared table stays empty
    with raises_df("DF-714"):
        run_one("ItemCountNode", {})
    with ctx.switch(acme), raises_df("DF-714", match="outside its nodes"):
        run_sync(schema_db.dialect.run(Count(schema_db.models["Item"])))  # would reach the shared table


def test_raw_sql_in_the_tenants_schema(schema_db: DataFlow, run_one: Any) -> None:
    table = unique_table("t_memo")

    class Memo:
        text: str
        __tablename__ = table

    schema_db.model(Memo)
    (acme,) = tenants_for(schema_db, 1)

    async def count() -> Any:
        async with schema_db.tenant_context.connection() as conn:
            return (await conn.fetch(f'SELECT count(*) FROM "{table}"', []))[0][0]

    with schema_db.tenant_context.switch(acme):
        run_one("MemoCreateNode", {"text": "hi"})
        assert run_sync(count()) == 1
    with raises_df("DF-714"):
        run_sync(count())


def test_schema_isolation_needs_postgresql(tmp_path: Path) -> None:
    with raises_df("DF-410"):
        DataFlow(f"sqlite:///{tmp_path / 'x.db'}", multi_tenant=True, tenant_isolation="schema")
    with DataFlow(f"sqlite:///{tmp_path / 'y.db'}", multi_tenant=True) as db, raises_df("DF-410"):
        db.tenant_context.schema_of("acme")
