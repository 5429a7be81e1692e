"""Direct calls and the plugins: an operation another plugin generates is callable (``archive`` runs
``<Model>ArchiveNode`` when a plugin makes it, as ``aggregate`` runs the crud plugin's
``<Model>AggregateNode``), and every call passes through the plugins' ``dataflow_execute_node``
wrappers, as a workflow's nodes do (tenancy, protection, timing)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow, Node, Param, hookimpl
from dataflow.testing import raises_df


class ArchivePlugin:
    """Generates ``<Model>ArchiveNode`` (returning its parameters) and wraps every node run."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def dataflow_generate_nodes(self, model: Any, db: Any, register: Any) -> None:
        class ArchiveNode(Node):
            type_name = f"{model.name}ArchiveNode"
            parameters = {"before": Param("before", str | None), "fields": Param("fields", list | None)}

            async def run(self, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
                return {"archived": 0, "asked": {k: v for k, v in params.items() if v is not None}}

        ArchiveNode.model = model
        register(ArchiveNode.type_name, ArchiveNode)

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
def plugged(tmp_path: Path) -> Iterator[tuple[DataFlow, ArchivePlugin]]:
    plugin = ArchivePlugin()
    db = DataFlow(f"sqlite:///{tmp_path / 'x.db'}", plugins=[plugin])

    @db.model
    class Sale:
        region: str
        amount: int = 0

    yield db, plugin
    db.close()


def test_an_operation_another_plugin_generates_is_callable(plugged):
    db, _ = plugged
    out = db.express_sync.archive("Sale", before="2026-01-01", fields=["region"])
    assert out == {"archived": 0, "asked": {"before": "2026-01-01", "fields": ["region"]}}
    assert asyncio.run(db.express.call("Sale", "archive", {"before": "x"}))["asked"] == {"before": "x"}
    with raises_df("DF-102"):  # the node's own parameter checks
        db.express_sync.archive("Sale", before=3)


def test_aggregate_calls_the_models_aggregate_node(plugged):
    db, plugin = plugged
    db.express_sync.bulk_create("Sale", [{"region": "eu", "amount": 2}, {"region": "eu", "amount": 3},
                                         {"region": "us", "amount": 1}])
    out = db.express_sync.aggregate("Sale", group_by=["region"], aggregates={"n": {"$count": "*"},
                                                                            "total": {"$sum": "amount"}})
    assert out["groups"] == [{"region": "eu", "n": 2, "total": 5}, {"region": "us", "n": 1, "total": 1}]
    assert plugin.seen[-1][0] == "SaleAggregateNode"
    with raises_df("DF-102"):  # the node's own parameter checks
        db.express_sync.aggregate("Sale", group_by=["no_such_field"])


def test_express_calls_go_through_the_node_wrappers(plugged):
    db, plugin = plugged
    db.express_sync.create("Sale", {"region": "eu", "amount": 3})
    db.express_sync.read("Sale", 1)
    assert [name for name, _ in plugin.seen] == ["SaleCreateNode", "SaleReadNode"]
    assert plugin.seen[1][1] == {"id": 1}
    with raises_df("DF-102", match="refused by a wrapper"):
        db.express_sync.create("Sale", {"region": "eu", "name": "forbidden"})
    assert db.express_sync.count("Sale") == {"count": 1}


def test_without_the_plugin_its_operation_is_df_415_naming_the_operations(tmp_path):
    with DataFlow(f"sqlite:///{tmp_path / 'y.db'}") as db:
        @db.model
        class Sale:
            region: str

        with raises_df("DF-415", match="no 'archive' operation") as caught:
            db.express_sync.archive("Sale", before="2026-01-01")
        assert "bulk_create" in caught["error"].context["operations"]
        assert "aggregate" in caught["error"].context["operations"]
        assert "Express" in repr(db.express) or "express" in repr(db.express)
        with pytest.raises(AttributeError):
            db.express._private  # noqa: B018 - attribute access is the test
        with pytest.raises(AttributeError):
            db.express_sync.Not_An_Operation  # noqa: B018
