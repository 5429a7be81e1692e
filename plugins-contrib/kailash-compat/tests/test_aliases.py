"""The Kailash import paths resolve to DataFlow's own objects; without the plugin nothing is added.

Checks made in a subprocess start a fresh interpreter, so that what the ``.pth`` file does at start-up
(and what it must not do) is what is observed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from dataflow import AsyncLocalRuntime, DataFlowError, LocalRuntime, Workflow, WorkflowBuilder
from dataflow.cli import main
from dataflow.testing import raises_df
from dataflow_kailash_compat.aliases import ALIASES, RISK_MODULES

needs_risk = pytest.mark.skipif(importlib.util.find_spec("dataflow_risk") is None
                                or importlib.util.find_spec("dataflow_locks") is None,
                                reason="dataflow-risk / dataflow-locks are not installed (the core alone): their "
                                       "absence is covered by test_a_missing_provider_is_df_407_naming_the_package")

KERNEL = Path(__file__).resolve().parents[3] / "kernel" / "src" / "dataflow"


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_kailash_paths_are_dataflow_objects() -> None:
    from kailash import WorkflowBuilder as top_builder
    from kailash.runtime import AsyncLocalRuntime as async_runtime
    from kailash.runtime import LocalRuntime as runtime
    from kailash.runtime.async_local import AsyncLocalRuntime as async_local
    from kailash.runtime.local import LocalRuntime as local
    from kailash.workflow import Workflow as workflow
    from kailash.workflow.builder import WorkflowBuilder as builder

    assert builder is WorkflowBuilder and top_builder is WorkflowBuilder and workflow is Workflow
    assert runtime is LocalRuntime and local is LocalRuntime
    assert async_runtime is AsyncLocalRuntime and async_local is AsyncLocalRuntime


@needs_risk
@pytest.mark.parametrize("name", RISK_MODULES)
def test_migration_modules_delegate_to_the_risk_plugin(name: str) -> None:
    alias = importlib.import_module(f"dataflow.migrations.{name}")
    real = importlib.import_module(f"dataflow_risk.{name}")
    public = [n for n in getattr(real, "__all__", dir(real)) if not n.startswith("_")]
    assert public
    for attribute in public:
        assert getattr(alias, attribute) is getattr(real, attribute)
    assert set(public) <= set(dir(alias))


@needs_risk
def test_the_spec_names_resolve() -> None:
    from dataflow.migrations.column_removal_manager import BackupStrategy, ColumnRemovalManager
    from dataflow.migrations.concurrent_access_manager import MigrationLockManager
    from dataflow.migrations.foreign_key_analyzer import FKOperationType, ForeignKeyAnalyzer
    from dataflow.migrations.not_null_handler import ColumnDefinition, DefaultValueType, NotNullColumnHandler
    from dataflow.migrations.risk_assessment_engine import RiskAssessmentEngine, RiskLevel
    from dataflow_locks import MigrationLockManager as locks_manager

    assert MigrationLockManager is locks_manager
    for cls in (BackupStrategy, ColumnRemovalManager, FKOperationType, ForeignKeyAnalyzer, ColumnDefinition,
                DefaultValueType, NotNullColumnHandler, RiskAssessmentEngine, RiskLevel):
        assert cls.__module__.startswith(("dataflow_risk", "dataflow.")), cls


@needs_risk
def test_star_import_of_a_migration_module() -> None:
    namespace: dict[str, object] = {}
    exec("from dataflow.migrations.schema_state_manager import *", namespace)
    assert "SchemaStateManager" in namespace


def test_platform_errors() -> None:
    from dataflow.platform.errors import DataFlowError as platform_error

    assert platform_error is DataFlowError
    pytest.importorskip("dataflow_errors", reason="ErrorCode is made from the errors plugin's catalogue")
    from dataflow.platform.errors import ErrorCode

    assert platform_error is DataFlowError
    assert ErrorCode.DF_701 == "DF-701" and ErrorCode.UNKNOWN_NODE_TYPE is ErrorCode.DF_701
    wf = WorkflowBuilder()
    wf.add_node("NoSuchNode", "n", {})
    with pytest.raises(platform_error) as info:
        wf.build()
    assert info.value.code == ErrorCode.DF_701


def test_the_inspector_is_mapped_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the inspector plugin exists, the import names it (DF-407, still an ImportError); once a
    ``dataflow_inspector`` package offers ``Inspector``, the same import returns it."""
    sys.modules.pop("dataflow.platform.inspector", None)
    if importlib.util.find_spec("dataflow_inspector") is None:
        with raises_df("DF-407", match="dataflow-inspector") as caught:
            from dataflow.platform.inspector import Inspector
        assert isinstance(caught["error"], ImportError)
    fake = types.ModuleType("dataflow_inspector")

    class Inspector:
        def __init__(self, workflow: object) -> None:
            self.workflow = workflow

    fake.Inspector = Inspector  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dataflow_inspector", fake)
    sys.modules.pop("dataflow.platform.inspector", None)
    from dataflow.platform.inspector import Inspector as mapped

    assert mapped is Inspector
    sys.modules.pop("dataflow.platform.inspector", None)


def test_a_missing_provider_is_df_407_naming_the_package() -> None:
    done = python("""
        import sys
        sys.modules["dataflow_risk"] = None  # as if dataflow-risk were not installed
        import dataflow.migrations.risk_assessment_engine as alias   # the module itself imports
        try:
            from dataflow.migrations.risk_assessment_engine import RiskAssessmentEngine
        except ImportError as exc:
            print(exc.code, exc.package, type(exc).__mro__[1].__name__)
    """, DATAFLOW_ERROR_ENHANCER_MODE="DISABLED")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DF-407", "dataflow-risk", "DataFlowError"]


def test_disabling_the_plugin_switches_the_paths_off() -> None:
    done = python("""
        try:
            import kailash.runtime
        except ImportError as exc:
            print(exc.code, "disabled" in str(exc))
    """, DATAFLOW_DISABLE_PLUGINS="kailash-compat")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DF-407", "True"]


def test_the_runtime_plugin_switched_off_is_df_407_naming_it() -> None:
    done = python("""
        try:
            from kailash.runtime import LocalRuntime
        except ImportError as exc:
            print(exc.code, exc.package)
    """, DATAFLOW_DISABLE_PLUGINS="runtime", DATAFLOW_ERROR_ENHANCER_MODE="DISABLED")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["DF-407", "dataflow-runtime"]


def test_start_up_imports_nothing_of_dataflow() -> None:
    done = python("""
        import sys
        print(any(m == "dataflow" or m.startswith(("dataflow.", "dataflow_risk", "rich")) for m in sys.modules))
        print(type(sys.meta_path[0]).__name__)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "AliasFinder"]


def test_without_the_plugin_the_namespace_is_untouched() -> None:
    """No finder, no aliases: ``dataflow.platform`` and ``kailash`` do not exist, and the kernel names neither."""
    done = python("""
        import importlib.util, sys
        import dataflow_kailash_compat
        dataflow_kailash_compat.uninstall()
        import dataflow
        print(importlib.util.find_spec("kailash"), importlib.util.find_spec("dataflow.platform"),
              importlib.util.find_spec("dataflow.migrations"), hasattr(dataflow, "platform"))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None", "None", "False"]
    for path in KERNEL.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "kailash_compat" not in text and "dataflow.platform" not in text, path


def test_install_is_idempotent() -> None:
    from dataflow_kailash_compat import install
    from dataflow_kailash_compat.finder import AliasFinder

    install()
    install()
    assert sum(isinstance(f, AliasFinder) for f in sys.meta_path) == 1


def test_a_failed_node_raises_as_in_kailash(tmp_path: Path) -> None:
    """Kailash's convention the spec shows: a run whose node failed raises, naming the node; no
    ``results[node]`` of a failed node is ever handed back."""
    from dataflow import DataFlow
    from kailash.runtime import LocalRuntime as runtime_class
    from kailash.workflow.builder import WorkflowBuilder as builder_class

    db = DataFlow(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        @db.model
        class Ticket:
            id: str
            title: str

        wf = builder_class()
        wf.add_node("TicketCreateNode", "create", {"title": "no id"})
        with raises_df("DF-101") as caught:
            runtime_class().execute(wf.build())
        assert caught["raised"].code == "DF-802" and caught["raised"].node_id == "create"
    finally:
        db.close()


def test_compat_command_lists_every_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compat", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["import"] for r in rows] == list(ALIASES)
    inspector = next(r for r in rows if r["import"] == "dataflow.platform.inspector")
    if importlib.util.find_spec("dataflow_inspector") is None:
        assert not inspector["available"] and inspector["install"] == "dataflow-inspector"
