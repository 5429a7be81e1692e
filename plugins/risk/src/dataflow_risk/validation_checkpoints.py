"""``ValidationCheckpointManager``: run a migration between pre / during / post checks (component 7).

Before the migration a schema snapshot is taken; the pre-migration validators run; the migration
runs while the "during" validators probe the connection; the post-migration validators compare the
result with the baseline. A required checkpoint that fails stops the run and, with
``rollback_on_failure``, the schema is rolled back to the snapshot.

Validators are named (``schema_integrity``, ``foreign_key_consistency`` / ``fk_consistency``,
``data_quality``, ``performance_baseline``, ``transaction_health``, ``performance_monitoring``,
``connection_stability``, ``schema_validation``, ``data_integrity``, ``constraint_validation``,
``performance_regression_check`` / ``performance_validation``) or callables ``async f(ctx) -> (ok, detail)``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.errors import did_you_mean

from dataflow_risk.catalog import Catalog, catalog_for
from dataflow_risk.schema_state_manager import SchemaSnapshot, SchemaStateManager

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["CheckpointResult", "ValidationCheckpointManager", "ValidationContext", "ValidationRunResult"]


@attrs.define
class ValidationContext:
    """What validators see: the database, the baseline, timings and the migration's outcome."""

    db: Any
    catalog: Catalog
    baseline: SchemaSnapshot | None = None
    baseline_counts: dict[str, int] = attrs.Factory(dict)
    baseline_probe: float = 0.0
    migration_seconds: float = 0.0
    migration_result: Any = None
    scope: Any = None


@attrs.frozen
class CheckpointResult:
    stage: str
    validator: str
    passed: bool
    detail: str = ""
    duration: float = 0.0


@attrs.frozen
class ValidationRunResult:
    all_checkpoints_passed: bool
    checkpoint_results: tuple[CheckpointResult, ...]
    failed_checkpoint: str | None = None
    failure_reason: str | None = None
    rollback_completed: bool = False
    migration_result: Any = None

    @property
    def failure_details(self) -> str | None:
        return f"{self.failed_checkpoint}: {self.failure_reason}" if self.failed_checkpoint else None


Validator = Callable[[ValidationContext], Awaitable[tuple[bool, str]]]


async def _probe(ctx: ValidationContext) -> float:
    started = time.perf_counter()
    await ctx.catalog.fetch("SELECT 1")
    return time.perf_counter() - started


async def _schema_integrity(ctx: ValidationContext) -> tuple[bool, str]:
    """The database's own consistency check (the dialect's ``integrity_check``)."""
    dialect = ctx.catalog.dialect
    async with dialect.connection() as conn:
        ok, detail = await dialect.integrity_check(conn)
    return bool(ok), str(detail)


async def _fk_consistency(ctx: ValidationContext) -> tuple[bool, str]:
    orphans = 0
    snapshot = await SchemaStateManager(ctx.db, ctx.catalog).create_schema_snapshot(scope=ctx.scope)
    for name, info in snapshot.tables.items():
        for fk in info.foreign_keys:
            if fk.ref_table in snapshot.tables:
                orphans += await ctx.catalog.orphan_count(name, fk.columns, fk.ref_table, fk.ref_columns)
    return orphans == 0, f"{orphans} rows reference missing parents"


async def _data_quality(ctx: ValidationContext) -> tuple[bool, str]:
    names = list(ctx.baseline.tables) if ctx.baseline else await ctx.catalog.tables()
    ctx.baseline_counts = {n: await ctx.catalog.row_count(n) for n in names}
    return True, f"row counts of {len(names)} tables recorded"


async def _performance_baseline(ctx: ValidationContext) -> tuple[bool, str]:
    ctx.baseline_probe = await _probe(ctx)
    return True, f"probe {ctx.baseline_probe * 1000:.1f} ms"


async def _connection(ctx: ValidationContext) -> tuple[bool, str]:
    return True, f"connection answers in {await _probe(ctx) * 1000:.1f} ms"


async def _performance_monitoring(ctx: ValidationContext) -> tuple[bool, str]:
    return True, f"migration took {ctx.migration_seconds * 1000:.1f} ms"


async def _schema_validation(ctx: ValidationContext) -> tuple[bool, str]:
    current = await SchemaStateManager(ctx.db, ctx.catalog).create_schema_snapshot(scope=ctx.scope)
    if ctx.baseline is None:
        return True, f"{len(current.tables)} tables"
    lost = sorted(set(ctx.baseline.tables) - set(current.tables))
    return not lost, f"tables lost: {', '.join(lost)}" if lost else "every baseline table is present"


async def _data_integrity(ctx: ValidationContext) -> tuple[bool, str]:
    shrunk = []
    for name, before in ctx.baseline_counts.items():
        if await ctx.catalog.table_exists(name):
            after = await ctx.catalog.row_count(name)
            if after < before:
                shrunk.append(f"{name} {before}→{after}")
    ok, detail = await _fk_consistency(ctx)
    if shrunk:
        return False, "rows lost: " + ", ".join(shrunk)
    return ok, detail


async def _constraint_validation(ctx: ValidationContext) -> tuple[bool, str]:
    return await _fk_consistency(ctx)


async def _performance_regression(ctx: ValidationContext) -> tuple[bool, str]:
    now = await _probe(ctx)
    limit = max(ctx.baseline_probe * 10, 0.05)
    return now <= limit, f"probe {now * 1000:.1f} ms (limit {limit * 1000:.1f} ms)"


VALIDATORS: dict[str, Validator] = {
    "schema_integrity": _schema_integrity,
    "foreign_key_consistency": _fk_consistency,
    "fk_consistency": _fk_consistency,
    "data_quality": _data_quality,
    "performance_baseline": _performance_baseline,
    "transaction_health": _connection,
    "connection_stability": _connection,
    "performance_monitoring": _performance_monitoring,
    "schema_validation": _schema_validation,
    "data_integrity": _data_integrity,
    "constraint_validation": _constraint_validation,
    "performance_regression_check": _performance_regression,
    "performance_validation": _performance_regression,
}

_STAGES = ("pre_migration", "during_migration", "post_migration")


async def call_operation(operation: Any) -> Any:
    """Run a migration operation given as a coroutine, a coroutine function or a callable."""
    result = operation() if callable(operation) else operation
    while inspect.isawaitable(result):
        result = await result
    return result


class ValidationCheckpointManager:
    """Runs migrations between validation checkpoints, rolling back on failure.

    :param db: the DataFlow instance (the spec's ``connection_manager``).
    """

    def __init__(self, db: DataFlow, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or catalog_for(db)

    def _validator(self, name: Any) -> tuple[str, Validator]:
        if callable(name):
            return getattr(name, "__name__", "custom"), name
        try:
            return name, VALIDATORS[name]
        except KeyError:
            raise self.db.error(
                "DF-102",
                f"Unknown validator {name!r}.{did_you_mean(name, VALIDATORS)}",
                validator=name,
                solutions=[f"Known: {', '.join(sorted(VALIDATORS))}."],
            ) from None

    async def execute_with_validation(
        self,
        migration_operation: Any,
        checkpoints: Sequence[Mapping[str, Any]] = (),
        *,
        rollback_on_failure: bool = True,
        detailed_reporting: bool = False,
        scope: Any = None,
    ) -> ValidationRunResult:
        """Run ``migration_operation`` between the checkpoints; ``scope`` limits snapshots (prefix / names)."""
        by_stage: dict[str, list[tuple[str, Validator, bool]]] = {s: [] for s in _STAGES}
        for checkpoint in checkpoints:
            stage = checkpoint.get("stage")
            if stage not in by_stage:
                raise self.db.error(
                    "DF-102", f"Unknown checkpoint stage {stage!r}; use one of {', '.join(_STAGES)}.", stage=stage
                )
            for validator in checkpoint.get("validators", ()):
                name, fn = self._validator(validator)
                by_stage[stage].append((name, fn, bool(checkpoint.get("required", True))))
        states = SchemaStateManager(self.db, self.catalog)
        ctx = ValidationContext(self.db, self.catalog, scope=scope)
        ctx.baseline = await states.create_schema_snapshot("before validated migration", scope=scope)
        results: list[CheckpointResult] = []

        async def run_stage(stage: str) -> CheckpointResult | None:
            for name, fn, required in by_stage[stage]:
                started = time.perf_counter()
                try:
                    ok, detail = await fn(ctx)
                except Exception as exc:
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
                result = CheckpointResult(stage, name, ok, detail, time.perf_counter() - started)
                results.append(result)
                if not ok and required:
                    return result
            return None

        async def fail(result: CheckpointResult) -> ValidationRunResult:
            rolled = False
            if rollback_on_failure and result.stage != "pre_migration" and ctx.baseline is not None:
                rolled = (await states.rollback_to_snapshot(ctx.baseline)).success
            return ValidationRunResult(
                False, tuple(results), f"{result.stage}:{result.validator}", result.detail, rolled, ctx.migration_result
            )

        failed = await run_stage("pre_migration")
        if failed:
            return await fail(failed)
        started = time.perf_counter()
        try:
            ctx.migration_result = await call_operation(migration_operation)
        except Exception as exc:
            ctx.migration_seconds = time.perf_counter() - started
            return await fail(
                CheckpointResult("during_migration", "migration_operation", False, f"{type(exc).__name__}: {exc}")
            )
        ctx.migration_seconds = time.perf_counter() - started
        if getattr(ctx.migration_result, "success", True) is False or ctx.migration_result is False:
            reason = getattr(ctx.migration_result, "error", None) or "the migration reported failure"
            return await fail(CheckpointResult("during_migration", "migration_operation", False, str(reason)))
        for stage in ("during_migration", "post_migration"):
            failed = await run_stage(stage)
            if failed:
                return await fail(failed)
        return ValidationRunResult(True, tuple(results), migration_result=ctx.migration_result)
