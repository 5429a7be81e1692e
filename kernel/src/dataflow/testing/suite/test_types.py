"""Conformance: every field type of API.md round-trips exactly, through every node that returns rows.

Datetimes: naive values are taken as UTC and every datetime comes back aware, in UTC; ISO-8601
strings (``Z`` and offsets) are converted on create, update and bulk create. JSON fields come back
as Python objects. Decimals are exact.
"""

import datetime as dt
from decimal import Decimal
from typing import List, Optional  # noqa: UP035 - the spellings users write

from dataflow.testing.fixtures import raises_df
from dataflow.testing.helpers import ScalarFields
from dataflow.testing.suite._support import assert_utc, strip, tests_in

UTC = dt.UTC


def _everything(make_model):
    class Everything(ScalarFields):
        doc: dict
        items: list
        maybe: Optional[str] = None  # noqa: UP045
        tags: List[str] = []  # noqa: UP006

    return make_model(Everything)


SAMPLE = {
    "s": "text ünïcødé",
    "i": 1_700_000_000_123,  # milliseconds since the epoch: needs 64-bit integers
    "f": 1234.5678,
    "b": True,
    "when": dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    "day": dt.date(2024, 2, 29),
    "amount": Decimal("12345.6789"),
    "blob": b"\x00\x01\xfe\xffbinary",
    "doc": {"a": 1, "nested": {"b": [1, 2.5, None, True]}, "s": "é"},
    "items": [1, "two", {"three": 3}, []],
    "maybe": None,
    "tags": ["red", "green"],
}


def _roundtrip_everywhere(run_node, values):
    """Create, then read, list and update the row; every path gives back ``values`` exactly."""
    created = run_node("EverythingCreateNode", values)
    rid = created["id"]
    read = run_node("EverythingReadNode", {"id": rid})
    (listed,) = run_node("EverythingListNode", {"filter": {"id": rid}})["records"]
    updated = run_node("EverythingUpdateNode", {"filter": {"id": rid}, "fields": {"s": values["s"]}})
    for record in (created, read, listed, updated):
        assert strip(record, "id", "found", "updated") == values
        assert_utc(record["created_at"])
    return created


def test_every_type_round_trips(make_model, run_node):
    _everything(make_model)
    created = _roundtrip_everywhere(run_node, SAMPLE)
    assert type(created["i"]) is int and type(created["f"]) is float and type(created["b"]) is bool
    assert type(created["amount"]) is Decimal and type(created["blob"]) is bytes
    assert type(created["day"]) is dt.date and type(created["doc"]) is dict and type(created["items"]) is list


def test_other_values_round_trip(make_model, run_node):
    _everything(make_model)
    values = {**SAMPLE, "s": "", "i": -42, "f": -0.5, "b": False, "amount": Decimal("-0.0001"),
              "blob": b"", "doc": {}, "items": [], "maybe": "set", "tags": [],
              "when": dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), "day": dt.date(1970, 1, 1)}
    _roundtrip_everywhere(run_node, values)


def test_naive_datetime_is_taken_as_utc(make_model, run_node):
    _everything(make_model)
    out = run_node("EverythingCreateNode", {**SAMPLE, "when": dt.datetime(2024, 5, 6, 7, 8, 9, 10)})
    assert out["when"] == dt.datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=UTC)
    assert_utc(out["when"])
    assert_utc(run_node("EverythingReadNode", {"id": out["id"]})["when"])


def test_aware_datetime_keeps_its_instant(make_model, run_node):
    _everything(make_model)
    plus_five_thirty = dt.timezone(dt.timedelta(hours=5, minutes=30))
    given = dt.datetime(2024, 5, 6, 12, 0, 0, tzinfo=plus_five_thirty)
    out = run_node("EverythingCreateNode", {**SAMPLE, "when": given})
    read = run_node("EverythingReadNode", {"id": out["id"]})
    for value in (out["when"], read["when"]):
        assert value == given
        assert value == dt.datetime(2024, 5, 6, 6, 30, tzinfo=UTC)
        assert_utc(value)


def test_iso_strings_are_converted(make_model, run_node):
    _everything(make_model)
    out = run_node("EverythingCreateNode", {**SAMPLE, "when": "2024-03-01T12:00:00Z"})
    assert out["when"] == dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert_utc(out["when"])
    out = run_node("EverythingUpdateNode", {"filter": {"id": out["id"]},
                                            "fields": {"when": "2024-03-01T12:00:00+02:00"}})
    assert out["when"] == dt.datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert_utc(run_node("EverythingReadNode", {"id": out["id"]})["when"])
    bulk = run_node("EverythingBulkCreateNode", {"return_ids": True, "data": [
        {**SAMPLE, "when": "2024-03-01T12:00:00.5-05:00"},
        {**SAMPLE, "when": "2024-03-01T12:00:00"},
    ]})
    first = run_node("EverythingReadNode", {"id": bulk["ids"][0]})
    second = run_node("EverythingReadNode", {"id": bulk["ids"][1]})
    assert first["when"] == dt.datetime(2024, 3, 1, 17, 0, 0, 500000, tzinfo=UTC)
    assert second["when"] == dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_datetime_filters_and_order(make_model, run_node):
    _everything(make_model)
    base = dt.datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{**SAMPLE, "s": f"r{h}", "when": base + dt.timedelta(hours=h)} for h in (5, 1, 30, 12)]
    run_node("EverythingBulkCreateNode", {"data": rows})
    out = run_node("EverythingListNode", {"order_by": ["when"]})
    assert [r["s"] for r in out["records"]] == ["r1", "r5", "r12", "r30"]
    out = run_node("EverythingListNode", {"filter": {"when": {"$gt": "2024-01-01T06:00:00Z"}}, "order_by": ["s"]})
    assert [r["s"] for r in out["records"]] == ["r12", "r30"]
    # the same instant written with an offset selects the same rows
    east = dt.timezone(dt.timedelta(hours=3))
    out = run_node("EverythingListNode", {"filter": {"when": {"$lte": dt.datetime(2024, 1, 1, 8, tzinfo=east)}},
                                          "order_by": ["s"]})
    assert [r["s"] for r in out["records"]] == ["r1", "r5"]


def test_filters_on_other_types(make_model, run_node):
    _everything(make_model)
    rows = [
        {**SAMPLE, "s": "a", "b": True, "day": dt.date(2024, 1, 1), "amount": Decimal("9.5"), "f": 1.0},
        {**SAMPLE, "s": "b", "b": False, "day": dt.date(2024, 6, 1), "amount": Decimal("10.25"), "f": 2.5},
        {**SAMPLE, "s": "c", "b": False, "day": dt.date(2025, 1, 1), "amount": Decimal("100"), "f": -1.0},
    ]
    run_node("EverythingBulkCreateNode", {"data": rows})

    def sel(flt):
        return [r["s"] for r in run_node("EverythingListNode", {"filter": flt, "order_by": ["s"]})["records"]]

    assert sel({"b": True}) == ["a"]
    assert sel({"b": False}) == ["b", "c"]
    assert sel({"day": {"$gte": dt.date(2024, 6, 1)}}) == ["b", "c"]
    assert sel({"day": "2024-01-01"}) == ["a"]
    assert sel({"amount": {"$gt": Decimal("10")}}) == ["b", "c"]
    assert sel({"amount": Decimal("10.25")}) == ["b"]
    assert sel({"f": {"$lt": 2}}) == ["a", "c"]
    assert sel({"maybe": None}) == ["a", "b", "c"]
    out = run_node("EverythingListNode", {"order_by": [{"amount": -1}]})
    assert [r["s"] for r in out["records"]] == ["c", "b", "a"]


def test_decimal_is_exact(make_model, run_node):
    _everything(make_model)
    for text in ("0.1", "12345678901234.5678", "-3.14159265"):
        out = run_node("EverythingCreateNode", {**SAMPLE, "amount": Decimal(text)})
        read = run_node("EverythingReadNode", {"id": out["id"]})
        assert read["amount"] == Decimal(text) and isinstance(read["amount"], Decimal)


def test_json_comes_back_as_objects(make_model, run_node):
    _everything(make_model)
    doc = {"k": "v", "quote": "it's \"x\"", "list": [1, {"deep": [None]}], "unicode": "日本"}
    out = run_node("EverythingCreateNode", {**SAMPLE, "doc": doc, "items": ["x", 1, 2.5, False, None]})
    for record in (out, run_node("EverythingReadNode", {"id": out["id"]})):
        assert record["doc"] == doc and isinstance(record["doc"], dict)
        assert record["items"] == ["x", 1, 2.5, False, None] and isinstance(record["items"], list)
    out = run_node("EverythingUpdateNode", {"filter": {"id": out["id"]}, "fields": {"doc": {"replaced": True}}})
    assert out["doc"] == {"replaced": True}


def test_optional_field_takes_none(make_model, run_node):
    _everything(make_model)
    out = run_node("EverythingCreateNode", {**SAMPLE, "maybe": "x"})
    out = run_node("EverythingUpdateNode", {"filter": {"id": out["id"]}, "fields": {"maybe": None}})
    assert out["maybe"] is None
    assert run_node("EverythingReadNode", {"id": out["id"]})["maybe"] is None


def test_none_for_required_field_is_df102(make_model, run_node):
    _everything(make_model)
    with raises_df("DF-102"):
        run_node("EverythingCreateNode", {**SAMPLE, "s": None})


def test_wrong_types_are_df102(make_model, run_node):
    _everything(make_model)
    for field, bad in (("i", "12"), ("i", 1.5), ("b", "yes"), ("s", 5), ("when", "not a date"),
                       ("day", "2024-13-45"), ("amount", "abc"), ("blob", "text"), ("tags", "red"),
                       ("tags", [1, 2]), ("f", "1.5"), ("i", True)):
        with raises_df("DF-102"):
            run_node("EverythingCreateNode", {**SAMPLE, field: bad})
    assert run_node("EverythingCountNode", {})["count"] == 0


def test_booleans_round_trip_through_bulk_writes(make_model, run_node):
    """Bulk create and bulk upsert store booleans as single rows do: mixed, all one value, and an
    optional column holding None among them (each form a bulk path may encode a column in)."""

    class Flag:
        id: str
        on: bool
        maybe: Optional[bool] = None  # noqa: UP045

    make_model(Flag)
    rows = [{"id": f"f{i}", "on": i % 2 == 0, "maybe": (None, True, False)[i % 3]} for i in range(6)]
    assert run_node("FlagBulkCreateNode", {"data": rows})["inserted"] == 6
    run_node("FlagBulkCreateNode", {"data": [{"id": f"t{i}", "on": True} for i in range(3)]})
    out = run_node("FlagBulkUpsertNode", {"data": [{"id": r["id"], "on": not r["on"], "maybe": r["maybe"]}
                                                   for r in rows[:4]] + [{"id": "f9", "on": False, "maybe": None}]})
    assert (out["inserted"], out["updated"]) == (1, 4)
    records = run_node("FlagListNode", {"order_by": ["id"]})["records"]
    expected = [("f0", False, None), ("f1", True, True), ("f2", False, False), ("f3", True, None),
                ("f4", True, True), ("f5", False, False), ("f9", False, None),
                ("t0", True, None), ("t1", True, None), ("t2", True, None)]
    assert [(r["id"], r["on"], r["maybe"]) for r in records] == expected
    assert all(type(r["on"]) is bool and (r["maybe"] is None or type(r["maybe"]) is bool) for r in records)
    assert run_node("FlagCountNode", {"filter": {"on": True}})["count"] == 6
    assert run_node("FlagCountNode", {"filter": {"maybe": False}})["count"] == 2
    assert run_node("FlagCountNode", {"filter": {"maybe": None}})["count"] == 6


__all__ = tests_in(globals())
