"""Exact decimal arithmetic inside SQLite, which stores decimals as their written text.

SQLite's own ``+``, ``*``, ``SUM`` and ``MIN`` would read that text as a float (or compare it as
text), losing digits; these SQL functions, registered on every connection, compute with Python's
``Decimal`` at a precision wide enough for any stored value and hand back text again.
"""

from __future__ import annotations

import decimal
import sqlite3
from typing import Any

__all__ = ["register"]

_CONTEXT = decimal.Context(prec=1000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
"""Wide enough that adding or multiplying stored decimals never rounds."""


def _number(value: Any) -> decimal.Decimal | None:
    if value is None:
        return None
    try:
        return decimal.Decimal(value if isinstance(value, str | int) else repr(value))
    except (decimal.InvalidOperation, TypeError, ValueError):
        return None


def _text(value: decimal.Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _add(stored: Any, operand: Any) -> str | None:
    a, b = _number(stored), _number(operand)
    return None if a is None or b is None else _text(_CONTEXT.add(a, b))


def _mul(stored: Any, operand: Any) -> str | None:
    a, b = _number(stored), _number(operand)
    return None if a is None or b is None else _text(_CONTEXT.multiply(a, b))


class _Sum:
    """``df_decimal_sum(column)``: the exact sum as text (NULL when every value is NULL, as SUM)."""

    def __init__(self) -> None:
        self.total: decimal.Decimal | None = None

    def step(self, value: Any) -> None:
        number = _number(value)
        if number is not None:
            self.total = number if self.total is None else _CONTEXT.add(self.total, number)

    def finalize(self) -> str | None:
        return _text(self.total)


class _Avg(_Sum):
    """``df_decimal_avg(column)``: the average at 28 significant digits, as text (what HAVING compares)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def step(self, value: Any) -> None:
        if _number(value) is not None:
            self.count += 1
        super().step(value)

    def finalize(self) -> str | None:
        if self.total is None or not self.count:
            return None
        return _text(decimal.Context(prec=28).divide(self.total, decimal.Decimal(self.count)))


class _Extreme:
    """Base of ``df_decimal_min`` / ``df_decimal_max``: the stored text of the smallest / largest value."""

    larger = False

    def __init__(self) -> None:
        self.best: decimal.Decimal | None = None
        self.text: str | None = None

    def step(self, value: Any) -> None:
        number = _number(value)
        if number is None:
            return
        if self.best is None or (number > self.best if self.larger else number < self.best):
            self.best, self.text = number, value if isinstance(value, str) else _text(number)

    def finalize(self) -> str | None:
        return self.text


class _Min(_Extreme):
    larger = False


class _Max(_Extreme):
    larger = True


def register(conn: sqlite3.Connection) -> None:
    """Add the functions to one connection (called in its own thread)."""
    conn.create_function("df_decimal_add", 2, _add, deterministic=True)
    conn.create_function("df_decimal_mul", 2, _mul, deterministic=True)
    conn.create_aggregate("df_decimal_sum", 1, _Sum)  # type: ignore[arg-type]  # typeshed wants a Protocol
    conn.create_aggregate("df_decimal_avg", 1, _Avg)  # type: ignore[arg-type]
    conn.create_aggregate("df_decimal_min", 1, _Min)  # type: ignore[arg-type]
    conn.create_aggregate("df_decimal_max", 1, _Max)  # type: ignore[arg-type]
