"""dataflow-locks: migration lock manager on each database's own lock primitive."""

from dataflow_locks.manager import MigrationLock, MigrationLockManager

__all__ = ["MigrationLock", "MigrationLockManager"]
