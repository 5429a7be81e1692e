"""Conformance: the types at the two ends of a connection come from the nodes and the model.

A generated node's inputs accept what its model's fields accept (an int for ``age``, an ISO-8601
string for a datetime) and its outputs give the fields' types; ``build()`` refuses, as DF-201
("Type mismatch"), a connection or template whose two ends can never match, before anything runs.
``WorkflowBuilder.check()`` reports every such problem at once, from the same checks.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from dataflow import WorkflowBuilder
from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import seed_people, tests_in


def _wf(*nodes: tuple[str, str, dict[str, Any]], connections: Sequence[tuple[str, str, str, str]] = ()):
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    for connection in connections:
        wf.add_connection(*connection)
    return wf


def test_a_connection_whose_types_never_match_is_df201_at_build(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    count_into_name = _wf(("PersonCountNode", "count", {}), ("PersonCreateNode", "create", {"name": "x"}),
                          connections=[("count", "count", "create", "name")])
    with raises_df("DF-201", match="Type mismatch") as caught:
        count_into_name.build()
    assert caught["error"].context["expected_type"] == "str"
    assert caught["error"].context["actual_type"] == "int"
    name_into_age = _wf(("PersonCreateNode", "a", {"name": "a"}), ("PersonCreateNode", "b", {"name": "b"}),
                        connections=[("a", "name", "b", "age")])
    with raises_df("DF-201", match="Type mismatch"):
        name_into_age.build()
    assert raw_rows(make_model.db, person) == before


def test_a_template_whose_types_never_match_is_df201_at_build(make_model, run_node):
    seed_people(make_model, run_node)
    whole = _wf(("PersonCreateNode", "a", {"name": "a"}), ("PersonCreateNode", "b", {"name": "b", "age": "${a.name}"}))
    with raises_df("DF-201", match="Type mismatch"):
        whole.build()
    inside_text = _wf(("PersonCreateNode", "a", {"name": "a"}),
                      ("PersonCreateNode", "b", {"name": "b", "age": "age ${a.age}"}))
    with raises_df("DF-201", match="Type mismatch"):
        inside_text.build()


def test_matching_types_build_and_run(make_model, run, run_node):
    seed_people(make_model, run_node)
    wf = _wf(("PersonCreateNode", "a", {"name": "Ann", "age": 41}),
             ("PersonCreateNode", "b", {"name": "Dr ${a.name}"}),
             ("PersonReadNode", "read", {}),
             ("PersonCountNode", "count", {}),
             ("PersonCreateNode", "c", {"name": "counted"}),
             connections=[("a", "age", "b", "age"), ("b", "id", "read", "id"), ("count", "count", "c", "age")])
    results = run(wf)
    assert results["b"]["name"] == "Dr Ann" and results["b"]["age"] == 41
    assert results["read"]["name"] == "Dr Ann"
    assert results["c"]["age"] == results["count"]["count"]


def test_a_nullable_output_may_feed_a_required_field(make_model, run, run_node):
    seed_people(make_model, run_node)
    wf = _wf(("PersonCreateNode", "a", {"name": "Ann", "email": "ann@example.com"}),
             ("PersonCreateNode", "b", {}), connections=[("a", "email", "b", "name")])
    assert run(wf)["b"]["name"] == "ann@example.com", "only a None would fail, when it runs"


def test_conversions_a_field_accepts_are_accepted_from_connections(make_model, run):
    class Event:
        title: str
        at: dt.datetime

    make_model(Event)
    wf = _wf(("EventCreateNode", "first", {"title": "2024-05-01T10:00:00Z", "at": "2024-05-01T10:00:00Z"}),
             ("EventCreateNode", "second", {}),
             connections=[("first", "title", "second", "at"), ("first", "title", "second", "title")])
    assert run(wf)["second"]["at"].year == 2024, "a str output feeds a datetime field (ISO-8601)"


def test_check_reports_every_wiring_problem_at_once(make_model, run_node):
    seed_people(make_model, run_node)
    wf = _wf(("PersonCountNode", "count", {}), ("PersonCreateNode", "create", {"name": "x", "agee": 3}),
             ("PersonReadNode", "read", {}), ("PersonCreatNode", "typo", {}),
             connections=[("count", "count", "create", "name"), ("create", "idd", "read", "id")])
    found = wf.check().findings
    assert sorted(f.code for f in found) == ["DF-102", "DF-201", "DF-201", "DF-701"]
    with raises_df(found[0].code):
        wf.build()


__all__ = tests_in(globals())
