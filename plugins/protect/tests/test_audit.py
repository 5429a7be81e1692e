"""The audit trail end to end on SQLite, PostgreSQL and MariaDB: one row per written record with who,
what and the changed values, written in the write's transaction, hash-chained, and verified by
``db.audit.verify()`` and ``dataflow audit verify``."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder
from dataflow.cli import main as cli_main
from dataflow.testing import raises_df, raw_execute


@pytest.fixture
def audited(make: Any) -> Any:
    """``audited(**options)``: an instance with ``audit_log=True`` on an audit table of its own (dropped
    afterwards with its head)."""
    tables: list[tuple[DataFlow, str]] = []

    def build(**options: Any) -> DataFlow:
        table = f"audit_{uuid.uuid4().hex[:10]}"
        db = make(audit_log=True, audit_table=table, **options)
        tables.append((db, table))
        return db

    yield build
    for db, table in tables:
        for name in (table, f"{table}_head"):
            raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(name)}")


def changes(row: dict[str, Any]) -> tuple[Any, Any]:
    load = lambda text: None if text is None else json.loads(text)  # noqa: E731
    return load(row["before_values"]), load(row["after_values"])


def test_one_row_per_written_record_for_every_writing_node(audited: Any, one: Any) -> None:
    db = audited()
    with db.audit_context.actor("alice"):
        one("UserCreateNode", {"id": "u1", "email": "a@x", "name": "Ann"})
        one("UserBulkCreateNode", {"data": [{"id": f"b{i}", "email": f"{i}@x"} for i in range(3)]})
    one("UserUpdateNode", {"id": "u1", "fields": {"name": "Annie"}}, parameters={"audit_actor": "bob"})
    one("UserUpsertNode", {"where": {"id": "u2"}, "create": {"email": "u2@x"}, "update": {"name": "x"}})
    one("UserUpsertNode", {"where": {"id": "u2"}, "create": {"email": "u2@x"}, "update": {"name": "Two"}})
    one("UserBulkUpdateNode", {"filter": {"id": {"$in": ["b0", "b1"]}}, "fields": {"name": "bulk"}})
    one("UserBulkUpsertNode", {"data": [{"id": "b2", "email": "2@x", "name": "up"}, {"id": "b3", "email": "3@x"}]})
    one("UserDeleteNode", {"id": "u2"})
    one("UserBulkDeleteNode", {"ids": ["b0", "b1"]})
    one("UserUpdateNode", {"id": "missing", "fields": {"name": "none"}})  # wrote nothing: no row
    rows = db.audit.rows()
    summary = [(r["seq"], r["actor"], r["model"], r["operation"], r["action"], r["record_id"]) for r in rows]
    assert summary == [
        (1, "alice", "User", "create", "create", "u1"),
        (2, "alice", "User", "bulk_create", "create", "b0"),
        (3, "alice", "User", "bulk_create", "create", "b1"),
        (4, "alice", "User", "bulk_create", "create", "b2"),
        (5, "bob", "User", "update", "update", "u1"),
        (6, None, "User", "upsert", "create", "u2"),
        (7, None, "User", "upsert", "update", "u2"),
        (8, None, "User", "bulk_update", "update", "b0"),
        (9, None, "User", "bulk_update", "update", "b1"),
        (10, None, "User", "bulk_upsert", "update", "b2"),
        (11, None, "User", "bulk_upsert", "create", "b3"),
        (12, None, "User", "delete", "delete", "u2"),
        (13, None, "User", "bulk_delete", "delete", "b0"),
        (14, None, "User", "bulk_delete", "delete", "b1"),
    ]
    assert changes(rows[4]) == ({"name": "Ann"}, {"name": "Annie"})  # only the changed fields
    before, after = changes(rows[0])
    assert before is None and after["email"] == "a@x"
    before, after = changes(rows[11])
    assert before["name"] == "Two" and after is None
    assert rows[0]["prev_hash"] == "0" * 64 and rows[1]["prev_hash"] == rows[0]["row_hash"]
    assert all(r["written_at"].endswith("+00:00") for r in rows)
    assert "ids" not in one("UserBulkCreateNode", {"data": [{"id": "x1", "email": "x"}]})  # not asked for
    assert db.audit.verify().ok


def test_audit_rows_share_the_write_s_transaction(audited: Any, one: Any, run: Any) -> None:
    db = audited()
    one("InvoiceCreateNode", {"id": "i1", "total": 1.0})
    with raises_df("DF-704"):  # the second create fails: the run rolls back, its audit rows too
        run(("InvoiceCreateNode", "a", {"id": "i2"}), ("InvoiceCreateNode", "b", {"id": "i1"}), transaction=True)
    with raises_df("DF-704"):  # a failing bulk node writes nothing, audit included
        one("InvoiceBulkCreateNode", {"data": [{"id": "i3"}, {"id": "i1"}]})
    db.protection.add_rule(level="model", model="Invoice", read_only=True)
    with raises_df("DF-716"):
        one("InvoiceCreateNode", {"id": "i4"})
    assert [r["record_id"] for r in db.audit.rows()] == ["i1"]
    assert db.audit.verify().ok


def test_tampering_is_detected_and_named(audited: Any, one: Any, capsys: pytest.CaptureFixture[str]) -> None:
    db = audited()
    one("InvoiceBulkCreateNode", {"data": [{"id": f"i{i}", "total": float(i)} for i in range(5)]})
    table = db.audit.table
    q = db.dialect.quote
    url = make_url(db)
    assert cli_main(["audit", "verify", "--url", url, "--table", table]) == 0
    assert "intact" in capsys.readouterr().out
    raw_execute(db, f"UPDATE {q(table)} SET {q('after_values')} = '{{}}' WHERE {q('seq')} = 3")
    report = db.audit.verify()
    assert (report.ok, report.first_bad, report.rows) == (False, 3, 2)
    assert cli_main(["audit", "verify", "--url", url, "--table", table, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["first_bad"] == 3
    assert cli_main(["audit", "verify", "--url", url, "--table", table]) == 1
    assert "first bad row: 3" in capsys.readouterr().out


def test_removed_rows_are_detected(audited: Any, one: Any) -> None:
    db = audited()
    one("InvoiceBulkCreateNode", {"data": [{"id": f"i{i}"} for i in range(4)]})
    q = db.dialect.quote
    raw_execute(db, f"DELETE FROM {q(db.audit.table)} WHERE {q('seq')} = 4")  # the last one
    report = db.audit.verify()
    assert (report.ok, report.first_bad) == (False, 4) and "head" in report.reason
    raw_execute(db, f"DELETE FROM {q(db.audit.table)} WHERE {q('seq')} = 2")
    report = db.audit.verify()
    assert (report.ok, report.first_bad) == (False, 2) and "missing" in report.reason


def test_concurrent_writers_append_one_chain(audited: Any) -> None:
    db = audited()

    async def writers() -> None:
        runtime = AsyncLocalRuntime()

        async def write(i: int) -> None:
            wf = WorkflowBuilder()
            wf.add_node("InvoiceBulkCreateNode", "n", {"data": [{"id": f"w{i}-{k}"} for k in range(3)]})
            await runtime.execute_workflow_async(wf.build())

        await asyncio.gather(*(write(i) for i in range(6)))

    asyncio.run(writers())
    rows = db.audit.rows()
    assert [r["seq"] for r in rows] == list(range(1, 19))
    assert db.audit.verify().ok


def test_bulk_writes_are_audited_in_batches(audited: Any, one: Any) -> None:
    db = audited()
    one("InvoiceBulkCreateNode", {"data": [{"id": f"i{i:05d}", "total": 1.0} for i in range(1200)]})
    one("InvoiceBulkUpdateNode", {"filter": {}, "fields": {"total": 2.0}, "confirmed": True})
    report = db.audit.verify()
    assert report.ok and report.rows == 2400


def test_audit_settings_are_checked(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with raises_df("DF-411", match="audit_log"):
        DataFlow(url, audit_log="yes")
    with raises_df("DF-411", match="audit_table"):
        DataFlow(url, audit_log=True, audit_table="audit; DROP TABLE x")
    with raises_df("DF-411", match="actor"), DataFlow(url) as db:
        db.audit_context.actor("")
    with DataFlow(url) as db:
        report = db.audit.verify()
        assert not report.ok and "no audit table" in report.reason


def make_url(db: DataFlow) -> str:
    url = db.url
    if db.dialect.name == "sqlite":
        return f"sqlite:///{url.database}"
    return url.raw


def test_require_intact_raises_df_717(audited: Any, one: Any) -> None:
    db = audited()
    one("InvoiceCreateNode", {"id": "i1"})
    assert db.audit.require_intact().ok
    q = db.dialect.quote
    raw_execute(db, f"UPDATE {q(db.audit.table)} SET {q('actor')} = 'mallory'")
    with raises_df("DF-717", match="row 1"):
        db.audit.require_intact()


def test_generated_ids_and_skipped_rows_are_audited_by_what_was_inserted(audited: Any, one: Any) -> None:
    db = audited()
    table = f"p_notes_{uuid.uuid4().hex[:8]}"
    db.model(type("Note", (), {"__annotations__": {"title": str}, "__tablename__": table}))
    try:
        out = one("NoteBulkCreateNode", {"data": [{"title": "a"}, {"title": "b"}]})
        assert "ids" not in out and out["inserted"] == 2
        one("InvoiceCreateNode", {"id": "i1"})
        out = one("InvoiceBulkCreateNode", {"data": [{"id": "i1"}, {"id": "i2"}], "conflict_resolution": "skip"})
        assert out["inserted"] == 1
        rows = db.audit.rows()
        assert [(r["model"], r["action"]) for r in rows] == [("Note", "create"), ("Note", "create"),
                                                              ("Invoice", "create"), ("Invoice", "create")]
        assert json.loads(rows[0]["after_values"])["title"] == "a"
        assert [r["record_id"] for r in rows[2:]] == ["i1", "i2"]
        assert db.audit.verify().ok
    finally:
        raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(table)}")


def test_rows_limit_is_checked(tmp_path: Any) -> None:
    with DataFlow(f"sqlite:///{tmp_path / 'a.db'}", audit_log=True) as db:
        assert db.audit.rows(limit=5) == []
        with raises_df("DF-411", match="limit"):
            db.audit.rows(limit="5; DROP TABLE x")  # type: ignore[arg-type]


def test_first_audited_write_inside_a_transaction_that_already_wrote(audited: Any, one: Any) -> None:
    db = audited()

    async def raw_then_node() -> None:
        from dataflow import AsyncLocalRuntime

        async with db.transaction() as conn:
            q = db.dialect.quote
            await conn.execute(f"INSERT INTO {q(db.models['User'].table)} (id, email, name, created_at, updated_at) "
                               f"VALUES ('r1', 'r@x', '', '2026-01-01 00:00:00', '2026-01-01 00:00:00')", [])
            wf = WorkflowBuilder()
            wf.add_node("InvoiceCreateNode", "n", {"id": "i1"})
            await AsyncLocalRuntime().execute_workflow_async(wf.build())

    one("UserCountNode", {})  # the table exists before the raw insert
    asyncio.run(raw_then_node())
    assert [r["record_id"] for r in db.audit.rows()] == ["i1"]
    assert db.audit.verify().ok


def test_the_first_write_to_a_new_table_is_audited(audited: Any, one: Any) -> None:
    db = audited(write_protection=[{"level": "field", "model": "User", "field": "email", "immutable": True}])
    one("InvoiceUpsertNode", {"where": {"id": "i1"}, "create": {"total": 1.0}, "update": {"total": 1.0}})
    one("UserUpdateNode", {"id": "nobody", "fields": {"email": "e@x"}})  # no such row: nothing to refuse
    assert [r["record_id"] for r in db.audit.rows()] == ["i1"]
