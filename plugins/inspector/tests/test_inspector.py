"""The Inspector API on real workflows (SQLite models), well-formed and broken.

The broken ones: a missing source (a required input nothing provides), a type mismatch, a cycle, a
node no run reaches, a connection from a node that does not exist, an unknown node type. Every
answer is checked against what ``build()`` does with the same workflow: one set of checks.
"""

from __future__ import annotations

from typing import Any

import pytest
from dataflow import DataFlow, DataFlowError, LocalRuntime, WorkflowBuilder
from dataflow_inspector import ConnectionInfo, Inspector, NodeInfo, ParameterTrace


def _good() -> WorkflowBuilder:
    wf = WorkflowBuilder()
    wf.add_node("UserCreateNode", "create", {"id": "u1", "name": "Ann", "email": "ann@example.com", "age": 41})
    wf.add_node("UserUpdateNode", "update", {"fields": {"age": 42}})
    wf.add_connection("create", "id", "update", "id")
    wf.add_node("UserReadNode", "read", {})
    wf.add_connection("update", "id", "read", "id")
    wf.add_node("OrderCreateNode", "order", {"id": "o1", "user_id": "${read.id}", "total": 9.5})
    wf.add_node("UserCountNode", "count", {})
    return wf


def test_a_well_formed_workflow(db: DataFlow) -> None:
    inspector = Inspector(_good())
    assert inspector.problems() == [] and inspector.is_valid(strict=True)
    assert inspector.validate_connections() == {"is_valid": True, "errors": [], "warnings": []}
    assert inspector.find_broken_connections() == [] and inspector.detect_cycles() == []
    assert inspector.execution_order() == ["create", "update", "read", "order", "count"]
    summary = inspector.workflow_summary()
    assert (summary["nodes"], summary["connections"], summary["templates"]) == (5, 2, 1)
    assert summary["models"] == ["Order", "User"] and summary["is_valid"] and summary["cycles"] == 0
    assert summary["roots"] == ["create", "count"] and summary["levels"] == 4
    results, _ = LocalRuntime().execute(_good().build())
    assert results["order"]["user_id"] == "u1", "the workflow the inspector passed does run"


def test_connections_know_the_types_at_both_ends(db: DataFlow) -> None:
    connections = Inspector(_good()).connections()
    assert [c.label for c in connections] == ["create.id → update.id", "update.id → read.id", "read.id → order.user_id"]
    first = connections[0]
    assert isinstance(first, ConnectionInfo) and first.is_valid
    assert (first.source_type, first.target_type) == ("str", "str")
    assert first.show() == "✓ create.id → update.id (str → str)"
    assert (first.source_node, first.source_parameter, first.target_node, first.target_parameter) == (
        "create", "id", "update", "id"), "the names Kailash's inspector used"
    template = connections[2]
    assert template.kind == "template" and template.template == "${read.id}"
    assert Inspector(_good()).connections("read") == connections[1:]


def test_trace_follows_values_upstream(db: DataFlow) -> None:
    inspector = Inspector(_good())
    trace = inspector.trace_parameter("read", "id")
    assert isinstance(trace, ParameterTrace)
    assert trace.source == "create.id" and trace.origin == "connection"
    assert (trace.source_node, trace.source_parameter) == ("create", "id")
    assert trace.path == ("create.id", "update.id", "read.id")
    assert trace.value == "u1" and trace.show() == "create.id → update.id → read.id\nValue: 'u1'"
    template = inspector.trace_parameter("order", "user_id")
    assert template.origin == "template" and template.source == "create.id"
    static = inspector.trace_parameter("order", "total")
    assert static.source is None and static.origin == "static" and static.value == 9.5
    default = inspector.trace_parameter("read", "raise_on_not_found")
    assert default.origin == "default" and default.value is True
    unknown = inspector.trace_parameter("target_node", "missing_param")
    assert unknown.source is None and "no node 'target_node'" in unknown.show()


def test_node_info(db: DataFlow) -> None:
    info = Inspector(_good()).node_info("update")
    assert isinstance(info, NodeInfo)
    assert (info.type_name, info.model, info.instance, info.operation) == ("UserUpdateNode", "User", db.name, "update")
    params = {p.name: p for p in info.parameters}
    assert params["id"].origin == "connection" and params["id"].type == "str"
    assert params["fields"].origin == "static" and params["age"].type == "int"
    assert info.outputs["updated"] == "bool" and info.outputs["nickname"] == "str | None"
    assert [c.label for c in info.incoming] == ["create.id → update.id"]
    assert [c.label for c in info.outgoing] == ["update.id → read.id"]
    assert info.waits_for == ("create",) and info.touches.startswith("writes User")
    assert "id" not in info.unused_outputs and "updated" in info.unused_outputs
    assert info.problems == () and "Validation: PASSED" in info.show()
    with pytest.raises(DataFlowError) as caught:
        Inspector(_good()).node_info("updat")
    assert caught.value.code == "DF-807" and "Did you mean 'update'?" in caught.value.message


def test_the_order_rule_shows_in_what_a_node_waits_for(db: DataFlow) -> None:
    inspector = Inspector(_good())
    assert inspector.waits_for("read") == {"update": "data"}
    assert inspector.waits_for("count") == {"order": "order"}, "a reader waits for the writes added before it"


def test_connection_chain(db: DataFlow) -> None:
    inspector = Inspector(_good())
    assert [c.label for c in inspector.connection_chain("order")] == [
        "create.id → update.id", "update.id → read.id", "read.id → order.user_id"]
    assert [c.label for c in inspector.connection_chain("create", to="read")] == [
        "create.id → update.id", "update.id → read.id"]
    assert inspector.connection_chain("count", to="read") == []


def test_a_broken_workflow_is_described_whole(broken: WorkflowBuilder) -> None:
    workflow = broken
    inspector = Inspector(workflow)
    kinds = sorted(p.kind for p in inspector.errors)
    assert kinds == ["cycle", "missing_source", "type", "unreachable"]
    with pytest.raises(DataFlowError) as refused:
        workflow.build()
    assert refused.value.message in [p.message for p in inspector.errors], "build() raises the first of them"
    assert not inspector.is_valid() and inspector.execution_order() == ["create", "read", "typed"]


def test_missing_source(broken: WorkflowBuilder) -> None:
    inspector = Inspector(broken)
    assert inspector.missing_parameters() == [
        {"node": "read", "parameters": ["id", "filter"], "message": inspector.missing_parameters()[0]["message"]}]
    (error,) = [e for e in inspector.validate_connections()["errors"] if e["kind"] == "missing_source"]
    assert (error["to_node"], error["to_param"], error["code"]) == ("read", "id", "DF-101")
    assert error["reason"].startswith("Missing source")
    assert inspector.trace_parameter("read", "id").source is None


def test_type_mismatch(broken: WorkflowBuilder) -> None:
    inspector = Inspector(broken)
    mismatches = [e for e in inspector.validate_connections()["errors"] if "type mismatch" in e["reason"].lower()]
    assert mismatches == [{
        "reason": mismatches[0]["reason"], "from_node": "create", "from_param": "age", "to_node": "typed",
        "to_param": "name", "expected_type": "str", "actual_type": "int", "code": "DF-201", "kind": "type"}]
    failing = {(b["source"], b["target"]): b["error"] for b in inspector.find_broken_connections()}
    assert "Type mismatch" in failing[("create.age", "typed.name")]


def test_cycles_and_unreachable_nodes(broken: WorkflowBuilder) -> None:
    inspector = Inspector(broken)
    assert inspector.detect_cycles() == [["a", "b"]]
    unreachable = inspector.unreachable_nodes()
    assert set(unreachable) == {"a", "b", "after"}
    assert "waits for 'b'" in unreachable["after"] and "cycle a → b → a" in unreachable["after"]
    failing = {(b["source"], b["target"]): b["error"] for b in inspector.find_broken_connections()}
    assert failing[("a.id", "b.id")] == "part of the cycle a → b → a"
    itself = WorkflowBuilder()
    itself.add_node("UserReadNode", "loop", {})
    itself.add_connection("loop", "id", "loop", "id")
    assert Inspector(itself).detect_cycles() == [["loop"]]


def test_a_connection_from_a_node_that_does_not_exist(db: DataFlow) -> None:
    wf = WorkflowBuilder()
    wf.add_node("UserReadNode", "lost", {})
    wf.add_connection("ghost", "id", "lost", "id")
    inspector = Inspector(wf)
    assert inspector.unreachable_nodes() == {"lost": "it waits for node 'ghost', which does not exist"}
    assert inspector.find_broken_connections()[0]["source"] == "ghost.id"
    assert not inspector.missing_parameters(), "the broken connection is the problem, not a missing source"


def test_unknown_node_types_still_answer() -> None:
    wf = WorkflowBuilder()
    wf.add_node("NobodyCreateNode", "create", {"id": "user-123"})
    wf.add_node("NobodyReadNode", "read", {"id": "user-123"})
    wf.add_connection("create", "id", "read", "id")
    inspector = Inspector(wf)
    assert len(inspector.connections()) == 1
    assert inspector.trace_parameter("read", "id").show() == "create.id → read.id\nValue: 'user-123'"
    validation = inspector.validate_connections()
    assert not validation["is_valid"] and validation["errors"][0]["code"] == "DF-701"
    assert inspector.node_info("create").type_name == "NobodyCreateNode"


def test_templates_and_run_inputs(db: DataFlow) -> None:
    wf = WorkflowBuilder()
    wf.add_node("UserCreateNode", "create", {"id": "${uid}", "name": "n-{{uid}}", "email": "e@example.com"})
    assert Inspector(wf).run_inputs() == {"uid": ["create"]}
    (warning,) = Inspector(wf).warnings
    assert warning.kind == "run-input" and not Inspector(wf).is_valid(strict=True)
    missing = Inspector(wf, parameters={"other": 1})
    assert [p.kind for p in missing.errors] == ["missing_input"] and "Did you mean" not in missing.errors[0].message
    assert Inspector(wf, parameters={"uid": "u9"}).is_valid(strict=True)
    per_node = Inspector(wf, parameters={"create": {"id": "u9", "name": "x"}})
    assert per_node.is_valid(strict=True), "a run parameter for the node replaces its templates"
    assert Inspector(wf).trace_parameter("create", "id").origin == "run input"


def test_warnings(db: DataFlow) -> None:
    wf = WorkflowBuilder()
    wf.add_node("UserCreateNode", "a", {"id": "a", "name": "A", "email": "a@example.com", "nickname": "Al"})
    wf.add_node("UserCreateNode", "b", {"id": "b", "name": "static", "email": "b@example.com"})
    wf.add_connection("a", "nickname", "b", "name")
    wf.add_connection("a", "name", "b", "name")
    inspector = Inspector(wf)
    assert inspector.is_valid() and not inspector.is_valid(strict=True)
    assert sorted(w.kind for w in inspector.warnings) == ["fed-twice", "may-be-none", "overridden-value",
                                                          "overridden-value"]
    report = inspector.validate(strict=True)
    assert not report["is_valid"] and not report["categories"]["types"]["passed"]
    assert inspector.validate()["is_valid"]


def test_a_built_workflow_is_inspected_like_its_builder(db: DataFlow) -> None:
    from_builder, from_built = Inspector(_good()), Inspector(_good().build())
    assert [c.label for c in from_built.connections()] == [c.label for c in from_builder.connections()]
    assert from_built.workflow_summary() == from_builder.workflow_summary()
    with pytest.raises(DataFlowError) as caught:
        Inspector({"nodes": []})
    assert caught.value.code == "DF-807"


def test_db_chooses_the_instance_when_two_declare_the_model(db: DataFlow, tmp_path: Any) -> None:
    other = DataFlow(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        @other.model
        class User:
            id: str
            name: str

        wf = WorkflowBuilder()
        wf.add_node("UserCreateNode", "create", {"id": "x", "name": "X"})
        assert Inspector(wf).node_info("create").instance == other.name, "the newest instance by default"
        chosen = Inspector(wf, db)
        assert chosen.node_info("create").instance == db.name
        assert chosen.missing_parameters()[0]["parameters"] == ["email"], "db's model needs an email"
    finally:
        other.close()


def test_unused_outputs_and_show(db: DataFlow, broken: WorkflowBuilder) -> None:
    inspector = Inspector(_good())
    assert "found" in inspector.unused_outputs()["read"] and "id" not in inspector.unused_outputs()["read"]
    text = Inspector(broken).show()
    assert text.startswith("Workflow Analysis Report") and "- Cycles: 1" in text and "Validation: FAILED" in text
