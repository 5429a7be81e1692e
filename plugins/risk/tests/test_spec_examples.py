"""Each spec-named class through the spec's own example (its "Enterprise Migration System" section), on
every database, with the DataFlow instance as the ``connection_manager``; and one verdict: every class
that reports a level for dropping a column reports the rules' level, from one evaluation."""

from __future__ import annotations

import pytest
from dataflow.types import RiskLevel
from dataflow_risk.column_removal_manager import BackupStrategy, ColumnRemovalManager
from dataflow_risk.foreign_key_analyzer import FKOperationType, ForeignKeyAnalyzer
from dataflow_risk.mitigation_strategy_engine import MitigationStrategyEngine
from dataflow_risk.not_null_handler import ColumnDefinition, DefaultValueType, NotNullColumnHandler
from dataflow_risk.risk_assessment_engine import RiskAssessmentEngine
from dataflow_risk.schema_state_manager import SchemaStateManager
from dataflow_risk.table_rename_analyzer import TableRenameAnalyzer

pytestmark = pytest.mark.anyio


async def users_and_departments(env) -> tuple[str, str]:
    departments = await env.table("name VARCHAR(40)", [("eng",), ("ops",)], "name", prefix="departments")
    users = await env.table(
        f"name VARCHAR(40), account_value INTEGER, deprecated_field VARCHAR(20), "
        f"department_id INTEGER REFERENCES {env.q(departments)}(id)",
        [(f"u{i}", i * 4000, "old", i % 2 + 1) for i in range(6)],
        "name, account_value, deprecated_field, department_id",
        prefix="users",
    )
    return users, departments


async def test_risk_assessment_engine_and_mitigation_strategy_engine(env):
    users, _ = await users_and_departments(env)
    connection_manager = env.db
    risk_engine = RiskAssessmentEngine(connection_manager)
    risk_assessment = await risk_engine.assess_operation_risk(
        operation_type="drop_column", table_name=users, column_name="deprecated_field",
        dependencies={"view": ["reports"]},
    )
    assert risk_assessment.overall_risk_level in (RiskLevel.HIGH, RiskLevel.CRITICAL)
    assert 0 <= risk_assessment.overall_score <= 100
    for category, risk in risk_assessment.category_risks.items():
        assert category.name and risk.risk_level.name and 0 <= risk.score <= 100
        for factor in risk.risk_factors:
            assert factor.description and factor.impact_score >= 0
    mitigation_engine = MitigationStrategyEngine(risk_engine)
    strategy_plan = await mitigation_engine.generate_mitigation_plan(
        risk_assessment=risk_assessment,
        operation_context={"table_size": 1000000, "production_environment": True, "maintenance_window": 30},
    )
    assert strategy_plan.recommended_strategies
    for strategy in strategy_plan.recommended_strategies:
        assert strategy.category.name and strategy.description and strategy.implementation_steps
        assert 0 < strategy.effectiveness_score <= 100
    assert 0 < strategy_plan.estimated_risk_reduction <= 90


async def test_foreign_key_analyzer(env):
    users, departments = await users_and_departments(env)
    fk_analyzer = ForeignKeyAnalyzer(env.db)
    fk_impact = await fk_analyzer.analyze_fk_impact(
        operation=FKOperationType.DROP_COLUMN, table_name=users, column_name="department_id",
        include_cascade_analysis=True,
    )
    assert len(fk_impact.affected_constraints) == 1 and fk_impact.cascade_operations == ()
    assert fk_impact.is_safe_to_proceed and fk_impact.impact_level == fk_impact.risk_assessment.overall_risk_level
    fk_safe_plan = await fk_analyzer.generate_fk_safe_migration_plan(fk_impact, preferred_strategy="minimal_downtime")
    result = await fk_analyzer.execute_fk_safe_migration(fk_safe_plan)
    assert result.success, result.error
    assert (await env.catalog.table(users)).column("department_id") is None
    blocked = await fk_analyzer.analyze_fk_impact(operation=FKOperationType.DROP_TABLE, table_name=departments)
    assert not blocked.is_safe_to_proceed and blocked.impact_level == RiskLevel.CRITICAL


async def test_table_rename_analyzer(env):
    users, _ = await users_and_departments(env)
    rename_analyzer = TableRenameAnalyzer(env.db)
    new = env.name("people")
    rename_impact = await rename_analyzer.analyze_rename_impact(current_name=users, new_name=new)
    assert len(rename_impact.total_dependencies) == 0 and rename_impact.can_rename_safely
    rename_plan = await rename_analyzer.create_rename_plan(rename_impact, include_dependency_updates=True,
                                                           backup_strategy="full_backup")
    env.tables += [new, rename_plan.backup_table]
    result = await rename_analyzer.execute_coordinated_rename(rename_plan)
    assert result.success, result.error
    assert await env.catalog.row_count(new) == 6


async def test_schema_state_manager(env):
    users, _ = await users_and_departments(env)
    schema_manager = SchemaStateManager(env.db)
    snapshot = await schema_manager.create_schema_snapshot(
        description="Before user table restructuring migration", include_data_checksums=True,
        include_performance_metrics=True, include_constraint_validation=True, scope=env.scope,
    )
    assert users in snapshot.table_definitions and snapshot.constraint_definitions
    change_tracker = await schema_manager.start_change_tracking(baseline_snapshot=snapshot,
                                                                track_performance_impact=True)
    await env.sql(f"ALTER TABLE {env.q(users)} ADD COLUMN nickname VARCHAR(20)")
    assert [c.change_type for c in await change_tracker.check()] == ["column_added"]
    evolution_report = await schema_manager.generate_evolution_report(
        from_snapshot=snapshot, to_current_state=True, include_impact_analysis=True, include_recommendations=True)
    assert [(c.change_type, c.impact_level) for c in evolution_report.schema_changes] == [
        ("column_added", RiskLevel.LOW)]
    rollback_result = await schema_manager.rollback_to_snapshot(snapshot)
    assert rollback_result.success, rollback_result.error
    assert (await env.catalog.table(users)).column("nickname") is None


async def test_not_null_column_handler(env):
    users, _ = await users_and_departments(env)
    handler = NotNullColumnHandler(env.db)
    computed_column = ColumnDefinition(
        name="user_tier", data_type="VARCHAR(10)",
        default_expression="CASE WHEN account_value > 10000 THEN 'premium' ELSE 'standard' END",
        default_type=DefaultValueType.COMPUTED,
    )
    plan = await handler.plan_not_null_addition(users, computed_column)
    assert plan.execution_strategy == "add_backfill_enforce" and plan.estimated_duration > 0
    assert plan.risk_assessment.risk_level <= RiskLevel.MEDIUM
    validation = await handler.validate_addition_safety(plan)
    assert validation.is_safe, validation.issues
    result = await handler.execute_not_null_addition(plan)
    assert result.success and result.affected_rows == 6


async def test_column_removal_manager(env):
    users, _ = await users_and_departments(env)
    removal_manager = ColumnRemovalManager(env.db)
    plan = await removal_manager.plan_column_removal(
        table=users, column="deprecated_field", backup_strategy=BackupStrategy.COLUMN_ONLY,
        dependency_resolution_strategy="automatic", include_impact_analysis=True,
    )
    assert plan.removal_stages[-2:] == ["drop_column", "validate"] and plan.estimated_duration > 0
    validation = await removal_manager.validate_removal_safety(plan)
    assert validation.is_safe
    plan.confirmation_required = True
    plan.backup_strategy = BackupStrategy.TABLE_SNAPSHOT
    result = await removal_manager.execute_safe_removal(plan)
    env.tables.append(result.backup_table)
    assert result.result.value == "success", result.error_message


async def test_one_verdict_for_dropping_a_referenced_column(env):
    _users, departments = await users_and_departments(env)
    engine = await RiskAssessmentEngine(env.db).assess_operation_risk("drop_column", departments, "id")
    fk = await ForeignKeyAnalyzer(env.db).analyze_fk_impact(FKOperationType.DROP_COLUMN, departments, "id")
    removal = await ColumnRemovalManager(env.db).plan_column_removal(departments, "id")
    assert engine.overall_risk_level == RiskLevel.CRITICAL
    assert fk.impact_level == removal.risk_level == engine.overall_risk_level
    assert fk.risk_assessment.overall_score == removal.risk_assessment.overall_score == engine.overall_score
    assert {d.impact_level.value for d in removal.dependencies if d.dependency_type.value == "foreign_key"} == {
        "critical"}
