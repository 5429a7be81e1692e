"""DataFlow's testing plugin: test mode, pool clean-up with metrics, and TDD mode (every test rolled back).

Installed, it adds to every instance ``await db.cleanup_stale_pools()``, ``await
db.cleanup_all_pools(force=False)`` and ``db.get_cleanup_metrics()``, to the class
``DataFlow.enable_test_mode()`` / ``disable_test_mode()``, the options ``test_mode``,
``test_mode_aggressive_cleanup`` and ``tdd_mode``, and to pytest the fixtures ``dataflow_db``,
``tdd_dataflow`` and ``tdd_test_context`` (``dataflow_testing.pytest_plugin``).
"""

from __future__ import annotations

from dataflow.plugins import lazy_exports

# Loaded on first use: loading the plugin imports this package (every command does).
__getattr__, __dir__ = lazy_exports(__name__, {
    "Changes": "dataflow_testing.tdd",
    "TDDTestContext": "dataflow_testing.tdd",
    "cleanup_all_pools": "dataflow_testing.pools",
    "cleanup_stale_pools": "dataflow_testing.pools",
    "disable_test_mode": "dataflow_testing.mode",
    "enable_test_mode": "dataflow_testing.mode",
    "get_cleanup_metrics": "dataflow_testing.pools",
    "is_test_mode": "dataflow_testing.mode",
})

__all__ = __dir__()
