"""Pure parts of the protect plugin: windows, rule matching, and reading raw SQL."""

from __future__ import annotations

import datetime as dt

import pytest
from dataflow_protect.guard import raw_writes
from dataflow_protect.rules import make_rule, operation_matches, parse_window

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """2026-11-30 is a Monday: ``day`` 0 is Monday."""
    return dt.datetime(2026, 11, 30 + day, hour, minute, tzinfo=UTC) if day < 1 else \
        dt.datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def test_business_hours_window() -> None:
    window = parse_window("Mon-Fri 09:00-17:00", "UTC", "rule")
    assert window.contains(at(0, 9))
    assert window.contains(at(0, 16, 59))
    assert not window.contains(at(0, 17))
    assert not window.contains(at(0, 8, 59))
    assert window.contains(at(4, 12))       # Friday 4 December
    assert not window.contains(at(5, 12))   # Saturday


def test_overnight_window_and_zones() -> None:
    window = parse_window("Fri 22:00-06:00", "UTC", "rule")
    assert window.contains(at(4, 23))        # Friday night
    assert window.contains(at(5, 5))         # early Saturday: the window began on Friday
    assert not window.contains(at(6, 5))     # early Sunday
    paris = parse_window("09:00-17:00", "Europe/Paris", "rule")
    assert paris.contains(dt.datetime(2026, 12, 1, 8, 30, tzinfo=UTC))   # 09:30 in Paris
    assert not paris.contains(dt.datetime(2026, 12, 1, 16, 30, tzinfo=UTC))  # 17:30 in Paris
    assert parse_window("Sat,Sun 10:00-14:00", None, "r").days == frozenset({5, 6})
    assert parse_window("Sun-Tue 10:00-14:00", None, "r").days == frozenset({6, 0, 1})


def test_operation_kinds() -> None:
    assert operation_matches(frozenset({"delete"}), "bulk_delete")
    assert not operation_matches(frozenset({"bulk_delete"}), "delete")
    assert operation_matches(frozenset({"update"}), "bulk_upsert")
    assert operation_matches(frozenset({"write"}), "import")
    assert not operation_matches(frozenset({"create"}), "import")


def test_a_field_rule_applies_only_to_writes_that_may_change_its_field() -> None:
    from dataflow_protect.rules import WriteIntent

    rule = make_rule({"level": "field", "model": "User", "field": "email", "immutable": True}, "r")
    assert rule.applies_to(WriteIntent("User", "update", frozenset({"email"})))
    assert not rule.applies_to(WriteIntent("User", "update", frozenset({"name"})))
    assert not rule.applies_to(WriteIntent("User", "create", None))
    assert rule.applies_to(WriteIntent("User", "import", None))
    assert not rule.applies_to(WriteIntent("Invoice", "update", frozenset({"email"})))


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM t", []),
    ("select 'DELETE FROM t' as x", []),
    ("-- DELETE FROM t\nSELECT 1", []),
    ("SELECT * FROM t FOR UPDATE", []),
    ("SELECT * FROM t FOR UPDATE OF t NOWAIT", []),
    ("EXPLAIN SELECT 1", []),
    ("BEGIN", []),
    ("PRAGMA table_info(t)", []),
    ("INSERT INTO t (a) VALUES (1)", [("bulk_create", "t")]),
    ('insert into "Sch"."T" values (1)', [("bulk_create", "t")]),
    ("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2", [("bulk_upsert", "t")]),
    ("INSERT INTO `t` (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2", [("bulk_upsert", "t")]),
    ("REPLACE INTO t VALUES (1)", [("bulk_upsert", "t")]),
    ("UPDATE t SET a = 1 WHERE b = 2", [("bulk_update", "t")]),
    ("DELETE FROM t", [("bulk_delete", "t")]),
    ("TRUNCATE TABLE t", [("bulk_delete", "t")]),
    ("DROP TABLE IF EXISTS t", [("schema", "t")]),
    ("WITH x AS (DELETE FROM t RETURNING id) SELECT * FROM x", [("bulk_delete", "t")]),
    ("SELECT 1; DELETE FROM t", [("bulk_delete", "t")]),
    ("CALL purge()", [("write", None)]),
    ("PRAGMA user_version = 3", [("write", None)]),
])
def test_raw_statements(sql: str, expected: list[tuple[str, str | None]]) -> None:
    assert [(op, table) for op, table, _set in raw_writes(sql)] == expected
