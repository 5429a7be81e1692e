"""The eleven nodes against PostgreSQL, through LocalRuntime and AsyncLocalRuntime (``execute``)."""

from __future__ import annotations

from dataflow.testing import raises_df, raw_rows
from dataflow.testing.fixtures import node_output as one
from dataflow.testing.helpers import create_then_read, person_model


def test_create_read_update_delete(make_model, execute):
    Person = person_model(make_model)
    results = execute(create_then_read("Person", {"id": "p1", "name": "Alice", "age": 30}))
    created = results["create"]
    assert created["id"] == "p1" and created["name"] == "Alice" and created["age"] == 30
    assert created["nickname"] is None
    assert created["created_at"].tzinfo is not None and created["updated_at"] == created["created_at"]
    assert results["read"] == {**created, "found": True}

    updated = one(execute, "PersonUpdateNode", {"filter": {"id": "p1"}, "fields": {"name": "Alicia"}})
    assert updated["updated"] is True and updated["name"] == "Alicia" and updated["age"] == 30
    assert updated["updated_at"] > created["updated_at"]
    assert one(execute, "PersonUpdateNode", {"filter": {"id": "nope"}, "fields": {"name": "x"}}) == {"updated": False}

    missing = one(execute, "PersonReadNode", {"id": "nope", "raise_on_not_found": False})
    assert missing == {"id": "nope", "found": False}
    with raises_df("DF-703"):
        one(execute, "PersonReadNode", {"id": "nope"})

    assert one(execute, "PersonDeleteNode", {"id": "p1"}) == {"id": "p1", "deleted": True}
    assert one(execute, "PersonDeleteNode", {"id": "p1"})["deleted"] is False
    assert raw_rows(make_model.db, Person) == []


def test_generated_int_ids(make_model, execute):
    @make_model
    class Note:
        text: str

    first = one(execute, "NoteCreateNode", {"text": "a"})
    second = one(execute, "NoteCreateNode", {"text": "b"})
    assert isinstance(first["id"], int) and second["id"] == first["id"] + 1
    assert one(execute, "NoteReadNode", {"id": second["id"]})["text"] == "b"


def test_list_and_count(make_model, execute):
    @make_model
    class Person:
        id: str
        name: str
        age: int = 0

    people = [("c", 30), ("a", 20), ("b", 30), ("d", 40)]
    data = [{"id": f"p{i}", "name": n, "age": a} for i, (n, a) in enumerate(people)]
    assert one(execute, "PersonBulkCreateNode", {"data": data})["inserted"] == 4

    listed = one(execute, "PersonListNode", {"order_by": ["-age", "name"], "limit": 3, "offset": 0,
                                             "include_total": True})
    assert [r["name"] for r in listed["records"]] == ["d", "b", "c"]
    assert listed["count"] == 3 and listed["limit"] == 3 and listed["offset"] == 0 and listed["total"] == 4
    page = one(execute, "PersonListNode", {"order_by": [{"name": 1}], "limit": 2, "offset": 2})
    assert [r["name"] for r in page["records"]] == ["c", "d"]
    tail = one(execute, "PersonListNode", {"order_by": ["name"], "limit": None, "offset": 3})
    assert [r["name"] for r in tail["records"]] == ["d"]
    assert one(execute, "PersonCountNode", {"filter": {"age": 30}}) == {"count": 2}
    assert one(execute, "PersonCountNode", {}) == {"count": 4}


def test_upsert_node(make_model, execute):
    @make_model
    class Account:
        email: str
        name: str
        visits: int = 0
        __dataflow__ = {"indexes": [{"name": "ix_acct_email_n", "fields": ["email"], "unique": True}]}

    params = {"where": {"email": "a@x.io"}, "create": {"name": "A", "visits": 1}, "update": {"visits": 2}}
    created = one(execute, "AccountUpsertNode", params)
    assert created["created"] is True and created["action"] == "created"
    assert created["record"]["visits"] == 1 and "__created__" not in created["record"]
    updated = one(execute, "AccountUpsertNode", params)
    assert updated["created"] is False and updated["action"] == "updated"
    assert updated["record"]["visits"] == 2 and updated["record"]["id"] == created["record"]["id"]
    # No update given: the existing row comes back unchanged, flagged as not created.
    same = one(execute, "AccountUpsertNode", {"where": {"email": "a@x.io"}, "create": {"name": "B"}})
    assert same["created"] is False and same["record"]["name"] == "A" and same["record"]["visits"] == 2


def test_upsert_on_non_unique_field_falls_back(make_model, execute):
    @make_model
    class Tag:
        label: str
        hits: int = 0

    first = one(execute, "TagUpsertNode", {"where": {"label": "x"}, "update": {"hits": 5}})
    again = one(execute, "TagUpsertNode", {"where": {"label": "x"}, "update": {"hits": 5}})
    assert first["created"] is True and again["created"] is False and again["record"]["hits"] == 5


def test_bulk_update_delete_upsert(make_model, execute):
    @make_model
    class Item:
        id: str
        name: str
        qty: int = 0

    one(execute, "ItemBulkCreateNode", {"data": [{"id": f"i{i}", "name": f"n{i}", "qty": i} for i in range(10)]})
    out = one(execute, "ItemBulkUpdateNode", {"filter": {"qty": {"$gte": 5}}, "fields": {"name": "big"}})
    assert out == {"processed": 5, "updated": 5, "success": True}
    out = one(execute, "ItemBulkUpdateNode", {"data": [{"id": "i0", "qty": 100}, {"id": "i1", "qty": 101}]})
    assert out["updated"] == 2
    assert one(execute, "ItemReadNode", {"id": "i1"})["qty"] == 101
    with raises_df("DF-106"):
        one(execute, "ItemBulkDeleteNode", {"filter": {}})
    assert one(execute, "ItemBulkDeleteNode", {"filter": {"name": "big"}})["deleted"] == 5
    out = one(execute, "ItemBulkUpsertNode", {"data": [{"id": "i0", "name": "zero", "qty": 0},
                                                       {"id": "new", "name": "fresh", "qty": 7}]})
    assert out == {"processed": 2, "inserted": 1, "updated": 1, "skipped": 0, "success": True}
    out = one(execute, "ItemBulkUpsertNode", {"data": [{"id": "i2", "name": "skip-me"}, {"id": "n2", "name": "n"}],
                                              "conflict_resolution": "skip"})
    assert out["inserted"] == 1 and out["skipped"] == 1
    assert one(execute, "ItemReadNode", {"id": "i2"})["name"] == "n2"
    assert one(execute, "ItemBulkDeleteNode", {"filter": {}, "confirmed": True})["deleted"] == 7
