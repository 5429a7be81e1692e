"""Value coercion (what callers pass becomes canonical values) and database URL parsing."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest
from dataflow.errors import DataFlowError, redact_url
from dataflow.models import FieldSpec
from dataflow.url import parse_url
from dataflow.values import coerce

UTC = dt.UTC


def field(kind: str, **kwargs: Any) -> FieldSpec:
    return FieldSpec("f", kind, **kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:20:30Z", dt.datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),
        ("2024-03-01T10:20:30z", dt.datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),
        ("2024-03-01T10:20:30+02:00", dt.datetime(2024, 3, 1, 8, 20, 30, tzinfo=UTC)),
        ("2024-03-01T10:20:30.123456-05:30", dt.datetime(2024, 3, 1, 15, 50, 30, 123456, tzinfo=UTC)),
        ("2024-03-01 10:20:30", dt.datetime(2024, 3, 1, 10, 20, 30)),
        ("2024-03-01", dt.datetime(2024, 3, 1)),
    ],
)
def test_iso_strings_become_datetimes(text: str, expected: dt.datetime) -> None:
    value = coerce(field("datetime"), text)
    assert isinstance(value, dt.datetime)
    assert value == expected
    assert (value.tzinfo is None) == (expected.tzinfo is None)


def test_dates_and_datetimes_convert_between_each_other() -> None:
    assert coerce(field("datetime"), dt.date(2024, 1, 2)) == dt.datetime(2024, 1, 2)
    assert coerce(field("date"), dt.datetime(2024, 1, 2, 5)) == dt.date(2024, 1, 2)
    assert coerce(field("date"), "2024-01-02") == dt.date(2024, 1, 2)
    assert coerce(field("date"), "2024-01-02T10:00:00Z") == dt.date(2024, 1, 2)


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        ("str", "x", "x"),
        ("int", 3, 3),
        ("float", 3, 3.0),
        ("float", decimal.Decimal("1.5"), 1.5),
        ("bool", True, True),
        ("decimal", 3, decimal.Decimal(3)),
        ("decimal", "1.10", decimal.Decimal("1.10")),
        ("decimal", 0.1, decimal.Decimal("0.1")),
        ("bytes", bytearray(b"ab"), b"ab"),
        ("json", {"a": [1, None]}, {"a": [1, None]}),
    ],
)
def test_safe_conversions(kind: str, given: Any, expected: Any) -> None:
    value = coerce(field(kind), given)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("kind", "given"),
    [
        ("str", 5),
        ("int", "5"),
        ("int", True),
        ("int", 1.5),
        ("float", "1.5"),
        ("float", False),
        ("bool", 1),
        ("bool", "true"),
        ("datetime", "yesterday"),
        ("datetime", 1700000000),
        ("date", "not a date"),
        ("decimal", "NaN"),
        ("decimal", "abc"),
        ("decimal", True),
        ("bytes", "text"),
        ("json", {"a": {1, 2}}),
        ("json", float("nan")),
    ],
)
def test_wrong_types_are_df102_naming_the_field(kind: str, given: Any) -> None:
    with pytest.raises(DataFlowError) as info:
        coerce(field(kind), given)
    assert info.value.code == "DF-102"
    assert info.value.context["field"] == "f"


def test_arrays_check_every_element() -> None:
    tags = field("array", element_kind="str")
    assert coerce(tags, ("a", "b")) == ["a", "b"]
    with pytest.raises(DataFlowError):
        coerce(tags, ["a", 1])
    with pytest.raises(DataFlowError):
        coerce(tags, "a")


def test_none_only_where_allowed() -> None:
    assert coerce(field("str", nullable=True), None) is None
    assert coerce(field("int", generated=True), None) is None
    with pytest.raises(DataFlowError) as info:
        coerce(field("str"), None)
    assert info.value.code == "DF-102"
    assert "Optional" in info.value.solutions[0]


@pytest.mark.parametrize(
    ("url", "database", "memory"),
    [
        ("sqlite:///app.db", "app.db", False),
        ("sqlite:///data/app.db", "data/app.db", False),
        ("sqlite:////tmp/abs/app.db", "/tmp/abs/app.db", False),
        ("sqlite://", "", True),
        ("sqlite:///:memory:", ":memory:", True),
        (":memory:", ":memory:", True),
    ],
)
def test_sqlite_urls(url: str, database: str, memory: bool) -> None:
    parsed = parse_url(url)
    assert parsed.scheme == "sqlite"
    assert parsed.database == database
    assert parsed.is_memory is memory


@pytest.mark.parametrize(("url", "database"), [("duckdb:////tmp/x.duckdb", "/tmp/x.duckdb"),
                                              ("pluginfile:///rel/x.db", "rel/x.db")])
def test_hostless_urls_of_any_scheme_read_the_path_like_sqlite(url: str, database: str) -> None:
    parsed = parse_url(url)
    assert parsed.database == database
    assert parsed.host is None


def test_server_url_parts() -> None:
    parsed = parse_url("postgresql+asyncpg://me:p%40ss@db.example:6543/app?sslmode=require")
    assert (parsed.scheme, parsed.driver) == ("postgresql", "asyncpg")
    assert (parsed.username, parsed.password) == ("me", "p@ss")
    assert (parsed.host, parsed.port, parsed.database) == ("db.example", 6543, "app")
    assert parsed.query == {"sslmode": "require"}


@pytest.mark.parametrize("url", ["postgresql://user:topsecret@localhost:5432/db",
                                 "mysql://root:topsecret@127.0.0.1:3306/test"])
def test_password_never_shown(url: str) -> None:
    parsed = parse_url(url)
    assert parsed.password == "topsecret"
    for text in (str(parsed), repr(parsed), redact_url(f"could not connect to {url}")):
        assert "topsecret" not in text
    assert "***" in str(parsed)


def test_password_never_in_errors() -> None:
    with pytest.raises(DataFlowError) as info:
        parse_url("postgresql://user:topsecret@localhost:notaport/db")
    assert info.value.code == "DF-401"
    assert "topsecret" not in str(info.value)
    assert "topsecret" not in repr(info.value.context)


@pytest.mark.parametrize("bad", ["", "   ", None, 5, "app.db", "localhost:5432"])
def test_bad_urls_are_df401(bad: Any) -> None:
    with pytest.raises(DataFlowError) as info:
        parse_url(bad)
    assert info.value.code == "DF-401"
