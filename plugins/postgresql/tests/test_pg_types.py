"""Every field type round-trips exactly; identifiers and values can never break out of SQL."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import List, Optional  # noqa: UP035 - the typing spelling of API.md is under test

from dataflow.testing import raw_fetch
from dataflow.testing.helpers import ScalarFields


def test_round_trip_every_type(make_model, run_node):
    @make_model
    class Thing(ScalarFields):
        id: str
        doc: dict
        items: list
        tags: List[str]  # noqa: UP006 - the typing spelling of API.md
        maybe: Optional[str] = None  # noqa: UP045
        maybe_at: dt.datetime | None = None

    value = {
        "id": "t1", "s": "héllo ✓ 𝄞", "i": 2**62, "f": 0.1, "b": False,
        "when": dt.datetime(2024, 2, 29, 23, 59, 59, 123456),  # naive = UTC
        "day": dt.date(2024, 2, 29), "amount": decimal.Decimal("12345678901234567890.123456789"),
        "blob": b"\x00\xff\x01binary", "doc": {"a": {"b": [1, 2.5, None, True]}, "s": "x"},
        "items": [1, "two", {"three": 3}], "tags": ["x", "y"],
    }
    stored = run_node("ThingCreateNode", value)
    back = run_node("ThingReadNode", {"id": "t1"})
    for row in (stored, back):
        assert row["when"] == dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=dt.UTC)
        assert row["when"].tzinfo == dt.UTC
        for key in ("s", "i", "f", "b", "day", "amount", "blob", "doc", "items", "tags"):
            assert row[key] == value[key] and type(row[key]) is type(value[key]), key
        assert row["maybe"] is None and row["maybe_at"] is None
    assert str(back["amount"]) == "12345678901234567890.123456789"


def test_datetimes_are_stored_as_instants(make_model, run_node):
    @make_model
    class Event:
        at: dt.datetime

    plus2 = dt.timezone(dt.timedelta(hours=2))
    a = run_node("EventCreateNode", {"at": dt.datetime(2024, 1, 1, 12, 0, tzinfo=plus2)})
    b = run_node("EventCreateNode", {"at": "2024-01-01T10:30:00Z"})
    c = run_node("EventCreateNode", {"at": "2024-01-01T09:00:00"})
    assert a["at"] == dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.UTC) and a["at"].tzinfo == dt.UTC
    assert b["at"] == dt.datetime(2024, 1, 1, 10, 30, tzinfo=dt.UTC)
    listed = run_node("EventListNode", {"filter": {"at": {"$gte": "2024-01-01T10:00:00Z"}}, "order_by": ["at"]})
    assert [r["id"] for r in listed["records"]] == [a["id"], b["id"]]
    assert run_node("EventCountNode", {"filter": {"at": {"$lt": dt.datetime(2024, 1, 1, 10)}}})["count"] == 1
    assert c["at"].hour == 9


def test_column_types_are_native(make_model, run_node, db):
    @make_model
    class Typed:
        a: str
        b: int
        c: float
        d: bool
        e: dt.datetime
        f: dt.date
        g: decimal.Decimal
        h: bytes
        i: dict

    run_node("TypedCountNode", {})
    rows = raw_fetch(db, "SELECT column_name, data_type FROM information_schema.columns "
                         "WHERE table_schema = current_schema() AND table_name = $1", [Typed.__dataflow_model__.table])
    types = dict(rows)
    assert types == {"id": "bigint", "a": "text", "b": "bigint", "c": "double precision", "d": "boolean",
                     "e": "timestamp with time zone", "f": "date", "g": "numeric", "h": "bytea", "i": "jsonb",
                     "created_at": "timestamp with time zone", "updated_at": "timestamp with time zone"}


def test_reserved_word_identifiers(make_model, run_node):
    @make_model
    class Order:
        order: int
        user: str
        select: str | None = None

    made = run_node("OrderCreateNode", {"order": 1, "user": "u", "select": "s"})
    assert made["order"] == 1 and made["user"] == "u" and made["select"] == "s"
    run_node("OrderBulkCreateNode", {"data": [{"order": i, "user": f"u{i}"} for i in range(2, 50)]})
    listed = run_node("OrderListNode", {"filter": {"user": {"$like": "u%"}, "order": {"$lte": 3}},
                                        "order_by": ["-order"]})
    assert [r["order"] for r in listed["records"]] == [3, 2, 1]
    updated = run_node("OrderUpdateNode", {"filter": {"id": made["id"]}, "fields": {"select": None}})
    assert updated["select"] is None


def test_hostile_strings_are_data(make_model, run_node, db):
    @make_model
    class Victim:
        id: str
        name: str
        doc: dict = {}

    hostile = ["'; DROP TABLE victims; --", "\" OR 1=1 --", "$1", "\\", "Robert'); DELETE FROM x;--",
               "ünïcødé ✓ 中文 🎉", "%_", "' || pg_sleep(5) || '", "\t\n\r"]
    for i, text in enumerate(hostile):
        run_node("VictimCreateNode", {"id": text + str(i), "name": text, "doc": {text: text}})
    for i, text in enumerate(hostile):
        row = run_node("VictimReadNode", {"id": text + str(i)})
        assert row["name"] == text and row["doc"] == {text: text}
        assert run_node("VictimCountNode", {"filter": {"name": text}})["count"] == 1
    bulk = [{"id": f"b{i}", "name": text} for i, text in enumerate(hostile * 5)]
    assert run_node("VictimBulkCreateNode", {"data": bulk})["inserted"] == len(bulk)
    assert raw_fetch(db, f'SELECT count(*) FROM "{Victim.__dataflow_model__.table}"')[0][0] == len(hostile) * 6
