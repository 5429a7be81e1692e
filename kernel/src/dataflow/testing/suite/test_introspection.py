"""Conformance: a dialect reads its own catalogue into the records of ``dataflow.types``.

Tables made from models are read back with their columns (order, nullability, defaults, type family),
primary key and indexes; foreign keys, checks and views where the dialect declares them; row counts
and the server's identity. Constraints and views are made through the dialect's own DDL, so the
tests hold on any database.
"""

from __future__ import annotations

import attrs

from dataflow.testing.fixtures import unique_table
from dataflow.testing.suite._schema import apply_change, needs, on_conn, ready_model, table_of
from dataflow.testing.suite._support import tests_in
from dataflow.types import CheckSchema, ForeignKeySchema, SchemaChange, ViewSchema


def shelf() -> type:
    """A fresh model class (each test declares its own: the factory gives it a table of its own)."""

    class Shelf:
        label: str
        size: int = 3
        note: str | None = None
        __dataflow__ = {"indexes": [{"fields": ["label"], "unique": True}]}

    return Shelf


def test_introspect_reads_a_models_table(make_model, run_node):
    table = ready_model(make_model, run_node, shelf())
    live = table_of(make_model.db, table)
    assert live.column_names == ("id", "label", "size", "note", "created_at", "updated_at")
    assert live.primary_key == ("id",)
    columns = live.column_map
    assert not columns["label"].nullable and columns["note"].nullable
    assert columns["size"].family == "int" and columns["label"].family == "str"
    assert columns["id"].primary_key and columns["id"].autoincrement
    assert columns["size"].default is not None, "a model default is the column's DDL default"
    assert [(i.columns, i.unique) for i in live.indexes] == [(("label",), True)]


def test_introspect_only_what_is_asked_and_nothing_missing(make_model, run_node):
    table = ready_model(make_model, run_node, shelf())
    db = make_model.db
    found = on_conn(db, lambda conn: db.dialect.introspect(conn, [table, unique_table("missing")]))
    assert list(found) == [table]
    assert on_conn(db, lambda conn: db.dialect.introspect(conn, [])) == {}
    assert table in on_conn(db, lambda conn: db.dialect.introspect(conn))


def test_foreign_keys_are_read_and_found_from_the_referenced_table(make_model, run_node):
    needs(make_model.db, "foreign_keys")

    class Parent:
        name: str

    class Child:
        parent_id: int | None = None

    db = make_model.db
    parent, child = ready_model(make_model, run_node, Parent), ready_model(make_model, run_node, Child)
    before = table_of(db, child)
    fk = ForeignKeySchema(f"fk_{child}", ("parent_id",), parent, ("id",), table=child)
    apply_change(db, SchemaChange("add_foreign_key", child, before, attrs.evolve(before, foreign_keys=(fk,))))
    read = table_of(db, child).foreign_keys
    assert [(k.columns, k.ref_table, k.ref_columns, k.table) for k in read] == [
        (("parent_id",), parent, ("id",), child)]
    pointing = on_conn(db, lambda conn: db.dialect.foreign_keys_to(conn, parent))
    assert [(k.table, k.columns) for k in pointing] == [(child, ("parent_id",))]


def test_checks_are_read(make_model, run_node):
    needs(make_model.db, "check_constraints")
    db = make_model.db
    table = ready_model(make_model, run_node, shelf())
    before = table_of(db, table)
    check = CheckSchema(f"ck_{table}", f"{db.dialect.quote('size')} >= 0")
    apply_change(db, SchemaChange("add_check", table, before, attrs.evolve(before, checks=(check,))))
    checks = table_of(db, table).checks
    assert [c.name for c in checks] == [check.name]
    assert "size" in checks[0].expression


def test_views_and_the_views_that_read_a_table(make_model, run_node):
    needs(make_model.db, "views")
    db = make_model.db
    q = db.dialect.quote
    table = ready_model(make_model, run_node, shelf())
    view = ViewSchema(unique_table("v_shelf"), f"SELECT {q('label')} FROM {q(table)}")
    on_conn(db, lambda conn: conn.execute(db.dialect.create_view_sql(view), []))
    try:
        assert view.name in {v.name for v in on_conn(db, lambda conn: db.dialect.views(conn))}
        readers = on_conn(db, lambda conn: db.dialect.dependent_views(conn, table))
        assert [v.name for v in readers] == [view.name]
        assert [v.name for v in on_conn(db, lambda conn: db.dialect.dependent_views(conn, table, "label"))] == [
            view.name]
        assert on_conn(db, lambda conn: db.dialect.dependent_views(conn, table, "size")) == []
    finally:
        on_conn(db, lambda conn: conn.execute(db.dialect.drop_view_sql(view.name), []))


def test_row_estimates_count_up_to_the_cap(make_model, run_node):
    db = make_model.db
    table = ready_model(make_model, run_node, shelf(), [{"label": f"s{i}"} for i in range(5)])
    exact = on_conn(db, lambda conn: db.dialect.estimate_rows(conn, table))
    assert (exact.rows, exact.exact, exact.capped) == (5, True, False)
    capped = on_conn(db, lambda conn: db.dialect.estimate_rows(conn, table, cap=2))
    assert capped.rows >= 2 and capped.capped


def test_server_info_names_the_product(db):
    from dataflow.loop import run_sync

    info = run_sync(db.dialect.server_info())
    assert info.product and isinstance(info.version, tuple)


__all__ = tests_in(globals())
