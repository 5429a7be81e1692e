"""The enterprise components on real databases: mitigation, FK analysis, renames, NOT NULL, column removal."""

from __future__ import annotations

import pytest
from dataflow.migration import RiskLevel
from dataflow_risk.column_removal_manager import BackupStrategy, ColumnRemovalManager, RemovalResult
from dataflow_risk.foreign_key_analyzer import FKOperationType, ForeignKeyAnalyzer
from dataflow_risk.mitigation_strategy_engine import MitigationStrategyEngine
from dataflow_risk.not_null_handler import ColumnDefinition, DefaultValueType, NotNullColumnHandler
from dataflow_risk.risk_assessment_engine import RiskAssessmentEngine, RiskCategory
from dataflow_risk.table_rename_analyzer import TableRenameAnalyzer

pytestmark = pytest.mark.anyio


async def family(env):
    parent = await env.table(
        "name VARCHAR(40), account_value INTEGER",
        [(f"p{i}", i * 5000) for i in range(10)],
        "name, account_value",
        prefix="p",
    )
    child = await env.table(
        f"parent_id INTEGER REFERENCES {env.q(parent)}(id), note VARCHAR(20)",
        [(i % 10 + 1, f"n{i}") for i in range(20)],
        "parent_id, note",
        prefix="c",
    )
    return parent, child


async def test_engine_and_mitigation(env):
    parent, _child = await family(env)
    engine = RiskAssessmentEngine(env.db)
    risk = await engine.assess_operation_risk(
        operation_type="drop_column", table_name=parent, column_name="name", dependencies={"view": ["reports"]}
    )
    assert risk.overall_risk_level == RiskLevel.HIGH and risk.overall_score == 70
    assert set(risk.category_risks) == set(RiskCategory)
    assert risk.category_risks[RiskCategory.DATA_LOSS].risk_factors[0].impact_score == 70
    assert any(
        "reports" in f.description for f in risk.category_risks[RiskCategory.BACKWARD_COMPATIBILITY].risk_factors
    )
    plan = await MitigationStrategyEngine(engine).generate_mitigation_plan(
        risk_assessment=risk,
        operation_context={"table_size": 1_000_000, "production_environment": True, "maintenance_window": 30},
    )
    categories = {s.category.name for s in plan.recommended_strategies}
    assert {"BACKUP", "STAGED_ROLLOUT", "LOCK_AVOIDANCE", "MONITORING"} <= categories
    assert 0 < plan.estimated_risk_reduction <= 90 and plan.residual_score < risk.overall_score
    assert all(s.implementation_steps for s in plan.recommended_strategies)


async def test_fk_analyzer(env):
    parent, child = await family(env)
    analyzer = ForeignKeyAnalyzer(env.db)
    impact = await analyzer.analyze_fk_impact(
        operation=FKOperationType.DROP_TABLE, table_name=parent, include_cascade_analysis=True
    )
    assert impact.impact_level == RiskLevel.CRITICAL and not impact.is_safe_to_proceed
    assert [fk.table for fk in impact.affected_constraints] == [child]
    if env.kind == "sqlite":
        return
    rename = await analyzer.analyze_fk_impact(
        operation=FKOperationType.RENAME_COLUMN, table_name=child, column_name="parent_id", new_name="owner_id"
    )
    assert rename.is_safe_to_proceed and len(rename.affected_constraints) == 1
    plan = await analyzer.generate_fk_safe_migration_plan(rename, preferred_strategy="minimal_downtime")
    result = await analyzer.execute_fk_safe_migration(plan)
    assert result.success, result.error
    info = await env.catalog.table(child)
    assert info.column("owner_id") and info.foreign_keys[0].columns == ("owner_id",)


async def test_table_rename(env):
    parent, _child = await family(env)
    view = await env.view(f"SELECT name FROM {env.q(parent)}")
    analyzer = TableRenameAnalyzer(env.db)
    new = env.name("renamed")
    impact = await analyzer.analyze_rename_impact(current_name=parent, new_name=new)
    assert [v.name for v in impact.view_dependencies] == [view] and len(impact.fk_dependencies) == 1
    assert impact.can_rename_safely and len(impact.total_dependencies) == 2
    plan = await analyzer.create_rename_plan(impact, include_dependency_updates=True, backup_strategy="full_backup")
    env.tables += [new, plan.backup_table]
    result = await analyzer.execute_coordinated_rename(plan)
    assert result.success, result.error
    rows = await env.fetch(f"SELECT COUNT(*) FROM {env.q(view)}")
    assert rows[0][0] == 10
    assert await env.catalog.row_count(plan.backup_table) == 10


@pytest.mark.parametrize("kind", ["static", "computed", "function"])
async def test_not_null_handler(env, kind):
    parent, _child = await family(env)
    column = {
        "static": ColumnDefinition(
            "status", "VARCHAR(20)", default_value="active", default_type=DefaultValueType.STATIC
        ),
        "computed": ColumnDefinition(
            "user_tier",
            "VARCHAR(10)",
            default_type=DefaultValueType.COMPUTED,
            default_expression="CASE WHEN account_value > 10000 THEN 'premium' ELSE 'standard' END",
        ),
        "function": ColumnDefinition(
            "stamped_at", "TIMESTAMP", default_type=DefaultValueType.FUNCTION, default_expression="CURRENT_TIMESTAMP"
        ),
    }[kind]
    handler = NotNullColumnHandler(env.db)
    plan = await handler.plan_not_null_addition(parent, column)
    assert plan.risk_assessment.risk_level <= RiskLevel.MEDIUM and plan.estimated_duration > 0
    validation = await handler.validate_addition_safety(plan)
    assert validation.is_safe, validation.issues
    result = await handler.execute_not_null_addition(plan)
    assert result.success, result.error
    assert result.affected_rows == 10
    info = await env.catalog.table(parent)
    assert info.column(column.name) is not None and not info.column(column.name).nullable
    nulls = await env.fetch(f"SELECT COUNT(*) FROM {env.q(parent)} WHERE {env.q(column.name)} IS NULL")
    assert nulls[0][0] == 0
    if kind == "computed":
        premium = await env.fetch(f"SELECT COUNT(*) FROM {env.q(parent)} WHERE user_tier = 'premium'")
        assert premium[0][0] == 7


async def test_not_null_handler_rejects_null_producing_expression(env):
    parent, _child = await family(env)
    handler = NotNullColumnHandler(env.db)
    plan = await handler.plan_not_null_addition(
        parent,
        ColumnDefinition(
            "tier",
            "VARCHAR(10)",
            default_type=DefaultValueType.COMPUTED,
            default_expression="CASE WHEN account_value > 10000 THEN 'premium' END",
        ),
    )
    validation = await handler.validate_addition_safety(plan)
    assert not validation.is_safe and "NULL for 3 existing rows" in validation.issues[0]


async def test_column_removal(env):
    parent, _child = await family(env)
    await env.sql(f"CREATE INDEX {env.q('ix_' + parent)} ON {env.q(parent)} (name, account_value)")
    view = await env.view(f"SELECT name FROM {env.q(parent)}")
    manager = ColumnRemovalManager(env.db)
    plan = await manager.plan_column_removal(
        table=parent,
        column="name",
        backup_strategy=BackupStrategy.COLUMN_ONLY,
        dependency_resolution_strategy="automatic",
    )
    kinds = {d.dependency_type.value for d in plan.dependencies}
    assert {"index", "view"} <= kinds and plan.removal_stages[-2:] == ["drop_column", "validate"]
    validation = await manager.validate_removal_safety(plan)
    assert validation.is_safe
    result = await manager.execute_safe_removal(plan)
    env.tables.append(result.backup_table)
    assert result.result == RemovalResult.SUCCESS, result.error_message
    assert (await env.catalog.table(parent)).column("name") is None
    assert view not in {v.name for v in await env.catalog.views()}
    assert await env.catalog.row_count(result.backup_table) == 10
    # A column that other tables' foreign keys use is blocked.
    blocked = await manager.plan_column_removal(table=parent, column="id")
    assert not (await manager.validate_removal_safety(blocked)).is_safe
