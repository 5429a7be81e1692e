"""Conformance: the dialect writes DDL for every migration step kind, and the rows survive it.

Each change is described as a ``SchemaChange`` (the table before and after, as records), turned into
SQL by ``dialect.schema_change_sql``, run, and checked by reading the catalogue and the rows back. A
dialect that cannot change a table in place (SQLite) rebuilds it; the checks are the same.
"""

from __future__ import annotations

import attrs

from dataflow.models import FieldSpec
from dataflow.testing.fixtures import raw_execute, raw_fetch, unique_table
from dataflow.testing.suite._schema import apply_change, apply_statements, on_conn, ready_model, table_of
from dataflow.testing.suite._support import tests_in
from dataflow.types import ColumnSchema, IndexSchema, SchemaChange, TableSchema

ROWS = [{"label": "a", "qty": 1, "note": "x"}, {"label": "b", "qty": 2, "note": "y"}, {"label": "c", "qty": 3}]


def crate(make_model, run_node) -> tuple[str, TableSchema]:
    class Crate:
        label: str
        qty: int = 1
        note: str | None = None

    table = ready_model(make_model, run_node, Crate, ROWS)
    return table, table_of(make_model.db, table)


def values(db, table: str, *columns: str) -> list[tuple]:
    q = db.dialect.quote
    return raw_fetch(db, f"SELECT {', '.join(q(c) for c in columns)} FROM {q(table)} ORDER BY {q('id')}")


def column_type(db, kind: str) -> str:
    return db.dialect.column_type(FieldSpec("probe", kind, None))


def change(db, kind: str, before: TableSchema, after: TableSchema, column: str | None = None,
           **details) -> TableSchema:
    """Apply one change; the table as read back afterwards."""
    apply_change(db, SchemaChange(kind, before.name, before, after, column, details))
    return table_of(db, after.name)


def test_add_columns_nullable_and_with_a_default(make_model, run_node):
    db = make_model.db
    table, before = crate(make_model, run_node)
    extra = ColumnSchema("extra", column_type(db, "int"))
    now = change(db, "add_column", before, attrs.evolve(before, columns=(*before.columns, extra)), "extra")
    assert now.column_map["extra"].nullable
    filled = ColumnSchema("filled", column_type(db, "int"), nullable=False, default=db.dialect.literal(7))
    now = change(db, "add_column", now, attrs.evolve(now, columns=(*now.columns, filled)), "filled")
    assert not now.column_map["filled"].nullable
    assert values(db, table, "label", "extra", "filled") == [("a", None, 7), ("b", None, 7), ("c", None, 7)]


def test_rename_and_drop_a_column(make_model, run_node):
    db = make_model.db
    table, before = crate(make_model, run_node)
    note = before.column_map["note"]
    renamed = attrs.evolve(before, columns=tuple(attrs.evolve(c, name="memo") if c.name == "note" else c
                                                 for c in before.columns))
    now = change(db, "rename_column", before, renamed, "note", to="memo")
    assert now.column("note") is None and now.column_map["memo"].nullable == note.nullable
    assert values(db, table, "memo") == [("x",), ("y",), (None,)]
    now = change(db, "drop_column", now, attrs.evolve(now, columns=tuple(c for c in now.columns if c.name != "memo")),
                 "memo")
    assert now.column("memo") is None
    assert values(db, table, "label", "qty") == [("a", 1), ("b", 2), ("c", 3)]


def test_nullability_and_default_change_in_place(make_model, run_node):
    db = make_model.db
    q = db.dialect.quote
    table, before = crate(make_model, run_node)
    raw_execute(db, f"UPDATE {q(table)} SET {q('note')} = 'z' WHERE {q('note')} IS NULL")

    def with_column(record: TableSchema, name: str, **changes) -> TableSchema:
        return attrs.evolve(record, columns=tuple(attrs.evolve(c, **changes) if c.name == name else c
                                                  for c in record.columns))

    now = change(db, "alter_nullability", before, with_column(before, "note", nullable=False), "note",
                 to=False)
    assert not now.column_map["note"].nullable
    now = change(db, "alter_nullability", now, with_column(now, "note", nullable=True), "note", to=True)
    assert now.column_map["note"].nullable
    now = change(db, "alter_default", now, with_column(now, "qty", default=db.dialect.literal(5)), "qty", to=5)
    raw_execute(db, f"INSERT INTO {q(table)} ({q('label')}) VALUES ('d')")
    assert values(db, table, "label", "qty", "note") == [("a", 1, "x"), ("b", 2, "y"), ("c", 3, "z"), ("d", 5, None)]


def test_alter_type_keeps_the_values(make_model, run_node):
    db = make_model.db
    table, before = crate(make_model, run_node)
    text = column_type(db, "str")
    after = attrs.evolve(before, columns=tuple(attrs.evolve(c, type=text, default=None) if c.name == "qty" else c
                                               for c in before.columns))
    now = change(db, "alter_type", before, after, "qty", to=text)
    assert now.column_map["qty"].family == "str"
    assert [str(v) for (v,) in values(db, table, "qty")] == ["1", "2", "3"]


def test_indexes_and_unique_constraints_come_and_go(make_model, run_node):
    db = make_model.db
    table, before = crate(make_model, run_node)
    index = IndexSchema(unique_table("ix"), ("qty",))
    now = change(db, "add_index", before, attrs.evolve(before, indexes=(index,)), name=index.name)
    assert [(i.name, i.columns, i.unique) for i in now.indexes] == [(index.name, ("qty",), False)]
    now = change(db, "drop_index", now, attrs.evolve(now, indexes=()), name=index.name)
    assert now.indexes == ()
    unique = IndexSchema(unique_table("uq"), ("qty",), unique=True, constraint=True)
    now = change(db, "add_unique", now, attrs.evolve(now, indexes=(unique,)), name=unique.name)
    assert [(i.columns, i.unique) for i in now.indexes] == [(("qty",), True)]
    now = change(db, "drop_index", now, attrs.evolve(now, indexes=()), name=now.indexes[0].name)
    assert now.indexes == ()
    assert values(db, table, "qty") == [(1,), (2,), (3,)]


def test_rename_and_drop_a_table(make_model, run_node):
    db = make_model.db
    _table, before = crate(make_model, run_node)
    new = unique_table("t_moved")
    make_model.tables[new] = db  # dropped at teardown if the test fails half way
    now = change(db, "rename_table", before, attrs.evolve(before, name=new), to=new)
    assert values(db, new, "label") == [("a",), ("b",), ("c",)]
    apply_change(db, SchemaChange("drop_table", new, now))
    assert on_conn(db, lambda conn: db.dialect.introspect(conn, [new])) == {}


def test_a_record_makes_the_same_table_again(make_model, run_node):
    db = make_model.db
    _table, before = crate(make_model, run_node)
    copy = unique_table("t_copy")
    make_model.tables[copy] = db
    record = attrs.evolve(before, name=copy, indexes=tuple(attrs.evolve(i, name=unique_table("ix"), definition=None)
                                                           for i in before.indexes))
    async def create(conn) -> None:
        for sql in db.dialect.create_table_from(record):
            await conn.execute(sql, [])

    on_conn(db, create)
    made = table_of(db, copy)
    assert made.columns == before.columns
    assert made.primary_key == before.primary_key


def test_a_changed_table_is_put_back_as_a_record_describes_it(make_model, run_node):
    db = make_model.db
    table, before = crate(make_model, run_node)
    index = IndexSchema(unique_table("ix"), ("qty",))
    now = change(db, "add_index", before, attrs.evolve(before, indexes=(index,)), name=index.name)
    extra = ColumnSchema("extra", column_type(db, "int"))
    now = change(db, "add_column", now, attrs.evolve(now, columns=(*now.columns, extra)), "extra")
    renamed = attrs.evolve(now, columns=tuple(attrs.evolve(c, name="memo") if c.name == "note" else c
                                              for c in now.columns))
    now = change(db, "rename_column", now, renamed, "note", to="memo")

    apply_statements(db, db.dialect.sync_table_sql(now, before, {"memo": "note"}))
    back = table_of(db, table)
    assert back.columns == before.columns and back.indexes == before.indexes
    assert values(db, table, "label", "qty", "note") == [("a", 1, "x"), ("b", 2, "y"), ("c", 3, None)]


__all__ = tests_in(globals())
