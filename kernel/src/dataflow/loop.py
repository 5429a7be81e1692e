"""One long-lived event loop in a daemon thread, for running async work from synchronous code.

``LocalRuntime.execute`` and the synchronous DataFlow methods submit their coroutines here, so
connection pools made on this loop survive from one call to the next and a closed loop is never met.
Each coroutine runs in a copy of the caller's context (``contextvars``), so what the calling thread
has set up there — a ``with db.transaction():`` block — is seen by the work it submits.
Calls made from inside this loop's own thread would deadlock and are refused with DF-501.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from dataflow.errors import DataFlowError
from dataflow.routing import set_origin

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
    context = contextvars.copy_context()
    set_origin(context)  # read-your-writes: this thread is who asked (dataflow.routing.origin)
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    started: list[asyncio.Task[T]] = []

    def start() -> None:
        if not future.set_running_or_notify_cancel():
            coro.close()  # given up before it started
            return
        task = loop.create_task(coro, context=context)
        started.append(task)
        task.add_done_callback(_settle(future))

    loop.call_soon_threadsafe(start)
    try:
        return future.result(timeout)
    except TimeoutError:
        _cancel(loop, future, started)
        raise DataFlowError("DF-501", f"The operation timed out after {timeout} s.") from None
    except KeyboardInterrupt:
        _cancel(loop, future, started)
        raise


def _settle(future: concurrent.futures.Future[T]) -> Any:
    def done(task: asyncio.Task[T]) -> None:
        if task.cancelled():
            future.set_exception(concurrent.futures.CancelledError())
        elif task.exception() is not None:
            future.set_exception(task.exception())
        else:
            future.set_result(task.result())

    return done


def _cancel(loop: asyncio.AbstractEventLoop, future: concurrent.futures.Future[Any],
            started: list[asyncio.Task[Any]]) -> None:
    if not future.cancel():  # already running: cancel the task itself, on its loop
        loop.call_soon_threadsafe(lambda: [task.cancel() for task in started])


def _stop() -> None:
    if _loop is not None and not _loop.is_closed():
        _loop.call_soon_threadsafe(_loop.stop)


atexit.register(_stop)
