"""Every filter operator against PostgreSQL, with exact expected rows (NULL semantics included)."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from dataflow.testing import raises_df


@pytest.fixture
def people(make_model, run_node):
    @make_model
    class Person:
        id: str
        name: str
        age: int = 0
        city: str | None = None
        score: float = 0.0
        active: bool = True
        born: dt.date | None = None
        balance: decimal.Decimal = decimal.Decimal("0")

    rows = [
        {"id": "a", "name": "Alice", "age": 30, "city": "Paris", "score": 1.5, "active": True,
         "born": dt.date(1990, 1, 2), "balance": decimal.Decimal("10.50")},
        {"id": "b", "name": "bob", "age": 20, "city": None, "score": 2.5, "active": False,
         "born": None, "balance": decimal.Decimal("0.01")},
        {"id": "c", "name": "Carol_1", "age": 40, "city": "Berlin", "score": 3.5, "active": True,
         "born": dt.date(1980, 5, 6), "balance": decimal.Decimal("-3")},
        {"id": "d", "name": "100% dave", "age": 30, "city": "paris", "score": 0.0, "active": False,
         "born": dt.date(2000, 12, 31), "balance": decimal.Decimal("99999999999999.99")},
    ]
    run_node("PersonBulkCreateNode", {"data": rows})

    def ids(filter_: dict) -> list[str]:
        out = run_node("PersonListNode", {"filter": filter_, "order_by": ["id"]})
        count = run_node("PersonCountNode", {"filter": filter_})["count"]
        found = [r["id"] for r in out["records"]]
        assert count == len(found)
        return found

    return ids


@pytest.mark.parametrize(("filter_", "expected"), [
    ({"age": 30}, ["a", "d"]),
    ({"age": {"$eq": 30}}, ["a", "d"]),
    ({"age": {"$ne": 30}}, ["b", "c"]),
    ({"city": {"$ne": "Paris"}}, ["b", "c", "d"]),  # NULL city kept
    ({"age": {"$gt": 30}}, ["c"]),
    ({"age": {"$gte": 30}}, ["a", "c", "d"]),
    ({"age": {"$lt": 30}}, ["b"]),
    ({"age": {"$lte": 30}}, ["a", "b", "d"]),
    ({"age": {"$gt": 19, "$lt": 31}}, ["a", "b", "d"]),
    ({"age": {"$in": [20, 40]}}, ["b", "c"]),
    ({"age": {"$in": []}}, []),
    ({"city": {"$nin": ["Paris"]}}, ["b", "c", "d"]),
    ({"age": {"$nin": []}}, ["a", "b", "c", "d"]),
    ({"name": {"$like": "%o%"}}, ["b", "c"]),
    ({"name": {"$like": "a%"}}, []),  # case-sensitive
    ({"name": {"$like": "Carol_1"}}, ["c"]),
    ({"name": {"$like": "100\\%%"}}, ["d"]),  # \% is a literal % (the escape rule of every dialect)
    ({"name": {"$ilike": "a%"}}, ["a"]),
    ({"name": {"$ilike": "%B%"}}, ["b"]),
    ({"city": {"$ilike": "PARIS"}}, ["a", "d"]),
    ({"name": {"$regex": "^[A-C]"}}, ["a", "c"]),
    ({"name": {"$regex": "o.$"}}, ["b"]),
    ({"name": {"$regex": "b+"}}, ["b"]),
    ({"age": {"$like": "3%"}}, ["a", "d"]),  # patterns match non-text columns as text
    ({"city": {"$exists": True}}, ["a", "c", "d"]),
    ({"city": {"$exists": False}}, ["b"]),
    ({"city": {"$null": True}}, ["b"]),
    ({"city": {"$null": False}}, ["a", "c", "d"]),
    ({"city": None}, ["b"]),
    ({"$or": [{"age": 20}, {"city": "Berlin"}]}, ["b", "c"]),
    ({"$and": [{"age": 30}, {"city": "paris"}]}, ["d"]),
    ({"$not": {"age": 30}}, ["b", "c"]),
    ({"age": {"$not": {"$gt": 25}}}, ["b"]),
    ({"$or": [{"$and": [{"age": 30}, {"active": True}]}, {"name": {"$ilike": "BOB"}}]}, ["a", "b"]),
    ({"active": False}, ["b", "d"]),
    ({"score": {"$gt": 1.5}}, ["b", "c"]),
    ({"born": {"$lt": "1995-01-01"}}, ["a", "c"]),
    ({"balance": {"$gt": "10.49"}}, ["a", "d"]),
    ({"balance": {"$lt": 0}}, ["c"]),
    ({"balance": decimal.Decimal("10.5")}, ["a"]),
])
def test_operator(people, filter_, expected):
    assert people(filter_) == expected


def test_unknown_operator_and_field(people):
    with raises_df("DF-102", match=r"\$regexp"):
        people({"name": {"$regexp": "x"}})
    with raises_df("DF-102"):
        people({"nmae": "x"})


def test_invalid_regex_is_df_107(people):
    with raises_df("DF-107"):
        people({"name": {"$regex": "("}})


def test_in_with_many_values_is_one_parameter(make_model, run_node):
    @make_model
    class Num:
        value: int

    run_node("NumBulkCreateNode", {"data": [{"value": i} for i in range(100)]})
    big = list(range(0, 100_000, 2))  # far more values than a statement may have parameters
    assert run_node("NumCountNode", {"filter": {"value": {"$in": big}}})["count"] == 50
    assert run_node("NumCountNode", {"filter": {"value": {"$nin": big}}})["count"] == 50
