"""Conformance: atomic updates (``$inc``, ``$dec``, ``$mul``, ``$set_null``) computed in SQL, alike on every
database, exact for decimals, and never losing a concurrent change."""

import asyncio
import decimal

import pytest

from dataflow import AsyncLocalRuntime, WorkflowBuilder
from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import seed, tests_in

D = decimal.Decimal


def _counter(make_model):
    @make_model
    class Counter:
        name: str
        hits: int = 0
        ratio: float = 1.0
        balance: decimal.Decimal = D("0")
        note: str | None = None
        extra: int | None = None

    return Counter


def test_inc_dec_mul_in_update(make_model, run_node):
    counter = _counter(make_model)
    (cid,) = seed(run_node, counter, [{"name": "a", "hits": 5, "ratio": 1.5, "balance": D("10.25"), "note": "x"}])
    out = run_node("CounterUpdateNode", {"id": cid, "fields": {"hits": {"$inc": 3}, "ratio": {"$mul": 2},
                                                               "balance": {"$dec": D("0.75")},
                                                               "note": {"$set_null": True}}})
    assert out["updated"] is True
    assert (out["hits"], out["ratio"], out["balance"], out["note"]) == (8, 3.0, D("9.50"), None)
    assert isinstance(out["balance"], D)
    read = run_node("CounterReadNode", {"id": cid})
    assert (read["hits"], read["ratio"], read["balance"], read["note"]) == (8, 3.0, D("9.5"), None)
    assert read["updated_at"] >= read["created_at"]


def test_flat_field_operators_and_a_plain_value_together(make_model, run_node):
    counter = _counter(make_model)
    seed(run_node, counter, [{"name": "a", "hits": 1}])
    out = run_node("CounterUpdateNode", {"filter": {"name": "a"}, "hits": {"$mul": 10}, "name": "b"})
    assert (out["hits"], out["name"]) == (10, "b")


def test_decimals_stay_exact(make_model, run_node):
    counter = _counter(make_model)
    (cid,) = seed(run_node, counter, [{"name": "a", "balance": D("0.1")}])
    for _ in range(3):
        run_node("CounterUpdateNode", {"id": cid, "fields": {"balance": {"$inc": D("0.2")}}})
    out = run_node("CounterUpdateNode", {"id": cid, "fields": {"balance": {"$mul": D("1.5")}}})
    assert out["balance"] == D("1.05")
    big = D("12345678901234567890.123456789")
    out = run_node("CounterUpdateNode", {"id": cid, "fields": {"balance": {"$inc": big}}})
    assert out["balance"] == D("12345678901234567891.173456789")  # beyond 28 digits: no rounding


def test_null_stays_null(make_model, run_node):
    counter = _counter(make_model)
    (cid,) = seed(run_node, counter, [{"name": "a"}])
    out = run_node("CounterUpdateNode", {"id": cid, "fields": {"extra": {"$inc": 1}}})
    assert out["extra"] is None


def test_bulk_update_with_operators(make_model, run_node):
    counter = _counter(make_model)
    ids = seed(run_node, counter, [{"name": n, "hits": i} for i, n in enumerate("abcd")])
    out = run_node("CounterBulkUpdateNode", {"filter": {"hits": {"$gte": 2}}, "fields": {"hits": {"$inc": 100}}})
    assert out["updated"] == 2
    by_rows = run_node("CounterBulkUpdateNode", {"data": [{"id": ids[0], "hits": {"$dec": 5}},
                                                          {"id": ids[1], "hits": {"$mul": 7}}]})
    assert by_rows["updated"] == 2
    listed = run_node("CounterListNode", {"order_by": ["name"], "fields": ["hits"]})["records"]
    assert [r["hits"] for r in listed] == [-5, 7, 102, 103]


def test_fifty_concurrent_increments_lose_none(make_model, run_node):
    counter = _counter(make_model)
    (cid,) = seed(run_node, counter, [{"name": "a"}])
    runtime = AsyncLocalRuntime()

    def bump(node):
        wf = WorkflowBuilder()
        wf.add_node(node, "bump", {"id": cid, "fields": {"hits": {"$inc": 1}, "balance": {"$inc": D("0.01")}}}
                    if node == "CounterUpdateNode" else
                    {"filter": {"id": cid}, "fields": {"hits": {"$inc": 1}, "balance": {"$inc": D("0.01")}}})
        return runtime.execute_workflow_async(wf.build(), inputs={})

    async def main():
        await asyncio.gather(*(bump("CounterUpdateNode" if i % 2 else "CounterBulkUpdateNode") for i in range(50)))

    asyncio.run(main())
    out = run_node("CounterReadNode", {"id": cid})
    assert out["hits"] == 50 and out["balance"] == D("0.50")


@pytest.mark.parametrize("fields", [
    {"hits": {"$inc": "1"}},
    {"hits": {"$inc": 1.5}},
    {"hits": {"$inc": True}},
    {"hits": {"$inc": None}},
    {"hits": {"$inc": [1]}},
    {"hits": {"$inc": 1, "$mul": 2}},
    {"hits": {"$add": 1}},
    {"hits": {"$inc; DROP TABLE x": 1}},
    {"hits": {"$set_null": True}},
    {"note": {"$set_null": False}},
    {"note": {"$inc": 1}},
    {"name": {"$mul": 2}},
    {"balance": {"$inc": D("NaN")}},
    {"balance": {"$inc": float("inf")}},
    {"ratio": {"$mul": {"$inc": 1}}},
    {"nope": {"$inc": 1}},
    {"created_at": {"$inc": 1}},
    {"id": {"$inc": 1}},
])
def test_bad_operators_are_refused_and_change_nothing(make_model, run_node, fields):
    counter = _counter(make_model)
    (cid,) = seed(run_node, counter, [{"name": "a", "hits": 1, "note": "n"}])
    before = raw_rows(make_model.db, counter)
    code = "DF-104" if "created_at" in fields else "DF-102"
    with raises_df(code):
        run_node("CounterUpdateNode", {"id": cid, "fields": fields})
    with raises_df(code):
        run_node("CounterBulkUpdateNode", {"filter": {"id": cid}, "fields": fields})
    assert raw_rows(make_model.db, counter) == before


def test_operators_are_plain_values_elsewhere(make_model, run_node):
    counter = _counter(make_model)
    assert run_node("CounterCountNode", {}) == {"count": 0}
    with raises_df("DF-102"):
        run_node("CounterCreateNode", {"name": "a", "hits": {"$inc": 1}})
    with raises_df("DF-102"):
        run_node("CounterUpsertNode", {"where": {"name": "a"}, "update": {"hits": {"$inc": 1}}})
    assert raw_rows(make_model.db, counter) == []


def test_json_field_keeps_dict_values(make_model, run_node):
    @make_model
    class Doc:
        body: dict = {}

    (did,) = seed(run_node, Doc, [{"body": {"a": 1}}])
    out = run_node("DocUpdateNode", {"id": did, "fields": {"body": {"$weird": 1}}})
    assert out["body"] == {"$weird": 1}
    with raises_df("DF-102"):
        run_node("DocUpdateNode", {"id": did, "fields": {"body": {"$inc": 1}}})


def test_one_update_shape_with_other_values_changes_its_own_row(make_model, run_node):
    """Updates of one shape reuse their statement text; each binds its own values."""
    counter = _counter(make_model)
    ids = seed(run_node, counter, [{"name": "a", "hits": 1, "balance": D("1")}, {"name": "b", "hits": 2}])
    for round_ in range(2):  # the second pass reuses every statement of the first
        for k, cid in enumerate(ids):
            out = run_node("CounterUpdateNode", {"id": cid, "fields": {"hits": {"$inc": k + 1}, "note": f"n{k}"}})
            assert (out["hits"], out["note"]) == ([1, 2][k] + (k + 1) * (round_ + 1), f"n{k}")
            out = run_node("CounterUpdateNode", {"id": cid, "fields": {"note": f"m{k}{round_}", "hits": 100 + k}})
            assert (out["hits"], out["note"]) == (100 + k, f"m{k}{round_}")
            out = run_node("CounterUpdateNode", {"id": cid, "fields": {"hits": [1, 2][k] + (k + 1) * (round_ + 1)}})
            assert out["hits"] == [1, 2][k] + (k + 1) * (round_ + 1)
            out = run_node("CounterUpdateNode", {"filter": {"id": cid, "name": ["a", "b"][k]},
                                                 "fields": {"balance": {"$mul": D(2)}}})
            assert out["balance"] == (D(2) ** (round_ + 1) if k == 0 else D(0))
    assert [run_node("CounterReadNode", {"id": cid})["note"] for cid in ids] == ["m01", "m11"]


__all__ = tests_in(globals())
