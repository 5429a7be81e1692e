"""Conformance: wrong wiring fails at ``build()``, before anything runs, with the DF code of its kind.

An unknown node type (DF-701), an unknown static parameter or model field (DF-102, naming the closest
one), a value of the wrong type or outside the allowed values (DF-102), a managed field (DF-104), a
connection from an output the source never produces or into an input the target does not take
(DF-201), a cycle (DF-801). A template reading a run input that is not given is refused when
``execute()`` starts, before any node runs (DF-101). In every case the database is untouched.
"""

import pytest

from dataflow import WorkflowBuilder
from dataflow.errors import DataFlowError
from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import PEOPLE, seed_people, tests_in


def _built(*nodes, connections=()):
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    for connection in connections:
        wf.add_connection(*connection)
    return wf


def _refused_at_build(code, wf, match=None):
    with raises_df(code, match=match) as caught:
        wf.build()
    return caught["error"]


def test_unknown_node_type_is_df701_at_build(make_model, run_node):
    seed_people(make_model, run_node)
    wf = _built(("PersonCreateNode", "ok", {"name": "fine"}), ("PersonCreatNode", "typo", {"name": "x"}))
    error = _refused_at_build("DF-701", wf, match="PersonCreateNode")
    assert error.context["node_id"] == "typo"


@pytest.mark.parametrize("node, params, wrong, right", [
    ("PersonListNode", {"filtr": {"age": 1}}, "filtr", "filter"),
    ("PersonCreateNode", {"name": "x", "agee": 3}, "agee", "age"),
    ("PersonUpdateNode", {"filter": {"id": 1}, "fields": {"naem": "y"}}, "naem", "name"),
    ("PersonUpdateNode", {"filter": {"agee": 1}, "fields": {"name": "y"}}, "agee", "age"),
    ("PersonListNode", {"filter": {"age": {"$gte": 1}, "cty": "Paris"}}, "cty", "city"),
    ("PersonListNode", {"order_by": ["-agee"]}, "agee", "age"),
    ("PersonCountNode", {"filter": {"$or": [{"nmae": "x"}]}}, "nmae", "name"),
    ("PersonBulkCreateNode", {"data": [{"name": "a"}, {"name": "b", "emial": "e"}]}, "emial", "email"),
    ("PersonUpsertNode", {"where": {"emal": "a@x"}, "create": {"name": "a"}}, "emal", "email"),
    ("PersonBulkUpsertNode", {"data": [{"name": "a"}], "conflict_on": ["emial"]}, "emial", "email"),
], ids=["parameter", "create-field", "update-field", "filter-field", "filter-field-2", "order-by",
        "nested-filter", "bulk-row-field", "upsert-where", "conflict-on"])
def test_unknown_parameter_or_field_is_df102_at_build_with_the_closest_name(make_model, run_node, node, params,
                                                                            wrong, right):
    person, _ = seed_people(make_model, run_node)
    error = _refused_at_build("DF-102", _built((node, "n", params)))
    assert wrong in error.message and f"Did you mean '{right}'?" in error.message
    assert raw_rows(make_model.db, person) != []


@pytest.mark.parametrize("node, params", [
    ("PersonListNode", {"limit": "ten"}),
    ("PersonListNode", {"limit": -1}),
    ("PersonListNode", {"include_total": "yes"}),
    ("PersonReadNode", {"id": 1, "raise_on_not_found": 0}),
    ("PersonBulkCreateNode", {"data": [{"name": "a"}], "conflict_resolution": "explode"}),
    ("PersonBulkCreateNode", {"data": [{"name": "a"}], "batch_size": 0}),
    ("PersonBulkDeleteNode", {"filter": {"age": 1}, "confirmed": "true"}),
    ("PersonCreateNode", {"name": "x", "age": "old"}),
    ("PersonUpdateNode", {"filter": {"id": 1}, "fields": {"age": "old"}}),
    ("PersonListNode", {"filter": {"age": {"$gt": "old"}}}),
    ("PersonListNode", {"filter": {"age": {"$bogus": 1}}}),
], ids=["limit-type", "limit-minimum", "bool", "bool-int", "choices", "batch-size", "confirmed", "create-value",
        "update-value", "filter-value", "operator"])
def test_a_static_value_of_the_wrong_kind_is_df102_at_build(make_model, run_node, node, params):
    seed_people(make_model, run_node)
    _refused_at_build("DF-102", _built((node, "n", params)))


@pytest.mark.parametrize("node, params", [
    ("PersonCreateNode", {"name": "x", "created_at": "2020-01-01T00:00:00Z"}),
    ("PersonUpdateNode", {"filter": {"id": 1}, "fields": {"updated_at": "2020-01-01T00:00:00Z"}}),
    ("PersonUpdateNode", {"filter": {"id": 1}, "updated_at": "2020-01-01T00:00:00Z"}),
    ("PersonBulkCreateNode", {"data": [{"name": "a", "created_at": "2020-01-01T00:00:00Z"}]}),
    ("PersonBulkUpdateNode", {"filter": {"age": 1}, "fields": {"updated_at": "2020-01-01T00:00:00Z"}}),
])
def test_a_managed_field_is_df104_at_build(make_model, run_node, node, params):
    seed_people(make_model, run_node)
    _refused_at_build("DF-104", _built((node, "n", params)))


def test_connections_to_outputs_and_inputs_that_do_not_exist_are_df201_at_build(make_model, run_node):
    seed_people(make_model, run_node)
    wrong_output = _built(("PersonCreateNode", "create", {"name": "a"}), ("PersonReadNode", "read", {}),
                          connections=[("create", "idd", "read", "id")])
    error = _refused_at_build("DF-201", wrong_output, match="idd")
    assert "Did you mean 'id'?" in error.message
    wrong_input = _built(("PersonCreateNode", "create", {"name": "a"}), ("PersonReadNode", "read", {}),
                         connections=[("create", "id", "read", "idd")])
    _refused_at_build("DF-201", wrong_input, match="idd")
    wrong_field = _built(("PersonListNode", "list", {}), ("PersonCreateNode", "create", {"name": "a"}),
                         connections=[("list", "count", "create", "agee")])
    _refused_at_build("DF-201", wrong_field, match="agee")
    template = _built(("PersonCreateNode", "create", {"name": "a"}),
                      ("PersonReadNode", "read", {"id": "${create.idd}"}))
    _refused_at_build("DF-201", template, match="idd")
    nested = _built(("PersonListNode", "list", {}), ("PersonReadNode", "read", {}),
                    connections=[("list", "records.0.id", "read", "id")])
    assert nested.build().nodes["read"].depends_on == {"list"}, "a dotted path into a real output is fine"


def test_a_cycle_is_df801_at_build(make_model, run_node):
    seed_people(make_model, run_node)
    wf = _built(("PersonReadNode", "a", {}), ("PersonReadNode", "b", {}), ("PersonCountNode", "free", {}),
                connections=[("a", "id", "b", "id"), ("b", "id", "a", "id")])
    error = _refused_at_build("DF-801", wf, match="cycle")
    assert "free" not in error.message


def test_a_template_naming_nothing_is_df101_before_any_node_runs(make_model, run, run_node):
    person, _ = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    wf = _built(("PersonBulkDeleteNode", "wipe", {"filter": {}, "confirmed": True}),
                ("PersonCreateNode", "create", {"name": "${who}"}))
    with pytest.raises(DataFlowError) as info:
        run(wf)
    assert info.value.code == "DF-101" and info.value.context["node_id"] == "create"
    assert raw_rows(make_model.db, person) == before, "the delete before it never ran"
    assert run(wf, {"who": "given"})["create"]["name"] == "given"


def test_nothing_runs_when_build_fails(make_model, run_node):
    person, _ = seed_people(make_model, run_node)
    before = raw_rows(make_model.db, person)
    wf = _built(("PersonBulkDeleteNode", "wipe", {"filter": {}, "confirmed": True}),
                ("PersonCreateNode", "create", {"name": "x", "agee": 1}))
    with raises_df("DF-102"):
        wf.build()
    assert raw_rows(make_model.db, person) == before and len(before) == len(PEOPLE)


def test_values_known_only_at_run_time_are_checked_then(make_model, run, run_node):
    seed_people(make_model, run_node)
    wf = _built(("PersonListNode", "list", {"filter": {"age": {"$gte": "${min_age}"}}, "limit": "${limit}"}))
    built = wf.build()  # templates are not values yet: nothing to refuse at build
    records = run(built, {"min_age": 35, "limit": 10})["list"]["records"]
    assert sorted(r["name"] for r in records) == ["Carol", "Eve"]
    with raises_df("DF-102"):
        run(built, {"min_age": 35, "limit": "ten"})


__all__ = tests_in(globals())
