"""The database contract proves itself: a dialect registered from here, under a name no plugin knows,
gets migrations, risk assessment and migration locks with no change anywhere else.

``memlite`` is an in-memory SQLite dialect: the SQLite plugin's dialect under another name and another
URL scheme. Nothing in migrate, risk or locks may decide by dialect name, so everything below must
work exactly as it does on ``sqlite://`` (the same idea as SQLAlchemy's requirements: capabilities,
never names).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import pytest
from dataflow import DataFlow
from dataflow.hookspecs import hookimpl
from dataflow.loop import run_sync
from dataflow.models import FieldSpec
from dataflow.testing.helpers import run_nodes
from dataflow.types import DialectInfo, MigrationStep, RiskLevel
from dataflow_sqlite.dialect import SQLiteDialect


class MemLiteDialect(SQLiteDialect):
    """SQLite in memory, as a third party would ship it: its own name, its own scheme."""

    name = "memlite"


class MemLitePlugin:
    @hookimpl
    def dataflow_dialects(self) -> Iterable[DialectInfo]:
        return [DialectInfo("memlite", ("memlite",), MemLiteDialect, package="dataflow-memlite")]


@pytest.fixture
def db() -> Iterator[DataFlow]:
    instance = DataFlow("memlite:///:memory:", plugins=[MemLitePlugin()])
    try:
        yield instance
    finally:
        instance.close()


def test_the_dialect_is_the_test_ones(db: DataFlow) -> None:
    assert db.dialect.name == "memlite" and type(db.dialect) is MemLiteDialect


def test_migrations_run_through_it(db: DataFlow) -> None:
    @db.model
    class MemGizmo:
        name: str
        size: int = 1

    out = run_nodes(("MemGizmoCreateNode", "c", {"name": "a", "db_instance": db}))
    assert out["c"]["size"] == 1
    history = db.migration_history()
    assert [s["kind"] for r in history for s in r["steps"]] == ["create_table"]
    assert history[0]["dialect"] == "memlite"

    # The model grows a field: planned, applied and read back through the dialect's contract.
    spec = db.models["MemGizmo"]
    wider = attrs.evolve(spec, name="MemGizmo2", fields=(*spec.fields, FieldSpec("colour", "str", str, nullable=True)))
    db.register_model(wider)
    plan = db.migrate_plan(["MemGizmo2"])
    assert [s.kind for s in plan.steps] == ["add_column"]
    assert db.migrate_apply(plan, models=["MemGizmo2"])["status"] == "applied"
    assert "colour" in db.introspect_schema([spec.table])[spec.table].column_map


def test_risk_is_assessed_through_it(db: DataFlow) -> None:
    from dataflow_risk.risk_assessment_engine import RiskAssessmentEngine

    @db.model
    class MemWidget:
        label: str

    run_nodes(("MemWidgetBulkCreateNode", "b", {"data": [{"label": "x"}, {"label": "y"}], "db_instance": db}))
    table = db.models["MemWidget"].table
    risk = run_sync(RiskAssessmentEngine(db).assess_operation_risk("drop_column", table, "label"))
    assert risk.overall_risk_level == RiskLevel.HIGH and "2 rows" in risk.findings[0].reason
    assert risk.facts["dialect"] == "memlite"
    rebuild = run_sync(RiskAssessmentEngine(db).assess_step(
        MigrationStep("alter_type", table, "label", details={"to": "INTEGER"})))
    assert "rebuilds the table" in rebuild.findings[0].reason  # the dialect's own cost, by capability


def test_locks_are_held_through_it(db: DataFlow) -> None:
    from dataflow_locks import MigrationLockManager

    manager = MigrationLockManager(db)

    async def hold() -> list[Any]:
        async with manager.acquire_migration_lock(lock_scope="contract", timeout_seconds=5,
                                                  operation_description="proving the contract"):
            assert await db.dialect.lock_is_held("migration:contract")
            return await manager.get_active_locks()

    held = run_sync(hold())
    assert [lock.operation_description for lock in held] == ["proving the contract"]
    assert run_sync(manager.get_active_locks()) == []
