"""Runtime plugin: offers LocalRuntime / AsyncLocalRuntime and registers the Python code and transaction nodes.

The runtimes and nodes (and anyio under them) load when first asked for, not when the plugin loads:
``dataflow --help`` and every ``DataFlow()`` that never runs a workflow skip them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dataflow.hookspecs import hookimpl
from dataflow.plugins import RuntimeInfo


@hookimpl
def dataflow_runtimes() -> Iterable[RuntimeInfo]:
    from dataflow_runtime.code import AsyncPythonCodeNode, PythonCodeNode
    from dataflow_runtime.runtimes import AsyncLocalRuntime, LocalRuntime

    return [
        RuntimeInfo("LocalRuntime", LocalRuntime),
        RuntimeInfo("AsyncLocalRuntime", AsyncLocalRuntime),
        RuntimeInfo("PythonCodeNode", PythonCodeNode),
        RuntimeInfo("AsyncPythonCodeNode", AsyncPythonCodeNode),
    ]


@hookimpl
def dataflow_node_types(register: Callable[[str, type], None]) -> None:
    from dataflow_runtime.code import AsyncPythonCodeNode, PythonCodeNode
    from dataflow_runtime.transaction_nodes import TRANSACTION_NODES

    register("PythonCodeNode", PythonCodeNode)
    register("AsyncPythonCodeNode", AsyncPythonCodeNode)
    for node in TRANSACTION_NODES:
        register(node.type_name, node)
