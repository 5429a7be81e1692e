"""Migrations on real databases: auto-migration, plans, apply, failures, discovery, existing_schema_mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
from dataflow import DataFlow
from dataflow.migration import RiskLevel
from dataflow.testing import raises_df, raw_execute, raw_fetch, unique_table
from dataflow.workflow import WorkflowBuilder

WORKER = str(Path(__file__).with_name("worker.py"))


def run_node(node: str, params: dict) -> dict:
    from dataflow import LocalRuntime

    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    results, _ = LocalRuntime().execute(wf.build())
    return results["n"]


def history_for(db: DataFlow, table: str) -> list[dict]:
    return [r for r in db.migration_history() if any(s["table"] == table for s in r["steps"])]


def columns_of(db: DataFlow, table: str) -> list[str]:
    return [c.name for c in db.introspect_schema([table])[table].columns]


# ---- auto-migration ----------------------------------------------------------------------------


@pytest.mark.slow  # eight interpreters start per database
def test_eight_processes_create_the_table_once(dataflow_url, make_model, db, tmp_path):
    table = unique_table("t_gadget")
    make_model.tables[table] = db  # dropped at teardown
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, WORKER, dataflow_url, table, str(barrier), "8"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(8)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    ids = {json.loads(out.strip().splitlines()[-1])["id"] for out, _ in outputs}
    assert len(ids) == 8
    creates = [s for r in history_for(db, table) for s in r["steps"] if s["kind"] == "create_table"]
    assert len(creates) == 1
    assert raw_fetch(db, f"SELECT COUNT(*) FROM {db.dialect.quote(table)}")[0][0] == 8


def test_removing_a_field_keeps_the_column_and_its_data(dataflow_url, make_model, db):
    class Person:
        name: str
        nickname: Optional[str] = None  # noqa: UP045

    spec = make_model(Person).__dataflow_model__
    run_node("PersonCreateNode", {"name": "ada", "nickname": "countess"})
    later = make_model.new_db()

    class Person2:
        __tablename__ = spec.table
        name: str

    later.model(Person2)
    rows = run_node("Person2ListNode", {"filter": {}})
    assert [r["name"] for r in rows["records"]] == ["ada"]
    assert "nickname" in columns_of(later, spec.table)
    q = later.dialect.quote
    assert raw_fetch(later, f"SELECT {q('nickname')} FROM {q(spec.table)}") == [("countess",)]
    # Dropping is opt-in: a plan never drops unless asked, and refuses the drop without confirmation.
    assert later.migrate_plan(["Person2"]).is_empty
    plan = later.migrate_plan(["Person2"], drop_columns=True)
    assert [s.kind for s in plan.steps] == ["drop_column"]
    assert plan.level >= RiskLevel.HIGH
    with raises_df("DF-302"):
        later.migrate_apply(plan, models=["Person2"])
    assert "nickname" in columns_of(later, spec.table)


def test_adding_fields_adds_columns_and_keeps_rows(dataflow_url, make_model, db):
    class Item:
        name: str

    spec = make_model(Item).__dataflow_model__
    first = run_node("ItemCreateNode", {"name": "one"})
    later = make_model.new_db()

    class Item2:
        __tablename__ = spec.table
        name: str
        colour: Optional[str] = None  # noqa: UP045
        stock: int = 5

    later.model(Item2)
    second = run_node("Item2CreateNode", {"name": "two", "colour": "red"})
    rows = {r["id"]: r for r in run_node("Item2ListNode", {})["records"]}
    assert rows[first["id"]]["name"] == "one" and rows[first["id"]]["colour"] is None
    assert rows[first["id"]]["stock"] == 5  # the DEFAULT filled the existing row
    assert rows[second["id"]]["colour"] == "red"
    steps = [s for r in history_for(later, spec.table) for s in r["steps"]]
    assert {(s["kind"], s["column"]) for s in steps} >= {("add_column", "colour"), ("add_column", "stock")}
    assert not any(s["kind"].startswith(("drop", "alter")) for s in steps)


def test_auto_migrate_never_touches_tables_it_does_not_own(dataflow_url, make_model, db):
    other = unique_table("t_other")
    make_model.tables[other] = db
    q = db.dialect.quote
    raw_execute(db, f"CREATE TABLE {q(other)} ({q('id')} INTEGER PRIMARY KEY, {q('x')} INTEGER)")

    class Thing:
        name: str

    make_model(Thing)
    run_node("ThingCreateNode", {"name": "a"})
    assert columns_of(db, other) == ["id", "x"]
    assert not history_for(db, other)


def test_auto_migrate_off_is_df304_and_no_ddl(dataflow_url, make_model):
    off = make_model.new_db(auto_migrate=False)

    class Ghost:
        name: str

    spec = make_model(Ghost, db=off).__dataflow_model__
    with raises_df("DF-304"):
        run_node("GhostCreateNode", {"name": "boo"})
    assert spec.table not in off.introspect_schema([spec.table])


# ---- explicit plans and apply --------------------------------------------------------------


def _title_becomes_unique(make_model, db: DataFlow, name: str) -> tuple[str, object, DataFlow]:
    """Model ``name`` (title, optional body) with two rows of the same title; on a second instance, ``{name}2``
    on the same table with a unique index on title (the duplicates make it fail) and an added optional
    ``extra`` (an add that must be rolled back too). Returns (table, its schema before, second instance)."""
    first = type(name, (), {"__annotations__": {"title": str, "body": Optional[str]}, "body": None})  # noqa: UP045
    table = make_model(first).__dataflow_model__.table
    run_node(f"{name}BulkCreateNode", {"data": [{"title": "same"}, {"title": "same"}]})
    before = db.introspect_schema([table])
    later = make_model.new_db()
    later.model(type(f"{name}2", (), {
        "__tablename__": table, "extra": None,
        "__dataflow__": {"indexes": [{"name": f"ix_{table}_title", "fields": ["title"], "unique": True}]},
        "__annotations__": {"title": str, "body": Optional[str], "extra": Optional[int]}}))  # noqa: UP045
    return table, before, later


def test_failed_step_leaves_schema_exactly_as_before(transactional_url, make_model, db):
    table, before, later = _title_becomes_unique(make_model, db, "Note")
    plan = later.migrate_plan(["Note2"])
    assert [s.kind for s in plan.steps] == ["add_column", "add_index"]
    with raises_df("DF-301") as caught:
        later.migrate_apply(plan, models=["Note2"], confirmed=True)
    assert caught["error"].__cause__ is not None
    assert "rolled back" in caught["error"].message
    assert later.introspect_schema([table]) == before
    failed = [r for r in history_for(later, table) if r["status"] == "failed"]
    assert failed and failed[0]["steps"][0]["kind"] == "add_column"


def test_mysql_failure_is_checkpointed_and_reversible(dataflow_url, make_model, db):
    if not dataflow_url.startswith("mysql"):
        pytest.skip("step-by-step apply with checkpoints is the MySQL path")
    table, before, later = _title_becomes_unique(make_model, db, "Memo")
    with raises_df("DF-301") as caught:
        later.migrate_apply(models=["Memo2"], confirmed=True)
    assert "1 of 2 steps completed" in caught["error"].message
    failed = next(r for r in history_for(later, table) if r["status"] == "failed")
    assert failed["checkpoint"] == 1
    later.migrate_reverse(failed["id"], confirmed=True)
    assert later.introspect_schema([table]) == before


def test_rename_is_a_candidate_never_a_drop(dataflow_url, make_model, db):
    class Account:
        handle: str

    spec = make_model(Account).__dataflow_model__
    run_node("AccountCreateNode", {"handle": "neo"})
    later = make_model.new_db()

    class Account2:
        __tablename__ = spec.table
        username: str

    later.model(Account2)
    plan = later.migrate_plan(["Account2"])
    assert not any(s.kind == "drop_column" for s in plan.steps)
    assert [(c.kind, c.column, c.details["to"]) for c in plan.rename_candidates] == [
        ("rename_column", "handle", "username")]
    result = later.migrate_apply(models=["Account2"], accept_renames={f"{spec.table}.handle": "username"},
                                 confirmed=True)
    assert [s.kind for s in result["plan"].steps] == ["rename_column"]
    assert [r["username"] for r in run_node("Account2ListNode", {})["records"]] == ["neo"]


def test_alter_type_keeps_rows_and_indexes(dataflow_url, make_model, db):
    class Score:
        player: str
        points: str
        __dataflow__ = {"indexes": [{"fields": ["player"]}]}

    spec = make_model(Score).__dataflow_model__
    run_node("ScoreCreateNode", {"player": "p", "points": "12"})
    later = make_model.new_db()

    class Score2:
        __tablename__ = spec.table
        player: str
        points: int
        __dataflow__ = {"indexes": [{"fields": ["player"], "name": f"ix_{spec.table}_player"}]}

    later.model(Score2)
    plan = later.migrate_plan(["Score2"])
    assert [s.kind for s in plan.steps] == ["alter_type"]
    later.migrate_apply(plan, models=["Score2"], confirmed=True)
    table = later.introspect_schema([spec.table])[spec.table]
    assert table.column("points").family == "int"
    assert [i.name for i in table.indexes] == [f"ix_{spec.table}_player"]
    assert run_node("Score2ListNode", {})["records"][0]["points"] == 12


def test_plan_is_empty_when_models_match(dataflow_url, make_model, db):
    class Tidy:
        name: str
        when: Optional[str] = None  # noqa: UP045

    make_model(Tidy)
    run_node("TidyCreateNode", {"name": "x"})
    plan = db.migrate_plan(["Tidy"])
    assert plan.is_empty, plan.steps
    status = db.migrate_status(["Tidy"])
    assert status["pending"].is_empty and status["history"]


# ---- discovery and existing_schema_mode -------------------------------------------------------


def _catalogue_fingerprint(db: DataFlow, table: str) -> tuple:
    """What the server's own catalogue says about ``table``: changes with any DDL on it."""
    kind = db.dialect.name
    if kind == "sqlite":
        return tuple(raw_fetch(db, "PRAGMA schema_version"))
    if kind == "postgresql":
        return tuple(raw_fetch(
            db, "SELECT c.oid::bigint, c.xmin::text, c.relnatts, (SELECT count(*) FROM pg_index i WHERE "
            "i.indrelid = c.oid) FROM pg_class c WHERE c.relname = $1 AND "
            "c.relnamespace = current_schema()::regnamespace", [table]))
    return tuple(raw_fetch(
        db, "SELECT CREATE_TIME, (SELECT COUNT(*) FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = "
        "DATABASE() AND c.TABLE_NAME = t.TABLE_NAME), (SELECT COUNT(*) FROM information_schema.STATISTICS s "
        "WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME = t.TABLE_NAME) FROM information_schema.TABLES t "
        "WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME = %s", [table]))


def _hand_made(db: DataFlow, table: str) -> None:
    q = db.dialect.quote
    ident = {"sqlite": "INTEGER PRIMARY KEY", "postgresql": "SERIAL PRIMARY KEY",
             "mysql": "INT AUTO_INCREMENT PRIMARY KEY"}[db.dialect.name]
    stamp = {"sqlite": "TEXT", "postgresql": "TIMESTAMPTZ", "mysql": "DATETIME(6)"}[db.dialect.name]
    raw_execute(db, f"CREATE TABLE {q(table)} ({q('id')} {ident}, {q('email')} VARCHAR(200) NOT NULL, "
                    f"{q('age')} INTEGER, {q('active')} BOOLEAN NOT NULL DEFAULT TRUE, "
                    f"{q('created_at')} {stamp}, {q('updated_at')} {stamp})")
    raw_execute(db, f"CREATE UNIQUE INDEX {q('ux_' + table)} ON {q(table)} ({q('email')})")


def test_existing_schema_mode_runs_crud_without_ddl(dataflow_url, make_model, db):
    table = unique_table("t_members")
    make_model.tables[table] = db
    _hand_made(db, table)
    existing = make_model.new_db(existing_schema_mode=True, auto_migrate=False)
    before = _catalogue_fingerprint(existing, table)
    schema = existing.discover_schema(use_real_inspection=True)
    assert set(schema[table]) == {"id", "email", "age", "active", "created_at", "updated_at"}
    assert schema[table]["email"]["nullable"] is False
    result = existing.register_schema_as_models(tables=[table])
    name = next(iter(result["generated_nodes"]))
    nodes = result["generated_nodes"][name]
    assert set(nodes) == {"create", "read", "update", "delete", "list", "count", "upsert", "bulk_create",
                          "bulk_update", "bulk_delete", "bulk_upsert"}
    created = run_node(nodes["create"], {"email": "a@x.io", "age": 3})
    assert run_node(nodes["read"], {"id": created["id"]})["email"] == "a@x.io"
    run_node(nodes["update"], {"filter": {"id": created["id"]}, "fields": {"age": 4}})
    assert run_node(nodes["list"], {"filter": {"age": 4}})["records"][0]["active"] in (True, 1)
    assert run_node(nodes["count"], {})["count"] == 1
    run_node(nodes["delete"], {"id": created["id"]})
    assert _catalogue_fingerprint(existing, table) == before


def test_existing_schema_mode_reports_mismatches(dataflow_url, make_model, db):
    table = unique_table("t_members")
    make_model.tables[table] = db
    _hand_made(db, table)
    existing = make_model.new_db(existing_schema_mode=True)

    class Member:
        __tablename__ = table
        email: str
        phone: str

    existing.model(Member)
    before = _catalogue_fingerprint(existing, table)
    with raises_df("DF-305", match="phone"):
        run_node("MemberCreateNode", {"email": "x", "phone": "y"})
    assert _catalogue_fingerprint(existing, table) == before


def test_discovered_model_names_and_kinds(dataflow_url, make_model, db):
    table = unique_table("t_order_items")
    make_model.tables[table] = db
    _hand_made(db, table)
    result = db.register_schema_as_models(tables=[table])
    (name,) = result["registered_models"]
    spec = db.get_model(name)
    kinds = {f.name: f.kind for f in spec.fields}
    assert kinds["age"] == "int" and kinds["active"] == "bool" and kinds["email"] == "str"
    assert spec.id_is_generated
    assert result["generated_nodes"][name]["bulk_upsert"] == f"{name}BulkUpsertNode"


def test_model_name_is_singular_camel_case():
    from dataflow_migrate.discovery import model_name_for

    assert model_name_for("users") == "User"
    assert model_name_for("order_items") == "OrderItem"
    assert model_name_for("people") == "Person"


def test_sqlite_rebuild_keeps_referencing_rows(tmp_path):
    db = DataFlow(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        raw_execute(db, 'CREATE TABLE "authors" ("id" INTEGER PRIMARY KEY, "name" TEXT, "score" TEXT, '
                        '"created_at" TEXT, "updated_at" TEXT)')
        raw_execute(db, 'CREATE TABLE "books" ("id" INTEGER PRIMARY KEY, "author_id" INTEGER REFERENCES '
                        '"authors"("id") ON DELETE CASCADE, "title" TEXT)')
        raw_execute(db, "INSERT INTO authors (id, name, score) VALUES (1, 'a', '5')")
        raw_execute(db, "INSERT INTO books (author_id, title) VALUES (1, 't')")

        class Author:
            __tablename__ = "authors"
            name: Optional[str] = None  # noqa: UP045
            score: int

        db.model(Author)
        plan = db.migrate_plan(["Author"])
        assert {s.kind for s in plan.steps} == {"alter_type", "alter_nullability"}
        db.migrate_apply(plan, models=["Author"], confirmed=True)
        assert raw_fetch(db, "SELECT id, author_id, title FROM books") == [(1, 1, "t")]  # no cascade
        assert raw_fetch(db, "SELECT score FROM authors") == [(5,)]
        assert raw_fetch(db, "PRAGMA foreign_keys") == [(1,)]
        assert db.introspect_schema(["books"])["books"].foreign_keys[0].ref_table == "authors"
    finally:
        db.close()
