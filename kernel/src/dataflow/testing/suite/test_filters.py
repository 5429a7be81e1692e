"""Conformance: every filter operator of API.md, with the exact rows it selects, NULLs included.

The rows are ``PEOPLE`` (see ``_support``): ages 30, 25, 35, 25, 40; two NULL emails (Carol, Eve),
two NULL cities (Bob, Eve), cities "Paris" and "paris" to tell case-sensitive from insensitive.
"""

from typing import Any

import pytest

from dataflow.testing.fixtures import raises_df
from dataflow.testing.suite._support import list_names, seed_people, tests_in

ALL = ["Alice", "Bob", "Carol", "Dave", "Eve"]

CASES = [
    # plain equality and $eq
    ({"age": 25}, ["Bob", "Dave"]),
    ({"age": {"$eq": 30}}, ["Alice"]),
    ({"name": "Carol", "age": 35}, ["Carol"]),
    ({"name": "Carol", "age": 30}, []),
    # None equality selects NULLs; $ne None the others
    ({"email": None}, ["Carol", "Eve"]),
    ({"email": {"$eq": None}}, ["Carol", "Eve"]),
    ({"email": {"$ne": None}}, ["Alice", "Bob", "Dave"]),
    # $ne keeps rows whose column is NULL (the kernel's documented rule, see README)
    ({"city": {"$ne": "Paris"}}, ["Bob", "Carol", "Dave", "Eve"]),
    ({"age": {"$ne": 25}}, ["Alice", "Carol", "Eve"]),
    # comparisons
    ({"age": {"$gt": 30}}, ["Carol", "Eve"]),
    ({"age": {"$gte": 30}}, ["Alice", "Carol", "Eve"]),
    ({"age": {"$lt": 30}}, ["Bob", "Dave"]),
    ({"age": {"$lte": 30}}, ["Alice", "Bob", "Dave"]),
    ({"age": {"$gt": 25, "$lt": 40}}, ["Alice", "Carol"]),
    ({"name": {"$gt": "Carol"}}, ["Dave", "Eve"]),
    # $in / $nin ($nin keeps NULLs like $ne)
    ({"city": {"$in": ["Paris", "Berlin"]}}, ["Alice", "Carol"]),
    ({"age": {"$in": [25, 40, 99]}}, ["Bob", "Dave", "Eve"]),
    ({"age": {"$in": []}}, []),
    ({"city": {"$nin": ["Paris", "Berlin"]}}, ["Bob", "Dave", "Eve"]),
    ({"age": {"$nin": [25]}}, ["Alice", "Carol", "Eve"]),
    ({"age": {"$nin": []}}, ALL),
    # $like is case-sensitive, $ilike not; % and _ are wildcards in patterns
    ({"email": {"$like": "%@example.com"}}, ["Alice", "Bob"]),
    ({"city": {"$like": "paris"}}, ["Dave"]),
    ({"city": {"$like": "P%"}}, ["Alice"]),
    ({"name": {"$like": "_ob"}}, ["Bob"]),
    ({"city": {"$ilike": "PARIS"}}, ["Alice", "Dave"]),
    ({"city": {"$ilike": "%ARI%"}}, ["Alice", "Dave"]),
    ({"email": {"$ilike": "%EXAMPLE.ORG"}}, ["Dave"]),
    # $regex (a subset every database shares)
    ({"name": {"$regex": "^[AB]"}}, ["Alice", "Bob"]),
    ({"name": {"$regex": "e$"}}, ["Alice", "Dave", "Eve"]),
    ({"email": {"$regex": "^[a-z]+@example[.]org$"}}, ["Dave"]),
    ({"name": {"$regex": "^x"}}, []),
    # $exists honours its value; $null
    ({"email": {"$exists": True}}, ["Alice", "Bob", "Dave"]),
    ({"email": {"$exists": False}}, ["Carol", "Eve"]),
    ({"city": {"$null": True}}, ["Bob", "Eve"]),
    ({"city": {"$null": False}}, ["Alice", "Carol", "Dave"]),
    # logical operators
    ({"$or": [{"age": 25}, {"city": "Berlin"}]}, ["Bob", "Carol", "Dave"]),
    ({"$and": [{"age": {"$gte": 25}}, {"age": {"$lte": 30}}]}, ["Alice", "Bob", "Dave"]),
    ({"$not": {"age": 25}}, ["Alice", "Carol", "Eve"]),
    ({"age": {"$not": {"$gt": 30}}}, ["Alice", "Bob", "Dave"]),
    ({"$or": [{"$and": [{"age": 25}, {"city": None}]}, {"name": {"$in": ["Eve"]}}]}, ["Bob", "Eve"]),
    ({"age": 25, "$or": [{"city": "paris"}, {"email": {"$like": "bob%"}}]}, ["Bob", "Dave"]),
    ({"$not": {"$or": [{"age": 25}, {"age": 40}]}}, ["Alice", "Carol"]),
    # empty filters match everything
    ({}, ALL),
]


@pytest.mark.parametrize(("flt", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_filter_selects_exact_rows(make_model, run_node, flt, expected):
    person, _ = seed_people(make_model, run_node)
    assert list_names(run_node, person, flt) == expected
    assert run_node("PersonCountNode", {"filter": flt}) == {"count": len(expected)}


SAME_SHAPES: list[list[tuple[dict[str, Any], list[str]]]] = [
    # each group: one filter shape with other values (statements are reused by shape)
    [({"age": {"$gte": 30}, "city": "Paris"}, ["Alice"]), ({"age": {"$gte": 25}, "city": "paris"}, ["Dave"]),
     ({"age": {"$gte": 36}, "city": "Paris"}, [])],
    [({"age": {"$in": [25, 40]}}, ["Bob", "Dave", "Eve"]), ({"age": {"$in": [30, 35]}}, ["Alice", "Carol"])],
    [({"$or": [{"age": 25}, {"city": "Berlin"}]}, ["Bob", "Carol", "Dave"]),
     ({"$or": [{"age": 40}, {"city": "Paris"}]}, ["Alice", "Eve"])],
    [({"$not": {"age": 25}}, ["Alice", "Carol", "Eve"]), ({"$not": {"age": 30}}, ["Bob", "Carol", "Dave", "Eve"])],
    [({"email": None, "age": {"$lt": 36}}, ["Carol"]), ({"email": {"$ne": None}, "age": {"$lt": 26}}, ["Bob", "Dave"])],
]


def test_one_filter_shape_with_other_values_selects_their_own_rows(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    for _ in range(2):  # the second pass reuses every statement of the first
        for group in SAME_SHAPES:
            for flt, expected in group:
                assert list_names(run_node, person, flt) == expected, flt
                assert run_node("PersonCountNode", {"filter": flt}) == {"count": len(expected)}, flt
        for case, rows in CASES:
            assert list_names(run_node, person, case) == rows, case


def test_filter_ne_keeps_null_rows(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    assert "Bob" in list_names(run_node, person, {"city": {"$ne": "Paris"}})
    assert "Eve" in list_names(run_node, person, {"city": {"$nin": ["Paris"]}})


def test_filter_in_update_and_delete_nodes(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    out = run_node("PersonBulkUpdateNode", {"filter": {"city": {"$ilike": "paris"}}, "fields": {"age": 1}})
    assert out["updated"] == 2
    assert list_names(run_node, person, {"age": 1}) == ["Alice", "Dave"]
    out = run_node("PersonBulkDeleteNode", {"filter": {"$or": [{"email": None}, {"age": 1}]}})
    assert out["deleted"] == 4
    assert list_names(run_node, person, {}) == ["Bob"]


def test_filter_value_is_coerced_to_the_field_type(make_model, run_node):
    _person, _ = seed_people(make_model, run_node)
    with raises_df("DF-102"):
        run_node("PersonListNode", {"filter": {"age": {"$gt": "thirty"}}})


def test_unknown_operator_is_df102(make_model, run_node):
    seed_people(make_model, run_node)
    with raises_df("DF-102") as caught:
        run_node("PersonListNode", {"filter": {"age": {"$between": [1, 2]}}})
    assert "$gt" in str(caught["error"].context.get("allowed", ""))
    with raises_df("DF-102"):
        run_node("PersonCountNode", {"filter": {"$nor": [{"age": 1}]}})
    with raises_df("DF-102"):
        run_node("PersonListNode", {"filter": {"$or": {"age": 1}}})
    with raises_df("DF-102"):
        run_node("PersonListNode", {"filter": {"email": {"$exists": "yes"}}})


def test_unknown_filter_field_is_df102(make_model, run_node):
    seed_people(make_model, run_node)
    with raises_df("DF-102") as caught:
        run_node("PersonListNode", {"filter": {"agee": 3}})
    assert "age" in caught["error"].message


__all__ = tests_in(globals())
