"""Direct calls and the plugins: an operation another plugin generates is callable (``aggregate`` runs
``<Model>AggregateNode`` when a plugin makes it), and every call passes through the plugins'
``dataflow_execute_node`` wrappers, as a workflow's nodes do (tenancy, protection, timing)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow, Node, Param, hookimpl
from dataflow.testing import raises_df


class AggregatePlugin:
    """Generates ``<Model>AggregateNode`` (a stand-in returning its parameters) and wraps every node run."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def dataflow_generate_nodes(self, model: Any, db: Any, register: Any) -> None:
        class AggregateNode(Node):
            type_name = f"{model.name}AggregateNode"
            parameters = {"group_by": Param("group_by", list | None), "aggregates": Param("aggregates", dict | None)}

            async def run(self, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
                return {"groups": [], "asked": {k: v for k, v in params.items() if v is not None}}

        AggregateNode.model = model
        register(AggregateNode.type_name, AggregateNode)

    @hookimpl(wrapper=True)
    def dataflow_execute_node(self, node: Any, params: dict[str, Any], ctx: Any) -> Any:
        inner = yield
        self.seen.append((node.type_name, dict(params)))
        if params.get("name") == "forbidden":
            inner.close()

            async def refuse() -> Any:
                from dataflow import DataFlowError

                raise DataFlowError("DF-102", "refused by a wrapper")

            return refuse()
        return inner


@pytest.fixture
def plugged(tmp_path: Path) -> Iterator[tuple[DataFlow, AggregatePlugin]]:
    plugin = AggregatePlugin()
    db = DataFlow(f"sqlite:///{tmp_path / 'x.db'}", plugins=[plugin])

    @db.model
    class Sale:
        region: str
        amount: int = 0

    yield db, plugin
    db.close()


def test_aggregate_calls_the_models_aggregate_node(plugged):
    db, _ = plugged
    out = db.express_sync.aggregate("Sale", group_by=["region"], aggregates={"n": {"$count": "*"}})
    assert out == {"groups": [], "asked": {"group_by": ["region"], "aggregates": {"n": {"$count": "*"}}}}
    assert asyncio.run(db.express.call("Sale", "aggregate", {"group_by": ["region"]}))["asked"] == {
        "group_by": ["region"]}
    with raises_df("DF-102"):  # the node's own parameter checks
        db.express_sync.aggregate("Sale", group_by="region", having={})


def test_express_calls_go_through_the_node_wrappers(plugged):
    db, plugin = plugged
    db.express_sync.create("Sale", {"region": "eu", "amount": 3})
    db.express_sync.read("Sale", 1)
    assert [name for name, _ in plugin.seen] == ["SaleCreateNode", "SaleReadNode"]
    assert plugin.seen[1][1] == {"id": 1}
    with raises_df("DF-102", match="refused by a wrapper"):
        db.express_sync.create("Sale", {"region": "eu", "name": "forbidden"})
    assert db.express_sync.count("Sale") == {"count": 1}


def test_without_the_plugin_aggregate_is_df_415_naming_the_operations(tmp_path):
    with DataFlow(f"sqlite:///{tmp_path / 'y.db'}") as db:
        @db.model
        class Sale:
            region: str

        with raises_df("DF-415", match="no 'aggregate' operation") as caught:
            db.express_sync.aggregate("Sale", group_by=["region"])
        assert "bulk_create" in caught["error"].context["operations"]
        assert "Express" in repr(db.express) or "express" in repr(db.express)
        with pytest.raises(AttributeError):
            db.express._private  # noqa: B018 - attribute access is the test
        with pytest.raises(AttributeError):
            db.express_sync.Not_An_Operation  # noqa: B018
