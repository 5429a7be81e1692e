"""The spec's complete enterprise migration workflow, end to end on each database."""

from __future__ import annotations

import time

import pytest
from dataflow.migration import RiskLevel
from dataflow_risk.integrated_risk_assessment_system import IntegratedRiskAssessmentSystem
from dataflow_risk.operations import run_operation
from dataflow_risk.staging_environment_manager import StagingEnvironmentManager
from dataflow_risk.validation_checkpoints import ValidationCheckpointManager

pytestmark = pytest.mark.anyio


async def enterprise_migration_workflow(operation_type, table_name, migration_details, db, scope):
    """The spec's workflow, with the DataFlow instance as the connection manager."""
    from dataflow_locks.manager import MigrationLockManager

    risk_system = IntegratedRiskAssessmentSystem(db)
    assessment = await risk_system.perform_complete_assessment(
        operation_type=operation_type,
        table_name=table_name,
        operation_details=migration_details,
        include_performance_analysis=True,
        include_dependency_analysis=True,
        include_fk_analysis=True,
    )
    mitigation_plan = await risk_system.generate_comprehensive_mitigation_plan(
        assessment=assessment,
        business_requirements={
            "max_downtime_minutes": 5,
            "rollback_time_limit_minutes": 10,
            "data_consistency_critical": True,
            "performance_degradation_acceptable": 5,
        },
    )
    staging_manager = StagingEnvironmentManager(db)
    staging_env = await staging_manager.create_staging_environment(
        environment_name=f"migration_{int(time.time())}",
        data_sampling_strategy={"strategy": "representative", "sample_percentage": 5},
        tables=scope,
    )
    report = {"assessment": assessment, "mitigation": mitigation_plan, "staging_env": staging_env}
    try:
        staging_test = await staging_manager.test_migration_in_staging(
            staging_env,
            migration_plan={"operation": operation_type, "table": table_name, "details": migration_details},
            validation_checks=True,
            performance_monitoring=True,
        )
        report["staging_test"] = staging_test
        if not staging_test.success:
            return False, report
        lock_manager = MigrationLockManager(db)
        async with lock_manager.acquire_migration_lock(
            lock_scope="table_modification",
            timeout_seconds=600,
            operation_description=f"{operation_type} on {table_name}",
        ) as migration_lock:
            report["lock_id"] = migration_lock.lock_id
            validation_manager = ValidationCheckpointManager(db)
            validation_result = await validation_manager.execute_with_validation(
                migration_operation=lambda: run_operation(
                    db, validation_manager.catalog, operation_type, table_name, migration_details
                ),
                checkpoints=[
                    {"stage": "pre_migration", "validators": ["schema_integrity", "fk_consistency", "data_quality"]},
                    {"stage": "during_migration", "validators": ["transaction_health", "performance_monitoring"]},
                    {
                        "stage": "post_migration",
                        "validators": ["data_integrity", "performance_validation", "constraint_validation"],
                    },
                ],
                rollback_on_failure=True,
                scope=scope,
            )
            report["validation"] = validation_result
            return validation_result.all_checkpoints_passed, report
    finally:
        await staging_manager.cleanup_staging_environment(staging_env)


async def seed(env):
    users = await env.table(
        "name VARCHAR(40) NOT NULL, account_value INTEGER",
        [(f"u{i}", i * 1000) for i in range(60)],
        "name, account_value",
        prefix="users",
    )
    await env.table(
        f"user_id INTEGER REFERENCES {env.q(users)}(id), total INTEGER",
        [(i % 60 + 1, i) for i in range(120)],
        "user_id, total",
        prefix="orders",
    )
    return users


async def test_complete_workflow_add_not_null_column(env):
    users = await seed(env)
    ok, report = await enterprise_migration_workflow(
        "add_not_null_column",
        users,
        {"column_name": "account_status", "data_type": "VARCHAR(20)", "default_value": "active"},
        env.db,
        env.scope,
    )
    assert ok, report
    assert report["assessment"].overall_risk_level <= RiskLevel.MEDIUM
    assert report["mitigation"].meets_requirements
    staging = report["staging_test"]
    assert staging.success and staging.data_integrity_check["passed"]
    assert staging.data_integrity_check["orphan_rows"] == 0
    assert any("account_status" in c for c in staging.schema_changes)
    assert staging.performance_metrics["duration_ms"] >= 0
    assert sum(report["staging_env"].sampled_rows.values()) < 180  # a sample, not the whole data
    assert report["validation"].all_checkpoints_passed and len(report["validation"].checkpoint_results) == 8
    rows = await env.fetch(f"SELECT COUNT(*) FROM {env.q(users)} WHERE account_status = 'active'")
    assert rows[0][0] == 60
    # The staging copy is gone.
    if env.kind == "sqlite":
        import os

        assert not os.path.exists(report["staging_env"].path)
    else:
        schemas = await env.fetch(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
            [report["staging_env"].catalog.schema],
        )
        assert schemas[0][0] == 0


async def test_workflow_refuses_what_fails_in_staging(env):
    users = await seed(env)
    ok, report = await enterprise_migration_workflow(
        "add_not_null_column",
        users,
        {
            "column_name": "tier",
            "data_type": "VARCHAR(10)",
            "default_type": "computed",
            "default_expression": "CASE WHEN account_value > 30000 THEN 'premium' ELSE NULL END",
        },
        env.db,
        env.scope,
    )
    assert not ok
    assert "NULL" in report["staging_test"].failure_reason
    info = await env.catalog.table(users)
    assert info.column("tier") is None  # production untouched


async def test_validation_rolls_back_on_failed_checkpoint(env):
    users = await seed(env)
    manager = ValidationCheckpointManager(env.db)

    async def lose_rows():
        await env.sql(f"ALTER TABLE {env.q(users)} ADD COLUMN extra INTEGER")
        await env.sql(
            f"DELETE FROM {env.q(users)} WHERE id > 50 AND id NOT IN "
            f"(SELECT user_id FROM {env.q(users.replace('users', 'orders'))})"
            if False
            else f"UPDATE {env.q(users)} SET account_value = 0"
        )

    async def fails(ctx):
        return False, "forced failure"

    result = await manager.execute_with_validation(
        lose_rows,
        [
            {"stage": "pre_migration", "validators": ["data_quality"]},
            {"stage": "post_migration", "validators": [fails]},
        ],
        rollback_on_failure=True,
        scope=env.scope,
    )
    assert not result.all_checkpoints_passed and result.rollback_completed
    assert result.failed_checkpoint == "post_migration:fails"
    assert (await env.catalog.table(users)).column("extra") is None
