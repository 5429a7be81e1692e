"""Conformance: ``<Model>AggregateNode`` — GROUP BY with counts, sums, averages, minimums and maximums,
HAVING and ORDER BY over the aliases, exact types back (a sum of decimals is a Decimal), alike on every
database, and DF-102 for every malformed parameter with the database unchanged."""

import datetime as dt
import decimal

import pytest

from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import seed, tests_in

D = decimal.Decimal

SALES: list[dict[str, object]] = [
    {"region": "eu", "user_id": 1, "amount": D("10.10"), "qty": 1, "rate": 0.5, "day": dt.date(2024, 1, 3)},
    {"region": "eu", "user_id": 1, "amount": D("20.25"), "qty": 2, "rate": 1.5, "day": dt.date(2024, 1, 1)},
    {"region": "eu", "user_id": 2, "amount": D("100.5"), "qty": 3, "rate": 2.0, "day": dt.date(2024, 2, 1)},
    {"region": "us", "user_id": 3, "amount": D("7"), "qty": 4, "rate": None, "day": None},
    {"region": None, "user_id": 4, "amount": D("0.001"), "qty": 5, "rate": 1.0, "day": dt.date(2023, 5, 5)},
]


def _sales(make_model, run_node):
    @make_model
    class Sale:
        region: str | None
        user_id: int
        amount: decimal.Decimal
        qty: int = 0
        rate: float | None = None
        day: dt.date | None = None

    seed(run_node, Sale, SALES)
    return Sale


def test_group_by_with_every_function(make_model, run_node):
    _sales(make_model, run_node)
    out = run_node("SaleAggregateNode", {
        "group_by": ["region"],
        "aggregates": {"total": {"$sum": "amount"}, "n": {"$count": "*"}, "buyers": {"$count_distinct": "user_id"},
                       "mean": {"$avg": "amount"}, "mean_qty": {"$avg": "qty"}, "qty": {"$sum": "qty"},
                       "low": {"$min": "amount"}, "high": {"$max": "amount"}, "rates": {"$count": "rate"},
                       "first": {"$min": "day"}, "rate_sum": {"$sum": "rate"}},
    })
    groups = out["groups"]
    assert [g["region"] for g in groups] == ["eu", "us", None]  # by the group fields, NULL last
    eu = groups[0]
    assert eu == {"region": "eu", "total": D("130.85"), "n": 3, "buyers": 2,
                  "mean": D("43.61666666666666666666666667"), "mean_qty": 2.0, "qty": 6, "low": D("10.10"),
                  "high": D("100.5"), "rates": 3, "first": dt.date(2024, 1, 1), "rate_sum": 4.0}
    assert type(eu["total"]) is D and type(eu["mean"]) is D and type(eu["n"]) is int and type(eu["qty"]) is int
    assert type(eu["mean_qty"]) is float and type(eu["rate_sum"]) is float
    us = groups[1]
    assert (us["total"], us["rates"], us["rate_sum"], us["first"]) == (D("7"), 0, None, None)


def test_without_group_by_one_group(make_model, run_node):
    _sales(make_model, run_node)
    out = run_node("SaleAggregateNode", {"aggregates": {"n": {"$count": "*"}, "total": {"$sum": "amount"}}})
    assert out == {"groups": [{"n": 5, "total": D("137.851")}]}
    empty = run_node("SaleAggregateNode", {"filter": {"region": "nowhere"},
                                           "aggregates": {"n": {"$count": "*"}, "total": {"$sum": "amount"},
                                                          "mean": {"$avg": "qty"}}})
    assert empty == {"groups": [{"n": 0, "total": None, "mean": None}]}


def test_filter_having_order_and_limit(make_model, run_node):
    _sales(make_model, run_node)
    out = run_node("SaleAggregateNode", {
        "filter": {"qty": {"$lt": 5}},
        "group_by": "user_id",
        "aggregates": {"total": {"$sum": "amount"}, "n": {"$count": "*"}},
        "having": {"total": {"$gt": D("8")}},
        "order_by": ["-total"],
    })
    assert out["groups"] == [{"user_id": 2, "total": D("100.5"), "n": 1}, {"user_id": 1, "total": D("30.35"), "n": 2}]
    top = run_node("SaleAggregateNode", {"group_by": ["user_id"], "aggregates": {"n": {"$count": "*"}},
                                         "order_by": [{"n": -1}, "user_id"], "limit": 2})
    assert top["groups"] == [{"user_id": 1, "n": 2}, {"user_id": 2, "n": 1}]
    logical = run_node("SaleAggregateNode", {
        "group_by": ["region"], "aggregates": {"n": {"$count": "*"}, "avg_qty": {"$avg": "qty"}},
        "having": {"$or": [{"n": {"$gte": 3}}, {"avg_qty": {"$gt": 4.5}}]},
    })
    assert [g["region"] for g in logical["groups"]] == ["eu", None]
    negated = run_node("SaleAggregateNode", {"group_by": ["region"], "aggregates": {"n": {"$count": "*"}},
                                             "having": {"$not": {"n": {"$in": [1]}}}})
    assert [g["region"] for g in negated["groups"]] == ["eu"]


def test_sorting_by_a_measure_puts_nulls_last_ascending(make_model, run_node):
    _sales(make_model, run_node)
    out = run_node("SaleAggregateNode", {"group_by": ["region"], "aggregates": {"r": {"$sum": "rate"}},
                                         "order_by": ["r"]})
    assert [g["r"] for g in out["groups"]] == [1.0, 4.0, None]
    out = run_node("SaleAggregateNode", {"group_by": ["region"], "aggregates": {"r": {"$sum": "rate"}},
                                         "order_by": ["-r"]})
    assert [g["r"] for g in out["groups"]] == [None, 4.0, 1.0]


def test_decimal_groups_and_sums_are_exact(make_model, run_node):
    @make_model
    class Entry:
        price: decimal.Decimal
        amount: decimal.Decimal

    big = D("12345678901234567890.123456789")
    seed(run_node, Entry, [{"price": D("1.10"), "amount": big}, {"price": D("1.1"), "amount": D("0.000000001")},
                           {"price": D("2"), "amount": D("-3")}])
    out = run_node("EntryAggregateNode", {"group_by": ["price"], "aggregates": {"s": {"$sum": "amount"}},
                                          "having": {"s": {"$ne": D("-3")}}})
    assert len(out["groups"]) == 1
    (group,) = out["groups"]
    assert group["price"] == D("1.1") and group["s"] == D("12345678901234567890.123456790")


def test_group_by_alone_lists_the_distinct_groups(make_model, run_node):
    _sales(make_model, run_node)
    out = run_node("SaleAggregateNode", {"group_by": ["region"], "order_by": ["-region"]})
    assert out["groups"] == [{"region": None}, {"region": "us"}, {"region": "eu"}]


@pytest.mark.parametrize(("params", "match"), [
    ({}, "needs"),
    ({"aggregates": {"t": {"$sum": "nope"}}}, "nope"),
    ({"aggregates": {"t": {"$sum": "region"}}}, "number"),
    ({"aggregates": {"t": {"$avg": "day"}}}, "number"),
    ({"aggregates": {"t": {"$min": "*"}}}, None),
    ({"aggregates": {"t": {"$median": "qty"}}}, "Unknown aggregate"),
    ({"aggregates": {"t": {"$sum": "qty", "$avg": "qty"}}}, None),
    ({"aggregates": {"t": "qty"}}, None),
    ({"aggregates": {"t": {"$sum": ["qty"]}}}, None),
    ({"aggregates": {"bad alias": {"$count": "*"}}}, "alias"),
    ({"aggregates": {"x; DROP TABLE t": {"$count": "*"}}}, "alias"),
    ({"aggregates": {"a" * 64: {"$count": "*"}}}, "alias"),
    ({"aggregates": {1: {"$count": "*"}}}, "alias"),
    ({"aggregates": {f"a{i}": {"$count": "*"} for i in range(65)}}, "limit"),
    ({"aggregates": ["n"]}, None),
    ({"group_by": ["region"], "aggregates": {"region": {"$count": "*"}}}, "group_by"),
    ({"group_by": ["nope"]}, "nope"),
    ({"group_by": [["region"]]}, None),
    ({"group_by": {"region": 1}}, None),
    ({"group_by": ["region"] * 65}, "limit"),
    ({"aggregates": {"n": {"$count": "*"}}, "having": {"nope": 1}}, "aliases"),
    ({"aggregates": {"n": {"$count": "*"}}, "having": {"n": {"$regex": ".*"}}}, "operator"),
    ({"aggregates": {"n": {"$count": "*"}}, "having": {"n": "1; DROP TABLE t"}}, None),
    ({"aggregates": {"n": {"$count": "*"}}, "having": {"n": 1.5}}, None),
    ({"aggregates": {"n": {"$count": "*"}}, "having": {"n": None}}, None),
    ({"aggregates": {"n": {"$count": "*"}}, "having": {"n": {"$in": "12"}}}, None),
    ({"aggregates": {"n": {"$count": "*"}}, "having": ["n"]}, None),
    ({"aggregates": {"n": {"$count": "*"}}, "having": {"$or": []}}, None),
    ({"aggregates": {"t": {"$sum": "amount"}}, "having": {"t": {"$gt": D("NaN")}}}, None),
    ({"aggregates": {"n": {"$count": "*"}}, "having": "deep"}, "deep"),
    ({"aggregates": {"n": {"$count": "*"}}, "order_by": ["qty"]}, "ordered"),
    ({"aggregates": {"n": {"$count": "*"}}, "order_by": [{"n": 2}]}, "direction"),
    ({"aggregates": {"n": {"$count": "*"}}, "order_by": [3]}, None),
    ({"aggregates": {"n": {"$count": "*"}}, "filter": {"nope": 1}}, "nope"),
    ({"aggregates": {"n": {"$count": "*"}}, "limit": -1}, None),
    ({"aggregates": {"n": {"$count": "*"}}, "limit": "10"}, None),
])
def test_bad_parameters_are_df102_and_change_nothing(make_model, run_node, params, match):
    sale = _sales(make_model, run_node)
    if params.get("having") == "deep":
        params = {**params, "having": _nest({"n": 1}, 40)}
    before = raw_rows(make_model.db, sale)
    with raises_df("DF-102", match=match):
        run_node("SaleAggregateNode", params)
    assert raw_rows(make_model.db, sale) == before


def _nest(leaf, depth):
    for _ in range(depth):
        leaf = {"$not": leaf}
    return leaf


__all__ = tests_in(globals())
