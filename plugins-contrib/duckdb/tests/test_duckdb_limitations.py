"""What DuckDB does not have, each proved to give a clear DF-coded outcome (the README's limitations).

The conformance suite's tests that need these are excluded in ``test_conformance.py``.
"""

import attrs
import pytest
from dataflow.loop import run_sync
from dataflow.testing import raises_df
from dataflow.types import CheckSchema, ForeignKeySchema, SchemaChange
from dataflow.workflow import WorkflowBuilder


@pytest.fixture
def dataflow_url(tmp_path):
    return f"duckdb:///{tmp_path / 'limits.duckdb'}"


def _people(make_model):
    @make_model
    class Person:
        name: str

    return Person


def _names(run_node):
    return sorted(r["name"] for r in run_node("PersonListNode", {})["records"])


def _table(db, name):
    async def go():
        async with db.dialect.connection() as conn:
            return (await db.dialect.introspect(conn, [name]))[name]

    return run_sync(go())


def _apply(db, change):
    statements = db.dialect.schema_change_sql(change)

    async def go():
        async with db.dialect.transaction() as conn:
            for sql in statements:
                await conn.execute(sql, [])

    run_sync(go())


# ---- no savepoints ---------------------------------------------------------------------------------
def test_no_savepoints_a_failed_nested_block_rolls_back_the_whole_transaction(db, make_model, run_node):
    _people(make_model)
    run_node("PersonCountNode", {})
    with raises_df("DF-509") as caught, db.transaction():
        run_node("PersonCreateNode", {"name": "Before"})
        with pytest.raises(RuntimeError), db.transaction():
            run_node("PersonCreateNode", {"name": "Inside"})
            raise RuntimeError("undo the nested block")
        run_node("PersonCreateNode", {"name": "After"})
    assert "DF-308" in caught["error"].message and "savepoint" in caught["error"].message
    assert _names(run_node) == [], "nothing of the transaction was kept"


def test_no_savepoints_a_nested_block_that_succeeds_just_joins(db, make_model, run_node):
    _people(make_model)
    with db.transaction():
        run_node("PersonCreateNode", {"name": "Outer"})
        with db.transaction():
            run_node("PersonCreateNode", {"name": "Inner"})
    assert _names(run_node) == ["Inner", "Outer"]


def test_no_savepoints_rollback_to_savepoint_node_is_df308_and_nothing_is_written(make_model, run, run_node):
    _people(make_model)
    wf = WorkflowBuilder()
    for node_type, node_id, params in (("TransactionScopeNode", "tx", {}),
                                       ("PersonCreateNode", "a", {"name": "Keep"}),
                                       ("TransactionSavepointNode", "sp", {"name": "sp1"}),
                                       ("PersonCreateNode", "b", {"name": "Drop"}),
                                       ("TransactionRollbackToSavepointNode", "back", {"savepoint": "sp1"}),
                                       ("TransactionCommitNode", "commit", {})):
        wf.add_node(node_type, node_id, params)
    with raises_df("DF-308", match="no savepoints"):
        run(wf)
    assert _names(run_node) == []


# ---- constraint names ------------------------------------------------------------------------------
def test_constraint_names_are_duckdbs(db, make_model, run_node):
    """A CHECK added under a name is kept (and enforced) under the name DuckDB gives it."""
    _people(make_model)
    run_node("PersonCountNode", {})
    table = make_model.tables and next(iter(make_model.tables))
    before = _table(db, table)
    check = CheckSchema(f"ck_{table}", f"length({db.dialect.quote('name')}) > 1")
    _apply(db, SchemaChange("add_check", table, before, attrs.evolve(before, checks=(check,))))
    checks = _table(db, table).checks
    assert len(checks) == 1 and checks[0].name != check.name and "length" in checks[0].expression
    with raises_df("DF-503", match="CHECK"):
        run_node("PersonCreateNode", {"name": "x"})
    # Dropped by the name introspection reports.
    now = _table(db, table)
    _apply(db, SchemaChange("drop_check", table, now, attrs.evolve(now, checks=()), None,
                            {"name": checks[0].name}))
    assert run_node("PersonCreateNode", {"name": "x"})["name"] == "x"


# ---- foreign keys ----------------------------------------------------------------------------------
def test_foreign_key_actions_are_df308(db, make_model, run_node):
    _people(make_model)
    run_node("PersonCountNode", {})
    table = next(iter(make_model.tables))
    before = _table(db, table)
    fk = ForeignKeySchema("fk_self", ("id",), table, ("id",), on_delete="CASCADE", table=table)
    with raises_df("DF-308", match="ON DELETE"):
        db.dialect.schema_change_sql(SchemaChange("add_foreign_key", table, before,
                                                  attrs.evolve(before, foreign_keys=(fk,))))


def test_a_referenced_table_cannot_be_rebuilt(db, make_model, run_node):
    """Changing a column of a table others reference needs a rebuild, which DuckDB refuses: DF-308, and
    the schema is left as it was (DDL is transactional)."""

    @make_model
    class Parent:
        name: str
        note: str | None = None

    @make_model
    class Child:
        parent_id: int | None = None

    run_node("ParentCountNode", {})
    run_node("ChildCountNode", {})
    parent, child = (make_model.table(m) for m in (Parent, Child))
    before = _table(db, child)
    fk = ForeignKeySchema(None, ("parent_id",), parent, ("id",), table=child)
    _apply(db, SchemaChange("add_foreign_key", child, before, attrs.evolve(before, foreign_keys=(fk,))))
    live = _table(db, parent)
    after = attrs.evolve(live, columns=tuple(c for c in live.columns if c.name != "note"))
    with pytest.raises(Exception) as info:
        _apply(db, SchemaChange("drop_column", parent, live, after, "note"))
    error = db.dialect.translate_error(info.value)
    assert error.code == "DF-308" and "foreign keys reference" in error.message
    assert _table(db, parent).column("note") is not None
    make_model.tables = dict(reversed(list(make_model.tables.items())))  # the child goes first


# ---- regular expressions ---------------------------------------------------------------------------
def test_regex_is_re2_backreferences_are_df107(make_model, run_node):
    _people(make_model)
    run_node("PersonCreateNode", {"name": "abab"})
    assert run_node("PersonListNode", {"filter": {"name": {"$regex": "^(ab)+$"}}})["count"] == 1
    with raises_df("DF-107", match="RE2"):
        run_node("PersonListNode", {"filter": {"name": {"$regex": r"^(ab)\1$"}}})
