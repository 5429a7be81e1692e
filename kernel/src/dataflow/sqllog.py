"""SQL logging: every statement a dialect runs goes to the standard ``logging`` logger ``dataflow.sql``.

A statement is logged at DEBUG with its duration in milliseconds and the number of values bound to it,
never the values themselves unless the instance was made with ``echo="values"``; one that takes at
least ``slow_query_ms`` is logged at WARNING. ``echo=True`` (or ``"values"``) also sets the logger to
DEBUG and, when it has no handler, gives it one on stderr, as SQLAlchemy's ``echo`` does.

Each record carries ``sql``, ``duration_ms``, ``params`` (the count) and ``rows`` (for a batch sent
at once: ``executemany`` or COPY) as attributes, for handlers that want them as fields.

Dialects call ``StatementLog.on()`` once per statement: when nobody listens (the logger is above
DEBUG and no slow-query threshold is set) a statement costs one cached level check, nothing per row.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from dataflow.errors import short_repr

__all__ = ["SQL_LOGGER", "StatementLog", "echo_to_stderr"]

SQL_LOGGER = logging.getLogger("dataflow.sql")
"""The logger every dialect's statements go to."""

_SHOWN_SQL = 2000
"""Characters of statement text shown in a message (a multi-row insert can run to megabytes)."""

T = TypeVar("T")


def echo_to_stderr() -> None:
    """What ``echo=True`` does: the ``dataflow.sql`` logger at DEBUG, with a stderr handler if it has none."""
    if SQL_LOGGER.level == logging.NOTSET or SQL_LOGGER.level > logging.DEBUG:
        SQL_LOGGER.setLevel(logging.DEBUG)
    if not SQL_LOGGER.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        SQL_LOGGER.addHandler(handler)


class StatementLog:
    """How one dialect instance logs its statements (from the ``echo`` and ``slow_query_ms`` options).

    :param echo: False, True (log to stderr when nothing else is set up) or ``"values"`` (also show
        the bound values in each message).
    :param slow_query_ms: statements taking at least this many milliseconds are logged at WARNING.
    """

    __slots__ = ("show_values", "slow_ms")

    def __init__(self, echo: bool | str = False, slow_query_ms: float | None = None) -> None:
        self.show_values = echo == "values"
        self.slow_ms = None if slow_query_ms is None else float(slow_query_ms)
        if echo:
            echo_to_stderr()

    def on(self) -> bool:
        """Whether to time the statement about to run (asked once per statement)."""
        return self.slow_ms is not None or SQL_LOGGER.isEnabledFor(logging.DEBUG)

    def wrap(self, step: Awaitable[T], sql: str, params: Sequence[Any] | int, rows: int | None = None) -> Awaitable[T]:
        """``step`` (the driver running ``sql``), timed and logged when anyone listens, else as it is."""
        if self.slow_ms is None and not SQL_LOGGER.isEnabledFor(logging.DEBUG):
            return step
        return self.timed(step, sql, params, rows)

    async def timed(self, step: Awaitable[T], sql: str, params: Sequence[Any] | int, rows: int | None = None) -> T:
        """Await ``step`` (the driver running ``sql``) and log it, failed or not.

        :param params: the values bound (or their number).
        :param rows: for a batch sent at once, how many rows it carries.
        """
        started = time.perf_counter()
        try:
            result = await step
        except BaseException as exc:
            self.record(sql, params, started, rows, exc)
            raise
        self.record(sql, params, started, rows)
        return result

    def record(self, sql: str, params: Sequence[Any] | int, started: float, rows: int | None = None,
               error: BaseException | None = None) -> None:
        """Log a statement that started at ``started`` (``time.perf_counter()``) and has just ended."""
        ms = (time.perf_counter() - started) * 1000.0
        slow = self.slow_ms is not None and ms >= self.slow_ms
        if not slow and not SQL_LOGGER.isEnabledFor(logging.DEBUG):
            return
        count = params if isinstance(params, int) else len(params)
        shown = sql if len(sql) <= _SHOWN_SQL else f"{sql[:_SHOWN_SQL]}… ({len(sql)} characters)"
        detail = f"{ms:.3f} ms, {count} params" + (f", {rows} rows" if rows is not None else "")
        if error is not None:
            detail += f", failed: {type(error).__name__}"
        text = f"slow query ({detail}): {shown}" if slow else f"{shown} [{detail}]"
        if self.show_values and not isinstance(params, int) and params:
            text += f" values: {short_repr(params, 1000)}"
        SQL_LOGGER.log(logging.WARNING if slow else logging.DEBUG, "%s", text,
                       extra={"sql": sql, "duration_ms": ms, "params": count, "rows": rows})
