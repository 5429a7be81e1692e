"""The export and import nodes on SQLite, PostgreSQL and MariaDB: exact round trips, order, errors."""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, List, Optional  # noqa: UP035 - the spellings users write

import pytest
from dataflow.testing import raises_df
from dataflow.testing.helpers import ScalarFields

UTC = dt.UTC
FORMATS = ["a.csv", "a.jsonl", "a.csv.gz", "a.jsonl.gz",
           pytest.param("a.parquet", marks=pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None,
                                                               reason="pyarrow is not installed"))]


def declare(make_model: Any) -> Any:
    class Item(ScalarFields):
        id: str
        note: Optional[str] = None  # noqa: UP045
        raw: Optional[bytes] = None  # noqa: UP045
        data: dict = {}
        tags: List[str] = []  # noqa: UP006
        score: Optional[float] = None  # noqa: UP045
        rank: Optional[int] = None  # noqa: UP045

    return make_model(Item)


def base(n: int, /, **values: Any) -> dict[str, Any]:
    row = {"id": f"r{n:03}", "s": f"text {n}", "i": n, "f": n / 4, "b": n % 2 == 0,
           "when": dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC) + dt.timedelta(days=n),
           "day": dt.date(2024, 2, 29) + dt.timedelta(days=n), "amount": Decimal(f"{n}.25"),
           "blob": bytes([n % 256, 0, 255])}
    row.update(values)
    return row


ROWS = [
    base(1, s="plain ünïcødé ✓", data={"a": [1, 2.5, None, True], "n": {"b": "é"}}, tags=["x", "y"]),
    base(2, s='comma, "quote"\nnewline\r\nand crlf', i=-(2**62), f=-1e300, amount=Decimal("-12345678.0001"),
         blob=b"", note="", raw=b"", data={}, tags=[], score=2.5, rank=0),
    base(3, s="  spaces kept  ", note="a note", raw=b"\x00\x01", score=-0.0, rank=-7,
         amount=Decimal("0.00"), data={"s": ""}, when=dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    base(4, s="", note=None, data={"list": []}, tags=["only"]),
]


def load(run_node: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    run_node("ItemBulkCreateNode", {"data": rows})
    return run_node("ItemListNode", {"order_by": ["id"], "limit": 1000})["records"]


def listed(run_node: Any) -> list[dict[str, Any]]:
    return run_node("ItemListNode", {"order_by": ["id"], "limit": 1000})["records"]


@pytest.mark.parametrize("name", FORMATS)
def test_every_field_type_round_trips_exactly(make_model, run_node, tmp_path, name):
    declare(make_model)
    stored = load(run_node, ROWS)
    path = tmp_path / name
    out = run_node("ItemExportNode", {"path": str(path), "batch_size": 3})
    assert out["exported"] == 4 and out["success"] and path.stat().st_size == out["bytes"]
    run_node("ItemBulkDeleteNode", {"filter": {}, "confirmed": True})
    back = run_node("ItemImportNode", {"path": str(path), "batch_size": 3})
    assert back == {**back, "processed": 4, "inserted": 4, "updated": 0, "skipped": 0, "success": True}
    assert listed(run_node) == stored  # ids, every value, None vs "" vs b"", and the timestamps


def test_csv_writes_null_unquoted_and_empty_text_quoted(make_model, run_node, tmp_path):
    declare(make_model)
    load(run_node, ROWS)
    path = tmp_path / "items.csv"
    run_node("ItemExportNode", {"path": str(path), "fields": ["id", "note", "amount", "b"]})
    lines = path.read_text().splitlines()
    assert lines[0] == "id,note,amount,b"
    assert lines[1] == "r001,,1.25,false"
    assert lines[2] == '"r002","","-12345678.0001","true"'


def test_jsonl_is_one_object_per_line_with_readable_values(make_model, run_node, tmp_path):
    declare(make_model)
    load(run_node, ROWS)
    path = tmp_path / "items.jsonl.gz"
    run_node("ItemExportNode", {"path": str(path), "filter": {"id": "r001"}})
    (line,) = gzip.decompress(path.read_bytes()).decode().splitlines()
    obj = json.loads(line)
    assert obj["amount"] == "1.25" and obj["when"] == "2024-01-03T03:04:05.123456+00:00"
    assert obj["data"] == {"a": [1, 2.5, None, True], "n": {"b": "é"}} and obj["tags"] == ["x", "y"]
    assert obj["note"] is None and obj["blob"] == "AQD/"


def people(make_model: Any) -> Any:
    class Person:
        id: int
        name: str
        age: Optional[int] = None  # noqa: UP045
        city: Optional[str] = None  # noqa: UP045

    return make_model(Person)


PEOPLE = [{"name": n, "age": a, "city": c} for n, a, c in [
    ("ann", 30, "paris"), ("bob", None, "rome"), ("cy", 30, None), ("di", 25, "oslo"), ("ed", None, None),
    ("fay", 41, "rome"), ("gus", 30, "rome"), ("hal", 25, None), ("ivy", None, "oslo")]]


def expected_order(rows: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[str]:
    """API.md's order: ascending puts NULLs last, descending first; id breaks ties (stable sorts, last key first)."""
    ordered = sorted(rows, key=lambda r: r["id"])
    for name, desc in reversed(keys):
        present = sorted((r for r in ordered if r[name] is not None), key=lambda r: r[name], reverse=desc)
        missing = [r for r in ordered if r[name] is None]
        ordered = missing + present if desc else present + missing
    return [r["name"] for r in ordered]


@pytest.mark.parametrize("order_by", [["-age", "city"], ["age", "-city"], ["city"], ["-city", "-age"], None])
def test_keyset_batches_follow_order_by_with_nulls_and_ties(make_model, run_node, tmp_path, order_by):
    people(make_model)
    run_node("PersonBulkCreateNode", {"data": PEOPLE})
    rows = run_node("PersonListNode", {"limit": 100})["records"]
    path = tmp_path / "people.jsonl"
    run_node("PersonExportNode", {"path": str(path), "order_by": order_by, "batch_size": 2})
    names = [json.loads(line)["name"] for line in path.read_text().splitlines()]
    keys = [(f.lstrip("-"), f.startswith("-")) for f in order_by or []]
    assert names == expected_order(rows, keys)


def test_filter_and_fields_choose_rows_and_columns(make_model, run_node, tmp_path):
    people(make_model)
    run_node("PersonBulkCreateNode", {"data": PEOPLE})
    path = tmp_path / "rome.csv"
    out = run_node("PersonExportNode", {"path": str(path), "filter": {"city": "rome", "age": {"$gte": 30}},
                                        "order_by": ["name"], "fields": ["name", "age"]})
    assert out["exported"] == 2
    assert path.read_text().splitlines() == ["name,age", "fay,41", "gus,30"]


def test_generated_ids_are_kept_and_never_reused_after_an_import(make_model, run_node, tmp_path):
    people(make_model)
    run_node("PersonBulkCreateNode", {"data": PEOPLE[:3]})
    path = tmp_path / "p.csv"
    run_node("PersonExportNode", {"path": str(path)})
    run_node("PersonBulkDeleteNode", {"filter": {}, "confirmed": True})
    run_node("PersonImportNode", {"path": str(path)})
    ids = [r["id"] for r in run_node("PersonListNode", {"order_by": ["id"]})["records"]]
    assert len(ids) == 3
    assert run_node("PersonCreateNode", {"name": "new"})["id"] > max(ids)


def test_a_file_without_ids_gets_generated_ids_and_defaults(make_model, run_node, tmp_path):
    people(make_model)
    path = tmp_path / "new.csv"
    path.write_text("name,city\nzed,\nyan,lima\n")
    assert run_node("PersonImportNode", {"path": str(path)})["inserted"] == 2
    records = run_node("PersonListNode", {"order_by": ["name"]})["records"]
    assert [(r["name"], r["age"], r["city"]) for r in records] == [("yan", None, "lima"), ("zed", None, None)]
    assert all(isinstance(r["id"], int) and r["created_at"] is not None for r in records)


BAD_FILES = {
    "csv": ("name,age\nann,30\nbob,thirty\ncy,1\n", "Line 3", "age"),
    "jsonl": ('{"name": "ann"}\n{"name": "bob", "age": 1.5}\n', "Line 2", "age"),
    "unknown-column": ("name,agee\nann,3\n", "Line 1", "agee"),
    "required": ("age\n3\n", "Line 2", "name"),
    "broken-json": ('{"name": "ann"}\n{"name": \n', "Line 2", None),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_line_is_df_712_naming_it_and_nothing_is_written(make_model, run_node, tmp_path, case):
    people(make_model)
    run_node("PersonCreateNode", {"name": "kept"})
    text, where, field = BAD_FILES[case]
    path = tmp_path / ("bad.jsonl" if "json" in case else "bad.csv")
    path.write_text(text)
    with raises_df("DF-712", match=where) as caught:
        run_node("PersonImportNode", {"path": str(path), "batch_size": 1})
    if field:
        assert caught["error"].context["field"] == field
    assert [r["name"] for r in run_node("PersonListNode", {})["records"]] == ["kept"]


def test_a_row_the_database_refuses_is_named_and_nothing_is_written(make_model, run_node, tmp_path):
    people(make_model)
    existing = run_node("PersonCreateNode", {"name": "old"})
    path = tmp_path / "dup.csv"
    lines = ["id,name"] + [f"{existing['id'] + n},n{n}" for n in range(1, 8)] + [f"{existing['id']},clash"]
    path.write_text("\n".join(lines) + "\n")
    with raises_df("DF-712", match="Line 9") as caught:
        run_node("PersonImportNode", {"path": str(path), "batch_size": 3})
    assert caught["error"].context["cause_code"] == "DF-704"
    assert [r["name"] for r in run_node("PersonListNode", {})["records"]] == ["old"]


def test_conflict_resolution_skip_and_update(make_model, run_node, tmp_path):
    declare(make_model)
    load(run_node, ROWS[:2])
    path = tmp_path / "items.jsonl"
    run_node("ItemExportNode", {"path": str(path)})
    run_node("ItemUpdateNode", {"filter": {"id": "r001"}, "fields": {"s": "changed"}})
    run_node("ItemBulkCreateNode", {"data": [base(9)]})
    skipped = run_node("ItemImportNode", {"path": str(path), "conflict_resolution": "skip"})
    assert (skipped["inserted"], skipped["skipped"]) == (0, 2)
    assert run_node("ItemReadNode", {"id": "r001"})["s"] == "changed"
    updated = run_node("ItemImportNode", {"path": str(path), "conflict_resolution": "update"})
    assert (updated["inserted"], updated["updated"]) == (0, 2)
    assert run_node("ItemReadNode", {"id": "r001"})["s"] == ROWS[0]["s"]
    assert run_node("ItemCountNode", {})["count"] == 3


def test_file_problems_are_df_713(make_model, run_node, tmp_path):
    people(make_model)
    with raises_df("DF-713", match="No file"):
        run_node("PersonImportNode", {"path": str(tmp_path / "missing.csv")})
    existing = tmp_path / "there.csv"
    existing.write_text("keep me")
    with raises_df("DF-713", match="already exists"):
        run_node("PersonExportNode", {"path": str(existing), "overwrite": False})
    assert existing.read_text() == "keep me"
    with raises_df("DF-713"):
        run_node("PersonExportNode", {"path": str(tmp_path / "no" / "such" / "folder.csv")})


def test_bad_parameters_are_df_101_and_df_102(make_model, run_node, tmp_path):
    people(make_model)
    with raises_df("DF-101"):
        run_node("PersonExportNode", {})
    with raises_df("DF-102", match="format"):
        run_node("PersonExportNode", {"path": str(tmp_path / "x.xlsx")})
    with raises_df("DF-102", match="conflict_resolution"):
        run_node("PersonImportNode", {"path": str(tmp_path / "x.csv"), "conflict_resolution": "merge"})
    with raises_df("DF-102"):
        run_node("PersonExportNode", {"path": str(tmp_path / "x.csv"), "order_by": ["nope"]})
    with raises_df("DF-102"):
        run_node("PersonExportNode", {"path": str(tmp_path / "x.csv"), "batch_size": 0})


def test_a_failed_export_leaves_no_partial_file(make_model, run_node, tmp_path):
    declare(make_model)
    load(run_node, ROWS)
    path = tmp_path / "out.csv"
    with raises_df("DF-102"):
        run_node("ItemExportNode", {"path": str(path), "order_by": ["data"]})
    assert list(tmp_path.glob("*out.csv*")) == []


def test_parquet_without_pyarrow_is_df_407(make_model, run_node, tmp_path, monkeypatch):
    people(make_model)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with raises_df("DF-407", match="pyarrow"):
        run_node("PersonExportNode", {"path": str(tmp_path / "p.parquet")})


def test_export_nodes_take_db_instance_and_model_name(make_model, run_node, tmp_path):
    person = people(make_model)
    db = person.__dataflow_model__ and make_model.db
    run_node("PersonCreateNode", {"name": "ann"})
    path = tmp_path / "p.csv"
    out = run_node("PersonExportNode", {"path": str(path), "db_instance": db, "model_name": "Person"})
    assert out["exported"] == 1
    with raises_df("DF-102", match="model_name"):
        run_node("PersonExportNode", {"path": str(path), "model_name": "User"})


def test_nodes_run_inside_a_workflow_with_templates(make_model, run, tmp_path):
    from dataflow import WorkflowBuilder

    people(make_model)
    wf = WorkflowBuilder()
    wf.add_node("PersonCreateNode", "create", {"name": "ann", "age": 3})
    wf.add_node("PersonExportNode", "export", {"path": "${target}", "filter": {"id": "${create.id}"}})
    wf.add_node("PersonImportNode", "again", {"path": "${export.path}", "conflict_resolution": "skip"})
    results = run(wf, {"target": str(tmp_path / "one.jsonl")})
    assert results["export"]["exported"] == 1 and results["again"]["skipped"] == 1


def test_import_reads_files_written_by_other_tools(make_model, run_node, tmp_path: Path):
    declare(make_model)
    path = tmp_path / "hand.csv"
    path.write_text("id,s,i,f,b,when,day,amount,blob,data\n"
                    "h1,hand,7,1,TRUE,2024-05-06T07:08:09Z,2024-05-06,3.50,AAE=,\"{\"\"k\"\": 1}\"\n")
    run_node("ItemImportNode", {"path": str(path)})
    record = run_node("ItemReadNode", {"id": "h1"})
    assert record["when"] == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC) and record["f"] == 1.0
    assert record["b"] is True and record["amount"] == Decimal("3.50") and record["blob"] == b"\x00\x01"
    assert record["data"] == {"k": 1} and record["tags"] == [] and record["note"] is None


def test_the_node_contract_orders_and_checks_at_build(make_model, run, tmp_path):
    """Declared touches: an export added after a write to the same instance runs after it, with no
    connection between them; declared outputs: a connection from an output the node never gives is
    refused by build()."""
    from dataflow import WorkflowBuilder

    people(make_model)
    wf = WorkflowBuilder()
    wf.add_node("PersonBulkCreateNode", "seed", {"data": PEOPLE})
    wf.add_node("PersonExportNode", "export", {"path": str(tmp_path / "all.csv")})
    wf.add_node("PersonCountNode", "count", {})
    results = run(wf)
    assert results["export"]["exported"] == results["count"]["count"] == len(PEOPLE)
    broken = WorkflowBuilder()
    broken.add_node("PersonExportNode", "export", {"path": str(tmp_path / "x.csv")})
    broken.add_node("PersonImportNode", "load", {})
    broken.add_connection("export", "file", "load", "path")
    with raises_df("DF-201"):
        broken.build()
