"""Conformance: ``fields`` projections on Read / List and ``distinct`` lists, alike on every database."""

import pytest

from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import seed_people, tests_in


def test_read_returns_only_the_fields_asked(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    out = run_node("PersonReadNode", {"id": ids["Alice"], "fields": ["name", "age"]})
    assert out == {"name": "Alice", "age": 30, "found": True}


def test_list_returns_only_the_fields_asked_in_their_order(make_model, run_node):
    seed_people(make_model, run_node)
    out = run_node("PersonListNode", {"fields": ["name", "id"], "order_by": ["name"], "limit": 2})
    assert [list(r) for r in out["records"]] == [["name", "id"], ["name", "id"]]
    assert [r["name"] for r in out["records"]] == ["Alice", "Bob"]
    assert out["count"] == 2


def test_projection_decodes_values_like_whole_rows(make_model, run_node):
    _person, ids = seed_people(make_model, run_node)
    whole = run_node("PersonReadNode", {"id": ids["Bob"]})
    part = run_node("PersonReadNode", {"id": ids["Bob"], "fields": ["created_at", "email", "city"]})
    assert part == {"created_at": whole["created_at"], "email": "bob@example.com", "city": None, "found": True}


def test_projection_may_sort_by_a_field_it_leaves_out(make_model, run_node):
    seed_people(make_model, run_node)
    out = run_node("PersonListNode", {"fields": ["name"], "order_by": ["-age", "name"]})
    assert [r["name"] for r in out["records"]] == ["Eve", "Carol", "Alice", "Bob", "Dave"]


def test_distinct_list_with_total(make_model, run_node):
    seed_people(make_model, run_node)
    out = run_node("PersonListNode", {"fields": ["age"], "distinct": True, "order_by": ["age"],
                                      "include_total": True})
    assert out["records"] == [{"age": 25}, {"age": 30}, {"age": 35}, {"age": 40}]
    assert out["total"] == 4
    filtered = run_node("PersonListNode", {"fields": ["age"], "distinct": True, "filter": {"age": {"$lt": 35}},
                                           "order_by": [{"age": -1}], "include_total": True})
    assert filtered["records"] == [{"age": 30}, {"age": 25}] and filtered["total"] == 2


def test_distinct_counts_null_as_one_value(make_model, run_node):
    seed_people(make_model, run_node)
    out = run_node("PersonListNode", {"fields": ["city"], "distinct": True, "order_by": ["city"]})
    assert out["records"] == [{"city": "Berlin"}, {"city": "Paris"}, {"city": "paris"}, {"city": None}]


@pytest.mark.parametrize("fields", [["nope"], ["name", "Name"], ["name; DROP TABLE x"], [], "name", [1], [None],
                                    [["name"]], {"name": 1}, ["name\x00"], ["a" * 10_000]])
def test_bad_projection_is_df102_at_build_and_run(make_model, run_node, fields):
    person, _ids = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    for node in ("PersonListNode", "PersonReadNode"):
        with raises_df("DF-102"):
            run_node(node, {"id": 1, "fields": fields} if node == "PersonReadNode" else {"fields": fields})
    assert raw_rows(make_model.db, person) == before


def test_distinct_needs_fields_and_sorts_by_them(make_model, run_node):
    seed_people(make_model, run_node)
    with raises_df("DF-102", match="needs 'fields'"):
        run_node("PersonListNode", {"distinct": True})
    with raises_df("DF-102", match="order_by"):
        run_node("PersonListNode", {"fields": ["city"], "distinct": True, "order_by": ["age"]})
    with raises_df("DF-102"):
        run_node("PersonListNode", {"fields": ["city"], "distinct": "yes"})


__all__ = tests_in(globals())
