"""Conformance: direct calls (``db.express`` / ``db.express_sync``) behave exactly as the nodes do.

- each operation returns what the same node returns in a workflow, for the same parameters, async
  and sync; the Kailash-style positional forms (``read(model, id)``, ``update(model, id, fields)``,
  ``upsert(model, data, conflict_on=…)``) mean the node parameters they name;
- the same validation and DF codes (unknown field, wrong type, missing row, managed field …), plus
  DF-605 for an unknown model and DF-415 for an operation the model has no node for; hostile input
  leaves the database unchanged;
- a call inside ``db.transaction()`` (async or sync) joins it: rolled back with it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dataflow.testing.fixtures import raises_df
from dataflow.testing.suite._support import PEOPLE, person_model, seed, strip, tests_in


def _express(db: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
    """``db.express.<operation>(...)`` run to completion from synchronous test code (on a fresh loop)."""
    return asyncio.run(getattr(db.express, operation)(*args, **kwargs))


def test_express_calls_return_the_nodes_outputs(make_model, run_node):
    db = make_model.db
    person = person_model(make_model)
    ids = seed(run_node, person, PEOPLE[:3])
    ex = db.express_sync
    read = ex.read("Person", ids[0])
    assert read == run_node("PersonReadNode", {"id": ids[0]})
    assert read["name"] == "Alice" and read["found"] is True
    listed = ex.list("Person", {"age": {"$gte": 30}}, order_by=["name"])
    assert listed == run_node("PersonListNode", {"filter": {"age": {"$gte": 30}}, "order_by": ["name"]})
    assert [r["name"] for r in listed["records"]] == ["Alice", "Carol"]
    assert ex.count("Person") == {"count": 3}
    assert ex.count(person, {"city": "Paris"}) == {"count": 1}  # the class names the model too
    created = ex.create("Person", {"name": "Zed", "age": 9})
    assert strip(created) == strip(run_node("PersonReadNode", {"id": created["id"]}), "found")
    assert ex.create("Person", name="Kw", age=1)["name"] == "Kw"
    updated = ex.update("Person", created["id"], {"age": 10})
    assert updated["updated"] is True and updated["age"] == 10
    assert ex.update("Person", filter={"name": "Zed"}, fields={"city": "Oslo"})["city"] == "Oslo"
    assert ex.delete("Person", created["id"]) == {"id": created["id"], "deleted": True}
    assert ex.delete("Person", created["id"]) == {"id": created["id"], "deleted": False}
    assert ex.read("Person", created["id"], raise_on_not_found=False)["found"] is False


def test_express_upsert_and_bulk_operations(make_model, run_node):
    db = make_model.db
    person_model(make_model)
    ex = db.express_sync
    first = ex.upsert("Person", {"email": "u@example.com", "name": "U", "age": 1}, conflict_on=["email"])
    assert first["created"] is True and first["record"]["name"] == "U"
    again = ex.upsert("Person", {"email": "u@example.com", "name": "U2", "age": 2}, conflict_on=["email"])
    assert again["created"] is False and again["action"] == "updated"
    assert again["record"]["name"] == "U2" and again["record"]["id"] == first["record"]["id"]
    node_form = ex.upsert("Person", where={"email": "v@example.com"}, create={"name": "V"}, update={"age": 5})
    assert node_form["created"] is True and node_form["record"]["email"] == "v@example.com"
    bulk = ex.bulk_create("Person", [{"name": "b1"}, {"name": "b2"}], return_ids=True)
    assert bulk["inserted"] == 2 and len(bulk["ids"]) == 2
    assert ex.bulk_update("Person", filter={"name": {"$in": ["b1", "b2"]}}, fields={"age": 7})["updated"] == 2
    assert ex.bulk_update("Person", [{"id": bulk["ids"][0], "age": 8}])["updated"] == 1
    assert ex.bulk_upsert("Person", [{"id": bulk["ids"][1], "name": "b2x"}])["updated"] == 1
    assert ex.bulk_delete("Person", bulk["ids"])["deleted"] == 2
    assert ex.call("Person", "count", {"filter": {"age": 7}}) == {"count": 0}
    assert ex.call("Person", "Count") == {"count": 2}


def test_express_async_calls_and_their_errors(make_model, run_node):
    db = make_model.db
    person_model(make_model)

    async def scenario() -> dict[str, Any]:
        made = await db.express.create("Person", {"name": "A", "age": 3})
        got = await db.express.read("Person", made["id"])
        codes = {}
        for label, call in {
            "unknown field": lambda: db.express.create("Person", {"nmae": "x"}),
            "wrong type": lambda: db.express.create("Person", {"name": "x", "age": "old"}),
            "managed field": lambda: db.express.update("Person", made["id"], {"created_at": "2020-01-01"}),
            "missing row": lambda: db.express.read("Person", made["id"] + 1000),
            "unknown model": lambda: db.express.read("Persn", 1),
            "model not a name": lambda: db.express.read(42, 1),
            "unknown operation": lambda: db.express.archive("Person", {}),
            "operation not a name": lambda: db.express.call("Person", 7),
            "params not a dict": lambda: db.express.create("Person", ["name", "x"]),
            "given twice": lambda: db.express.read("Person", 1, id=2),
            "missing required": lambda: db.express.create("Person", {}),
            "unknown parameter": lambda: db.express.list("Person", limt=3),
        }.items():
            try:
                await call()
            except Exception as exc:  # the test records what each raised
                codes[label] = getattr(exc, "code", type(exc).__name__)
        return {"got": got, "codes": codes, "count": (await db.express.count("Person"))["count"]}

    out = asyncio.run(scenario())
    assert out["got"]["name"] == "A"
    assert out["codes"] == {
        "unknown field": "DF-102", "wrong type": "DF-102", "managed field": "DF-104", "missing row": "DF-703",
        "unknown model": "DF-605", "model not a name": "DF-605", "unknown operation": "DF-415",
        "operation not a name": "DF-415", "params not a dict": "DF-102", "given twice": "DF-102",
        "missing required": "DF-101", "unknown parameter": "DF-102",
    }
    assert out["count"] == 1, "every refused call left the table as it was"
    with raises_df("DF-703"):
        db.express_sync.read("Person", 999_999)


@pytest.mark.parametrize("hostile", ["'; DROP TABLE people; --", "\x00", "Person\"; --", "__class__", ""])
def test_express_refuses_hostile_names(make_model, run_node, hostile):
    db = make_model.db
    person = person_model(make_model)
    seed(run_node, person, PEOPLE[:2])
    for call in (lambda: db.express_sync.read(hostile, 1), lambda: db.express_sync.call("Person", hostile),
                 lambda: db.express_sync.create("Person", {hostile: 1}),
                 lambda: db.express_sync.list("Person", {hostile: 1}),
                 lambda: db.express_sync.list("Person", order_by=[hostile])):
        with pytest.raises(Exception) as info:
            call()
        assert getattr(info.value, "code", "").startswith("DF-"), info.value
    assert db.express_sync.count("Person") == {"count": 2}


def test_express_calls_join_the_current_transaction(make_model, run_node):
    db = make_model.db
    person_model(make_model)
    db.express_sync.count("Person")  # the table exists before the transactions below
    with pytest.raises(RuntimeError), db.transaction():
        db.express_sync.create("Person", {"name": "rolled back (sync)"})
        assert db.express_sync.count("Person") == {"count": 1}
        raise RuntimeError("undo")

    async def in_transaction() -> int:
        try:
            async with db.transaction():
                await db.express.create("Person", {"name": "rolled back (async)"})
                seen = (await db.express.count("Person"))["count"]
                raise RuntimeError(seen)
        except RuntimeError as exc:
            return int(exc.args[0])

    assert asyncio.run(in_transaction()) == 1
    with db.transaction():
        db.express_sync.create("Person", {"name": "kept"})
    assert [r["name"] for r in db.express_sync.list("Person")["records"]] == ["kept"]


def test_express_aggregate_returns_the_aggregate_nodes_output(make_model, run_node):
    db = make_model.db
    person = person_model(make_model)
    if "PersonAggregateNode" not in db._nodes:
        pytest.skip("no plugin generating <Model>AggregateNode is enabled")
    seed(run_node, person, PEOPLE)
    params = {"group_by": ["age"], "aggregates": {"n": {"$count": "*"}}, "order_by": ["age"]}
    assert db.express_sync.aggregate("Person", **params) == run_node("PersonAggregateNode", params)


__all__ = tests_in(globals())
