"""Fields that come and go, on every database: a removed field never breaks later creates, a model
default is the column's DDL default, a new required field is NOT NULL where it can be and otherwise a
pending step with the command that completes it (never a permanent alarm), and dropping is opt-in."""

from __future__ import annotations

import json
from typing import Optional

from dataflow import DataFlow
from dataflow.cli import main
from dataflow.testing import raises_df, raw_execute, raw_fetch
from dataflow.workflow import WorkflowBuilder


def run_node(node: str, params: dict) -> dict:
    from dataflow import LocalRuntime

    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    results, _ = LocalRuntime().execute(wf.build())
    return results["n"]


def live_column(db: DataFlow, table: str, column: str):
    return db.introspect_schema([table])[table].column_map[column]


def test_a_removed_required_field_never_breaks_later_creates(make_model, db):
    class Account:
        name: str
        secret: str

    table = make_model(Account).__dataflow_model__.table
    run_node("AccountCreateNode", {"name": "a", "secret": "s1"})
    later = make_model.new_db()

    class Account2:
        __tablename__ = table
        name: str

    later.model(Account2)
    made = run_node("Account2CreateNode", {"name": "b", "db_instance": later})
    assert made["name"] == "b"
    assert live_column(later, table, "secret").nullable  # relaxed: no field sets it any more
    q = later.dialect.quote
    assert raw_fetch(later, f"SELECT {q('name')}, {q('secret')} FROM {q(table)} ORDER BY {q('id')}") == [
        ("a", "s1"), ("b", None)]


def test_a_model_default_is_the_columns_ddl_default(make_model, db):
    class Profile:
        name: str
        secret: str = ""
        level: int = 3

    table = make_model(Profile).__dataflow_model__.table
    run_node("ProfileCountNode", {})
    assert live_column(db, table, "secret").default is not None
    q = db.dialect.quote
    raw_execute(db, f"INSERT INTO {q(table)} ({q('name')}) VALUES ('raw')")
    assert raw_fetch(db, f"SELECT {q('secret')}, {q('level')} FROM {q(table)}") == [("", 3)]
    # A later model without the field: creates keep working (the column fills itself).
    later = make_model.new_db()

    class Profile2:
        __tablename__ = table
        name: str

    later.model(Profile2)
    assert run_node("Profile2CreateNode", {"name": "x", "db_instance": later})["name"] == "x"


def test_a_required_field_on_an_empty_table_is_not_null_at_once(make_model, db):
    class Item:
        name: str

    table = make_model(Item).__dataflow_model__.table
    run_node("ItemCountNode", {})
    later = make_model.new_db()

    class Item2:
        __tablename__ = table
        name: str
        code: str

    later.model(Item2)
    run_node("Item2CountNode", {"db_instance": later})
    assert not live_column(later, table, "code").nullable
    status = later.migrate_status(["Item2"])
    assert status["pending"].is_empty and status["pending"].follow_ups == []


def test_a_required_field_with_a_default_is_not_null_and_fills_the_rows(make_model, db):
    class Crate:
        name: str

    table = make_model(Crate).__dataflow_model__.table
    run_node("CrateCreateNode", {"name": "old"})
    later = make_model.new_db()

    class Crate2:
        __tablename__ = table
        name: str
        kind: str = "box"

    later.model(Crate2)
    rows = run_node("Crate2ListNode", {"db_instance": later})["records"]
    assert [(r["name"], r["kind"]) for r in rows] == [("old", "box")]
    assert not live_column(later, table, "kind").nullable
    assert later.migrate_status(["Crate2"])["pending"].follow_ups == []


def test_a_required_field_on_a_populated_table_is_one_pending_step_until_required(make_model, db, tmp_path, capsys):
    class Parcel:
        label: str

    table = make_model(Parcel).__dataflow_model__.table
    run_node("ParcelCreateNode", {"label": "p1"})
    later = make_model.new_db()

    class Parcel2:
        __tablename__ = table
        label: str
        weight: int

    later.model(Parcel2)
    run_node("Parcel2CountNode", {"db_instance": later})
    assert live_column(later, table, "weight").nullable  # the row already there has no weight
    with raises_df("DF-101"):  # the model still requires it on writes
        run_node("Parcel2CreateNode", {"label": "p2", "db_instance": later})
    status = later.migrate_status(["Parcel2"])
    pending = status["pending"]
    assert pending.steps == [] and pending.level.name == "LOW"  # no permanent CRITICAL alarm
    assert [(f.kind, f.column) for f in pending.follow_ups] == [("alter_nullability", "weight")]
    command = pending.follow_ups[0].details["command"]
    assert command == f"dataflow migrate require {table}.weight --backfill <value>"
    with raises_df("DF-101"):  # NULLs are there: the value to backfill them with is needed
        later.migrate_require(f"{table}.weight")
    done = later.migrate_require(f"{table}.weight", 7)
    assert done["status"] == "applied" and done["backfilled"] == 1
    assert not live_column(later, table, "weight").nullable
    assert later.migrate_status(["Parcel2"])["pending"].follow_ups == []
    assert run_node("Parcel2ListNode", {"db_instance": later})["records"][0]["weight"] == 7
    assert later.migrate_require(f"{table}.weight")["status"] == "already_required"


def test_status_and_require_from_the_command_line(make_model, db, dataflow_url, tmp_path, capsys):
    class Shelf:
        label: str

    table = make_model(Shelf).__dataflow_model__.table
    run_node("ShelfCreateNode", {"label": "s1"})
    models = tmp_path / "shelf_models.py"
    models.write_text(f"""
from dataflow import DataFlow

db = DataFlow({str(dataflow_url)!r})


@db.model
class Shelf:
    __tablename__ = {table!r}
    label: str
    height: float
""")
    assert main(["migrate", "apply", "--models", str(models), "--json"]) == 0
    capsys.readouterr()
    assert main(["migrate", "status", "--models", str(models), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"]["steps"] == []
    assert [f["details"]["command"] for f in status["pending"]["follow_ups"]] == [
        f"dataflow migrate require {table}.height --backfill <value>"]
    assert main(["migrate", "status", "--models", str(models)]) == 0
    assert f"dataflow migrate require {table}.height" in capsys.readouterr().out
    assert main(["migrate", "require", f"{table}.height", "--backfill", "1.5", "--models", str(models),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backfilled"] == 1
    assert not live_column(db, table, "height").nullable


def test_an_optional_field_stays_optional_and_nothing_is_dropped_by_default(make_model, db):
    class Note:
        title: str
        body: Optional[str] = None  # noqa: UP045

    table = make_model(Note).__dataflow_model__.table
    run_node("NoteCreateNode", {"title": "t", "body": "b"})
    later = make_model.new_db()

    class Note2:
        __tablename__ = table
        title: str

    later.model(Note2)
    assert later.migrate_plan(["Note2"]).is_empty
    assert later.migrate_apply(models=["Note2"])["status"] == "empty"
    assert "body" in later.introspect_schema([table])[table].column_map
