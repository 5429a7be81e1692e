"""Conformance: where NULLs sort, the same on every database (API.md: last ascending, first descending)."""

from dataflow.testing.suite._support import list_names, seed_people, tests_in


def test_nulls_sort_last_ascending_and_first_descending(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    # city: Paris, None, Berlin, paris, None; ties broken by name
    assert list_names(run_node, person, {}, ["city", "name"])[-2:] == ["Bob", "Eve"]
    assert list_names(run_node, person, {}, ["-city", "name"])[:2] == ["Bob", "Eve"]


def test_nulls_in_a_second_key_sort_within_ties_of_the_first(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    # age 25: Bob (city None) and Dave (paris); email None for Carol (35) and Eve (40)
    assert list_names(run_node, person, {"age": 25}, ["age", "city"]) == ["Dave", "Bob"]
    assert list_names(run_node, person, {"age": 25}, ["age", "-city"]) == ["Bob", "Dave"]
    assert list_names(run_node, person, {}, ["-email", "age"]) == ["Carol", "Eve", "Dave", "Bob", "Alice"]


__all__ = tests_in(globals())
