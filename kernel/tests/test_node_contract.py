"""The node contract: parameter declarations and their checker, what nodes touch, and the order rule."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import pytest
from dataflow.errors import DataFlowError
from dataflow.nodes import (
    UNKNOWN,
    Node,
    NodeContext,
    Param,
    Touch,
    check_parameters,
    holds_template,
    node_registry,
    without_templates,
)
from dataflow.workflow import WorkflowBuilder


class Limits(Node):
    type_name = "Limits"
    parameters: ClassVar = {
        "limit": Param("limit", int | None, default=100, minimum=0, maximum=1000),
        "mode": Param("mode", str, default="fast", choices=("fast", "safe")),
        "data": Param("data", list, required=True),
        "flag": Param("flag", bool, default=False),
        "ratio": Param("ratio", float, default=0.5),
        "options": Param("options", dict | None),
    }


def test_defaults_are_filled_and_values_kept() -> None:
    rows = [{"a": 1}] * 3
    checked = check_parameters(Limits, {"data": rows, "ratio": 2}, node_id="n")
    assert checked == {"data": rows, "limit": 100, "mode": "fast", "flag": False, "ratio": 2, "options": None}
    assert checked["data"] is rows, "lists pass through uncopied"
    assert check_parameters(Limits, {"data": [], "limit": None}, node_id="n")["limit"] is None, \
        "None is a value where the type allows it"


@pytest.mark.parametrize("params, code, words", [
    ({"data": [], "limit": "10"}, "DF-102", "'limit' must be int or None"),
    ({"data": [], "limit": True}, "DF-102", "'limit'"),
    ({"data": [], "limit": -1}, "DF-102", "≥ 0"),
    ({"data": [], "limit": 1001}, "DF-102", "≤ 1000"),
    ({"data": [], "mode": "slow"}, "DF-102", "one of 'fast' or 'safe'"),
    ({"data": [], "flag": 1}, "DF-102", "'flag' must be bool"),
    ({"data": [], "ratio": True}, "DF-102", "'ratio'"),
    ({"data": {"a": 1}}, "DF-102", "'data' must be list"),
    ({"data": [], "options": [1]}, "DF-102", "'options'"),
    ({"data": [], "lmit": 5}, "DF-102", "Did you mean 'limit'?"),
    ({"limit": 5}, "DF-101", "needs 'data'"),
])
def test_values_that_do_not_fit_the_declaration(params: dict[str, Any], code: str, words: str) -> None:
    with pytest.raises(DataFlowError) as info:
        check_parameters(Limits, params, node_id="n")
    assert info.value.code == code and words in info.value.message, info.value.message
    assert info.value.context["node_id"] == "n"


def test_object_and_any_parameters_take_every_value_as_it_is() -> None:
    """A parameter typed ``object`` / ``Any`` takes any value unchanged (the same object); the types a
    declaration takes as they are are known once, on the Param, and do not change its equality."""

    class Open(Node):
        type_name = "Open"
        parameters: ClassVar = {"id": Param("id", object), "extra": Param("extra", Any),
                                "options": Param("options", dict | None)}

    marker, values = object(), {1, 2}
    checked = check_parameters(Open, {"id": marker, "extra": values, "options": {"a": 1}}, node_id="n")
    assert checked["id"] is marker and checked["extra"] is values and checked["options"] == {"a": 1}
    assert Param("id", object).taken_as_is is None and Param("x", int | None).taken_as_is == {int, type(None)}
    assert Param("x", float).taken_as_is == {int}  # an int is taken for a float; a float goes to the converter
    assert check_parameters(Limits, {"data": [], "ratio": 1.5}, node_id="n")["ratio"] == 1.5
    assert Param("x", int, minimum=1) == Param("x", int, minimum=1)
    assert hash(Param("x", int, minimum=1)) == hash(Param("x", int, minimum=1))


def test_partial_checks_leave_templates_and_missing_values_for_run_time() -> None:
    checked = check_parameters(Limits, {"limit": "${n}", "mode": "{{m}}"}, node_id="n", partial=True)
    assert checked == {"limit": "${n}", "mode": "{{m}}"}
    with pytest.raises(DataFlowError) as info:
        check_parameters(Limits, {"limit": "many"}, node_id="n", partial=True)
    assert info.value.code == "DF-102"


def test_template_helpers() -> None:
    assert holds_template({"a": [1, {"b": "x ${y} z"}]}) and holds_template("{{ y }}")
    assert not holds_template({"a": ["$ {x}", "{x}", "${", 5]})
    raw = {"age": {"$lte": "${read.age}"}, "name": "Ann", "$or": [{"city": "${c}"}, {"city": "Rome"}],
           "tags": {"$in": ["${t}"]}, "empty": {}}
    assert without_templates(raw) == {"name": "Ann", "$or": [{"city": "Rome"}], "empty": {}}
    assert without_templates("${x}") is None
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"k": deep}
    assert holds_template(deep), "too deep to walk at build: left for run time"


# ---- the order rule -------------------------------------------------------------------------------
class Db:
    """Stands for a DataFlow instance (the order rule only compares identities)."""

    def __init__(self, name: str) -> None:
        self.name = name


FIRST, SECOND = Db("first"), Db("second")


class Op(Node):
    """A node whose touches come from its parameters: ``db`` (None: every instance) and ``writes``."""

    type_name = "Op"
    parameters: ClassVar = {"db": Param("db"), "writes": Param("writes", bool, default=True),
                            "nothing": Param("nothing", bool, default=False), "value": Param("value")}
    outputs = frozenset({"value"})

    @classmethod
    def touches(cls, params: Any) -> tuple[Touch, ...] | None:
        if params.get("nothing"):
            return ()
        if params.get("db") is UNKNOWN:
            return (Touch(None, True),)
        if "db" not in params:
            return None
        return (Touch(params["db"], params.get("writes", True)),)

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"value": params.get("value")}


def _order(*nodes: tuple[str, dict[str, Any]], connections: tuple[tuple[str, str, str, str], ...] = ()) -> Any:
    wf = WorkflowBuilder()
    for node_id, params in nodes:
        wf.add_node(Op, node_id, params)
    for connection in connections:
        wf.add_connection(*connection)
    return wf.build()


def test_writers_of_one_instance_keep_the_order_added_and_readers_overlap() -> None:
    built = _order(("w1", {"db": FIRST}), ("r1", {"db": FIRST, "writes": False}),
                   ("r2", {"db": FIRST, "writes": False}), ("w2", {"db": FIRST}),
                   ("other", {"db": SECOND}), ("pure", {"nothing": True}))
    after = {n: e.ordered_after for n, e in built.nodes.items()}
    assert after == {"w1": set(), "r1": {"w1"}, "r2": {"w1"}, "w2": {"r1", "r2"}, "other": set(), "pure": set()}
    assert built.generations == (("w1", "other", "pure"), ("r1", "r2"), ("w2",))
    assert built.instances == (FIRST, SECOND)


def test_a_node_that_declares_nothing_keeps_its_place_among_all_others() -> None:
    built = _order(("a", {"db": FIRST}), ("b", {"db": SECOND, "writes": False}), ("code", {}),
                   ("c", {"db": FIRST, "writes": False}), ("d", {"db": SECOND}), ("pure", {"nothing": True}))
    after = {n: e.ordered_after for n, e in built.nodes.items()}
    assert after["code"] == {"a", "b"}
    assert after["c"] == {"code"} and after["d"] == {"code"} and after["pure"] == set()


def test_an_instance_known_only_at_run_time_orders_like_every_instance() -> None:
    wf = WorkflowBuilder()
    wf.add_node(Op, "source", {"db": FIRST, "writes": False, "value": SECOND})
    wf.add_node(Op, "late", {})
    wf.add_node(Op, "after", {"db": SECOND, "writes": False})
    wf.add_connection("source", "value", "late", "db")
    built = wf.build()
    assert built.nodes["late"].touches == (Touch(None, True),)
    assert built.nodes["after"].ordered_after == {"late"}


def test_connections_come_first_even_against_the_order_added() -> None:
    built = _order(("read", {"db": FIRST, "writes": False}), ("create", {"db": FIRST}),
                   ("update", {"db": FIRST}),
                   connections=(("create", "value", "read", "value"),))
    assert built.order == ("create", "read", "update")
    assert built.nodes["read"].depends_on == {"create"}
    assert built.nodes["update"].ordered_after == {"read"}


def test_order_edges_stay_linear_in_the_number_of_nodes() -> None:
    n = 2000
    nodes = [(f"n{i}", {"db": FIRST, "writes": i % 10 == 0}) for i in range(n)]
    built = _order(*nodes)
    edges = sum(len(e.ordered_after) for e in built.nodes.values())
    assert edges <= 2 * n

    def lines_executed_by_build(size: int) -> int:
        """Python lines run by build(): a count, not a time, so a loaded machine cannot fail the test."""
        wf = WorkflowBuilder()
        for i in range(size):
            wf.add_node(Op, f"c{i}", {"db": FIRST})
            if i:
                wf.add_connection(f"c{i - 1}", "value", f"c{i}", "value")
        count = 0

        def trace(frame: Any, event: str, arg: Any) -> Any:
            nonlocal count
            if event == "line":
                count += 1
            return trace

        previous = sys.gettrace()
        sys.settrace(trace)
        try:
            wf.build()
        finally:
            sys.settrace(previous)
        return count

    ratio = lines_executed_by_build(800) / lines_executed_by_build(200)
    assert ratio < 6, f"4x the nodes ran {ratio:.1f}x the lines: linear is about 4, quadratic 16"


# ---- the registry ------------------------------------------------------------------------------------
def test_the_registry_loads_installed_node_types_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def loader(register: Any) -> None:
        calls.append(1)
        register("FirstUseNode", Op)

    monkeypatch.setattr(node_registry, "loader", loader)
    monkeypatch.setattr(node_registry, "_global_loaded", False)
    assert node_registry.resolve("FirstUseNode") is Op
    assert node_registry.resolve("FirstUseNode") is Op
    assert calls == [1], "loaded once"
