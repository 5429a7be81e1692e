"""The model registry: a process without the model classes rebuilds the models from the database."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import subprocess
import sys
import textwrap
from typing import Optional

from dataflow import DataFlow
from dataflow.testing import raises_df, raw_execute, unique_table
from dataflow_migrate.registry import REGISTRY_TABLE, spec_from_json, spec_to_json

# A second process: only the URL and the model's name, no class.
_OTHER_PROCESS = textwrap.dedent("""
    import json, sys
    from dataflow import DataFlow, LocalRuntime, WorkflowBuilder

    db = DataFlow(sys.argv[1])
    result = db.reconstruct_models_from_registry()
    name = sys.argv[2]
    nodes = result["generated_nodes"][name]
    wf = WorkflowBuilder()
    wf.add_node(nodes["create"], "create", {"sku": "b-2", "price": "2.50"})
    wf.add_node(nodes["list"], "list", {"order_by": ["sku"]})
    results, _ = LocalRuntime().execute(wf.build())
    spec = db.get_model(name)
    print(json.dumps({
        "reconstructed": result["reconstructed_models"],
        "skus": [r["sku"] for r in results["list"]["records"]],
        "prices": [str(r["price"]) for r in results["list"]["records"]],
        "tags": [r["tags"] for r in results["list"]["records"]],
        "note": [r["note"] for r in results["list"]["records"]],
        "fields": {f.name: [f.kind, f.nullable, f.required] for f in spec.fields},
        "unique": [list(i.fields) for i in spec.indexes if i.unique],
    }))
    db.close()
""")


def _drop_entry(db: DataFlow, table: str) -> None:
    q = db.dialect.quote
    raw_execute(db, f"DELETE FROM {q(REGISTRY_TABLE)} WHERE {q('table_name')} = {db.dialect.placeholder(1)}", [table])


def test_another_process_rebuilds_the_models_with_their_types_and_defaults(dataflow_url, db):
    table = unique_table("t_products")
    name = "Product" + table.rsplit("_", 1)[-1].capitalize()

    class Product:
        __tablename__ = table
        __dataflow__ = {"indexes": [{"fields": ["sku"], "unique": True}]}
        sku: str
        price: decimal.Decimal
        tags: list[str] = []
        note: Optional[str] = None  # noqa: UP045 - the spec's spelling
        stock: int = 0

    Product.__name__ = Product.__qualname__ = name
    db.model(Product)
    try:
        from dataflow import LocalRuntime, WorkflowBuilder

        wf = WorkflowBuilder()
        wf.add_node(f"{name}CreateNode", "c", {"sku": "a-1", "price": decimal.Decimal("1.25"), "tags": ["x"]})
        LocalRuntime().execute(wf.build())

        done = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, dataflow_url, name],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert name in seen["reconstructed"]
        assert seen["skus"] == ["a-1", "b-2"]
        assert seen["prices"] == ["1.25", "2.50"]              # Decimal digits, not a float
        assert seen["tags"] == [["x"], []]                      # the list default, not a required field
        assert seen["note"] == [None, None]
        assert seen["fields"]["sku"] == ["str", False, True]
        assert seen["fields"]["note"] == ["str", True, False]
        assert seen["fields"]["stock"] == ["int", False, False]
        assert seen["unique"] == [["sku"]]
    finally:
        _drop_entry(db, table)
        raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(table)}")  # declared with db.model, not make_model


def test_a_model_already_declared_is_kept_and_reported(dataflow_url, make_model, db):
    @make_model
    class Gadget:
        label: str

    spec = db.get_model("Gadget")
    db.migrate_apply()  # the table exists and the model is recorded
    try:
        result = db.reconstruct_models_from_registry(models="Gadget")
        assert result["reconstructed_models"] == []
        assert result["models"]["Gadget"] == spec.table
        assert result["generated_nodes"]["Gadget"]["create"] == "GadgetCreateNode"
        assert db.get_model("Gadget") is spec
    finally:
        _drop_entry(db, spec.table)


def test_unknown_names_and_stale_entries_are_skipped_with_a_reason(dataflow_url, db):
    table = unique_table("t_stale")

    class Stale:
        __tablename__ = table
        label: str

    db.model(Stale)
    db.migrate_apply()
    try:
        raw_execute(db, f"DROP TABLE {db.dialect.quote(table)}")
        other = DataFlow(dataflow_url)
        try:
            result = other.reconstruct_models_from_registry(models=["Stale", "NoSuchModel"])
            assert result["success"] is False
            assert "no longer exists" in result["skipped"]["Stale"]
            assert "no such model" in result["skipped"]["NoSuchModel"]
            assert "Stale" not in other.models
            with raises_df("DF-102", match="model names"):
                other.reconstruct_models_from_registry(models=[1, 2])
        finally:
            other.close()
    finally:
        _drop_entry(db, table)


def test_a_spec_survives_json_exactly():
    from dataflow.models import model_spec_from_class

    class Event:
        __dataflow__ = {"indexes": [{"fields": ["at"]}], "soft_delete": True}
        at: dt.datetime = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        day: dt.date = dt.date(2026, 1, 2)
        amount: decimal.Decimal = decimal.Decimal("1.50")
        blob: bytes = b"\x00\xff"
        payload: dict = {"$decimal": "not a tag"}
        scores: list[int] = [1, 2]

    spec = model_spec_from_class(Event)
    again = spec_from_json(spec_to_json(spec))
    def described(model):
        return [(f.name, f.kind, f.nullable, f.default, f.primary_key, f.element_kind, f.auto, f.generated)
                for f in model.fields]

    assert described(again) == described(spec)
    assert again.indexes == spec.indexes and dict(again.options) == dict(spec.options)
    assert again.checksum() == spec.checksum()

