"""Bulk paths: COPY, unnest with RETURNING / ON CONFLICT, native upsert; all or nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Optional

import pytest
from dataflow.testing import raises_df, raw_fetch


def _count(db, cls) -> int:
    return raw_fetch(db, f'SELECT count(*) FROM "{cls.__dataflow_model__.table}"')[0][0]


@pytest.mark.parametrize("size", [5, 500])  # below and above the COPY threshold
def test_bulk_is_atomic(make_model, run_node, db, size):
    @make_model
    class Row:
        id: str
        n: int

    run_node("RowCreateNode", {"id": "dup", "n": 0})
    data = [{"id": f"r{i}", "n": i} for i in range(size)] + [{"id": "dup", "n": -1}]
    with raises_df("DF-704") as caught:
        run_node("RowBulkCreateNode", {"data": data})
    assert type(caught["error"].__cause__).__name__ == "UniqueViolationError"
    assert _count(db, Row) == 1


@pytest.mark.parametrize("size", [3, 2000])
def test_bulk_create_copy_and_naive_datetimes(make_model, run_node, size):
    @make_model
    class Reading:
        at: dt.datetime
        doc: dict = {}

    base = dt.datetime(2024, 5, 1, 8, 0)  # naive: UTC
    data = [{"at": base + dt.timedelta(seconds=i), "doc": {"i": i}} for i in range(size)]
    assert run_node("ReadingBulkCreateNode", {"data": data}) == {
        "processed": size, "inserted": size, "skipped": 0, "success": True}
    rows = run_node("ReadingListNode", {"order_by": ["at"], "limit": 3})["records"]
    assert rows[0]["at"] == base.replace(tzinfo=dt.UTC) and rows[2]["doc"] == {"i": 2}


@pytest.mark.parametrize("size", [1, 3000])
def test_return_ids_in_order(make_model, run_node, size):
    @make_model
    class Gen:
        label: str

    out = run_node("GenBulkCreateNode", {"data": [{"label": f"l{i}"} for i in range(size)], "return_ids": True})
    assert out["inserted"] == size and len(out["ids"]) == size
    assert out["ids"] == sorted(out["ids"]) and len(set(out["ids"])) == size
    assert run_node("GenReadNode", {"id": out["ids"][-1]})["label"] == f"l{size - 1}"

    @make_model
    class Keyed:
        id: str
        label: str

    keys = [uuid.uuid4().hex for _ in range(size)]
    out = run_node("KeyedBulkCreateNode", {"data": [{"id": k, "label": "x"} for k in keys], "return_ids": True})
    assert out["ids"] == keys


def test_skip_conflicts(make_model, run_node, db):
    @make_model
    class User:
        email: str
        __dataflow__ = {"indexes": [{"name": f"ix_{uuid.uuid4().hex[:8]}", "fields": ["email"], "unique": True}]}

    run_node("UserBulkCreateNode", {"data": [{"email": f"u{i}@x.io"} for i in range(10)]})
    data = [{"email": f"u{i}@x.io"} for i in range(5, 50)]
    out = run_node("UserBulkCreateNode", {"data": data, "conflict_resolution": "skip", "return_ids": True})
    assert out["inserted"] == 40 and out["skipped"] == 5 and len(out["ids"]) == 40
    out = run_node("UserBulkCreateNode", {"data": [{"email": "u1@x.io"}, {"email": "new@x.io"}],
                                          "conflict_resolution": "skip"})
    assert out["inserted"] == 1 and out["skipped"] == 1
    assert _count(db, User) == 51


def test_explicit_int_ids_move_the_sequence(make_model, run_node):
    @make_model
    class Seq:
        label: str

    run_node("SeqCreateNode", {"id": 10, "label": "ten"})
    assert run_node("SeqCreateNode", {"label": "next"})["id"] == 11
    run_node("SeqBulkCreateNode", {"data": [{"id": i, "label": "x"} for i in range(100, 150)]})
    assert run_node("SeqCreateNode", {"label": "after bulk"})["id"] == 150
    run_node("SeqBulkUpsertNode", {"data": [{"id": 500, "label": "up"}]})
    assert run_node("SeqCreateNode", {"label": "after upsert"})["id"] == 501


def test_bulk_upsert_on_unique_index(make_model, run_node, db):
    index = f"ix_{uuid.uuid4().hex[:8]}"

    @make_model
    class Member:
        email: str
        name: str
        level: int = 0
        __dataflow__ = {"indexes": [{"name": index, "fields": ["email"], "unique": True}]}

    run_node("MemberBulkCreateNode", {"data": [{"email": f"m{i}@x.io", "name": "old"} for i in range(100)]})
    data = [{"email": f"m{i}@x.io", "name": "new", "level": i} for i in range(50, 250)]
    out = run_node("MemberBulkUpsertNode", {"data": data, "conflict_on": ["email"]})
    assert out == {"processed": 200, "inserted": 150, "updated": 50, "skipped": 0, "success": True}
    row = run_node("MemberReadNode", {"filter": {"email": "m60@x.io"}})
    assert row["name"] == "new" and row["level"] == 60
    assert run_node("MemberReadNode", {"filter": {"email": "m10@x.io"}})["name"] == "old"
    assert _count(db, Member) == 250
    plan = raw_fetch(db, "SELECT indexdef FROM pg_indexes WHERE indexname = $1", [index])
    assert "UNIQUE" in plan[0][0]

    single = run_node("MemberUpsertNode", {"where": {"email": "m0@x.io"}, "conflict_on": ["email"],
                                           "update": {"level": 7}, "create": {"name": "c"}})
    assert single["created"] is False and single["record"]["level"] == 7


def test_bulk_upsert_is_atomic(make_model, run_node, db):
    @make_model
    class Slot:
        id: str
        email: str
        n: int
        __dataflow__ = {"indexes": [{"name": f"ix_{uuid.uuid4().hex[:8]}", "fields": ["email"], "unique": True}]}

    run_node("SlotBulkCreateNode", {"data": [{"id": "a", "email": "a@x", "n": 1}, {"id": "b", "email": "b@x", "n": 1}]})
    # The second row collides with b's email (another unique index): the database refuses the
    # statement, and the update of "a" in the same node is rolled back with it.
    data = [{"id": "a", "email": "a@x", "n": 2}, {"id": "c", "email": "b@x", "n": 2}]
    with raises_df("DF-704"):
        run_node("SlotBulkUpsertNode", {"data": data})
    assert run_node("SlotReadNode", {"id": "a"})["n"] == 1 and _count(db, Slot) == 2


@pytest.mark.parametrize("by_query", [True, False], ids=["stamps-as-int8", "asyncpg-codecs"])
def test_copy_of_one_datetime_per_column(make_model, run_node, db, monkeypatch, by_query):
    """A COPY whose datetime columns hold one value each (the batch's timestamps, a datetime default)
    sends that value as PostgreSQL's 8-byte integer; where asyncpg lacks what that uses, the values go
    through asyncpg's codecs. The rows read back the same either way, beside per-row datetimes."""
    from dataflow_postgresql.dialect import PGConnection

    copies: list[bool] = []
    copy_rows = PGConnection.copy_rows

    async def spy(self, table, columns, records, count, typed_by=None):
        copies.append(typed_by is not None)
        return await copy_rows(self, table, columns, records, count, typed_by)

    monkeypatch.setattr(PGConnection, "copy_rows", spy)
    if not by_query:
        monkeypatch.setattr(PGConnection, "copies_by_query", lambda self: False)

    @make_model
    class Stamped:
        id: str
        at: dt.datetime
        since: dt.datetime = dt.datetime(1999, 12, 31, 23, 59, 59, 999999)  # naive: UTC

    before = dt.datetime.now(dt.UTC)
    at = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    data = [{"id": f"s{i:03d}", "at": at + dt.timedelta(microseconds=i)} for i in range(100)]
    assert run_node("StampedBulkCreateNode", {"data": data})["inserted"] == 100
    assert copies == [by_query]
    records = run_node("StampedListNode", {"order_by": ["id"], "limit": 1000})["records"]
    assert [r["at"] for r in records] == [row["at"] for row in data]
    assert {r["since"] for r in records} == {dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)}
    (created,) = {r["created_at"] for r in records}
    assert {r["updated_at"] for r in records} == {created}
    assert before <= created <= dt.datetime.now(dt.UTC)
    stored = raw_fetch(db, f'SELECT DISTINCT created_at = updated_at, since FROM "{Stamped.__dataflow_model__.table}"')
    assert [tuple(r) for r in stored] == [(True, dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC))]


def test_unnest_binds_a_column_of_one_value_once(make_model, run_node, db, monkeypatch):
    """Bulk upsert and bulk create with ids back send each column holding one value for every row
    (timestamps, defaults of every kind, None) as one parameter, not an array; the rows read back alike."""
    from dataflow_postgresql.dialect import PGConnection

    sent: list[list[object]] = []

    def spying(method):
        async def spy(self, sql, params):
            if "unnest" in sql:
                sent.append(list(params))
            return await method(self, sql, params)

        return spy

    monkeypatch.setattr(PGConnection, "fetch", spying(PGConnection.fetch))
    monkeypatch.setattr(PGConnection, "execute", spying(PGConnection.execute))

    @make_model
    class Filled:
        id: str
        label: str
        since: dt.datetime = dt.datetime(2001, 2, 3, 4, 5, 6)
        doc: dict = {"a": [1, 2]}
        note: Optional[str] = None  # noqa: UP045
        n: int = 7

    run_node("FilledBulkCreateNode", {"data": [{"id": f"f{i}", "label": "old"} for i in range(50)]})
    out = run_node("FilledBulkUpsertNode", {"data": [{"id": f"f{i}", "label": "new"} for i in range(25, 100)]})
    assert (out["inserted"], out["updated"]) == (50, 25)
    skipped = run_node("FilledBulkCreateNode", {"data": [{"id": f"g{i}", "label": "g"} for i in range(40)],
                                                "conflict_resolution": "skip"})
    assert skipped["inserted"] == 40
    # id and label vary: two arrays; since, doc, note, n, created_at, updated_at: one value each.
    assert len(sent) == 2 and all(len(params) == 8 for params in sent)
    assert all(sum(isinstance(p, list) for p in params) == 2 for params in sent)
    records = run_node("FilledListNode", {"limit": 1000})["records"]
    assert len(records) == 140
    assert {(r["since"], str(r["doc"]), r["note"], r["n"]) for r in records} == {
        (dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.UTC), "{'a': [1, 2]}", None, 7)}
    new = [r for r in records if r["label"] == "new"]
    assert len(new) == 75 and len({r["updated_at"] for r in new}) == 1
    assert all(r["created_at"] < r["updated_at"] for r in new if int(r["id"][1:]) < 50)
