"""One long-lived event loop in a daemon thread, for running async work from synchronous code.

``LocalRuntime.execute`` and the synchronous DataFlow methods submit their coroutines here, so
connection pools made on this loop survive from one call to the next and a closed loop is never met.
Calls made from inside this loop's own thread would deadlock and are refused with DF-501.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from dataflow.errors import DataFlowError

__all__ = ["background_loop", "run_sync"]

T = TypeVar("T")
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The shared loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed() or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=serve, name="dataflow-loop", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the shared loop and wait for its result (its exception is re-raised here)."""
    loop = background_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise DataFlowError(
            "DF-501",
            "A synchronous DataFlow call was made from inside DataFlow's own event loop.",
            solutions=["Inside async code, use AsyncLocalRuntime and the async methods (close_async …)."],
        )
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise DataFlowError("DF-501", f"The operation timed out after {timeout} s.") from None
    except KeyboardInterrupt:
        future.cancel()
        raise


def _stop() -> None:
    if _loop is not None and not _loop.is_closed():
        _loop.call_soon_threadsafe(_loop.stop)


atexit.register(_stop)
