"""Where a read runs, and who is asking: the kernel's side of read routing (read replicas).

A plugin that sends reads elsewhere (the replicas plugin) returns a ``ReadRouter`` from the
``dataflow_read_router`` hook; the instance installs it on its dialect (``SQLDialect.read_router``).
Every statement of the dialect is then shown to it first (``route``): a write is noted (so the writer's
later reads can stay on the primary), and a read outside a transaction may be run by the router
somewhere else. Reads inside a transaction, and every statement given its own connection, stay on it.

Read-your-writes needs to know who wrote: ``origin()`` names the asyncio task (or, for a synchronous
call such as ``LocalRuntime.execute``, the calling thread) that started what runs here, and
``current_run()`` the workflow run, for every task the run starts. ``dataflow.loop.run_sync`` and the
runtimes set them (``running``); both are context variables, so they cost nothing to code that never
reads them.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, Protocol

from dataflow.query import Count, Query, Select

__all__ = ["READS", "ReadRouter", "Run", "current_run", "origin", "running", "set_origin"]

READS = (Select, Count)
"""The query descriptions that only read (a router may run them on a replica)."""

_origin: contextvars.ContextVar[Any] = contextvars.ContextVar("dataflow_origin", default=None)
_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar("dataflow_run", default=None)


class ReadRouter(Protocol):
    """What ``dataflow_read_router`` returns; called on every statement of the instance's dialect."""

    def route(self, query: Query, conn: Any) -> Coroutine[Any, Any, Any] | None:
        """A coroutine running the read ``query`` elsewhere (its result is the statement's), or None
        to run ``query`` here. ``conn`` is the connection the caller gave (a read given one stays on
        it). Called for writes too, so that the router can note them; a write always returns None."""

    def wrote(self) -> None:
        """Something in this context may have written outside ``route``'s sight (a transaction was
        opened, a raw connection was taken): later reads of this origin should see it."""


def origin() -> Any:
    """The asyncio task, or the thread for a synchronous call, that started the work running here.

    The task of ``AsyncLocalRuntime.execute``'s caller for every node of its run; the calling thread
    for ``LocalRuntime.execute`` and the other synchronous methods; otherwise the running task (the
    thread when no loop runs here).
    """
    found = _origin.get()
    if found is not None:
        return found
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return task if task is not None else threading.current_thread()


def set_origin(context: contextvars.Context) -> None:
    """Make the current thread the origin of the work about to run in ``context`` (a copy of this
    thread's context), unless it has one already (``dataflow.loop.run_sync``)."""
    if context.get(_origin) is None:
        context.run(_origin.set, threading.current_thread())


class Run:
    """One workflow run, as routing sees it: hashable by identity and weakly referenceable (a plugin
    can keep per-run marks in a ``WeakSet``); ``state`` is the runtime's ``RunState``."""

    __slots__ = ("__weakref__", "state")

    def __init__(self, state: Any) -> None:
        self.state = state


def current_run() -> Run | None:
    """The workflow run the code running here belongs to, or None."""
    return _run.get()


class running:  # lower case: a context manager named as a function, ``with running(state):``
    """Inside this block, ``current_run()`` is a new ``Run`` of ``state`` and ``origin()`` is fixed
    to the task (or thread) entering it, for every task the block starts. Runtimes wrap each workflow
    run in it. A class rather than a generator-based context manager: it is around every run."""

    __slots__ = ("_origin_token", "_run_token", "run")

    def __init__(self, state: Any) -> None:
        self.run = Run(state)

    def __enter__(self) -> Run:
        self._run_token = _run.set(self.run)
        self._origin_token = _origin.set(origin())
        return self.run

    def __exit__(self, *exc: object) -> None:
        _origin.reset(self._origin_token)
        _run.reset(self._run_token)
