"""Conformance: the eleven generated nodes, with exactly the parameters and outputs of API.md."""


from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import (
    PEOPLE,
    assert_utc,
    list_names,
    names,
    person_model,
    seed,
    seed_people,
    strip,
    tests_in,
)

# ---- create / read -------------------------------------------------------------------------------


def test_create_returns_the_stored_row(make_model, run_node):
    person = person_model(make_model)
    out = run_node("PersonCreateNode", {"name": "Alice", "age": 30})
    assert set(out) == {"id", "name", "age", "email", "city", "created_at", "updated_at"}
    assert isinstance(out["id"], int) and not isinstance(out["id"], bool)
    assert strip(out, "id") == {"name": "Alice", "age": 30, "email": None, "city": None}
    assert_utc(out["created_at"])
    assert out["created_at"] == out["updated_at"]
    read = run_node("PersonReadNode", {"id": out["id"]})
    assert read == {**out, "found": True}
    assert len(raw_rows(make_model.db, person)) == 1


def test_create_generates_distinct_int_ids(make_model, run_node):
    person_model(make_model)
    ids = [run_node("PersonCreateNode", {"name": f"p{i}"})["id"] for i in range(3)]
    assert len(set(ids)) == 3 and all(isinstance(i, int) for i in ids)


def test_create_with_caller_supplied_str_id(make_model, run_node):
    @make_model
    class Account:
        id: str
        owner: str

    out = run_node("AccountCreateNode", {"id": "acc-1", "owner": "Alice"})
    assert strip(out) == {"id": "acc-1", "owner": "Alice"}
    assert run_node("AccountReadNode", {"id": "acc-1"})["owner"] == "Alice"


def test_create_fills_defaults(make_model, run_node):
    @make_model
    class Setting:
        key_name: str
        level: int = 3
        note: str | None = None
        tags: list = []
        prefs: dict = {}

    out = run_node("SettingCreateNode", {"key_name": "k"})
    assert strip(out, "id") == {"key_name": "k", "level": 3, "note": None, "tags": [], "prefs": {}}


def test_read_by_unique_filter(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    out = run_node("PersonReadNode", {"filter": {"email": "bob@example.com"}})
    assert out["found"] is True and out["id"] == ids["Bob"] and out["name"] == "Bob"


def test_read_not_found_raises_df703(make_model, run_node):
    person_model(make_model)
    with raises_df("DF-703"):
        run_node("PersonReadNode", {"id": 12345})


def test_read_not_found_without_raising(make_model, run_node):
    person_model(make_model)
    out = run_node("PersonReadNode", {"id": 12345, "raise_on_not_found": False})
    assert out == {"id": 12345, "found": False}


# ---- update / delete -----------------------------------------------------------------------------


def test_update_by_filter_with_fields(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    before = run_node("PersonReadNode", {"id": ids["Alice"]})
    out = run_node("PersonUpdateNode", {"filter": {"id": ids["Alice"]}, "fields": {"age": 31, "city": None}})
    assert out["updated"] is True
    assert strip(out, "updated") == {**strip(before, "found"), "age": 31, "city": None}
    assert out["created_at"] == before["created_at"]
    assert out["updated_at"] >= before["updated_at"]
    assert_utc(out["updated_at"])
    after = run_node("PersonReadNode", {"id": ids["Alice"]})
    assert (after["age"], after["city"]) == (31, None)
    assert run_node("PersonReadNode", {"id": ids["Bob"]})["age"] == 25  # other rows untouched


def test_update_by_other_unique_field(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    out = run_node("PersonUpdateNode", {"filter": {"email": "dave@example.org"}, "fields": {"name": "David"}})
    assert out["updated"] is True and out["id"] == ids["Dave"] and out["name"] == "David"


def test_update_no_match(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    out = run_node("PersonUpdateNode", {"filter": {"id": 999999}, "fields": {"age": 1}})
    assert out == {"updated": False}
    assert sorted(r[0] for r in raw_rows(make_model.db, person, "age")) == sorted(p["age"] for p in PEOPLE)


def test_update_by_id_with_another_condition_that_does_not_hold(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    out = run_node("PersonUpdateNode", {"filter": {"id": ids["Alice"], "age": 99}, "fields": {"age": 1}})
    assert out == {"updated": False}
    out = run_node("PersonUpdateNode", {"filter": {"id": ids["Alice"], "age": 30}, "fields": {"age": 31}})
    assert out["updated"] is True and out["age"] == 31


def test_update_of_the_unique_field_it_is_found_by_returns_the_new_row(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    out = run_node("PersonUpdateNode", {"filter": {"email": "bob@example.com"}, "fields": {"email": "rob@example.com"}})
    assert out["updated"] is True and out["id"] == ids["Bob"] and out["email"] == "rob@example.com"
    assert run_node("PersonReadNode", {"id": ids["Bob"]})["email"] == "rob@example.com"


def test_update_by_a_filter_matching_several_rows_is_df708_and_changes_nothing(make_model, run_node):
    person, _ids = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    with raises_df("DF-708"):
        run_node("PersonUpdateNode", {"filter": {"age": 25}, "fields": {"city": "Rome"}})
    assert raw_rows(make_model.db, person) == before
    out = run_node("PersonUpdateNode", {"filter": {"age": 40}, "fields": {"city": "Rome"}})
    assert out["updated"] is True and out["name"] == "Eve" and out["city"] == "Rome"


def test_update_by_id_clashing_on_a_unique_field_is_df704_and_changes_nothing(make_model, run_node):
    person, ids = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    with raises_df("DF-704"):
        run_node("PersonUpdateNode", {"id": ids["Bob"], "fields": {"email": "alice@example.com", "age": 1}})
    assert raw_rows(make_model.db, person) == before


def test_delete_by_id(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    out = run_node("PersonDeleteNode", {"id": ids["Carol"]})
    assert out == {"id": ids["Carol"], "deleted": True}
    assert run_node("PersonCountNode", {})["count"] == len(PEOPLE) - 1
    assert run_node("PersonReadNode", {"id": ids["Carol"], "raise_on_not_found": False})["found"] is False


def test_delete_by_filter(make_model, run_node):
    person, ids = seed_people(make_model, run_node)
    out = run_node("PersonDeleteNode", {"filter": {"name": "Eve"}})
    assert out == {"id": ids["Eve"], "deleted": True}
    assert "Eve" not in list_names(run_node, person, {})


def test_delete_no_match(make_model, run_node):
    _person, _ = seed_people(make_model, run_node)
    out = run_node("PersonDeleteNode", {"id": 999999})
    assert out["deleted"] is False
    assert out.get("id", 999999) == 999999
    assert run_node("PersonDeleteNode", {"filter": {"name": "Nobody"}})["deleted"] is False
    assert run_node("PersonCountNode", {})["count"] == len(PEOPLE)


# ---- list / count --------------------------------------------------------------------------------


def test_list_with_filter(make_model, run_node):
    _person, _ = seed_people(make_model, run_node)
    out = run_node("PersonListNode", {"filter": {"age": 25}, "order_by": ["name"]})
    assert names(out["records"]) == ["Bob", "Dave"]
    assert out["count"] == 2 and out["limit"] == 100 and out["offset"] == 0
    assert "total" not in out
    assert set(out) == {"records", "count", "limit", "offset"}


def test_list_records_are_full_rows(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    out = run_node("PersonListNode", {"filter": {"name": "Carol"}})
    (record,) = out["records"]
    assert strip(record) == {"id": ids["Carol"], **PEOPLE[2]}
    assert_utc(record["created_at"])


def test_list_order_by_strings(make_model, run_node):
    _person, _ = seed_people(make_model, run_node)
    out = run_node("PersonListNode", {"order_by": ["-age", "name"]})
    assert names(out["records"]) == ["Eve", "Carol", "Alice", "Bob", "Dave"]
    out = run_node("PersonListNode", {"order_by": ["age", "-name"]})
    assert names(out["records"]) == ["Dave", "Bob", "Alice", "Carol", "Eve"]


def test_list_order_by_dicts(make_model, run_node):
    _person, _ = seed_people(make_model, run_node)
    out = run_node("PersonListNode", {"filter": {"age": {"$ne": 25}}, "order_by": [{"age": -1}]})
    assert names(out["records"]) == ["Eve", "Carol", "Alice"]
    out = run_node("PersonListNode", {"order_by": [{"age": 1}, {"name": -1}]})
    assert names(out["records"]) == ["Dave", "Bob", "Alice", "Carol", "Eve"]


def test_list_limit_default_is_100(make_model, run_node):
    person = person_model(make_model)
    seed(run_node, person, [{"name": f"n{i:03d}", "age": i} for i in range(105)])
    out = run_node("PersonListNode", {})
    assert out["count"] == 100 and len(out["records"]) == 100 and out["limit"] == 100
    out = run_node("PersonListNode", {"limit": 1000, "include_total": True})
    assert out["count"] == 105 and out["total"] == 105


def test_list_limit_offset_and_total(make_model, run_node):
    _person, _ = seed_people(make_model, run_node)
    out = run_node("PersonListNode", {"order_by": ["name"], "limit": 2, "offset": 1, "include_total": True})
    assert names(out["records"]) == ["Bob", "Carol"]
    assert (out["count"], out["limit"], out["offset"], out["total"]) == (2, 2, 1, 5)
    out = run_node("PersonListNode", {"order_by": ["name"], "limit": 2, "offset": 4})
    assert names(out["records"]) == ["Eve"]
    out = run_node("PersonListNode", {"order_by": ["name"], "offset": 3})
    assert names(out["records"]) == ["Dave", "Eve"]
    out = run_node("PersonListNode", {"filter": {"age": 25}, "limit": 1, "include_total": True})
    assert out["count"] == 1 and out["total"] == 2


def test_list_empty_table(make_model, run_node):
    person_model(make_model)
    out = run_node("PersonListNode", {"include_total": True})
    assert out == {"records": [], "count": 0, "limit": 100, "offset": 0, "total": 0}


def test_count(make_model, run_node):
    _person, _ = seed_people(make_model, run_node)
    assert run_node("PersonCountNode", {}) == {"count": 5}
    assert run_node("PersonCountNode", {"filter": {"age": {"$gte": 30}}}) == {"count": 3}
    assert run_node("PersonCountNode", {"filter": {"name": "Nobody"}}) == {"count": 0}


# ---- upsert --------------------------------------------------------------------------------------


def test_upsert_creates_then_updates_on_unique_index(make_model, run_node):
    person_model(make_model)
    params = {"where": {"email": "zoe@example.com"}, "create": {"name": "Zoe", "age": 20},
              "update": {"age": 21}}
    first = run_node("PersonUpsertNode", params)
    assert first["created"] is True and first["action"] == "created"
    assert set(first) == {"created", "action", "record"}
    zoe = {"name": "Zoe", "age": 20, "email": "zoe@example.com", "city": None}
    assert strip(first["record"], "id") == zoe
    second = run_node("PersonUpsertNode", {**params, "create": {"name": "Other", "age": 99}})
    assert second["created"] is False and second["action"] == "updated"
    assert second["record"]["id"] == first["record"]["id"]
    assert strip(second["record"], "id") == {**zoe, "age": 21}
    assert run_node("PersonCountNode", {})["count"] == 1
    assert run_node("PersonReadNode", {"id": first["record"]["id"]})["age"] == 21


def test_upsert_on_non_unique_field(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    out = run_node("PersonUpsertNode", {"where": {"name": "Carol"}, "conflict_on": ["name"],
                                        "create": {"age": 1}, "update": {"city": "Rome"}})
    assert out["created"] is False and out["action"] == "updated"
    record = out["record"]
    assert (record["id"], record["city"], record["age"]) == (ids["Carol"], "Rome", 35)
    out = run_node("PersonUpsertNode", {"where": {"name": "Frank"}, "conflict_on": ["name"],
                                        "create": {"age": 50}, "update": {"city": "Rome"}})
    assert out["created"] is True and out["action"] == "created"
    assert strip(out["record"], "id") == {"name": "Frank", "age": 50, "email": None, "city": None}
    assert run_node("PersonCountNode", {})["count"] == 6


def test_upsert_conflict_on_defaults_to_where_keys(make_model, run_node):
    @make_model
    class Account:
        id: str
        owner: str
        balance: int = 0

    first = run_node("AccountUpsertNode", {"where": {"id": "a1"}, "create": {"owner": "Ann"},
                                           "update": {"balance": 5}})
    assert first["created"] is True and strip(first["record"]) == {"id": "a1", "owner": "Ann", "balance": 0}
    second = run_node("AccountUpsertNode", {"where": {"id": "a1"}, "create": {"owner": "X"},
                                            "update": {"balance": 5}})
    assert second["created"] is False
    assert strip(second["record"]) == {"id": "a1", "owner": "Ann", "balance": 5}


# ---- bulk create ---------------------------------------------------------------------------------


def test_bulk_create_return_ids_int(make_model, run_node):
    person = person_model(make_model)
    rows = [{"name": n, "age": i} for i, n in enumerate(["a", "b", "c"])]
    out = run_node("PersonBulkCreateNode", {"data": rows, "return_ids": True})
    assert set(out) == {"processed", "inserted", "skipped", "success", "ids"}
    assert (out["processed"], out["inserted"], out["skipped"], out["success"]) == (3, 3, 0, True)
    assert len(set(out["ids"])) == 3 and all(isinstance(i, int) for i in out["ids"])
    for row, new_id in zip(rows, out["ids"], strict=True):
        assert run_node("PersonReadNode", {"id": new_id})["name"] == row["name"]
    assert len(raw_rows(make_model.db, person)) == 3


def test_bulk_create_without_return_ids(make_model, run_node):
    person_model(make_model)
    out = run_node("PersonBulkCreateNode", {"data": [{"name": "a"}, {"name": "b"}]})
    assert out == {"processed": 2, "inserted": 2, "skipped": 0, "success": True}


def test_bulk_create_return_ids_str(make_model, run_node):
    @make_model
    class Account:
        id: str
        owner: str

    out = run_node("AccountBulkCreateNode", {"data": [{"id": k, "owner": k.upper()} for k in "xyz"],
                                             "return_ids": True})
    assert out["ids"] == ["x", "y", "z"] and out["inserted"] == 3


def _accounts(make_model, run_node):
    @make_model
    class Account:
        id: str
        owner: str
        balance: int = 0

    run_node("AccountBulkCreateNode", {"data": [{"id": "a", "owner": "Ann", "balance": 1},
                                                {"id": "b", "owner": "Ben", "balance": 2}]})
    return Account


def test_bulk_create_conflict_error_is_atomic(make_model, run_node):
    account = _accounts(make_model, run_node)
    rows = [{"id": "c", "owner": "Cy"}, {"id": "a", "owner": "dup"}, {"id": "d", "owner": "Di"}]
    with raises_df("DF-704"):
        run_node("AccountBulkCreateNode", {"data": rows})
    assert [r[0] for r in raw_rows(make_model.db, account)] == ["a", "b"]


def test_bulk_create_conflict_skip(make_model, run_node):
    _accounts(make_model, run_node)
    rows = [{"id": "c", "owner": "Cy"}, {"id": "a", "owner": "dup"}]
    out = run_node("AccountBulkCreateNode", {"data": rows, "conflict_resolution": "skip"})
    assert out == {"processed": 2, "inserted": 1, "skipped": 1, "success": True}
    assert run_node("AccountReadNode", {"id": "a"})["owner"] == "Ann"
    assert run_node("AccountReadNode", {"id": "c"})["owner"] == "Cy"


def test_bulk_create_empty(make_model, run_node):
    person_model(make_model)
    out = run_node("PersonBulkCreateNode", {"data": []})
    assert out == {"processed": 0, "inserted": 0, "skipped": 0, "success": True}


# ---- bulk update / delete ------------------------------------------------------------------------


def test_bulk_update_by_filter(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    out = run_node("PersonBulkUpdateNode", {"filter": {"age": {"$gte": 35}}, "fields": {"city": "Oslo"}})
    assert out == {"processed": 2, "updated": 2, "success": True}
    assert list_names(run_node, person, {"city": "Oslo"}) == ["Carol", "Eve"]
    assert list_names(run_node, person, {"city": "Paris"}) == ["Alice"]


def test_bulk_update_by_rows(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    data = [{"id": ids["Alice"], "age": 70}, {"id": ids["Bob"], "age": 71, "city": "Rome"}]
    out = run_node("PersonBulkUpdateNode", {"data": data})
    assert out == {"processed": 2, "updated": 2, "success": True}
    assert (run_node("PersonReadNode", {"id": ids["Alice"]})["age"]) == 70
    bob = run_node("PersonReadNode", {"id": ids["Bob"]})
    assert (bob["age"], bob["city"]) == (71, "Rome")
    assert run_node("PersonReadNode", {"id": ids["Carol"]})["age"] == 35


def test_bulk_update_no_match(make_model, run_node):
    seed_people(make_model, run_node)
    out = run_node("PersonBulkUpdateNode", {"filter": {"name": "Nobody"}, "fields": {"age": 1}})
    assert out == {"processed": 0, "updated": 0, "success": True}


def test_bulk_delete_by_filter(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    out = run_node("PersonBulkDeleteNode", {"filter": {"age": 25}})
    assert out == {"processed": 2, "deleted": 2, "success": True}
    assert list_names(run_node, person, {}) == ["Alice", "Carol", "Eve"]


def test_bulk_delete_empty_filter_refused(make_model, run_node):
    _person, _ = seed_people(make_model, run_node)
    with raises_df("DF-106"):
        run_node("PersonBulkDeleteNode", {"filter": {}})
    with raises_df("DF-106"):
        run_node("PersonBulkDeleteNode", {})
    assert run_node("PersonCountNode", {})["count"] == 5
    out = run_node("PersonBulkDeleteNode", {"filter": {}, "confirmed": True})
    assert out == {"processed": 5, "deleted": 5, "success": True}
    assert run_node("PersonCountNode", {})["count"] == 0


# ---- bulk upsert ---------------------------------------------------------------------------------


def test_bulk_upsert_update(make_model, run_node):
    _accounts(make_model, run_node)
    data = [{"id": "a", "owner": "Ann2", "balance": 10}, {"id": "c", "owner": "Cy", "balance": 3}]
    out = run_node("AccountBulkUpsertNode", {"data": data})
    assert out == {"processed": 2, "inserted": 1, "updated": 1, "skipped": 0, "success": True}
    for row in data:
        assert strip(run_node("AccountReadNode", {"id": row["id"]}), "found") == row
    assert run_node("AccountReadNode", {"id": "b"})["owner"] == "Ben"


def test_bulk_upsert_skip(make_model, run_node):
    _accounts(make_model, run_node)
    data = [{"id": "a", "owner": "Ann2", "balance": 10}, {"id": "c", "owner": "Cy", "balance": 3}]
    out = run_node("AccountBulkUpsertNode", {"data": data, "conflict_resolution": "skip"})
    assert out == {"processed": 2, "inserted": 1, "updated": 0, "skipped": 1, "success": True}
    assert run_node("AccountReadNode", {"id": "a"})["owner"] == "Ann"
    assert run_node("AccountCountNode", {})["count"] == 3


def test_bulk_upsert_updates_only_supplied_fields(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    out = run_node("PersonBulkUpsertNode", {"data": [{"id": ids["Alice"], "name": "Alice", "age": 31}]})
    assert out["updated"] == 1
    alice = run_node("PersonReadNode", {"id": ids["Alice"]})
    # email and city were not supplied: they keep their values instead of taking the defaults (None)
    assert strip(alice, "found") == {"id": ids["Alice"], **PEOPLE[0], "age": 31}


def test_bulk_upsert_on_unique_field(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    data = [{"name": "Alicia", "email": "alice@example.com", "age": 31},
            {"name": "Gus", "email": "gus@example.com", "age": 60}]
    out = run_node("PersonBulkUpsertNode", {"data": data, "conflict_on": ["email"]})
    assert out == {"processed": 2, "inserted": 1, "updated": 1, "skipped": 0, "success": True}
    alice = run_node("PersonReadNode", {"id": ids["Alice"]})
    assert (alice["name"], alice["age"], alice["email"]) == ("Alicia", 31, "alice@example.com")
    assert run_node("PersonCountNode", {})["count"] == 6


__all__ = tests_in(globals())
