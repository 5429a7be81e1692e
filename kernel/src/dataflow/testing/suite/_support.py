"""Shared pieces of the suite's modules: the model most tests use, seeding, and record comparison."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

AUTO = ("created_at", "updated_at")

PEOPLE: list[dict[str, Any]] = [
    {"name": "Alice", "age": 30, "email": "alice@example.com", "city": "Paris"},
    {"name": "Bob", "age": 25, "email": "bob@example.com", "city": None},
    {"name": "Carol", "age": 35, "email": None, "city": "Berlin"},
    {"name": "Dave", "age": 25, "email": "dave@example.org", "city": "paris"},
    {"name": "Eve", "age": 40, "email": None, "city": None},
]
"""Five rows with ties (age 25), NULLs in two columns and case differences, for filters and ordering."""


def tests_in(namespace: Mapping[str, Any]) -> list[str]:
    """The test names a suite module exports (its ``__all__``)."""
    return sorted(n for n, v in namespace.items() if n.startswith(("test_", "Test")) and callable(v))


def person_model(make_model: Callable[..., Any], **options: Any) -> Any:
    """``Person(name, age=0, email=None, city=None)`` with an int id and a unique index on email."""

    class Person:
        name: str
        age: int = 0
        email: str | None = None
        city: str | None = None
        __dataflow__ = {"indexes": [{"fields": ["email"], "unique": True}]}

    return make_model(Person, **options)


def seed(run_node: Runner, model: Any, rows: Iterable[Mapping[str, Any]]) -> list[Any]:
    """Insert ``rows`` with the model's bulk create node; their ids, in order."""
    data = [dict(r) for r in rows]
    out = run_node(f"{model.__name__}BulkCreateNode", {"data": data, "return_ids": True})
    assert out["inserted"] == len(data), out
    return list(out["ids"])


Runner = Callable[..., dict[str, Any]]


def seed_people(make_model: Callable[..., Any], run_node: Runner) -> tuple[Any, dict[str, Any]]:
    """The Person model with PEOPLE inserted; ``(Person, {name: id})``."""
    person = person_model(make_model)
    ids = seed(run_node, person, PEOPLE)
    return person, {p["name"]: i for p, i in zip(PEOPLE, ids, strict=True)}


def strip(record: Mapping[str, Any], *extra: str) -> dict[str, Any]:
    """A record without the managed timestamps (and ``extra`` keys), for exact comparison."""
    return {k: v for k, v in record.items() if k not in AUTO and k not in extra}


def names(records: Iterable[Mapping[str, Any]]) -> list[str]:
    return [r["name"] for r in records]


def list_names(run_node: Runner, model: Any, flt: Any, order: Any = ("name",)) -> list[str]:
    """Names of the rows ``flt`` selects, ordered (by name unless told)."""
    out = run_node(f"{model.__name__}ListNode", {"filter": flt, "order_by": list(order)})
    return names(out["records"])


def assert_utc(value: Any) -> None:
    """An aware datetime in UTC, as every dialect returns them."""
    assert isinstance(value, dt.datetime), repr(value)
    assert value.utcoffset() == dt.timedelta(0), repr(value)
