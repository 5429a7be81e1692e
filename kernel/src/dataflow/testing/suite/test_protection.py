"""Conformance: write protection and the audit trail (the dataflow-protect plugin) behave alike on every
dialect. Skipped when the plugin is not installed or is disabled.

A refused write is refused before any SQL (the table is unchanged, DF-716), on every writing node; the
audit trail's tables, its row lock and its hash chain work on the dialect (one audit row per record,
verified, and a changed row found).
"""

import uuid

import pytest

from dataflow.errors import DataFlowError
from dataflow.testing.fixtures import raises_df, raw_execute, raw_rows

__all__ = ["test_protect_audit_trail_verifies_and_finds_tampering", "test_protect_refuses_every_write_before_sql"]


def _protected_db(make_model, **options):
    pytest.importorskip("dataflow_protect")
    try:
        return make_model.new_db(**options)
    except DataFlowError as exc:
        if exc.code == "DF-401":
            pytest.skip(f"the protect plugin is disabled: {exc.message}")
        raise


def _ledger(make_model, db):
    class Ledger:
        id: str
        amount: int = 0
        memo: str | None = None

    make_model(Ledger, db=db)
    return Ledger


def test_protect_refuses_every_write_before_sql(make_model, run_node):
    db = _protected_db(make_model)
    ledger = _ledger(make_model, db)
    run_node("LedgerBulkCreateNode", {"data": [{"id": "a", "amount": 1}, {"id": "b", "amount": 2}],
                                      "db_instance": db})
    before = raw_rows(db, ledger, "id, amount, memo")
    writes: list[tuple[str, dict]] = [
        ("LedgerCreateNode", {"id": "c"}),
        ("LedgerUpdateNode", {"id": "a", "fields": {"amount": 5}}),
        ("LedgerDeleteNode", {"id": "a"}),
        ("LedgerUpsertNode", {"where": {"id": "a"}, "update": {"amount": 5}}),
        ("LedgerBulkCreateNode", {"data": [{"id": "d"}]}),
        ("LedgerBulkUpdateNode", {"filter": {}, "fields": {"amount": 0}, "confirmed": True}),
        ("LedgerBulkDeleteNode", {"filter": {}, "confirmed": True}),
        ("LedgerBulkUpsertNode", {"data": [{"id": "a", "amount": 9}]}),
    ]
    rule = db.protection.add_rule(level="model", model="Ledger", read_only=True)
    try:
        for node_type, params in writes:
            with raises_df("DF-716"):
                run_node(node_type, {**params, "db_instance": db})
        assert raw_rows(db, ledger, "id, amount, memo") == before
        db.protection.remove_rule(rule)
        db.protection.add_rule(level="field", model="Ledger", field="amount", immutable=True)
        with raises_df("DF-716"):
            run_node("LedgerUpdateNode", {"id": "a", "fields": {"amount": 7}, "db_instance": db})
        run_node("LedgerUpdateNode", {"id": "a", "fields": {"amount": 1, "memo": "same amount"}, "db_instance": db})
        assert raw_rows(db, ledger, "id, amount, memo")[0] == ("a", 1, "same amount")
    finally:
        db.protection.clear()


def test_protect_audit_trail_verifies_and_finds_tampering(make_model, run_node):
    table = f"audit_{uuid.uuid4().hex[:10]}"
    db = _protected_db(make_model, audit_log=True, audit_table=table)
    make_model.tables.setdefault(table, db)
    make_model.tables.setdefault(f"{table}_head", db)
    _ledger(make_model, db)
    with db.audit_context.actor("conformance"):
        run_node("LedgerBulkCreateNode", {"data": [{"id": f"r{i}", "amount": i} for i in range(5)], "db_instance": db})
        run_node("LedgerBulkUpdateNode", {"filter": {"amount": {"$gte": 3}}, "fields": {"memo": "big"},
                                          "db_instance": db})
        run_node("LedgerDeleteNode", {"id": "r0", "db_instance": db})
    rows = db.audit.rows()
    assert [(r["seq"], r["action"]) for r in rows] == [(1, "create"), (2, "create"), (3, "create"), (4, "create"),
                                                       (5, "create"), (6, "update"), (7, "update"), (8, "delete")]
    assert {r["actor"] for r in rows} == {"conformance"}
    assert db.audit.verify().ok
    q = db.dialect.quote
    raw_execute(db, f"UPDATE {q(table)} SET {q('record_id')} = 'forged' WHERE {q('seq')} = 6")
    report = db.audit.verify()
    assert (report.ok, report.first_bad) == (False, 6)
