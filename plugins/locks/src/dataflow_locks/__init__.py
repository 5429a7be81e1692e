"""dataflow-locks: migration lock manager on each database's own lock primitive."""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "MigrationLock": "dataflow_locks.manager",
    "MigrationLockManager": "dataflow_locks.manager",
})

__all__ = __dir__()
