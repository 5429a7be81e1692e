"""DataFlow: a workflow-native database framework built as a plugin-based microkernel.

``from dataflow import DataFlow, WorkflowBuilder, LocalRuntime, AsyncLocalRuntime, DataFlowError``.
The runtimes come from the runtime plugin: they are looked up through the ``dataflow_runtimes`` hook
the first time they are asked for, so importing the kernel loads no plugin. The public names load
on first use too: ``import dataflow.cli`` (the ``dataflow`` command) does not import the facade,
the dialect layer or the workflow machinery before a command needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataflow.errors import DataFlowError, ErrorHint, WorkflowExecutionError
    from dataflow.facade import DataFlow
    from dataflow.hookspecs import hookimpl, hookspec
    from dataflow.models import FieldSpec, IndexSpec, ModelSpec
    from dataflow.nodes import Node, NodeContext, Param, Touch, check_parameters
    from dataflow.workflow import Workflow, WorkflowBuilder

__all__ = [
    "AsyncLocalRuntime",
    "DataFlow",
    "DataFlowError",
    "ErrorHint",
    "FieldSpec",
    "IndexSpec",
    "LocalRuntime",
    "ModelSpec",
    "Node",
    "NodeContext",
    "Param",
    "Touch",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowExecutionError",
    "check_parameters",
    "hookimpl",
    "hookspec",
]

__version__ = "0.1.0"

_RUNTIME_NAMES = ("LocalRuntime", "AsyncLocalRuntime", "PythonCodeNode", "AsyncPythonCodeNode")

_HOMES = {
    "DataFlowError": "dataflow.errors", "ErrorHint": "dataflow.errors", "WorkflowExecutionError": "dataflow.errors",
    "DataFlow": "dataflow.facade",
    "hookimpl": "dataflow.hookspecs", "hookspec": "dataflow.hookspecs",
    "FieldSpec": "dataflow.models", "IndexSpec": "dataflow.models", "ModelSpec": "dataflow.models",
    "Node": "dataflow.nodes", "NodeContext": "dataflow.nodes", "Param": "dataflow.nodes", "Touch": "dataflow.nodes",
    "check_parameters": "dataflow.nodes",
    "Workflow": "dataflow.workflow", "WorkflowBuilder": "dataflow.workflow",
}
"""Where each public name lives (imported on first use, then kept in this module)."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value
    if name in _RUNTIME_NAMES:
        from dataflow.runtime import find_runtime_object

        return find_runtime_object(name)
    raise AttributeError(f"module 'dataflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
