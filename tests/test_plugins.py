"""The plugin system with the real first-party plugins installed (the kernel's own tests use none).

Every first-party plugin loads cleanly; each instance's plugin set (allow-list, disable list,
environment) decides which nodes, dialects and methods it has; instances with different plugin sets
live side by side; the kernel plus sqlite, crud and runtime is a working product.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dataflow import DataFlow, WorkflowBuilder
from dataflow.errors import DataFlowError
from dataflow.plugins import PluginManager, entry_points
from dataflow.testing.helpers import run_nodes as run

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
CORE = ["sqlite", "crud", "runtime"]


@pytest.fixture(autouse=True)
def clean_switches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATAFLOW_USER_DIR", str(tmp_path / "user"))
    for name in ("DATAFLOW_LOAD_PLUGINS", "DATAFLOW_DISABLE_PLUGINS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_every_first_party_plugin_is_installed_and_loads() -> None:
    installed = {e.name: e for e in entry_points()}
    manager = PluginManager()
    for name in FIRST_PARTY:
        assert installed[name].distribution == f"dataflow-{name}"
        assert installed[name].value == f"dataflow_{name.replace('-', '_')}.plugin"
        status = manager.statuses[name]
        assert status.status == "active", f"{name}: {status.status} {status.reason}"


def test_kernel_with_sqlite_crud_runtime_is_a_working_product(make_db: Callable[..., DataFlow]) -> None:
    db = make_db(plugins=CORE)
    assert sorted(db.plugins.active_names()) == sorted(["builtin", *CORE])

    @db.model
    class Customer:
        id: str
        name: str

    results = run(("CustomerCreateNode", "create", {"id": "c1", "name": "Ann"}),
                  ("CustomerReadNode", "read", {"id": "${create.id}"}))
    assert results["read"]["name"] == "Ann"
    assert results["read"]["found"] is True


def test_without_the_crud_plugin_no_nodes_are_generated(make_db: Callable[..., DataFlow]) -> None:
    db = make_db(disable_plugins=["crud"])
    assert db.plugins.statuses["crud"].status == "disabled"

    @db.model
    class Gizmo:
        name: str

    crud_nodes = {f"Gizmo{op}Node" for op in ("Create", "Read", "Update", "Delete", "List", "Count", "Upsert",
                                              "BulkCreate", "BulkUpdate", "BulkDelete", "BulkUpsert")}
    assert not crud_nodes & set(db.state["generated"]["Gizmo"])  # other plugins (export) may add their own
    wf = WorkflowBuilder()
    wf.add_node("GizmoCreateNode", "create", {"name": "x"})
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-701"


def test_environment_switches_apply_to_dataflow(make_db: Callable[..., DataFlow],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFLOW_DISABLE_PLUGINS", "crud")
    db = make_db()
    assert db.plugins.statuses["crud"].reason == "disabled by DATAFLOW_DISABLE_PLUGINS"
    monkeypatch.setenv("DATAFLOW_LOAD_PLUGINS", "")
    with pytest.raises(DataFlowError) as info:
        make_db()
    assert info.value.code == "DF-403"
    assert "dataflow-sqlite" in info.value.message
    db = make_db(plugins=["sqlite"])
    assert db.plugins.statuses["sqlite"].status == "active", "plugins= is stronger than the environment"


def test_instances_with_different_plugin_sets_live_side_by_side(make_db: Callable[..., DataFlow]) -> None:
    full = make_db(plugins=CORE, name="full")
    bare = make_db(plugins=["sqlite"], name="bare")
    for db in (full, bare):

        @db.model
        class Widget:
            name: str

    assert "WidgetCreateNode" in full.state["generated"]["Widget"]
    assert bare.state["generated"]["Widget"] == []
    created = run(("WidgetCreateNode", "c", {"name": "w", "db_instance": "full"}))["c"]
    assert created["name"] == "w"
    with pytest.raises(DataFlowError) as info:
        run(("WidgetCreateNode", "c", {"name": "w", "db_instance": "bare"}))
    assert info.value.code == "DF-701"


def test_plugin_methods_follow_the_plugin(make_db: Callable[..., DataFlow]) -> None:
    """Whatever a plugin adds with dataflow_db_methods disappears when that plugin is disabled."""
    full = make_db()
    added = {name: owner for owner, mapping in full.plugins.call_isolated("dataflow_db_methods", db=full)
             for name in mapping}
    assert added, "a first-party plugin (migrate) adds methods"
    for name, owner in added.items():
        assert hasattr(full, name)
        without = make_db(disable_plugins=[owner])
        assert not hasattr(without, name), f"db.{name} should leave with plugin {owner!r}"


def test_runtimes_come_from_the_runtime_plugin() -> None:
    import dataflow
    from dataflow_runtime.runtimes import AsyncLocalRuntime as PluginAsync
    from dataflow_runtime.runtimes import LocalRuntime as PluginLocal

    assert dataflow.LocalRuntime is PluginLocal
    assert dataflow.AsyncLocalRuntime is PluginAsync


def test_plugin_registered_late_joins_the_instance(make_db: Callable[..., DataFlow]) -> None:
    from dataflow import hookimpl

    class Late:
        @hookimpl
        def dataflow_configure(self, db: DataFlow) -> None:
            db.state["late"] = True

    db = make_db(plugins=CORE)
    name = db.plugins.register(Late(), name="late")
    assert db.state["late"] is True
    assert db.plugins.statuses[name].hooks == ("dataflow_configure",)
