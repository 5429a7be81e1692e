"""Filters and ordering: MongoDB-style filters parsed against a model (API.md "Filters")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from dataflow.errors import DataFlowError
from dataflow.models import ModelSpec, model_spec_from_class
from dataflow.query import And, Cond, Not, Or, Select, parse_filter, parse_order_by


@pytest.fixture(scope="module")
def user() -> ModelSpec:
    class User:
        id: str
        name: str
        age: int
        score: float | None
        born: dt.datetime | None
        tags: list[str]

    return model_spec_from_class(User)


def cond(expr: Any) -> tuple[str, str, Any]:
    assert isinstance(expr, Cond)
    return expr.field.name, expr.op, expr.value


def test_plain_value_means_equality(user: ModelSpec) -> None:
    assert cond(parse_filter(user, {"name": "Alice"})) == ("name", "eq", "Alice")


def test_empty_or_missing_filter_is_none(user: ModelSpec) -> None:
    assert parse_filter(user, None) is None
    assert parse_filter(user, {}) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"$eq": 3}, ("age", "eq", 3)),
        ({"$ne": 3}, ("age", "ne", 3)),
        ({"$gt": 3}, ("age", "gt", 3)),
        ({"$gte": 3}, ("age", "gte", 3)),
        ({"$lt": 3}, ("age", "lt", 3)),
        ({"$lte": 3}, ("age", "lte", 3)),
        ({"$in": [1, 2]}, ("age", "in", (1, 2))),
        ({"$nin": [1, 2]}, ("age", "nin", (1, 2))),
        ({"$exists": True}, ("age", "null", False)),
        ({"$exists": False}, ("age", "null", True)),
        ({"$null": True}, ("age", "null", True)),
        ({"$null": False}, ("age", "null", False)),
        ({"$eq": None}, ("age", "null", True)),
        ({"$ne": None}, ("age", "null", False)),
    ],
)
def test_comparison_operators(user: ModelSpec, raw: dict[str, Any], expected: tuple[str, str, Any]) -> None:
    assert cond(parse_filter(user, {"age": raw})) == expected


@pytest.mark.parametrize("op", ["$like", "$ilike", "$regex"])
def test_text_operators_take_a_pattern(user: ModelSpec, op: str) -> None:
    assert cond(parse_filter(user, {"name": {op: "A%"}})) == ("name", op[1:], "A%")
    with pytest.raises(DataFlowError) as info:
        parse_filter(user, {"name": {op: 5}})
    assert info.value.code == "DF-102"


def test_none_value_means_is_null(user: ModelSpec) -> None:
    assert cond(parse_filter(user, {"score": None})) == ("score", "null", True)


def test_several_fields_and_operators_are_anded(user: ModelSpec) -> None:
    expr = parse_filter(user, {"age": {"$gte": 18, "$lt": 65}, "name": "Bob"})
    assert isinstance(expr, And)
    assert [cond(e) for e in expr.items] == [("age", "gte", 18), ("age", "lt", 65), ("name", "eq", "Bob")]


def test_logical_operators(user: ModelSpec) -> None:
    expr = parse_filter(user, {"$or": [{"name": "A"}, {"$and": [{"age": 1}, {"score": {"$gt": 2}}]}]})
    assert isinstance(expr, Or)
    first, second = expr.items
    assert cond(first) == ("name", "eq", "A")
    assert isinstance(second, And)
    assert [cond(e) for e in second.items] == [("age", "eq", 1), ("score", "gt", 2.0)]
    negated = parse_filter(user, {"$not": {"name": "A"}})
    assert isinstance(negated, Not) and cond(negated.item) == ("name", "eq", "A")
    field_not = parse_filter(user, {"age": {"$not": {"$gt": 5}}})
    assert isinstance(field_not, Not) and cond(field_not.item) == ("age", "gt", 5)


def test_or_with_an_empty_alternative_matches_everything(user: ModelSpec) -> None:
    assert parse_filter(user, {"$or": [{"name": "A"}, {}]}) is None


@pytest.mark.parametrize("bad", [{"$or": []}, {"$or": {"name": "A"}}, {"$or": ["x"]}, {"$not": ["x"]}])
def test_malformed_logical_operators_are_df102(user: ModelSpec, bad: dict[str, Any]) -> None:
    with pytest.raises(DataFlowError) as info:
        parse_filter(user, bad)
    assert info.value.code == "DF-102"


def test_unknown_operator_on_a_field_suggests_and_lists_allowed(user: ModelSpec) -> None:
    with pytest.raises(DataFlowError) as info:
        parse_filter(user, {"age": {"$gtt": 5}}, node="list")
    err = info.value
    assert err.code == "DF-102"
    assert "Did you mean '$gt'?" in err.message
    assert "$gte" in err.context["allowed"]
    assert err.context["node"] == "list"


def test_unknown_top_level_operator_suggests(user: ModelSpec) -> None:
    with pytest.raises(DataFlowError) as info:
        parse_filter(user, {"$ro": [{"name": "A"}]})
    assert info.value.code == "DF-102"
    assert "Did you mean '$or'?" in info.value.message


def test_unknown_field_suggests_the_closest(user: ModelSpec) -> None:
    with pytest.raises(DataFlowError) as info:
        parse_filter(user, {"nmae": "A"})
    assert info.value.code == "DF-102"
    assert "Did you mean 'name'?" in info.value.message


def test_plugin_operators_are_accepted_only_when_offered(user: ModelSpec) -> None:
    with pytest.raises(DataFlowError):
        parse_filter(user, {"tags": {"$contains": ["a"]}})
    expr = parse_filter(user, {"tags": {"$contains": ["a"]}}, extra_operators=["$contains"])
    assert cond(expr) == ("tags", "contains", ["a"])


def test_each_set_of_plugin_operators_allows_its_own(user: ModelSpec) -> None:
    """The allowed operators are remembered per set offered: another set, or none, allows only its own."""
    for _ in range(2):  # the second time from memory
        assert cond(parse_filter(user, {"tags": {"$contains": ["a"]}}, extra_operators={"$contains": None}))
        assert cond(parse_filter(user, {"tags": {"$overlap": ["a"]}}, extra_operators=("$overlap",)))
        with pytest.raises(DataFlowError) as info:
            parse_filter(user, {"tags": {"$contains": ["a"]}}, extra_operators=("$overlap",))
        assert info.value.code == "DF-102"
        with pytest.raises(DataFlowError):
            parse_filter(user, {"tags": {"$overlap": ["a"]}}, extra_operators=())


def test_any_mapping_is_a_filter_and_plain_values_are_equalities(user: ModelSpec) -> None:
    """Dicts are told apart from plain values quickly; other mappings still read as filters and operator dicts."""
    from types import MappingProxyType

    assert cond(parse_filter(user, MappingProxyType({"age": MappingProxyType({"$gte": 3})}))) == ("age", "gte", 3)
    assert cond(parse_filter(user, MappingProxyType({"age": 3}))) == ("age", "eq", 3)
    both = parse_filter(user, {"age": 3, "name": None})
    assert isinstance(both, And) and [cond(c) for c in both.items] == [("age", "eq", 3), ("name", "null", True)]
    with pytest.raises(DataFlowError):
        parse_filter(user, {"age": {"$gte": 3, "x": 1}})  # operators mixed with plain keys


def test_values_are_coerced_to_the_field_type(user: ModelSpec) -> None:
    _, _, value = cond(parse_filter(user, {"born": {"$gt": "2024-01-02T03:04:05Z"}}))
    assert value == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    with pytest.raises(DataFlowError) as info:
        parse_filter(user, {"age": "eighteen"})
    assert info.value.code == "DF-102"


@pytest.mark.parametrize("bad", [["name"], {"age": {"$in": 3}}, {"age": {"$exists": "yes"}},
                                 {"age": {"$gt": 1, "plain": 2}}, {1: "x"}])
def test_malformed_filters_are_df102(user: ModelSpec, bad: Any) -> None:
    with pytest.raises(DataFlowError) as info:
        parse_filter(user, bad)
    assert info.value.code == "DF-102"


def test_nesting_depth_is_limited(user: ModelSpec) -> None:
    shallow: dict[str, Any] = {"name": "A"}
    for _ in range(10):
        shallow = {"$not": shallow}
    assert parse_filter(user, shallow) is not None
    deep: dict[str, Any] = {"name": "A"}
    for _ in range(200):
        deep = {"$and": [deep]}
    with pytest.raises(DataFlowError) as info:
        parse_filter(user, deep)
    assert info.value.code == "DF-102"
    assert "nested" in info.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["-age", "name"], (("age", True, True), ("name", False, False))),
        (["+name"], (("name", False, False),)),
        ("name", (("name", False, False),)),
        ([{"age": -1}, {"name": 1}], (("age", True, True), ("name", False, False))),
        ({"age": "desc"}, (("age", True, True),)),
        ([{"age": "ASC"}], (("age", False, False),)),
        ([{"age": 1, "nulls": "first"}], (("age", False, True),)),
        ([{"age": -1, "nulls": "last"}, "name"], (("age", True, False), ("name", False, False))),
        (None, ()),
        ([], ()),
    ],
)
def test_order_by_both_forms(user: ModelSpec, raw: Any, expected: tuple[tuple[str, bool, bool], ...]) -> None:
    assert parse_order_by(user, raw) == expected


def test_select_takes_pairs_with_the_default_null_placement(user: ModelSpec) -> None:
    assert Select(user, order_by=(("age", True), ("name", False))).order_by == (("age", True, True),
                                                                                 ("name", False, False))


@pytest.mark.parametrize("bad", [["-agee"], [{"age": 2}], [5], 5, [{"nme": 1}], [{"age": 1, "nulls": "up"}],
                                 [{"nulls": "first"}]])
def test_bad_order_by_is_df102(user: ModelSpec, bad: Any) -> None:
    with pytest.raises(DataFlowError) as info:
        parse_order_by(user, bad)
    assert info.value.code == "DF-102"
