"""DataFlow: a workflow-native database framework built as a plugin-based microkernel.

``from dataflow import DataFlow, WorkflowBuilder, LocalRuntime, AsyncLocalRuntime, DataFlowError``.
The runtimes come from the runtime plugin: they are looked up through the ``dataflow_runtimes`` hook
the first time they are asked for, so importing the kernel loads no plugin.
"""

from __future__ import annotations

from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _RUNTIME_NAMES:
        from dataflow.runtime import find_runtime_object

        return find_runtime_object(name)
    raise AttributeError(f"module 'dataflow' has no attribute {name!r}")
