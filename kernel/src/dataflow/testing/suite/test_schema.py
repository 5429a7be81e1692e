"""Conformance: additive auto-migration across DataFlow instances sharing one table.

Instance A declares a model and writes rows; instance B declares the same table with one more
Optional field: the column is added and A's rows are intact; a field B no longer declares keeps its
column and data. (Each instance is a separate DataFlow on the suite's URL.)
"""

import pytest

from dataflow.testing.fixtures import raw_fetch, table_columns
from dataflow.testing.suite._support import strip, tests_in


def _shared_url_or_skip(make_model):
    if make_model.db.url.is_memory:
        pytest.skip("two instances on :memory: are two databases")


def test_new_optional_field_adds_a_column(make_model, run_node):
    _shared_url_or_skip(make_model)

    class Widget:
        name: str
        size: int = 1

    make_model(Widget)
    table = make_model.table(Widget)
    run_node("WidgetBulkCreateNode", {"data": [{"name": "a", "size": 2}, {"name": "b"}]})

    other = make_model.new_db()

    class Widget:  # type: ignore[no-redef]  # version 2 of the same model, on another instance
        name: str
        size: int = 1
        color: str | None = None

    make_model(Widget, db=other, table=table)
    out = run_node("WidgetListNode", {"order_by": ["name"], "db_instance": other})
    assert [strip(r, "id") for r in out["records"]] == [
        {"name": "a", "size": 2, "color": None}, {"name": "b", "size": 1, "color": None}]
    columns = table_columns(make_model.db, table)
    assert columns is not None and "color" in columns
    made = run_node("WidgetCreateNode", {"name": "c", "color": "red", "db_instance": other})
    assert made["color"] == "red"
    # the first instance keeps working with its own (older) view of the table
    out = run_node("WidgetListNode", {"order_by": ["name"], "db_instance": make_model.db})
    assert [strip(r, "id") for r in out["records"]] == [
        {"name": "a", "size": 2}, {"name": "b", "size": 1}, {"name": "c", "size": 1}]


def test_removed_field_keeps_column_and_data(make_model, run_node):
    _shared_url_or_skip(make_model)

    class Gadget:
        name: str
        note: str | None = None

    make_model(Gadget)
    table = make_model.table(Gadget)
    run_node("GadgetCreateNode", {"name": "a", "note": "keep me"})

    other = make_model.new_db()

    class Gadget:  # type: ignore[no-redef]  # the same table without "note"
        name: str

    make_model(Gadget, db=other, table=table)
    out = run_node("GadgetListNode", {"db_instance": other})
    assert [strip(r, "id") for r in out["records"]] == [{"name": "a"}]
    columns = table_columns(other, table)
    assert columns is not None and {"name", "note"} <= columns
    q = other.dialect.quote
    assert raw_fetch(other, f"SELECT {q('note')} FROM {q(table)}") == [("keep me",)]


def test_table_is_created_on_first_use(make_model, run_node):
    class Lazy:
        name: str

    make_model(Lazy)
    table = make_model.table(Lazy)

    assert table_columns(make_model.db, table) is None
    assert run_node("LazyCountNode", {}) == {"count": 0}
    assert table_columns(make_model.db, table) == {"id", "name", "created_at", "updated_at"}


__all__ = tests_in(globals())
