"""The kernel's pieces of the parity rules, without a database: the one ``$like`` escape rule, the plain
form of a Decimal, ``order_by`` keys with their NULL placement, and the SQL log's messages."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from dataflow.dialect import LIKE_ESCAPE, like_pattern, like_tokens
from dataflow.query import order_keys
from dataflow.sqllog import StatementLog
from dataflow.values import plain_decimal


@pytest.mark.parametrize(
    ("pattern", "sql"),
    [
        ("abc", "abc"),
        ("a%b_c", "a%b_c"),
        ("100\\%", "100!%"),
        ("a\\_b", "a!_b"),
        ("x\\y", "x\\y"),  # a backslash before anything else is itself
        ("a\\\\b", "a\\b"),  # \\ is one backslash
        ("a\\\\%", "a\\%"),  # ... and the % after it stays a wildcard
        ("end\\", "end\\"),
        ("1!2", "1!!2"),  # the escape character of the SQL is escaped itself
        ("", ""),
    ],
)
def test_like_pattern(pattern: str, sql: str) -> None:
    assert like_pattern(pattern) == sql
    assert LIKE_ESCAPE == "!"


def test_like_tokens_mark_the_wildcards() -> None:
    assert list(like_tokens("a\\%_%")) == [("a", False), ("%", False), ("_", True), ("%", True)]


@pytest.mark.parametrize(
    ("written", "stored"),
    [("1.10", "1.10"), ("1E+2", "100"), ("12E+3", "12000"), ("-0.00", "0.00"), ("-0", "0"), ("1E-7", "1E-7"),
     ("-2.50", "-2.50"), ("0E-10", "0E-10")],
)
def test_plain_decimal(written: str, stored: str) -> None:
    value = plain_decimal(Decimal(written))
    assert str(value) == stored and value == Decimal(written)


def test_order_keys_take_the_default_null_placement() -> None:
    assert order_keys([("a", False), ("b", True), ("c", False, True)]) == (
        ("a", False, False), ("b", True, True), ("c", False, True))
    assert order_keys(()) == ()


def test_statement_log_messages(caplog: pytest.LogCaptureFixture) -> None:
    log = StatementLog(slow_query_ms=None)
    caplog.set_level(logging.DEBUG, logger="dataflow.sql")
    log.record("SELECT 1 WHERE x = ?", ["secret"], 0.0)
    log.record("X" * 5000, 3, 0.0, rows=7)
    first, second = caplog.records
    assert first.getMessage().startswith("SELECT 1 WHERE x = ? [") and "1 params" in first.getMessage()
    assert "secret" not in first.getMessage()
    assert "5000 characters" in second.getMessage() and "7 rows" in second.getMessage()
    assert len(second.getMessage()) < 2200 and second.sql == "X" * 5000 and second.rows == 7


def test_statement_log_is_silent_and_free_when_nobody_listens(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dataflow.sql")
    log = StatementLog()
    step = object()
    assert not log.on() and log.wrap(step, "SELECT 1", []) is step  # the driver call itself, not a wrapper
    log.record("SELECT 1", [], 0.0)
    assert not caplog.records
