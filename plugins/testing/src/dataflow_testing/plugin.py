"""The testing plugin's hooks: its options, the instance and class methods, TDD's instance transaction.

Everything goes through hooks: ``dataflow_options`` (``test_mode``, ``test_mode_aggressive_cleanup``,
``tdd_mode``), ``dataflow_configure`` (the instance's state; TDD holds the instance transaction),
``dataflow_db_methods`` / ``dataflow_class_methods`` (the spec's methods), ``dataflow_close`` (rolls
the TDD transaction back), ``dataflow_schema_manager`` (bounds auto-migration that cannot join the
TDD transaction) and ``dataflow_migration_lock`` (none is needed for DDL made inside it).
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import AsyncIterator, Generator, Iterable, Mapping
from typing import Any

from dataflow.hookspecs import hookimpl
from dataflow.types import OptionInfo

from dataflow_testing import mode, pools


@hookimpl
def dataflow_options() -> Iterable[OptionInfo]:
    return [
        OptionInfo("test_mode", "Test mode: pools of closed event loops released at each test's end "
                                "(True / False; None: on when pytest runs, or as DataFlow.enable_test_mode() "
                                "says).", None),
        OptionInfo("test_mode_aggressive_cleanup", "In test mode, release every pool at the end of each test.",
                   False),
        OptionInfo("tdd_mode", "Keep everything the instance writes in one transaction, rolled back by "
                               "close(), cleanup_all_pools() and the end of each test.", False),
    ]


@hookimpl
def dataflow_configure(db: Any) -> None:
    explicit = db.options["test_mode"]
    for name, value, allowed in (("test_mode", explicit, "True, False or None"),
                                 ("test_mode_aggressive_cleanup", db.options["test_mode_aggressive_cleanup"],
                                  "True or False"),
                                 ("tdd_mode", db.options["tdd_mode"], "True or False")):
        if not isinstance(value, bool) and not (value is None and name == "test_mode"):
            raise db.error("DF-401", f"Option {name}= takes {allowed}, got {value!r}.", option=name)
    tdd = db.options["tdd_mode"]
    db.state[mode.STATE_KEY] = mode.TestingState(explicit, mode.pytest_running(),
                                                 db.options["test_mode_aggressive_cleanup"], tdd)
    mode.instances.add(db)
    if tdd:
        db.dialect.hold_transaction()


@hookimpl
def dataflow_db_methods(db: Any) -> Mapping[str, Any]:
    return {
        "cleanup_stale_pools": types.MethodType(pools.cleanup_stale_pools, db),
        "cleanup_all_pools": types.MethodType(pools.cleanup_all_pools, db),
        "get_cleanup_metrics": types.MethodType(pools.get_cleanup_metrics, db),
    }


@hookimpl
def dataflow_class_methods() -> Mapping[str, Any]:
    return {"enable_test_mode": mode.enable_test_mode, "disable_test_mode": mode.disable_test_mode}


@hookimpl
def dataflow_close(db: Any) -> Any:
    mode.instances.discard(db)
    if db.dialect.instance_transaction is None:
        return None
    return _roll_back_quietly(db)


async def _roll_back_quietly(db: Any) -> None:
    """Closing: roll the TDD transaction back; if that fails, closing the pools ends it on the server."""
    with contextlib.suppress(Exception):
        await db.dialect.release_transaction()


@hookimpl(wrapper=True)
def dataflow_schema_manager(db: Any) -> Generator[None, Any, Any]:
    manager = yield
    if db.options["tdd_mode"] and manager is not None and not db.dialect.transactional_ddl:
        from dataflow_testing.tdd import GuardedSchemaManager  # only TDD mode needs it

        return GuardedSchemaManager(manager)
    return manager


@hookimpl(tryfirst=True)
def dataflow_migration_lock(db: Any, scope: str) -> Any:
    """Schema changes made inside a TDD transaction are private to it until it ends (it never commits):
    no other session can see or race them, so no lock is taken, which also spares two test processes
    a lock-order deadlock (one holding the lock, waiting for the table the other created)."""
    current = db.dialect.current_transaction()
    if current is None or not current.tx.held:
        return None
    return _no_lock()


@contextlib.asynccontextmanager
async def _no_lock() -> AsyncIterator[None]:
    yield None
