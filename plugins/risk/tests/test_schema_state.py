"""SchemaStateManager on real databases: snapshots, evolution reports, and exact rollback."""

from __future__ import annotations

import pytest
from dataflow_risk.schema_state_manager import SchemaStateManager

pytestmark = pytest.mark.anyio


def mine(snapshot, env):
    """The structure of a snapshot limited to this test's scope."""
    assert snapshot.scope == env.scope
    return snapshot.structure()


async def populated(env):
    parent = await env.table(
        "name VARCHAR(40) NOT NULL, score INTEGER DEFAULT 0",
        [(f"p{i}", i) for i in range(20)],
        "name, score",
        prefix="p",
    )
    child = await env.table(
        f"parent_id INTEGER REFERENCES {env.q(parent)}(id), note VARCHAR(20)",
        [(i % 20 + 1, f"n{i}") for i in range(30)],
        "parent_id, note",
        prefix="c",
    )
    await env.sql(f"CREATE INDEX {env.q('ix_' + parent)} ON {env.q(parent)} (score)")
    view = await env.view(f"SELECT name, score FROM {env.q(parent)}")
    return parent, child, view


async def test_snapshot_captures_tables_constraints_indexes_views(env):
    parent, child, view = await populated(env)
    manager = SchemaStateManager(env.db)
    snap = await manager.create_schema_snapshot(
        "baseline",
        include_data_checksums=True,
        include_performance_metrics=True,
        include_constraint_validation=True,
        scope=env.scope,
    )
    assert parent in snap.table_definitions and child in snap.table_definitions
    assert any(fk.ref_table == parent for fk in snap.tables[child].foreign_keys)
    assert any(i.name == "ix_" + parent for i in snap.index_definitions)
    assert view in {v.name for v in snap.views}
    assert snap.row_counts[parent] == 20 and snap.data_checksums[child]
    assert set(snap.constraint_violations.values()) == {0}


async def test_evolution_report_lists_changes(env):
    parent, _child, _view = await populated(env)
    manager = SchemaStateManager(env.db)
    snap = await manager.create_schema_snapshot("before", scope=env.scope)
    await env.sql(f"ALTER TABLE {env.q(parent)} ADD COLUMN extra VARCHAR(10)")
    report = await manager.generate_evolution_report(from_snapshot=snap, to_current_state=True)
    kinds = {(c.change_type, c.affected_objects) for c in report.schema_changes}
    assert ("column_added", (f"{parent}.extra",)) in kinds


async def test_rollback_restores_schema_exactly(env):
    parent, child, view = await populated(env)
    manager = SchemaStateManager(env.db)
    before = await manager.create_schema_snapshot("before", scope=env.scope)
    extra = await env.table("x INTEGER", prefix="x")
    q = env.q
    await env.sql(f"DROP VIEW {q(view)}")
    await env.sql(f"ALTER TABLE {q(parent)} ADD COLUMN added VARCHAR(10)")
    await env.sql(f"CREATE INDEX {q('ix2_' + parent)} ON {q(parent)} (name)")
    await env.sql(f"DROP INDEX {q('ix_' + parent)}" + (f" ON {q(parent)}" if env.kind == "mysql" else ""))
    if env.kind == "postgresql":
        await env.sql(
            f"ALTER TABLE {q(child)} ALTER COLUMN note TYPE VARCHAR(200)",
            f"ALTER TABLE {q(parent)} ALTER COLUMN score SET NOT NULL",
        )
    elif env.kind == "mysql":
        await env.sql(f"ALTER TABLE {q(child)} MODIFY COLUMN note VARCHAR(200)")
    await env.sql(f"ALTER TABLE {q(child)} RENAME COLUMN note TO remark")
    changed = await manager.create_schema_snapshot("changed", scope=env.scope)
    assert mine(changed, env) != mine(before, env)

    result = await manager.rollback_to_snapshot(before)
    assert result.success, (result.error, result.statements)
    after = await manager.create_schema_snapshot("after", scope=env.scope)
    env.tables.remove(extra)
    assert extra not in after.tables
    assert mine(after, env) == mine(before, env)
    # The data survived the rebuilds: rows kept, the renamed column's values are back under the old name.
    rows = await env.fetch(f"SELECT COUNT(*), MIN(note) FROM {q(child)}")
    assert rows[0][0] == 30 and rows[0][1] == "n0"
