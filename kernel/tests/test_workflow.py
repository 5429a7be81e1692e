"""Workflows: WorkflowBuilder checks and freezes the graph; the runtime contract assembles parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from dataflow.errors import DataFlowError
from dataflow.hookspecs import hookimpl
from dataflow.models import ModelSpec
from dataflow.nodes import Node, NodeContext, Param
from dataflow.runtime import invoke_node, node_parameters
from dataflow.workflow import WorkflowBuilder, get_path, set_path


class Echo(Node):
    """Returns its parameters as its output; uses no database, so only connections order it."""

    type_name = "Echo"
    parameters: ClassVar = {"value": Param("value"), "filter": Param("filter"), "items": Param("items")}

    @classmethod
    def touches(cls, params: Any) -> tuple[()]:
        return ()

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return dict(params)


class ModelNodes:
    """Generates one ``<Model>EchoNode`` per model, bound to the instance (as the CRUD plugin does)."""

    @hookimpl
    def dataflow_generate_nodes(self, model: ModelSpec, register: Callable[[str, type[Node]], None]) -> None:
        name = f"{model.name}EchoNode"
        register(name, type(name, (Echo,), {"type_name": name}))


def test_builder_returns_ids_and_build_freezes_generations() -> None:
    wf = WorkflowBuilder()
    assert wf.add_node(Echo, "a", {"value": 1}) == "a"
    wf.add_node(Echo, "b", {})
    wf.add_node(Echo, "c", {"value": "${a.value}"})
    wf.add_node(Echo, "d", {})
    wf.add_connection("b", "value", "d", "value")
    wf.add_connection("c", "value", "d", "items")
    built = wf.build()
    assert built.node_ids() == ["a", "b", "c", "d"]
    assert built.generations == (("a", "b"), ("c",), ("d",))
    assert built.nodes["c"].depends_on == {"a"}
    assert built.nodes["d"].depends_on == {"b", "c"}
    assert built.order == ("a", "b", "c", "d")
    assert built.nodes["a"].dependents == ("c",) and built.nodes["d"].dependents == ()


def test_node_id_is_generated_when_omitted() -> None:
    wf = WorkflowBuilder()
    assert wf.add_node(Echo) == "node_1"
    assert wf.add_node(Echo, params={"value": 1}) == "node_2"


def test_duplicate_node_id_is_df801() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Echo, "a")
    with pytest.raises(DataFlowError) as info:
        wf.add_node(Echo, "a")
    assert info.value.code == "DF-801"
    assert "'a'" in info.value.message


@pytest.mark.parametrize("bad_id", ["", "has space", 5, "x" * 300])
def test_bad_node_id_is_df801(bad_id: Any) -> None:
    with pytest.raises(DataFlowError) as info:
        WorkflowBuilder().add_node(Echo, bad_id)
    assert info.value.code == "DF-801"


def test_unknown_node_type_is_df701_with_suggestion(make_db: Any) -> None:
    db = make_db(ModelNodes())

    @db.model
    class Customer:
        name: str

    wf = WorkflowBuilder()
    wf.add_node("CustomerEchoNode", "ok", {})
    wf.add_node("CustomerEchNode", "typo", {})
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-701"
    assert "Did you mean 'CustomerEchoNode'?" in info.value.message
    assert info.value.context["node_id"] == "typo"


def test_node_names_resolve_to_the_chosen_instance(make_db: Any) -> None:
    first, second = make_db(ModelNodes(), name="first"), make_db(ModelNodes(), name="second")
    for db in (first, second):

        @db.model
        class Gadget:
            name: str

    def resolved(params: dict[str, Any]) -> Any:
        wf = WorkflowBuilder()
        wf.add_node("GadgetEchoNode", "n", params)
        return wf.build().nodes["n"].cls.dataflow_instance

    assert resolved({}) is second, "without db_instance the newest registration wins"
    assert resolved({"db_instance": first}) is first
    assert resolved({"db_instance": "first"}) is first
    with pytest.raises(DataFlowError) as info:
        resolved({"db_instance": "third"})
    assert info.value.code == "DF-701"


def test_unknown_parameter_is_df102_with_suggestion() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Echo, "a", {"valeu": 1})
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-102"
    assert "Did you mean 'value'?" in info.value.message


def test_connection_to_unknown_node_is_df801_with_suggestion() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Echo, "create")
    wf.add_node(Echo, "read")
    wf.add_connection("craete", "value", "read", "value")
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-801"
    assert "Did you mean 'create'?" in info.value.message


def test_cycle_is_df801_naming_its_nodes() -> None:
    wf = WorkflowBuilder()
    for node_id in ("a", "b", "c", "free"):
        wf.add_node(Echo, node_id)
    wf.add_connection("a", "value", "b", "value")
    wf.add_connection("b", "value", "c", "value")
    wf.add_connection("c", "value", "a", "value")
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-801"
    assert "cycle" in info.value.message
    assert all(n in info.value.message for n in "abc")
    assert "free" not in info.value.message


def test_self_connection_and_template_cycle_are_df801() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Echo, "a")
    wf.add_connection("a", "value", "a", "items")
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-801"
    wf = WorkflowBuilder()
    wf.add_node(Echo, "a", {"value": "${b.value}"})
    wf.add_node(Echo, "b", {"value": "{{a.value}}"})
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-801"


@pytest.mark.parametrize("bad", [("", "x", "b", "y"), ("a", None, "b", "y"), ("a", "x", "b", "")])
def test_connection_arguments_are_checked(bad: tuple[Any, ...]) -> None:
    with pytest.raises(DataFlowError) as info:
        WorkflowBuilder().add_connection(*bad)
    assert info.value.code == "DF-201"


def test_templates_are_found_in_nested_parameters_in_both_syntaxes() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Echo, "src", {"value": 1})
    wf.add_node(Echo, "dst", {"filter": {"id": "${src.value}", "$or": [{"name": "{{ who }}"}]},
                              "value": "id-${src.value}-{{src.value}}"})
    templates = {t.location: t for t in wf.build().nodes["dst"].templates}
    assert set(templates) == {("filter", "id"), ("filter", "$or", 0, "name"), ("value",)}
    assert templates[("filter", "id")].whole
    assert templates[("filter", "id")].refs == (("src", "value"),)
    assert templates[("filter", "$or", 0, "name")].refs == (("who", ""),)
    assert not templates[("value",)].whole
    assert templates[("value",)].refs == (("src", "value"), ("src", "value"))


def test_node_parameters_render_templates_connections_and_overrides() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Echo, "src", {})
    wf.add_node(Echo, "dst", {"value": "${src.result.items}", "items": "n=${src.result.count}",
                              "filter": {"name": "${who}"}})
    wf.add_connection("src", "result.count", "dst", "filter.count")
    built = wf.build()
    results = {"src": {"result": {"items": [1, 2], "count": 2}}}
    params = node_parameters(built, built.nodes["dst"], results, {"who": "Ann", "dst": {"extra": True}})
    assert params == {"value": [1, 2], "items": "n=2", "filter": {"name": "Ann", "count": 2}, "extra": True}
    assert built.nodes["dst"].params["filter"] == {"name": "${who}"}, "the built workflow is never mutated"


def test_node_parameters_errors_name_the_node() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Echo, "src", {})
    wf.add_node(Echo, "dst", {"value": "${nowhere}"})
    built = wf.build()
    with pytest.raises(DataFlowError) as info:
        node_parameters(built, built.nodes["dst"], {"src": {}}, {})
    assert info.value.code == "DF-101"
    assert info.value.context["node_id"] == "dst"

    wf = WorkflowBuilder()
    wf.add_node(Echo, "src", {})
    wf.add_node(Echo, "dst", {})
    wf.add_connection("src", "vaule", "dst", "value")
    built = wf.build()
    with pytest.raises(DataFlowError) as info:
        node_parameters(built, built.nodes["dst"], {"src": {"value": 1}}, {})
    assert info.value.code == "DF-201"
    assert "Did you mean 'value'?" in info.value.message


@pytest.mark.anyio
async def test_invoke_node_runs_a_node_without_a_dataflow_instance() -> None:
    output = await invoke_node(Echo, "n", {"value": 3}, NodeContext("n", "run", "Echo"))
    assert output == {"value": 3}


def test_get_and_set_path() -> None:
    data = {"a": {"b": [10, {"c": 3}]}}
    assert get_path(data, "a.b.1.c") == 3
    assert get_path(data, "a.b.-2") == 10
    assert get_path(data, "") is data
    with pytest.raises(KeyError):
        get_path(data, "a.x")
    target: dict[str, Any] = {"f": 1}
    set_path(target, "f.g.h", 2)
    assert target == {"f": {"g": {"h": 2}}}
