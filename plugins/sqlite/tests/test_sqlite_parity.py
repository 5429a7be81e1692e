"""SQLite's side of the parity rules that need more than the conformance suite: tables made without
AUTOINCREMENT (before DataFlow declared it, or by hand) never reuse the ids of deleted rows either, and
the key decimals are compared by orders them as numbers."""

import pytest
from dataflow.testing import raw_execute, raw_fetch
from dataflow.testing.fixtures import *  # noqa: F403 - the fixtures db, make_model, run_node …
from dataflow_sqlite.dialect import decimal_key
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.fixture
def dataflow_url(tmp_path):
    return f"sqlite:///{tmp_path / 'parity.db'}"


def _legacy_table(make_model, run_node):
    """A ``Ticket`` model over a table created the old way: ``id INTEGER PRIMARY KEY`` (the rowid)."""
    db = make_model.db
    table = "legacy_tickets"
    raw_execute(db, f'CREATE TABLE "{table}" ("id" INTEGER PRIMARY KEY, "title" TEXT NOT NULL, '
                    '"created_at" TEXT, "updated_at" TEXT)')

    class Ticket:
        title: str

    make_model(Ticket, table=table)
    return table


def test_a_table_without_autoincrement_never_reuses_ids(make_model, run_node):
    table = _legacy_table(make_model, run_node)
    first = [run_node("TicketCreateNode", {"title": f"t{i}"})["id"] for i in range(3)]
    assert first == [1, 2, 3]
    run_node("TicketDeleteNode", {"id": 3})
    assert run_node("TicketCreateNode", {"title": "t3"})["id"] == 4
    run_node("TicketBulkDeleteNode", {"filter": {}, "confirmed": True})
    bulk = run_node("TicketBulkCreateNode", {"data": [{"title": "a"}, {"title": "b"}], "return_ids": True})
    assert bulk["ids"] == [5, 6]
    run_node("TicketBulkDeleteNode", {"filter": {}, "confirmed": True})
    assert run_node("TicketBulkCreateNode", {"data": [{"title": f"c{i}"} for i in range(3)]})["inserted"] == 3
    assert [r[0] for r in raw_fetch(make_model.db, f'SELECT "id" FROM "{table}" ORDER BY "id"')] == [7, 8, 9]
    # The high-water mark lives where SQLite keeps its own, so a rebuild with AUTOINCREMENT continues it.
    assert raw_fetch(make_model.db, "SELECT seq FROM sqlite_sequence WHERE name = ?", [table]) == [(9,)]


def test_explicit_ids_raise_the_high_water_mark(make_model, run_node):
    _legacy_table(make_model, run_node)
    run_node("TicketCreateNode", {"title": "given", "id": 40})
    run_node("TicketDeleteNode", {"id": 40})
    assert run_node("TicketCreateNode", {"title": "next"})["id"] == 41


def test_new_tables_declare_autoincrement(make_model, run_node):
    @make_model
    class Note:
        text: str

    run_node("NoteCountNode", {})
    ((sql,),) = raw_fetch(make_model.db, "SELECT sql FROM sqlite_master WHERE name = ?", [make_model.table(Note)])
    assert "AUTOINCREMENT" in sql


@settings(max_examples=100, deadline=None)
@given(st.lists(st.decimals(allow_nan=False, allow_infinity=False, places=None), min_size=2, max_size=6))
def test_decimal_keys_order_as_the_numbers(values):
    """SQLite compares and sorts decimals (stored as their text) by this key: its order is theirs."""
    keys = [decimal_key(str(v)) for v in values]
    assert sorted(range(len(values)), key=lambda i: (values[i], i)) == sorted(range(len(values)),
                                                                              key=lambda i: (keys[i], i))
    for a, ka in zip(values, keys, strict=True):
        for b, kb in zip(values, keys, strict=True):
            assert (a == b) == (ka == kb)
