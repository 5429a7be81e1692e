"""Test mode: which DataFlow instances are in it, by the spec's three-level priority.

1. The instance's own option, ``DataFlow(url, test_mode=True|False)``, wins.
2. Else the process-wide switch: ``DataFlow.enable_test_mode()`` / ``DataFlow.disable_test_mode()``.
3. Else detection, once per instance when it is made: a running pytest (this plugin's pytest plugin
   says so while a session runs; without it, pytest's ``PYTEST_CURRENT_TEST`` variable).

What test mode changes (see docs/testing.md): at the end of every test, pools left behind by event
loops that have closed are released (they never outlive their test); with
``test_mode_aggressive_cleanup=True`` every pool of the instance is released then, so no connection
outlives a test. ``get_cleanup_metrics()["test_mode_enabled"]`` says whether an instance is in it.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = [
    "STATE_KEY",
    "TestingState",
    "disable_test_mode",
    "enable_test_mode",
    "instances",
    "is_test_mode",
    "pytest_running",
    "reset_test_mode",
    "state_of",
]

STATE_KEY = "testing"
"""Where the plugin keeps an instance's ``TestingState`` (``db.state[STATE_KEY]``)."""

_lock = threading.Lock()
_switch: bool | None = None
"""The process-wide setting (``enable_test_mode`` / ``disable_test_mode``); None: not set."""
_pytest_sessions = 0
"""pytest sessions running in this process with this plugin's pytest plugin (pytester nests them)."""

instances: weakref.WeakSet[Any] = weakref.WeakSet()
"""Open instances made while this plugin was enabled: what the end of a test looks at."""


@attrs.define
class TestingState:
    """What the plugin knows about one instance."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    explicit: bool | None
    """``test_mode=`` as given (None: not given)."""
    detected: bool
    """A running pytest was detected when the instance was made."""
    aggressive: bool
    """``test_mode_aggressive_cleanup=``."""
    tdd: bool
    """``tdd_mode=``: everything the instance writes is in one transaction that is rolled back."""


def enable_test_mode() -> None:
    """Put every instance that does not set ``test_mode=`` itself in test mode (process-wide)."""
    global _switch
    with _lock:
        _switch = True


def disable_test_mode() -> None:
    """Take every instance that does not set ``test_mode=`` itself out of test mode, even under pytest."""
    global _switch
    with _lock:
        _switch = False


def reset_test_mode() -> None:
    """Forget ``enable_test_mode()`` / ``disable_test_mode()``: detection decides again."""
    global _switch
    with _lock:
        _switch = None


def pytest_running() -> bool:
    """True while a pytest session runs in this process (detection, the lowest priority)."""
    return _pytest_sessions > 0 or "PYTEST_CURRENT_TEST" in os.environ


def pytest_started() -> None:
    global _pytest_sessions
    with _lock:
        _pytest_sessions += 1


def pytest_stopped() -> None:
    global _pytest_sessions
    with _lock:
        _pytest_sessions = max(0, _pytest_sessions - 1)


def state_of(db: DataFlow) -> TestingState | None:
    """The plugin's state of ``db`` (None when the plugin is not enabled on it)."""
    state = db.state.get(STATE_KEY)
    return state if isinstance(state, TestingState) else None


def is_test_mode(db: DataFlow) -> bool:
    """Whether ``db`` is in test mode now: its option, else the process-wide switch, else detection."""
    state = state_of(db)
    if state is None:
        return False
    if state.explicit is not None:
        return state.explicit
    switch = _switch
    if switch is not None:
        return switch
    return state.detected
