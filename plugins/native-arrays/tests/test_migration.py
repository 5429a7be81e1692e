"""An existing JSONB list column moved to a native array: refused by auto-migration, a planned HIGH-risk step."""

from __future__ import annotations

from typing import Any

import pytest
from dataflow.testing import raises_df, raw_fetch

pytestmark = pytest.mark.postgresql


def _declare(make_model: Any, db: Any, table: str, native: bool) -> Any:
    class Post:
        id: str
        tags: list[str]
        scores: list[int] | None = None
        __dataflow__ = {"use_native_arrays": native}

    return make_model(Post, db=db, table=table)


def _udt(db: Any, table: str, column: str) -> str:
    return raw_fetch(db, "SELECT udt_name FROM information_schema.columns WHERE table_name = $1 AND column_name = $2 "
                         "AND table_schema = current_schema()", [table, column])[0][0]


def _json_table(make_model: Any, run_node: Any, rows: list[dict[str, Any]]) -> str:
    old = _declare(make_model, make_model.db, f"posts_{id(rows):x}"[:20] + "_mig", native=False)
    table = make_model.table(old)
    run_node("PostBulkCreateNode", {"data": rows, "db_instance": make_model.db})
    assert _udt(make_model.db, table, "tags") == "jsonb"
    return table


ROWS = [{"id": "a", "tags": ["x", "it's"], "scores": [1, 2]}, {"id": "b", "tags": [], "scores": None},
        {"id": "c", "tags": ["y"], "scores": []}]


def test_jsonb_list_to_native_array_is_a_planned_confirmed_step(make_model, run_node):
    table = _json_table(make_model, run_node, ROWS)
    native_db = make_model.new_db()
    _declare(make_model, native_db, table, native=True)
    with raises_df("DF-305", match="auto-migration does not convert"):
        run_node("PostCountNode", {"db_instance": native_db})
    plan = native_db.migrate_plan()
    steps = [(s.kind, s.column) for s in plan.steps]
    assert ("alter_type", "tags") in steps and ("alter_type", "scores") in steps
    assert any(f.rule == "native_arrays.conversion" and "3 stored lists convert" in f.reason for f in plan.findings)
    native_db.migrate_apply(plan, confirmed=True)
    assert (_udt(native_db, table, "tags"), _udt(native_db, table, "scores")) == ("_text", "_int4")
    out = run_node("PostListNode", {"db_instance": native_db, "order_by": ["id"]})
    assert [{k: r[k] for k in ("id", "tags", "scores")} for r in out["records"]] == ROWS
    found = run_node("PostListNode", {"db_instance": native_db, "filter": {"tags": {"$contains": "it's"}}})
    assert [r["id"] for r in found["records"]] == ["a"]


def test_values_that_do_not_convert_roll_the_migration_back(make_model, run_node, db):
    table = _json_table(make_model, run_node, [{"id": "a", "tags": ["x"], "scores": [1]}])
    raw_fetch(db, f"UPDATE {table} SET scores = '[1, \"two\"]'::jsonb")
    native_db = make_model.new_db()
    _declare(make_model, native_db, table, native=True)
    plan = native_db.migrate_plan()
    (finding,) = [f for f in plan.findings if f.rule == "native_arrays.conversion" and f.level.name == "HIGH"]
    assert "1 of 1 stored values" in finding.reason and "scores" in finding.reason
    with raises_df("DF-302"):
        native_db.migrate_apply(plan)  # HIGH risk: refused unless confirmed
    with raises_df("DF-301"):
        native_db.migrate_apply(plan, confirmed=True)
    assert (_udt(db, table, "tags"), _udt(db, table, "scores")) == ("jsonb", "jsonb")


def test_native_array_back_to_jsonb(make_model, run_node):
    native = _declare(make_model, make_model.db, "posts_back_" + format(id(make_model), "x")[-8:], native=True)
    table = make_model.table(native)
    run_node("PostBulkCreateNode", {"data": ROWS})
    json_db = make_model.new_db()
    _declare(make_model, json_db, table, native=False)
    with raises_df("DF-305"):
        run_node("PostCountNode", {"db_instance": json_db})
    json_db.migrate_apply(json_db.migrate_plan(), confirmed=True)
    assert _udt(json_db, table, "tags") == "jsonb"
    out = run_node("PostListNode", {"db_instance": json_db, "order_by": ["id"]})
    assert [{k: r[k] for k in ("id", "tags", "scores")} for r in out["records"]] == ROWS
