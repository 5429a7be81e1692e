"""The eleven nodes on MariaDB through LocalRuntime and AsyncLocalRuntime, with RETURNING and without.

``returning`` runs each test twice: once on MariaDB's ``INSERT/DELETE … RETURNING`` and once on the
path MySQL takes (no RETURNING: rows re-selected by id, generated ids from LAST_INSERT_ID()).
"""

from __future__ import annotations

from dataflow.testing import raises_df, raw_rows
from dataflow.testing.fixtures import node_output as one
from dataflow.testing.helpers import create_then_read, person_model


def test_single_row_nodes(make_model, execute, returning):
    Person = person_model(make_model)
    results = execute(create_then_read("Person", {"id": "p1", "name": "Alice", "age": 30}))
    created = results["create"]
    assert created["id"] == "p1" and created["age"] == 30 and created["nickname"] is None
    assert created["created_at"].tzinfo is not None and created["updated_at"] == created["created_at"]
    assert results["read"] == {**created, "found": True}

    updated = one(execute, "PersonUpdateNode", {"filter": {"id": "p1"}, "fields": {"name": "Alicia"}})
    assert updated["updated"] is True and updated["name"] == "Alicia" and updated["age"] == 30
    assert updated["updated_at"] > created["updated_at"] and updated["created_at"] == created["created_at"]
    by_name = one(execute, "PersonUpdateNode", {"filter": {"name": "Alicia"}, "fields": {"age": 31}})
    assert by_name["age"] == 31 and by_name["id"] == "p1"
    assert one(execute, "PersonUpdateNode", {"filter": {"id": "nope"}, "fields": {"name": "x"}}) == {"updated": False}

    assert one(execute, "PersonReadNode", {"id": "nope", "raise_on_not_found": False}) == {"id": "nope", "found": False}
    with raises_df("DF-703"):
        one(execute, "PersonReadNode", {"id": "nope"})
    assert one(execute, "PersonDeleteNode", {"id": "p1"}) == {"id": "p1", "deleted": True}
    assert one(execute, "PersonDeleteNode", {"id": "p1"})["deleted"] is False
    assert raw_rows(make_model.db, Person) == []


def test_generated_int_ids(make_model, execute, returning):
    @make_model
    class Note:
        text: str

    first = one(execute, "NoteCreateNode", {"text": "a"})
    second = one(execute, "NoteCreateNode", {"text": "b"})
    assert isinstance(first["id"], int) and second["id"] > first["id"]
    assert first["text"] == "a" and second["text"] == "b"
    assert one(execute, "NoteReadNode", {"id": second["id"]})["text"] == "b"


def test_list_count_order_pagination(make_model, execute):
    @make_model
    class Item:
        name: str
        rank: int

    one(execute, "ItemBulkCreateNode", {"data": [{"name": f"n{i}", "rank": i % 3} for i in range(10)]})
    listed = one(execute, "ItemListNode", {"order_by": ["-rank", "name"], "limit": 4, "offset": 1,
                                           "include_total": True})
    assert [r["name"] for r in listed["records"]] == ["n5", "n8", "n1", "n4"]
    assert listed["count"] == 4 and listed["total"] == 10 and listed["limit"] == 4 and listed["offset"] == 1
    tail = one(execute, "ItemListNode", {"order_by": [{"name": 1}], "limit": None, "offset": 8})
    assert [r["name"] for r in tail["records"]] == ["n8", "n9"]
    assert one(execute, "ItemCountNode", {"filter": {"rank": {"$gte": 1}}}) == {"count": 6}


def test_bulk_create_return_ids(make_model, execute, returning):
    @make_model
    class Tag:
        label: str
        __dataflow__ = {"indexes": [{"name": "ux_label", "fields": ["label"], "unique": True}]}

    @make_model
    class Code:
        id: str
        label: str

    out = one(execute, "TagBulkCreateNode", {"data": [{"label": f"l{i}"} for i in range(5)], "return_ids": True})
    assert out["inserted"] == 5 and len(out["ids"]) == 5 and all(isinstance(i, int) for i in out["ids"])
    assert out["ids"] == sorted(out["ids"])
    stored = {r[0]: r[1] for r in raw_rows(make_model.db, Tag, "`id`, `label`")}
    assert [stored[i] for i in out["ids"]] == [f"l{i}" for i in range(5)]

    skip = one(execute, "TagBulkCreateNode", {"data": [{"label": "l0"}, {"label": "new"}, {"label": "l3"}],
                                              "conflict_resolution": "skip", "return_ids": True})
    assert skip["inserted"] == 1 and skip["skipped"] == 2 and len(skip["ids"]) == 1
    assert one(execute, "TagReadNode", {"id": skip["ids"][0]})["label"] == "new"

    codes = one(execute, "CodeBulkCreateNode", {"data": [{"id": "b", "label": "x"}, {"id": "a", "label": "y"}],
                                                "return_ids": True})
    assert codes["ids"] == ["b", "a"]
    again = one(execute, "CodeBulkCreateNode", {"data": [{"id": "a", "label": "z"}, {"id": "c", "label": "w"}],
                                                "conflict_resolution": "skip", "return_ids": True})
    assert again["ids"] == ["c"] and again["skipped"] == 1


def test_bulk_create_is_atomic(make_model, execute):
    @make_model
    class Code:
        id: str
        label: str

    one(execute, "CodeCreateNode", {"id": "dup", "label": "first"})
    rows = [{"id": f"r{i}", "label": "x"} for i in range(50)] + [{"id": "dup", "label": "again"}]
    with raises_df("DF-704"):
        one(execute, "CodeBulkCreateNode", {"data": rows})
    assert raw_rows(make_model.db, Code, "`id`, `label`") == [("dup", "first")]


def test_bulk_update_delete(make_model, execute):
    @make_model
    class Task:
        title: str
        done: bool = False

    one(execute, "TaskBulkCreateNode", {"data": [{"title": f"t{i}"} for i in range(6)]})
    out = one(execute, "TaskBulkUpdateNode", {"filter": {"title": {"$in": ["t0", "t1", "t2"]}},
                                              "fields": {"done": True}})
    assert out == {"processed": 3, "updated": 3, "success": True}
    # Rows already in that state still count as matched (MySQL's affected rows would say 0).
    again = one(execute, "TaskBulkUpdateNode", {"filter": {"done": True}, "fields": {"done": True}})
    assert again["updated"] == 3
    ids = [r["id"] for r in one(execute, "TaskListNode", {"order_by": ["id"]})["records"]]
    by_rows = one(execute, "TaskBulkUpdateNode", {"data": [{"id": ids[4], "title": "x"}, {"id": -1, "title": "y"}]})
    assert by_rows["updated"] == 1
    with raises_df("DF-106"):
        one(execute, "TaskBulkDeleteNode", {"filter": {}})
    assert one(execute, "TaskBulkDeleteNode", {"filter": {"done": False}})["deleted"] == 3
    assert one(execute, "TaskBulkDeleteNode", {"filter": {}, "confirmed": True})["deleted"] == 3


def test_upsert_on_unique_index(make_model, execute, returning):
    @make_model
    class Account:
        email: str
        name: str
        logins: int = 0
        __dataflow__ = {"indexes": [{"name": "ux_email", "fields": ["email"], "unique": True}]}

    first = one(execute, "AccountUpsertNode", {"where": {"email": "a@x"}, "create": {"name": "A"},
                                               "update": {"logins": 1}, "conflict_on": ["email"]})
    assert first["created"] is True and first["action"] == "created" and first["record"]["logins"] == 0
    second = one(execute, "AccountUpsertNode", {"where": {"email": "a@x"}, "create": {"name": "B"},
                                                "update": {"logins": 5}, "conflict_on": ["email"]})
    assert second["created"] is False and second["action"] == "updated"
    assert second["record"]["logins"] == 5 and second["record"]["name"] == "A"
    assert second["record"]["id"] == first["record"]["id"]
    # No update given: the existing row is returned unchanged and counted as found, not created.
    third = one(execute, "AccountUpsertNode", {"where": {"email": "a@x"}, "create": {"name": "C"}})
    assert third["created"] is False and third["record"]["logins"] == 5
    # A conflict_on that no unique index covers takes the select-then-write path.
    fourth = one(execute, "AccountUpsertNode", {"where": {"name": "A"}, "create": {"email": "q@x"},
                                                "update": {"logins": 6}})
    assert fourth["created"] is False and fourth["record"]["logins"] == 6


def test_bulk_upsert(make_model, execute):
    @make_model
    class Stock:
        id: str
        qty: int

    one(execute, "StockBulkCreateNode", {"data": [{"id": "a", "qty": 1}, {"id": "b", "qty": 2}]})
    out = one(execute, "StockBulkUpsertNode", {"data": [{"id": "a", "qty": 10}, {"id": "b", "qty": 2},
                                                        {"id": "c", "qty": 3}]})
    assert out == {"processed": 3, "inserted": 1, "updated": 2, "skipped": 0, "success": True}
    assert raw_rows(make_model.db, Stock, "`id`, `qty`") == [("a", 10), ("b", 2), ("c", 3)]
    skip = one(execute, "StockBulkUpsertNode", {"data": [{"id": "a", "qty": 99}, {"id": "d", "qty": 4}],
                                                "conflict_resolution": "skip"})
    assert skip["inserted"] == 1 and skip["skipped"] == 1
    assert raw_rows(make_model.db, Stock, "`id`, `qty`")[0] == ("a", 10)
