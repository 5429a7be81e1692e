"""The table of Kailash import paths and what serves each one.

Every alias is a small module made on import. It either names its exports (``"LocalRuntime":
"dataflow:LocalRuntime"``, resolved on first access) or delegates every attribute to one module of a
plugin (``dataflow.migrations.risk_assessment_engine`` → ``dataflow_risk.risk_assessment_engine``), so
the classes are DataFlow's own objects (``is`` and ``isinstance`` hold). Nothing here imports DataFlow:
the table is read by the finder at interpreter start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["ALIASES", "PROVIDERS", "SERVED_BY_PLUGIN", "Alias"]


class Alias(NamedTuple):
    """What one aliased module offers."""

    exports: Mapping[str, str] = {}
    """Attribute → ``"module:attribute"`` that provides it."""
    delegate: str | None = None
    """A module whose public attributes the alias offers, all of them."""
    package: bool = False
    """True for the parents (``kailash``, ``dataflow.migrations`` …): they have submodules."""
    doc: str = ""


_BUILDER = {"WorkflowBuilder": "dataflow:WorkflowBuilder", "Workflow": "dataflow:Workflow"}
_RUNTIMES = {"LocalRuntime": "dataflow:LocalRuntime", "AsyncLocalRuntime": "dataflow:AsyncLocalRuntime"}
_CODE_NODES = {"PythonCodeNode": "dataflow:PythonCodeNode", "AsyncPythonCodeNode": "dataflow:AsyncPythonCodeNode"}
_INSPECTOR = {"Inspector": "dataflow_inspector:Inspector"}

RISK_MODULES = (
    "risk_assessment_engine",
    "mitigation_strategy_engine",
    "foreign_key_analyzer",
    "table_rename_analyzer",
    "staging_environment_manager",
    "validation_checkpoints",
    "schema_state_manager",
    "not_null_handler",
    "column_removal_manager",
    "integrated_risk_assessment_system",
)
"""The spec's ``dataflow.migrations.<module>`` names that the risk plugin provides under the same name."""

ALIASES: dict[str, Alias] = {
    "kailash": Alias({**_BUILDER, **_RUNTIMES}, package=True, doc="Kailash SDK entry points, served by DataFlow."),
    "kailash.workflow": Alias(_BUILDER, package=True),
    "kailash.workflow.builder": Alias({"WorkflowBuilder": "dataflow:WorkflowBuilder"}),
    "kailash.runtime": Alias(_RUNTIMES, package=True),
    "kailash.runtime.local": Alias({"LocalRuntime": "dataflow:LocalRuntime"}),
    "kailash.runtime.async_local": Alias({"AsyncLocalRuntime": "dataflow:AsyncLocalRuntime"}),
    "kailash.nodes": Alias(_CODE_NODES, package=True),
    "kailash.nodes.code": Alias(_CODE_NODES),
    "dataflow.platform": Alias(_INSPECTOR, package=True, doc="Kailash DataFlow's platform package."),
    "dataflow.platform.inspector": Alias(_INSPECTOR),
    "dataflow.platform.errors": Alias({
        "DataFlowError": "dataflow.errors:DataFlowError",
        "WorkflowExecutionError": "dataflow.errors:WorkflowExecutionError",
        "ErrorHint": "dataflow.errors:ErrorHint",
        "ErrorCode": "dataflow_kailash_compat.error_codes:ErrorCode",
    }),
    "dataflow.migrations": Alias(package=True, doc="The enterprise migration system (dataflow-risk, dataflow-locks)."),
    **{f"dataflow.migrations.{name}": Alias(delegate=f"dataflow_risk.{name}") for name in RISK_MODULES},
    "dataflow.migrations.concurrent_access_manager": Alias(delegate="dataflow_locks.manager"),
}

SERVED_BY_PLUGIN: dict[str, str] = {
    f"dataflow:{name}": "dataflow_runtime"
    for name in ("LocalRuntime", "AsyncLocalRuntime", "PythonCodeNode", "AsyncPythonCodeNode")
}
"""Kernel names that a plugin provides (``dataflow.LocalRuntime`` comes from the runtime plugin, found
through its hook, so a disabled runtime plugin stays disabled): the package whose absence matters."""

PROVIDERS: dict[str, str] = {
    "dataflow_risk": "dataflow-risk",
    "dataflow_locks": "dataflow-locks",
    "dataflow_inspector": "dataflow-inspector",
    "dataflow_runtime": "dataflow-runtime",
    "dataflow_errors": "dataflow-errors",
}
"""Top-level packages the aliases draw on → the distribution to install when one is missing."""
