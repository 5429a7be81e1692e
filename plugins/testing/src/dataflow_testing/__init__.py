"""DataFlow's testing plugin: test mode, pool clean-up with metrics, and TDD mode (every test rolled back).

Installed, it adds to every instance ``await db.cleanup_stale_pools()``, ``await
db.cleanup_all_pools(force=False)`` and ``db.get_cleanup_metrics()``, to the class
``DataFlow.enable_test_mode()`` / ``disable_test_mode()``, the options ``test_mode``,
``test_mode_aggressive_cleanup`` and ``tdd_mode``, and to pytest the fixtures ``dataflow_db``,
``tdd_dataflow`` and ``tdd_test_context`` (``dataflow_testing.pytest_plugin``).
"""

from __future__ import annotations

from dataflow_testing.mode import disable_test_mode, enable_test_mode, is_test_mode
from dataflow_testing.pools import cleanup_all_pools, cleanup_stale_pools, get_cleanup_metrics
from dataflow_testing.tdd import Changes, TDDTestContext

__all__ = [
    "Changes",
    "TDDTestContext",
    "cleanup_all_pools",
    "cleanup_stale_pools",
    "disable_test_mode",
    "enable_test_mode",
    "get_cleanup_metrics",
    "is_test_mode",
]
