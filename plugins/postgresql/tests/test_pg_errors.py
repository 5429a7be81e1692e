"""Driver errors come out as DF codes with the asyncpg exception chained, never raw."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from dataflow import DataFlow, DataFlowError
from dataflow.query import Update, parse_filter
from dataflow.testing import raises_df, raw_execute, unique_table


def _cause_is_driver(caught) -> None:
    assert isinstance(caught["error"].__cause__, asyncpg.PostgresError), repr(caught["error"].__cause__)


def test_unique_violation_is_df_704(make_model, run_node):
    @make_model
    class Key:
        id: str

    run_node("KeyCreateNode", {"id": "k"})
    with raises_df("DF-704") as caught:
        run_node("KeyCreateNode", {"id": "k"})
    _cause_is_driver(caught)


def test_not_null_violation_is_df_705(make_model, run_node, dataflow_url):
    table = unique_table("t_strict")

    @make_model(table=table)
    class Strict:
        name: str
        required_elsewhere: str

    run_node("StrictCountNode", {})
    # existing_schema_mode: no migration relaxes the column the second model does not know.
    other = DataFlow(dataflow_url, existing_schema_mode=True)
    try:
        # The same table seen through a model without the NOT NULL column: the database refuses.
        @make_model(db=other, table=table)
        class Strict:
            name: str

        with raises_df("DF-705") as caught:
            run_node("StrictCreateNode", {"name": "x", "db_instance": other})
        _cause_is_driver(caught)
    finally:
        other.close()


def test_foreign_key_violation_is_df_706(make_model, run_node, db):
    @make_model  # declared first so that teardown drops it before the table it references
    class Child:
        parent_id: str

    @make_model
    class Parent:
        id: str

    run_node("ParentCountNode", {})
    run_node("ChildCountNode", {})
    q = db.dialect.quote
    raw_execute(db, f"ALTER TABLE {q(Child.__dataflow_model__.table)} ADD FOREIGN KEY ({q('parent_id')}) "
                    f"REFERENCES {q(Parent.__dataflow_model__.table)} ({q('id')})")
    with raises_df("DF-706") as caught:
        run_node("ChildCreateNode", {"parent_id": "missing"})
    _cause_is_driver(caught)


def test_undefined_table_is_df_304(make_model, run_node, db):
    @make_model
    class Gone:
        name: str

    run_node("GoneCountNode", {})  # the table is now known to be ready
    raw_execute(db, f'DROP TABLE "{Gone.__dataflow_model__.table}"')
    with raises_df("DF-304") as caught:
        run_node("GoneCountNode", {})
    _cause_is_driver(caught)


def test_other_errors_are_df_503(make_model, run_node, db):
    @make_model
    class Checked:
        n: int

    run_node("CheckedCountNode", {})
    raw_execute(db, f'ALTER TABLE "{Checked.__dataflow_model__.table}" ADD CHECK ("n" > 0)')
    with raises_df("DF-503") as caught:
        run_node("CheckedCreateNode", {"n": -1})
    _cause_is_driver(caught)


@pytest.mark.anyio
async def test_deadlock_is_df_508(make_model, run_node, db):
    @make_model
    class Cell:
        id: str
        n: int | None = None

    run_node("CellBulkCreateNode", {"data": [{"id": "a"}, {"id": "b"}]})
    model = Cell.__dataflow_model__
    locked = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def cross(first: str, second: str) -> None:
        async with db.transaction() as conn:
            await db.dialect.run(Update(model, parse_filter(model, {"id": first}), {"n": 1}), conn)
            locked[first].set()
            await locked[second].wait()
            await db.dialect.run(Update(model, parse_filter(model, {"id": second}), {"n": 2}), conn)

    outcomes = await asyncio.gather(cross("a", "b"), cross("b", "a"), return_exceptions=True)
    errors = [o for o in outcomes if o is not None]
    assert len(errors) == 1, outcomes
    assert isinstance(errors[0], DataFlowError) and errors[0].code == "DF-508"
    assert isinstance(errors[0].__cause__, asyncpg.DeadlockDetectedError)
    await db.close_async()
