"""Conformance: ``$contains``, ``$overlap`` and ``$any`` on list fields stored as JSON, with the exact rows.

The operators come with a plugin (dataflow-native-arrays) or a dialect's own ``dataflow_filter_operators``;
where the instance has none of them, every test here is skipped. Where it has them, the same query
selects the same rows on every database: elements compare by type (``1`` equals ``1.0``, not ``"1"``
nor ``True``), strings case-sensitively, a NULL list matches nothing, an empty list contains nothing.
"""

from typing import Any

import pytest

from dataflow.testing.fixtures import raises_df
from dataflow.testing.suite._support import seed, tests_in

OPERATORS = ("$contains", "$overlap", "$any")

ROWS: list[dict[str, Any]] = [
    {"name": "a", "tags": ["red", "green"], "scores": [85, 92, 78], "ratings": [4.5, 4.8], "mixed": [1, "1", True],
     "maybe": ["x"]},
    {"name": "b", "tags": ["Red"], "scores": [60], "ratings": [1.0], "mixed": ["one", 2.5], "maybe": None},
    {"name": "c", "tags": [], "scores": [], "ratings": [], "mixed": [], "maybe": []},
    {"name": "d", "tags": ["green", "blue", "red"], "scores": [90, 100], "ratings": [2.0, 3.5], "mixed": [False, 0],
     "maybe": ["x", "y"]},
]
"""Four rows: case differences, an empty list everywhere, a NULL list, and a JSON list of mixed types."""

CASES = [
    ({"tags": {"$contains": "red"}}, ["a", "d"]),
    ({"tags": {"$contains": "Red"}}, ["b"]),
    ({"tags": {"$contains": ["green", "red"]}}, ["a", "d"]),
    ({"tags": {"$contains": ["green", "red", "blue"]}}, ["d"]),
    ({"tags": {"$contains": []}}, ["a", "b", "c", "d"]),
    ({"tags": {"$overlap": ["blue", "Red"]}}, ["b", "d"]),
    ({"tags": {"$overlap": []}}, []),
    ({"scores": {"$contains": 92}}, ["a"]),
    ({"scores": {"$any": {"$gte": 90}}}, ["a", "d"]),
    ({"scores": {"$any": {"$gt": 80, "$lt": 90}}}, ["a"]),
    ({"scores": {"$any": {"$lt": 60}}}, []),
    ({"scores": {"$any": {"$lte": 60}}}, ["b"]),
    ({"scores": {"$any": 100}}, ["d"]),
    ({"scores": {"$any": {"$ne": 60}}}, ["a", "d"]),
    ({"ratings": {"$any": {"$gte": 4.8}}}, ["a"]),
    ({"ratings": {"$contains": 1}}, ["b"]),
    ({"tags": {"$any": {"$gt": "p"}}}, ["a", "d"]),
    ({"mixed": {"$contains": 1}}, ["a"]),
    ({"mixed": {"$contains": "1"}}, ["a"]),
    ({"mixed": {"$contains": True}}, ["a"]),
    ({"mixed": {"$contains": 0}}, ["d"]),
    ({"mixed": {"$contains": False}}, ["d"]),
    ({"mixed": {"$overlap": [2.5, "zzz"]}}, ["b"]),
    ({"mixed": {"$any": {"$gt": 2}}}, ["b"]),
    ({"mixed": {"$any": {"$eq": "one"}}}, ["b"]),
    ({"maybe": {"$contains": []}}, ["a", "c", "d"]),
    ({"maybe": {"$overlap": ["y"]}}, ["d"]),
    ({"$not": {"maybe": {"$contains": "x"}}}, ["b", "c"]),
    ({"$or": [{"tags": {"$contains": "blue"}}, {"scores": {"$any": {"$lt": 61}}}]}, ["b", "d"]),
]


def _list_model(make_model, run_node):
    if not all(op in make_model.db.dialect.operators for op in OPERATORS):
        pytest.skip("no plugin offers $contains / $overlap / $any on this database (dataflow-native-arrays)")

    class Tagged:
        name: str
        tags: list[str]
        scores: list[int]
        ratings: list[float]
        mixed: list
        maybe: list[str] | None = None

    model = make_model(Tagged)
    seed(run_node, model, ROWS)
    return model


def _names(run_node, model, flt):
    out = run_node(f"{model.__name__}ListNode", {"filter": flt, "order_by": ["name"], "limit": 100})
    return [r["name"] for r in out["records"]]


@pytest.mark.parametrize(("flt", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_list_operator_selects_exact_rows(make_model, run_node, flt, expected):
    model = _list_model(make_model, run_node)
    assert _names(run_node, model, flt) == expected
    assert run_node(f"{model.__name__}CountNode", {"filter": flt}) == {"count": len(expected)}


def test_list_operators_in_update_and_delete_filters(make_model, run_node):
    model = _list_model(make_model, run_node)
    name = model.__name__
    out = run_node(f"{name}BulkUpdateNode", {"filter": {"tags": {"$contains": "red"}}, "fields": {"scores": [1]}})
    assert out["updated"] == 2
    assert _names(run_node, model, {"scores": {"$contains": 1}}) == ["a", "d"]
    out = run_node(f"{name}BulkDeleteNode", {"filter": {"scores": {"$any": {"$lt": 2}}}})
    assert out["deleted"] == 2
    assert _names(run_node, model, {}) == ["b", "c"]


BAD = [
    ({"name": {"$contains": "a"}}, "list fields"),
    ({"tags": {"$overlap": "red"}}, "takes a list"),
    ({"tags": {"$contains": 5}}, "string"),
    ({"scores": {"$any": {"$like": "9%"}}}, "comparisons"),
    ({"scores": {"$any": {}}}, "at least one"),
    ({"mixed": {"$contains": {"a": 1}}}, "strings, numbers or booleans"),
    ({"mixed": {"$any": {"$gt": True}}}, "True / False"),
    ({"mixed": {"$contains": float("nan")}}, "strings, numbers or booleans"),
]


@pytest.mark.parametrize(("flt", "fragment"), BAD, ids=[repr(b[0]) for b in BAD])
def test_list_operator_refuses_bad_operands(make_model, run_node, flt, fragment):
    model = _list_model(make_model, run_node)
    with raises_df("DF-102") as caught:
        run_node(f"{model.__name__}ListNode", {"filter": flt})
    assert fragment in caught["error"].message
    assert len(_names(run_node, model, {})) == len(ROWS)


def test_list_operator_values_are_bound(make_model, run_node):
    model = _list_model(make_model, run_node)
    hostile = "x'); DROP TABLE people; --"
    assert _names(run_node, model, {"tags": {"$contains": hostile}}) == []
    assert _names(run_node, model, {"tags": {"$overlap": [hostile, "Red"]}}) == ["b"]
    assert _names(run_node, model, {"tags": {"$any": {"$eq": hostile}}}) == []
    assert len(_names(run_node, model, {})) == len(ROWS)


__all__ = tests_in(globals())
