"""Row isolation on every database: the tenant column, every node type scoped, refusals DF-coded.

Each test declares a tenant model (``multi_tenant=True`` on the instance) and acts for two tenants
in turn; raw SQL then checks what really reached the table.
"""

from __future__ import annotations

from typing import Any

import pytest
from dataflow import DataFlow
from dataflow.testing import raises_df, raw_fetch, table_columns

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def customer_model(make_model: object) -> str:
    class Customer:
        email: str
        name: str
        age: int = 0
        __dataflow__ = {"indexes": [{"fields": ["email"], "unique": True}]}

    make_model(Customer)  # type: ignore[operator]
    return "Customer"


def rows_of(db: DataFlow, make_model: object) -> list[tuple[object, ...]]:
    table = db.models["Customer"].table
    q = db.dialect.quote
    return raw_fetch(db, f"SELECT {q('tenant_id')}, {q('email')}, {q('name')} FROM {q(table)} "
                         f"ORDER BY {q('tenant_id')}, {q('email')}")


def test_tenant_column_is_added_indexed_and_in_unique_keys(tenant_db: DataFlow, make_model: Any, run_one: Any) -> None:
    customer_model(make_model)
    spec = tenant_db.models["Customer"]
    assert "tenant_id" in spec.field_map and not spec.field_map["tenant_id"].required
    assert all("tenant_id" in ix.fields for ix in spec.indexes if ix.unique)
    assert any(ix.fields == ("tenant_id", "id") for ix in spec.indexes)
    with tenant_db.tenant_context.switch("acme"):
        run_one("CustomerCountNode", {})
    assert "tenant_id" in (table_columns(tenant_db, spec.table) or set())


def test_every_node_reads_and_writes_only_its_tenant(tenant_db: DataFlow, make_model: Any, run_one: Any) -> None:
    customer_model(make_model)
    ctx = tenant_db.tenant_context
    ids = {}
    for tenant in ("acme", "globex"):
        with ctx.switch(tenant):
            # The same natural key (email) in both tenants.
            ids[tenant] = run_one("CustomerCreateNode", {"email": "a@x.io", "name": f"A-{tenant}"})["id"]
            run_one("CustomerBulkCreateNode", {"data": [{"email": f"{i}@x.io", "name": f"{tenant}{i}"}
                                                        for i in range(3)]})
    with ctx.switch("acme"):
        assert run_one("CustomerCountNode", {})["count"] == 4
        listed = run_one("CustomerListNode", {"limit": 100})["records"]
        assert {r["tenant_id"] for r in listed} == {"acme"}
        assert run_one("CustomerReadNode", {"id": ids["acme"]})["name"] == "A-acme"
        # Another tenant's row is not found by id, not updated, not deleted.
        assert run_one("CustomerReadNode", {"id": ids["globex"], "raise_on_not_found": False})["found"] is False
        assert run_one("CustomerUpdateNode", {"id": ids["globex"], "fields": {"name": "hacked"}})["updated"] is False
        assert run_one("CustomerDeleteNode", {"id": ids["globex"]})["deleted"] is False
        assert run_one("CustomerBulkUpdateNode", {"filter": {}, "fields": {"age": 5}, "confirmed": True})[
            "updated"] == 4
        assert run_one("CustomerBulkDeleteNode", {"ids": [ids["globex"]]})["deleted"] == 0
        out = run_one("CustomerUpsertNode", {"where": {"email": "a@x.io"}, "update": {"name": "A2"},
                                             "create": {"name": "new"}})
        assert out["action"] == "updated" and out["record"]["tenant_id"] == "acme"
        out = run_one("CustomerBulkUpsertNode", {"data": [{"email": "0@x.io", "name": "zero"},
                                                          {"email": "9@x.io", "name": "nine"}],
                                                 "conflict_on": ["email"]})
        assert (out["inserted"], out["updated"]) == (1, 1)
        groups = run_one("CustomerAggregateNode", {"aggregates": {"n": {"$count": "*"}}})["groups"]
        assert groups == [{"n": 5}]  # acme's rows only (aggregates are filtered like every read)
    with ctx.switch("globex"):
        listed = run_one("CustomerListNode", {"order_by": ["email"]})["records"]
        assert [(r["email"], r["name"], r["age"]) for r in listed] == [
            ("0@x.io", "globex0", 0), ("1@x.io", "globex1", 0), ("2@x.io", "globex2", 0), ("a@x.io", "A-globex", 0)]
    stored = rows_of(tenant_db, make_model)
    assert ("acme", "a@x.io", "A2") in stored and ("globex", "a@x.io", "A-globex") in stored
    assert ("acme", "9@x.io", "nine") in stored and ("acme", "0@x.io", "zero") in stored
    assert len(stored) == 9


def test_no_current_tenant_is_df714(tenant_db: DataFlow, make_model: Any, run_one: Any) -> None:
    customer_model(make_model)
    for node, params in (("CustomerListNode", {}), ("CustomerCountNode", {}), ("CustomerReadNode", {"id": 1}),
                         ("CustomerCreateNode", {"email": "e", "name": "n"}),
                         ("CustomerBulkDeleteNode", {"filter": {}, "confirmed": True}),
                         ("CustomerUpsertNode", {"where": {"email": "e"}, "create": {"name": "n"}}),
                         ("CustomerBulkUpsertNode", {"data": [{"email": "e", "name": "n"}], "conflict_on": "email"})):
        with raises_df("DF-714"):
            run_one(node, params)


def test_another_tenants_id_is_refused(tenant_db: DataFlow, make_model: Any, run_one: Any) -> None:
    customer_model(make_model)
    with tenant_db.tenant_context.switch("acme"):
        created = run_one("CustomerCreateNode", {"email": "a@x.io", "name": "A", "tenant_id": "acme"})
        assert created["tenant_id"] == "acme"
        for node, params in (
            ("CustomerCreateNode", {"email": "b@x.io", "name": "B", "tenant_id": "globex"}),
            ("CustomerBulkCreateNode", {"data": [{"email": "c@x.io", "name": "C", "tenant_id": "acme"},
                                                 {"email": "d@x.io", "name": "D", "tenant_id": "globex"}]}),
            ("CustomerUpdateNode", {"id": created["id"], "fields": {"tenant_id": "globex"}}),
            ("CustomerBulkUpdateNode", {"filter": {}, "fields": {"tenant_id": "globex"}, "confirmed": True}),
            ("CustomerListNode", {"filter": {"tenant_id": "globex"}}),
            ("CustomerUpsertNode", {"where": {"email": "a@x.io", "tenant_id": "globex"}, "create": {"name": "x"}}),
            ("CustomerUpsertNode", {"where": {"email": "z@x.io"}, "create": {"name": "x", "tenant_id": "globex"}}),
            ("CustomerBulkUpsertNode", {"data": [{"email": "a@x.io", "name": "x", "tenant_id": "globex"}],
                                        "conflict_on": ["email"]}),
        ):
            with raises_df("DF-715"):
                run_one(node, params)
    assert rows_of(tenant_db, make_model) == [("acme", "a@x.io", "A")]


def test_run_keyword_names_the_tenant(tenant_db: DataFlow, make_model: Any, run_one: Any) -> None:
    customer_model(make_model)
    run_one("CustomerCreateNode", {"email": "a@x.io", "name": "A"}, tenant_id="acme")
    with tenant_db.tenant_context.switch("globex"):
        assert run_one("CustomerCountNode", {})["count"] == 0
        assert run_one("CustomerCountNode", {}, tenant_id="acme")["count"] == 1  # the run's own tenant wins
    assert rows_of(tenant_db, make_model) == [("acme", "a@x.io", "A")]


def test_a_model_may_opt_out_or_in(dataflow_url: str, make_model: Any, run_one: Any) -> None:
    db = make_model.new_db()  # type: ignore[attr-defined]  # no multi_tenant on the instance
    if True:
        class Plan:
            name: str
            __dataflow__ = {"multi_tenant": True}

        class Country:
            name: str

        make_model(Plan, db=db)  # type: ignore[operator]
        make_model(Country, db=db)  # type: ignore[operator]
        assert "tenant_id" in db.models["Plan"].field_map
        assert "tenant_id" not in db.models["Country"].field_map
        run_one("CountryCreateNode", {"name": "FR"})  # no tenant needed
        with raises_df("DF-714"):
            run_one("PlanCreateNode", {"name": "gold"})


def test_an_id_held_by_another_tenant_is_a_duplicate_never_an_update(tenant_db: DataFlow, make_model: Any,
                                                                     run_one: Any) -> None:
    class Account:
        id: str
        name: str

    make_model(Account)
    run_one("AccountCreateNode", {"id": "u1", "name": "acme's"}, tenant_id="acme")
    with tenant_db.tenant_context.switch("globex"):
        for node, params in (
            ("AccountCreateNode", {"id": "u1", "name": "mine"}),
            ("AccountUpsertNode", {"where": {"id": "u1"}, "update": {"name": "mine"}, "create": {"name": "mine"}}),
            ("AccountBulkUpsertNode", {"data": [{"id": "u1", "name": "mine"}]}),
        ):
            with raises_df("DF-704"):
                run_one(node, params)
        out = run_one("AccountBulkCreateNode", {"data": [{"id": "u1", "name": "mine"}, {"id": "u2", "name": "two"}],
                                                "conflict_resolution": "skip"})
        assert (out["inserted"], out["skipped"]) == (1, 1)
    table = tenant_db.models["Account"].table
    q = tenant_db.dialect.quote
    stored = raw_fetch(tenant_db, f"SELECT {q('id')}, {q('tenant_id')}, {q('name')} FROM {q(table)} ORDER BY {q('id')}")
    assert [tuple(r) for r in stored] == [("u1", "acme", "acme's"), ("u2", "globex", "two")]
