"""``WorkflowBuilder.check()``: every problem ``build()`` would refuse, as data, from the same checks.

``build()`` raises the first finding; ``check()`` keeps going and reports them all, with the graph as
far as it can be understood (node classes, dependencies, an order for the nodes off any cycle).
Connection types come from the node contract (``input_types`` / ``output_types``) and are compared
with ``type_accepts``.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, ClassVar

import pytest
from dataflow.errors import DataFlowError
from dataflow.nodes import Node, NodeContext, Param, describe_type, type_accepts, type_members
from dataflow.workflow import (
    CYCLE,
    INPUT,
    NODE_TYPE,
    OUTPUT,
    PARAMETER,
    SELF_CONNECTION,
    TYPE,
    UNKNOWN_NODE,
    WorkflowBuilder,
)


class Typed(Node):
    """Declares typed parameters and outputs; uses no database."""

    type_name = "Typed"
    parameters: ClassVar = {
        "text": Param("text", str),
        "number": Param("number", int | None),
        "ratio": Param("ratio", float),
        "anything": Param("anything"),
        "needed": Param("needed", str, required=True),
    }
    outputs = frozenset({"text", "number", "maybe", "flag", "loose"})

    @classmethod
    def output_types(cls) -> dict[str, Any]:
        return {"text": str, "number": int, "maybe": str | None, "flag": bool, "loose": object}

    @classmethod
    def touches(cls, params: Any) -> tuple[()]:
        return ()

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {}


def _wf(*nodes: tuple[str, dict[str, Any]], connections: tuple[tuple[str, str, str, str], ...] = ()) -> WorkflowBuilder:
    wf = WorkflowBuilder()
    for node_id, params in nodes:
        wf.add_node(Typed, node_id, {"needed": "x", **params})
    for connection in connections:
        wf.add_connection(*connection)
    return wf


def test_a_valid_workflow_has_no_findings_and_check_builds_the_same_workflow() -> None:
    wf = _wf(("a", {}), ("b", {"text": "${a.text}"}), connections=(("a", "number", "b", "number"),))
    checked = wf.check()
    assert checked.ok and checked.findings == ()
    assert checked.order == ("a", "b") and checked.depends_on["b"] == {"a"}
    assert checked.freeze().nodes["b"].depends_on == wf.build().nodes["b"].depends_on


def test_check_reports_every_problem_in_the_order_build_meets_them() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Typed, "a", {"needed": "x", "txet": 1})              # unknown parameter
    wf.add_node("NoSuchNode", "ghost_type", {})                     # unknown node type
    wf.add_node(Typed, "b", {"needed": "x"})
    wf.add_node(Typed, "c", {"needed": "x"})
    wf.add_connection("missing", "text", "b", "text")               # unknown source node
    wf.add_connection("a", "text", "b", "nope")                     # input b does not take
    wf.add_connection("a", "txt", "c", "text")                      # output a never produces
    wf.add_connection("a", "flag", "c", "number")                   # bool into int | None
    wf.add_connection("c", "text", "c", "anything")                 # itself
    checked = wf.check()
    kinds = [f.kind for f in checked.findings]
    assert kinds == [UNKNOWN_NODE, SELF_CONNECTION, PARAMETER, NODE_TYPE, INPUT, OUTPUT, TYPE]
    codes = [f.code for f in checked.findings]
    assert codes == ["DF-801", "DF-801", "DF-102", "DF-701", "DF-201", "DF-201", "DF-201"]
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.message == checked.findings[0].message
    type_finding = checked.findings[-1]
    assert type_finding.connection is not None and type_finding.node_id == "c"
    assert "Type mismatch" in type_finding.message and "bool" in type_finding.message
    assert type_finding.error.context["expected_type"] == "int | None"
    assert set(checked.classes) == {"a", "b", "c"}, "the nodes whose type resolved are still described"


def test_every_bad_parameter_of_a_node_is_reported() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Typed, "a", {"needed": "x", "txet": 1, "number": "ten", "ratio": "half"})
    messages = [f.message for f in wf.check().findings]
    assert len(messages) == 3
    assert any("txet" in m for m in messages) and any("number" in m for m in messages)
    assert any("ratio" in m for m in messages)


def test_nodes_of_one_type_with_equal_values_are_each_judged_by_the_value_they_hold() -> None:
    # check() checks a node type's static values once per set of values: 1, 1.0 and True are equal
    # and hash alike, but only some of them fit a parameter, and every refused node is reported.
    wf = WorkflowBuilder()
    wf.add_node(Typed, "int_ok", {"needed": "x", "number": 1})
    wf.add_node(Typed, "float_bad", {"needed": "x", "number": 1.0})
    wf.add_node(Typed, "bool_bad", {"needed": "x", "number": True})
    wf.add_node(Typed, "int_again", {"needed": "x", "number": 1})
    wf.add_node(Typed, "bool_again", {"needed": "x", "number": True})
    findings = wf.check().findings
    assert [(f.kind, f.node_id) for f in findings] == [
        (PARAMETER, "float_bad"), (PARAMETER, "bool_bad"), (PARAMETER, "bool_again")]
    assert all(f.code == "DF-102" and f.error.context["node_id"] == f.node_id for f in findings)
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-102" and info.value.context["node_id"] == "float_bad"


def test_cycles_are_listed_in_order_and_nodes_waiting_for_them_are_left_out_of_the_order() -> None:
    wf = _wf(("free", {}), ("a", {}), ("b", {}), ("c", {}), ("after", {}), ("x", {}), ("y", {}),
             connections=(("a", "text", "b", "text"), ("b", "text", "c", "text"), ("c", "text", "a", "text"),
                          ("c", "number", "after", "number"), ("y", "text", "x", "text"),
                          ("x", "text", "y", "text")))
    checked = wf.check()
    assert checked.cycles == (("a", "b", "c"), ("x", "y"))
    assert checked.order == ("free",)
    cycle_findings = [f for f in checked.findings if f.kind == CYCLE]
    assert [f.cycle for f in cycle_findings] == [("a", "b", "c"), ("x", "y")]
    assert "a → b → c → a" in cycle_findings[0].message
    assert "after" not in cycle_findings[0].message and "free" not in cycle_findings[0].message


def test_a_cycle_through_templates_is_found_too() -> None:
    wf = _wf(("a", {"text": "${b.text}"}), ("b", {"text": "{{a.text}}"}))
    assert wf.check().cycles == (("a", "b"),)


def test_template_types_are_checked_like_connections() -> None:
    whole = _wf(("a", {}), ("b", {"number": "${a.text}"}))
    (finding,) = whole.check().findings
    assert finding.kind == TYPE and finding.template is not None and "str" in finding.message
    inside_text = _wf(("a", {}), ("b", {"number": "n-${a.number}"}))
    assert [f.kind for f in inside_text.check().findings] == [TYPE], "a template inside text renders text"
    assert _wf(("a", {}), ("b", {"text": "n-${a.number}"})).check().ok
    assert _wf(("a", {}), ("b", {"anything": {"deep": "${a.flag}"}})).check().ok


@pytest.mark.parametrize("target, source, fits", [
    (str, str, True),
    (str, int, False),
    (float, int, True),
    (int, bool, False),
    (bool, bool, True),
    (int | None, int, True),
    (str, str | None, True),                 # only a None would fail, at run time
    (str, type(None), False),
    (str | None, type(None), True),
    (dict, dict[str, Any], True),
    (list, tuple, True),
    (list[str], list[int], True),            # element types are not compared
    (dict, list, False),
    (dt.datetime | dt.date | str, str, True),
    (decimal.Decimal | int | float | str, int, True),
    (object, int, True),
    (Any, int, True),
    (int, object, True),
])
def test_type_accepts(target: Any, source: Any, fits: bool) -> None:
    assert type_accepts(target, source) is fits


def test_describe_type_and_members() -> None:
    assert describe_type(int | None) == "int | None"
    assert describe_type(list[str]) == "list[str]"
    assert describe_type(object) == "Any"
    assert type_members(list[str] | None) == (list, type(None))
    assert type_members(object) == ()


def test_node_contract_defaults() -> None:
    assert Typed.input_types()["number"] == int | None
    assert Typed.required_inputs() == (("needed",),)
    assert Node.output_types() == {}

    class Plain(Node):
        outputs = frozenset({"x"})

    assert Plain.output_types() == {"x": object}
