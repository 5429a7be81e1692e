"""dataflow-runtime: LocalRuntime, AsyncLocalRuntime and the Python code nodes."""

from dataflow_runtime.code import AsyncPythonCodeNode, PythonCodeNode
from dataflow_runtime.runtimes import AsyncLocalRuntime, LocalRuntime, run_workflow

__all__ = ["AsyncLocalRuntime", "AsyncPythonCodeNode", "LocalRuntime", "PythonCodeNode", "run_workflow"]
