"""dataflow-runtime: LocalRuntime, AsyncLocalRuntime, the Python code nodes and the transaction nodes."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "AsyncPythonCodeNode": "dataflow_runtime.code",
    "PythonCodeNode": "dataflow_runtime.code",
    "AsyncLocalRuntime": "dataflow_runtime.runtimes",
    "LocalRuntime": "dataflow_runtime.runtimes",
    "run_workflow": "dataflow_runtime.runtimes",
    "TransactionCommitNode": "dataflow_runtime.transaction_nodes",
    "TransactionRollbackNode": "dataflow_runtime.transaction_nodes",
    "TransactionRollbackToSavepointNode": "dataflow_runtime.transaction_nodes",
    "TransactionSavepointNode": "dataflow_runtime.transaction_nodes",
    "TransactionScopeNode": "dataflow_runtime.transaction_nodes",
})

__all__ = __dir__()
