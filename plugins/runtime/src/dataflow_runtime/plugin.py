"""Runtime plugin: offers LocalRuntime / AsyncLocalRuntime and registers the Python code and transaction nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dataflow.hookspecs import hookimpl
from dataflow.plugins import RuntimeInfo

from dataflow_runtime.code import AsyncPythonCodeNode, PythonCodeNode
from dataflow_runtime.runtimes import AsyncLocalRuntime, LocalRuntime
from dataflow_runtime.transaction_nodes import TRANSACTION_NODES


@hookimpl
def dataflow_runtimes() -> Iterable[RuntimeInfo]:
    return [
        RuntimeInfo("LocalRuntime", LocalRuntime),
        RuntimeInfo("AsyncLocalRuntime", AsyncLocalRuntime),
        RuntimeInfo("PythonCodeNode", PythonCodeNode),
        RuntimeInfo("AsyncPythonCodeNode", AsyncPythonCodeNode),
    ]


@hookimpl
def dataflow_node_types(register: Callable[[str, type], None]) -> None:
    register("PythonCodeNode", PythonCodeNode)
    register("AsyncPythonCodeNode", AsyncPythonCodeNode)
    for node in TRANSACTION_NODES:
        register(node.type_name, node)
