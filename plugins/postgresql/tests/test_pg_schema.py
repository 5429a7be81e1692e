"""Additive auto-migration and catalogue introspection on PostgreSQL."""

from __future__ import annotations

from dataflow import DataFlow
from dataflow.loop import run_sync
from dataflow.testing import unique_table


def test_additive_migration_keeps_data(make_model, run_node, dataflow_url):
    table = unique_table("t_evolve")

    @make_model(table=table)
    class Profile:
        name: str

    first = run_node("ProfileCreateNode", {"name": "before"})
    second_db = DataFlow(dataflow_url)
    try:
        @make_model(db=second_db, table=table)
        class Profile:
            name: str
            bio: str | None = None
            score: float | None = None

        made = run_node("ProfileCreateNode", {"name": "after", "bio": "hi", "score": 1.5, "db_instance": second_db})
        assert made["bio"] == "hi" and made["score"] == 1.5
        old = run_node("ProfileReadNode", {"id": first["id"], "db_instance": second_db})
        assert old["name"] == "before" and old["bio"] is None and old["score"] is None
        assert run_node("ProfileCountNode", {"db_instance": second_db})["count"] == 2
        columns = run_sync(_columns(second_db, table))
        assert columns == {"id", "name", "bio", "score", "created_at", "updated_at"}
    finally:
        second_db.close()


async def _columns(db, table):
    async with db.connection() as conn:
        return await db.dialect.table_columns(conn, table)


def test_table_columns_of_a_missing_table(db):
    assert run_sync(_columns(db, unique_table("t_absent"))) is None
