"""dataflow-replicas: read replicas with read-your-writes (``DataFlow(url, read_replicas=[...])``)."""

from dataflow_replicas.router import ReplicaMetrics, ReplicaRouter, ReplicaStatus

__all__ = ["ReplicaMetrics", "ReplicaRouter", "ReplicaStatus"]
