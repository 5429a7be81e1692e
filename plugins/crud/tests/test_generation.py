"""The crud plugin generates exactly the eleven nodes of API.md and the aggregate node, bound to their instance."""

from __future__ import annotations

from dataflow import DataFlow


def test_twelve_nodes_per_model(tmp_path):
    # Only the core: other installed plugins (the export plugin) may generate more nodes per model.
    db = DataFlow(f"sqlite:///{tmp_path / 'gen.db'}", plugins=["sqlite", "crud", "runtime"])

    @db.model
    class OrderItem:
        id: str
        qty: int

    expected = {f"OrderItem{op}Node" for op in (
        "Create", "Read", "Update", "Delete", "List", "Count", "Upsert",
        "BulkCreate", "BulkUpdate", "BulkDelete", "BulkUpsert", "Aggregate")}
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


def test_batch_size_is_rows_per_statement_inside_one_transaction(tmp_path, monkeypatch):
    from dataflow import LocalRuntime, WorkflowBuilder
    from dataflow.query import Delete, Insert, Upsert

    db = DataFlow(f"sqlite:///{tmp_path / 'batches.db'}")

    @db.model
    class Reading:
        id: str
        value: int

    seen: list[tuple[str, int]] = []
    real_run = db.dialect.run

    async def counting_run(query, conn=None):
        if isinstance(query, Insert | Upsert):
            seen.append((type(query).__name__, len(query.rows)))
        if isinstance(query, Delete):
            seen.append(("Delete", len(query.where.value)))
        return await real_run(query, conn)

    monkeypatch.setattr(db.dialect, "run", counting_run)

    def run(node, params):
        wf = WorkflowBuilder()
        wf.add_node(node, "n", params)
        return LocalRuntime().execute(wf.build())[0]["n"]

    rows = [{"id": f"r{i}", "value": i} for i in range(5)]
    assert run("ReadingBulkCreateNode", {"data": rows, "batch_size": 2})["inserted"] == 5
    assert seen == [("Insert", 2), ("Insert", 2), ("Insert", 1)]
    seen.clear()
    out = run("ReadingBulkUpsertNode", {"data": [{**r, "value": 9} for r in rows], "batch_size": 3})
    assert (out["inserted"], out["updated"]) == (0, 5)
    assert seen == [("Upsert", 3), ("Upsert", 2)]
    seen.clear()
    assert run("ReadingBulkDeleteNode", {"ids": ["r0", "r1", "r2", "r3"], "batch_size": 3})["deleted"] == 4
    assert seen == [("Delete", 3), ("Delete", 1)]
    seen.clear()
    run("ReadingBulkCreateNode", {"data": [{"id": f"s{i}", "value": i} for i in range(5)]})
    assert seen == [("Insert", 5)], "without batch_size, one statement as large as the database takes"
    db.close()
