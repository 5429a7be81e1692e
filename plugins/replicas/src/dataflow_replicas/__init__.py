"""dataflow-replicas: read replicas with read-your-writes (``DataFlow(url, read_replicas=[...])``)."""

from dataflow.plugins import lazy_exports

# Loaded on first use: loading the plugin imports this package, and the router needs asyncio and the
# kernel's query machinery, which a command such as ``dataflow --help`` never uses.
__getattr__, __dir__ = lazy_exports(__name__, {
    "ReplicaMetrics": "dataflow_replicas.router",
    "ReplicaRouter": "dataflow_replicas.router",
    "ReplicaStatus": "dataflow_replicas.router",
})

__all__ = __dir__()
