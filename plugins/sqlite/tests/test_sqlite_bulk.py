"""SQLite's bulk upsert counts: the new rows counted above the table's rowid mark where that is
exact, the stored keys counted beforehand where it may not be (rowid columns, WITHOUT ROWID tables,
triggers), and the same inserted / updated figures either way."""

import sqlite3

import pytest
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder

ROWS = 2_500
"""Past the size (1,000 keys) below which an upsert's stored keys are always counted."""
STORED = 1_000


def _run(db, node, params):
    wf = WorkflowBuilder()
    wf.add_node(node, "node", {**params, "db_instance": db})
    return LocalRuntime().execute(wf.build())[0]["node"]


@pytest.fixture
def db(tmp_path):
    instance = DataFlow(f"sqlite:///{tmp_path / 'bulk.db'}")
    yield instance
    instance.close()


def _table_sql(db, table):
    return db.fetch_one_sync("SELECT sql FROM sqlite_master WHERE name = :t", {"t": table})["sql"]


def _upsert_counts(db, model, rows):
    _run(db, f"{model}BulkCreateNode", {"data": rows[:STORED]})
    out = _run(db, f"{model}BulkUpsertNode", {"data": [{**r, "label": "new"} for r in rows]})
    return out["inserted"], out["updated"]


def test_rowid_table_counts_new_rows_above_the_mark(db):
    @db.model
    class Plain:
        id: str
        label: str

    rows = [{"id": f"p{i}", "label": "old"} for i in range(ROWS)]
    assert _upsert_counts(db, "Plain", rows) == (ROWS - STORED, STORED)
    assert _run(db, "PlainCountNode", {"filter": {"label": "new"}})["count"] == ROWS
    # Again, all stored now: nothing inserted.
    out = _run(db, "PlainBulkUpsertNode", {"data": rows})
    assert (out["inserted"], out["updated"]) == (0, ROWS)


def test_integer_ids_are_the_rowid_and_counted_by_key(db):
    @db.model
    class Numbered:
        id: int
        label: str

    # The stored ids are the larger ones: the new rows' rowids (their ids) lie below the mark.
    rows = [{"id": i, "label": "old"} for i in range(ROWS, 0, -1)]
    assert _upsert_counts(db, "Numbered", rows) == (ROWS - STORED, STORED)


@pytest.mark.parametrize(("columns", "suffix"), [
    # A table made elsewhere, with a column of its own that takes the rowid's name.
    ('"_rowid_" INTEGER NOT NULL DEFAULT 0, ', ""),
    ("", " WITHOUT ROWID"),
], ids=["column-named-like-the-rowid", "without-rowid"])
def test_tables_whose_rowids_may_not_say_it_are_counted_by_key(db, columns, suffix):
    made = (f'CREATE TABLE "made_rows" ("id" TEXT NOT NULL PRIMARY KEY, "label" TEXT NOT NULL, {columns}'
            f'"created_at" TEXT, "updated_at" TEXT){suffix}')
    db.execute_sync(made)

    @db.model
    class Made:
        id: str
        label: str
        __tablename__ = "made_rows"

    rows = [{"id": f"m{i}", "label": "old"} for i in range(ROWS)]
    assert _upsert_counts(db, "Made", rows) == (ROWS - STORED, STORED)
    assert _table_sql(db, "made_rows") == made  # the table used as it was, not rebuilt


def test_a_table_with_a_trigger_is_counted_by_key(db, tmp_path):
    @db.model
    class Watched:
        id: str
        label: str

    _run(db, "WatchedCountNode", {})  # the table made
    table = Watched.__dataflow_model__.table
    # Each update also writes a row of its own into the table: rows above the mark that no key inserted.
    raw = sqlite3.connect(tmp_path / "bulk.db")
    raw.execute(f'CREATE TRIGGER "echo_{table}" AFTER UPDATE ON "{table}" WHEN NEW."id" NOT LIKE \'echo-%\' '
                    f'BEGIN INSERT OR IGNORE INTO "{table}" ("id", "label", "created_at", "updated_at") '
                    f'VALUES (\'echo-\' || NEW."id", NEW."label", NEW."created_at", NEW."updated_at"); END')
    raw.close()
    rows = [{"id": f"w{i}", "label": "old"} for i in range(ROWS)]
    assert _upsert_counts(db, "Watched", rows) == (ROWS - STORED, STORED)
    assert _run(db, "WatchedCountNode", {})["count"] == ROWS + STORED


def test_a_table_replacing_on_conflict_is_counted_by_key(db):
    # A table made elsewhere whose unique label replaces the row holding it: two new rows sharing a
    # label leave one, yet both keys were inserted.
    db.execute_sync('CREATE TABLE "replacing_rows" ("id" TEXT NOT NULL PRIMARY KEY, '
                    '"label" TEXT NOT NULL UNIQUE ON CONFLICT REPLACE, "created_at" TEXT, "updated_at" TEXT)')

    @db.model
    class Replacing:
        id: str
        label: str
        __tablename__ = "replacing_rows"

    rows = [{"id": f"r{i}", "label": f"x{i}"} for i in range(ROWS)]
    _run(db, "ReplacingBulkCreateNode", {"data": rows[:STORED]})
    rows[-1]["label"] = rows[-2]["label"]
    out = _run(db, "ReplacingBulkUpsertNode", {"data": rows})
    assert (out["inserted"], out["updated"]) == (ROWS - STORED, STORED)
    assert _run(db, "ReplacingCountNode", {})["count"] == ROWS - 1
    assert "ON CONFLICT REPLACE" in _table_sql(db, "replacing_rows")  # the table used as it was
