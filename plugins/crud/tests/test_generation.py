"""The crud plugin generates exactly the eleven nodes of API.md, bound to their instance."""

from __future__ import annotations

from dataflow import DataFlow


def test_eleven_nodes_per_model(tmp_path):
    # Only the core: other installed plugins (the export plugin) may generate more nodes per model.
    db = DataFlow(f"sqlite:///{tmp_path / 'gen.db'}", plugins=["sqlite", "crud", "runtime"])

    @db.model
    class OrderItem:
        id: str
        qty: int

    expected = {f"OrderItem{op}Node" for op in (
        "Create", "Read", "Update", "Delete", "List", "Count", "Upsert",
        "BulkCreate", "BulkUpdate", "BulkDelete", "BulkUpsert")}
    assert set(db.state["generated"]["OrderItem"]) == expected
    assert expected <= set(db._nodes)
    assert all(db._nodes[name].dataflow_instance is db for name in expected)
    assert db.models["OrderItem"].table == "order_items"


def test_same_model_name_on_two_instances_stays_isolated(tmp_path):
    dev = DataFlow(f"sqlite:///{tmp_path / 'dev.db'}", name="dev")
    prod = DataFlow(f"sqlite:///{tmp_path / 'prod.db'}", name="prod")

    @dev.model
    class User:
        name: str

    @prod.model
    class User:  # noqa: F811 - the same name on another instance is the point
        name: str
        email: str

    assert dev._nodes["UserCreateNode"]().dataflow_instance is dev
    assert prod._nodes["UserCreateNode"]().dataflow_instance is prod
    assert "email" not in dev.models["User"].field_map


def test_db_instance_label_with_one_instance_and_choice_among_several(tmp_path):
    """The spec passes db_instance="my_db" without naming the instance: with one instance that works;
    with several, an unknown label is DF-701 and a known name chooses."""
    import uuid

    import pytest
    from dataflow import DataFlowError, LocalRuntime, WorkflowBuilder

    # A model name no other test uses: instances of other tests may still be alive in this process.
    name = f"Gizmo{uuid.uuid4().hex[:8]}"
    first = DataFlow(f"sqlite:///{tmp_path / 'one.db'}")
    first.model(type(name, (), {"__annotations__": {"id": str, "name": str}}))

    wf = WorkflowBuilder()
    wf.add_node(f"{name}CreateNode", "c", {"db_instance": "my_db", "model_name": name, "id": "g1", "name": "x"})
    results, _ = LocalRuntime().execute(wf.build())
    assert results["c"]["id"] == "g1"

    second = DataFlow(f"sqlite:///{tmp_path / 'two.db'}", name="second")
    second.model(type(name, (), {"__annotations__": {"id": str, "name": str}}))

    wf = WorkflowBuilder()
    wf.add_node(f"{name}CountNode", "n", {"db_instance": "my_db"})
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-701"
    wf = WorkflowBuilder()
    wf.add_node(f"{name}CountNode", "n", {"db_instance": "second"})
    results, _ = LocalRuntime().execute(wf.build())
    assert results["n"]["count"] == 0
    first.close()
    second.close()
