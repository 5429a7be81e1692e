"""Conformance: reserved-word identifiers, hostile data and hostile keys, and the DF error codes.

Values are always bound parameters and identifiers always quoted, so a reserved word works as a
field name, any string is stored exactly as given, and a key that is not a field of the model is
refused (DF-102) before any SQL runs: the table is unchanged afterwards.
"""

import pytest

from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import PEOPLE, list_names, seed_people, strip, tests_in

HOSTILE = [
    "'; DROP TABLE users; --",
    "Robert'); DROP TABLE students;--",
    'double "quotes" and \'single\'',
    "back\\slash \\' \\\" \\\\",
    "unicode ünïcødé 中文 العربية",
    "emoji 🎉👍🏽🧑‍💻",
    "100% _under_score_",
    "tab\tnew\nline\r\n",
    "$1 ? :name %s %(x)s {0}",
    "",
    " leading and trailing ",
]


def test_reserved_word_identifiers(make_model, run_node):
    class Order:
        order: int
        select: str
        user: str | None = None
        group: str = "g"
        key: str = "k"

    make_model(Order)
    made = run_node("OrderCreateNode", {"order": 2, "select": "s1", "user": "u", "group": "g1", "key": "k1"})
    assert strip(made, "id") == {"order": 2, "select": "s1", "user": "u", "group": "g1", "key": "k1"}
    run_node("OrderBulkCreateNode", {"data": [{"order": 1, "select": "s2"}, {"order": 3, "select": "s3"}]})
    out = run_node("OrderListNode", {"filter": {"group": "g"}, "order_by": ["-order"]})
    assert [r["select"] for r in out["records"]] == ["s3", "s2"]
    out = run_node("OrderUpdateNode", {"filter": {"id": made["id"]}, "fields": {"order": 20, "key": "k2"}})
    assert (out["order"], out["key"]) == (20, "k2")
    assert run_node("OrderCountNode", {"filter": {"order": {"$gte": 3}}}) == {"count": 2}
    out = run_node("OrderUpsertNode", {"where": {"select": "s2"}, "conflict_on": ["select"],
                                       "create": {"order": 9}, "update": {"user": "v"}})
    assert out["action"] == "updated" and out["record"]["user"] == "v"
    out = run_node("OrderBulkUpsertNode", {"data": [{"id": made["id"], "order": 7, "select": "s1"}]})
    assert out["updated"] == 1
    assert run_node("OrderReadNode", {"id": made["id"]})["order"] == 7
    assert run_node("OrderBulkDeleteNode", {"filter": {"key": "k"}})["deleted"] == 2
    assert run_node("OrderDeleteNode", {"filter": {"select": "s1"}})["deleted"] is True


def _notes(make_model):
    class Note:
        id: str
        text: str
        tag: str | None = None

    return make_model(Note)


def test_hostile_strings_are_stored_exactly(make_model, run_node):
    _notes(make_model)
    rows = [{"id": f"n{i}", "text": text, "tag": text} for i, text in enumerate(HOSTILE)]
    run_node("NoteBulkCreateNode", {"data": rows[:5]})
    for row in rows[5:]:
        assert strip(run_node("NoteCreateNode", row)) == row
    for row in rows:
        assert strip(run_node("NoteReadNode", {"id": row["id"]}), "found") == row
        # equality on the exact value finds exactly that row: nothing is escaped or rewritten
        out = run_node("NoteListNode", {"filter": {"text": row["text"]}})
        assert [r["id"] for r in out["records"]] == [row["id"]]
    out = run_node("NoteUpdateNode", {"filter": {"id": "n0"}, "fields": {"text": HOSTILE[3]}})
    assert out["text"] == HOSTILE[3]
    assert run_node("NoteCountNode", {})["count"] == len(HOSTILE)


def test_template_like_strings_from_run_parameters_are_data(make_model, run):
    from dataflow import WorkflowBuilder

    _notes(make_model)
    wf = WorkflowBuilder()
    wf.add_node("NoteCreateNode", "create", {"id": "t1", "text": "${text}"})
    wf.add_node("NoteReadNode", "read", {"id": "${create.id}"})
    text = "${create.id} {{text}} ${nothing}"
    results = run(wf, {"text": text})
    assert results["create"]["text"] == text and results["read"]["text"] == text


def test_hostile_ids(make_model, run_node):
    _notes(make_model)
    for i, hostile in enumerate(HOSTILE[:6]):
        run_node("NoteCreateNode", {"id": hostile or "empty", "text": str(i)})
        assert run_node("NoteReadNode", {"id": hostile or "empty"})["text"] == str(i)
    assert run_node("NoteDeleteNode", {"id": HOSTILE[0]})["deleted"] is True


def test_like_wildcards_in_values(make_model, run_node):
    _notes(make_model)
    texts = {"a": "100%", "b": "100x", "c": "a_b", "d": "axb", "e": "a%b"}
    run_node("NoteBulkCreateNode", {"data": [{"id": k, "text": v} for k, v in texts.items()]})

    def sel(flt):
        return sorted(r["id"] for r in run_node("NoteListNode", {"filter": flt})["records"])

    assert sel({"text": "100%"}) == ["a"]  # equality: % is data
    assert sel({"text": "a_b"}) == ["c"]
    assert sel({"text": {"$in": ["a%b", "a_b"]}}) == ["c", "e"]
    assert sel({"text": {"$like": "100%"}}) == ["a", "b"]  # in a pattern, % is a wildcard
    assert sel({"text": {"$like": "a_b"}}) == ["c", "d", "e"]
    assert sel({"text": {"$ilike": "A_B"}}) == ["c", "d", "e"]


HOSTILE_KEYS = [
    {"filter": {"name; DROP TABLE x; --": 1}},
    {"filter": {"name\" = name OR \"1": 1}},
    {"filter": {"$where": "1=1"}},
    {"filter": {"name": {"$raw": "1=1"}}},
    {"filter": {"age": {"$gt": "0 OR 1=1"}}},
    {"filter": {"$or": [{"name) OR (1=1": 1}]}},
    {"order_by": ["name; DROP TABLE x"]},
    {"order_by": ["-name DESC, (SELECT 1)"]},
    {"order_by": [{"name": "asc; DROP TABLE x"}]},
    {"order_by": [{"1=1": 1}]},
    {"order_by": [42]},
    {"limit": "10; DROP TABLE x"},
    {"offset": -1},
]


@pytest.mark.parametrize("params", HOSTILE_KEYS, ids=[repr(p) for p in HOSTILE_KEYS])
def test_hostile_list_parameters_are_df102(make_model, run_node, params):
    person, _ = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    with raises_df("DF-102"):
        run_node("PersonListNode", params)
    assert raw_rows(make_model.db, person) == before


@pytest.mark.parametrize(("node", "params"), [
    ("PersonCreateNode", {"name": "x", "evil\"); DROP TABLE x; --": 1}),
    ("PersonCreateNode", {"name": "x", "age; DELETE": 1}),
    ("PersonUpdateNode", {"filter": {"name": "Alice"}, "fields": {"age = 0, name": "x"}}),
    ("PersonUpdateNode", {"filter": {"name' OR '1'='1": "Alice"}, "fields": {"age": 1}}),
    ("PersonBulkCreateNode", {"data": [{"name": "x", "bad col": 1}]}),
    ("PersonBulkUpdateNode", {"filter": {"age": 25}, "fields": {"name\"": "x"}}),
    ("PersonBulkDeleteNode", {"filter": {"1=1 OR name": "x"}}),
    ("PersonUpsertNode", {"where": {"email; --": "a"}, "create": {"name": "x"}}),
    ("PersonBulkUpsertNode", {"data": [{"name": "x", "email": "e"}], "conflict_on": ["email) DO NOTHING; --"]}),
    ("PersonCountNode", {"filter": {"age": {"$in": "1) OR (1=1"}}}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_hostile_field_names_are_df102(make_model, run_node, node, params):
    person, _ = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    with raises_df("DF-102"):
        run_node(node, params)
    assert raw_rows(make_model.db, person) == before


def test_missing_required_field_is_df101(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    with raises_df("DF-101") as caught:
        run_node("PersonCreateNode", {"age": 3})
    assert "name" in caught["error"].message
    with raises_df("DF-101"):
        run_node("PersonBulkCreateNode", {"data": [{"name": "ok"}, {"age": 3}]})
    assert len(raw_rows(make_model.db, person)) == len(PEOPLE)


def test_missing_str_id_is_df101(make_model, run_node):
    _notes(make_model)
    with raises_df("DF-101"):
        run_node("NoteCreateNode", {"text": "no id"})


def test_managed_timestamps_are_df104(make_model, run_node):
    person, ids = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    with raises_df("DF-104"):
        run_node("PersonUpdateNode", {"filter": {"id": ids["Bob"]}, "fields": {"created_at": "2020-01-01T00:00:00Z"}})
    with raises_df("DF-104"):
        run_node("PersonUpdateNode", {"filter": {"id": ids["Bob"]}, "fields": {"updated_at": "2020-01-01T00:00:00Z"}})
    with raises_df("DF-104"):
        run_node("PersonCreateNode", {"name": "x", "created_at": "2020-01-01T00:00:00Z"})
    with raises_df("DF-104"):
        run_node("PersonBulkUpdateNode", {"filter": {"age": 25}, "fields": {"updated_at": "2020-01-01T00:00:00Z"}})
    assert raw_rows(make_model.db, person) == before


def test_unknown_node_is_df701(make_model, run_node):
    seed_people(make_model, run_node)
    with raises_df("DF-701"):
        run_node("PersonFrobnicateNode", {})
    with raises_df("DF-701"):
        run_node("NoSuchModelCreateNode", {"name": "x"})


def test_unknown_parameter_is_df102(make_model, run_node):
    seed_people(make_model, run_node)
    with raises_df("DF-102"):
        run_node("PersonListNode", {"filtr": {"age": 1}})


def test_bulk_create_with_one_bad_row_writes_nothing(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    rows = [{"name": f"ok{i}", "age": i} for i in range(10)] + [{"name": "bad", "age": "x"}]
    with raises_df("DF-102"):
        run_node("PersonBulkCreateNode", {"data": rows})
    dup_rows = [{"name": f"ok{i}", "email": f"{i}@x"} for i in range(10)]
    dup_rows.append({"name": "dup", "email": "alice@example.com"})
    with raises_df("DF-704"):
        run_node("PersonBulkCreateNode", {"data": dup_rows})
    assert raw_rows(make_model.db, person) == before


def test_bulk_update_and_upsert_with_one_bad_row_write_nothing(make_model, run_node):
    person, ids = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    with raises_df("DF-102"):
        run_node("PersonBulkUpdateNode", {"data": [{"id": ids["Alice"], "age": 1}, {"id": ids["Bob"], "age": "x"}]})
    with raises_df("DF-704"):  # the second row takes Alice's unique email
        run_node("PersonBulkUpdateNode", {"data": [{"id": ids["Carol"], "age": 1},
                                                   {"id": ids["Bob"], "email": "alice@example.com"}]})
    with raises_df("DF-102"):
        run_node("PersonBulkUpsertNode", {"data": [{"id": ids["Alice"], "name": "A", "age": 2},
                                                   {"id": ids["Bob"], "name": "B", "age": None}]})
    assert raw_rows(make_model.db, person) == before
    assert list_names(run_node, person, {}) == sorted(p["name"] for p in PEOPLE)


__all__ = tests_in(globals())
