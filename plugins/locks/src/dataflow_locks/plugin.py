"""dataflow-locks: the migration lock on each database's own primitive (advisory lock, GET_LOCK, lease row).

Implements ``dataflow_migration_lock`` so that every migration — automatic or explicit — runs under
the lock, and adds ``db.migration_lock_manager`` for the spec's ``MigrationLockManager`` API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dataflow.hookspecs import hookimpl
from dataflow.plugins import OptionInfo

# The manager (asyncio, the facade) loads with the first DataFlow instance, not with the plugin.


def _manager(db: Any) -> Any:
    from dataflow_locks.manager import MigrationLockManager

    manager = db.state.get("migration_lock_manager")
    if manager is None:
        manager = db.state["migration_lock_manager"] = MigrationLockManager(db)
    return manager


@hookimpl
def dataflow_options() -> Iterable[OptionInfo]:
    from dataflow_locks.manager import DEFAULT_LEASE, DEFAULT_TIMEOUT

    return [
        OptionInfo("migration_lock_timeout", "Seconds to wait for the migration lock before DF-307.", DEFAULT_TIMEOUT),
        OptionInfo("migration_lock_lease", "Seconds a lease-based lock (SQLite) lasts unless renewed.",
                   DEFAULT_LEASE),
    ]


@hookimpl
def dataflow_migration_lock(db: Any, scope: str) -> Any:
    return _manager(db).acquire_migration_lock(lock_scope=scope, operation_description=f"migration by {db.name}")


@hookimpl
def dataflow_db_methods(db: Any) -> Mapping[str, Any]:
    return {"migration_lock_manager": _manager(db)}
