"""dataflow-runtime: LocalRuntime, AsyncLocalRuntime and the Python code nodes."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "AsyncPythonCodeNode": "dataflow_runtime.code",
    "PythonCodeNode": "dataflow_runtime.code",
    "AsyncLocalRuntime": "dataflow_runtime.runtimes",
    "LocalRuntime": "dataflow_runtime.runtimes",
    "run_workflow": "dataflow_runtime.runtimes",
})

__all__ = __dir__()
