"""Conformance: model scopes (``dataflow_model_scope``) see every query the dialect runs for a model's
nodes, once each, and a scope that refuses leaves the table unchanged — on every database.

Guards such as tenancy and write protection rely on this: a dialect whose nodes reached the table
another way than ``run`` (or ran a statement twice through it) would let rows cross a boundary.
"""

from dataflow.errors import DataFlowError
from dataflow.hookspecs import hookimpl
from dataflow.query import Count, Delete, Insert, Select, Update, Upsert
from dataflow.scopes import ModelScope
from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import tests_in


class _Recorder(ModelScope):
    def __init__(self):
        self.kinds = []
        self.refuse = False

    def query(self, query):
        self.kinds.append(type(query).__name__)
        if self.refuse and isinstance(query, Insert | Update | Delete | Upsert):
            raise DataFlowError("DF-102", "refused by the scope")
        return query


class _Scoping:
    def __init__(self):
        self.recorder = _Recorder()

    @hookimpl
    def dataflow_model_scope(self, model, db):
        return self.recorder if model.name == "Ledger" else None


def _scoped(make_model):
    """An instance whose ``Ledger`` model has a recording scope: (instance, recorder)."""
    plugin = _Scoping()
    db = make_model.new_db(plugins=[plugin])

    class Ledger:
        code: str
        amount: int = 0
        __dataflow__ = {"indexes": [{"fields": ["code"], "unique": True}]}

    make_model(Ledger, db=db)
    return db, plugin.recorder


def test_every_node_query_passes_the_scope_once(make_model, run_node):
    _db, seen = _scoped(make_model)
    created = run_node("LedgerCreateNode", {"code": "a", "amount": 1})
    run_node("LedgerBulkCreateNode", {"data": [{"code": f"b{i}"} for i in range(40)]})
    assert seen.kinds == ["Insert", "Insert"], "each statement passes once, its transaction's hand-on included"
    run_node("LedgerReadNode", {"id": created["id"]})
    run_node("LedgerUpdateNode", {"id": created["id"], "fields": {"amount": 2}})
    run_node("LedgerListNode", {"include_total": True})
    run_node("LedgerBulkUpdateNode", {"filter": {"code": "b1"}, "fields": {"amount": 3}})
    run_node("LedgerUpsertNode", {"where": {"code": "a"}, "update": {"amount": 4}})
    run_node("LedgerBulkUpsertNode", {"data": [{"code": "z", "amount": 5}], "conflict_on": ["code"]})
    run_node("LedgerDeleteNode", {"id": created["id"]})
    run_node("LedgerBulkDeleteNode", {"filter": {"code": "z"}})
    assert run_node("LedgerCountNode", {})["count"] == 40
    kinds = set(seen.kinds)
    assert {"Insert", "Select", "Update", "Count", "Upsert", "Delete"} <= kinds, kinds
    assert Select.__name__ in kinds and Count.__name__ in kinds


def test_a_refusing_scope_leaves_the_table_unchanged(make_model, run_node):
    db, seen = _scoped(make_model)
    run_node("LedgerBulkCreateNode", {"data": [{"code": f"c{i}", "amount": i} for i in range(5)]})
    before = raw_rows(db, db.models["Ledger"])
    seen.refuse = True
    for node, params in (("LedgerCreateNode", {"code": "x"}),
                         ("LedgerBulkCreateNode", {"data": [{"code": f"y{i}"} for i in range(40)]}),
                         ("LedgerBulkUpdateNode", {"filter": {}, "fields": {"amount": 9}, "confirmed": True}),
                         ("LedgerBulkDeleteNode", {"filter": {}, "confirmed": True}),
                         ("LedgerBulkUpsertNode", {"data": [{"code": "c1", "amount": 7}], "conflict_on": ["code"]})):
        with raises_df("DF-102", match="refused by the scope"):
            run_node(node, params)
    assert raw_rows(db, db.models["Ledger"]) == before


__all__ = tests_in(globals())
