"""``MitigationStrategyEngine``: what to do about an assessed risk (the spec's component 2).

Each rule that fired maps to concrete strategies (expand / contract, NOT VALID then VALIDATE,
CONCURRENTLY, backfill in batches, backups …); the operation context (table size, production,
maintenance window) adds backups, monitoring and online-change advice. The estimated risk reduction
combines the strategies' effectiveness against the risk they address.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs
from dataflow.migration import RiskLevel

from dataflow_risk.risk_assessment_engine import RiskAssessment, RiskAssessmentEngine
from dataflow_risk.rules import level_for_score

__all__ = ["MitigationCategory", "MitigationPlan", "MitigationStrategy", "MitigationStrategyEngine"]


class MitigationCategory(enum.Enum):
    LOCK_AVOIDANCE = "lock_avoidance"
    DATA_PREPARATION = "data_preparation"
    STAGED_ROLLOUT = "staged_rollout"
    BACKUP = "backup"
    MONITORING = "monitoring"
    ROLLBACK_PLANNING = "rollback_planning"


@attrs.frozen
class MitigationStrategy:
    category: MitigationCategory
    description: str
    effectiveness_score: int
    implementation_steps: tuple[str, ...]
    addresses: tuple[str, ...] = ()


@attrs.frozen
class MitigationPlan:
    recommended_strategies: tuple[MitigationStrategy, ...]
    estimated_risk_reduction: float
    original_score: int
    residual_score: int
    residual_risk_level: RiskLevel

    @property
    def strategies(self) -> tuple[MitigationStrategy, ...]:
        return self.recommended_strategies


def _s(category: MitigationCategory, description: str, effectiveness: int, *steps: str) -> MitigationStrategy:
    return MitigationStrategy(category, description, effectiveness, steps)


C = MitigationCategory
_BY_RULE: dict[str, list[MitigationStrategy]] = {
    "adding-required-field": [
        _s(
            C.STAGED_ROLLOUT,
            "Add the column nullable, backfill, then enforce NOT NULL",
            90,
            "ALTER TABLE … ADD COLUMN … NULL (or with a constant DEFAULT)",
            "Backfill existing rows in batches",
            "Deploy writers that always set it",
            "Enforce NOT NULL (CHECK … NOT VALID + VALIDATE on PostgreSQL)",
        )
    ],
    "adding-field-with-volatile-default": [
        _s(
            C.LOCK_AVOIDANCE,
            "Add without the volatile default, then backfill",
            85,
            "ADD COLUMN without DEFAULT",
            "ALTER COLUMN … SET DEFAULT …",
            "UPDATE existing rows in batches of a few thousand",
        )
    ],
    "adding-field-with-default-rewrites": [
        _s(
            C.LOCK_AVOIDANCE,
            "Avoid the rewrite on this server version",
            80,
            "ADD COLUMN nullable without DEFAULT",
            "SET DEFAULT separately",
            "Backfill in batches",
        )
    ],
    "setting-not-null": [
        _s(
            C.LOCK_AVOIDANCE,
            "Validate NOT NULL without a long exclusive lock",
            80,
            "Backfill NULLs in batches",
            "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID",
            "VALIDATE CONSTRAINT c",
            "SET NOT NULL (PostgreSQL 12+ uses the check, no scan)",
            "DROP CONSTRAINT c",
        )
    ],
    "dropping-not-null": [
        _s(
            C.STAGED_ROLLOUT,
            "Make readers NULL-safe before relaxing the column",
            60,
            "Audit readers for NULL handling",
            "Deploy them",
            "DROP NOT NULL",
        )
    ],
    "changing-column-type": [
        _s(
            C.STAGED_ROLLOUT,
            "Expand / contract instead of an in-place type change",
            85,
            "Add a new column of the new type",
            "Dual-write both columns",
            "Backfill in batches",
            "Switch readers",
            "Drop the old column later",
        )
    ],
    "dropping-column": [
        _s(
            C.BACKUP,
            "Back the column up before dropping it",
            70,
            "CREATE TABLE backup AS SELECT id, col FROM t",
            "Keep it until the release is proven",
        ),
        _s(
            C.STAGED_ROLLOUT,
            "Stop using the column before dropping it",
            75,
            "Remove it from the model (ignored columns)",
            "Deploy",
            "Drop it in a later release",
        ),
    ],
    "dropping-table": [
        _s(
            C.BACKUP,
            "Keep a full copy of the table",
            80,
            "Rename it aside or copy it",
            "Drop the copy after the retention period",
        )
    ],
    "renaming": [
        _s(
            C.STAGED_ROLLOUT,
            "Expand / contract rename",
            85,
            "Add the new name (column copy or view)",
            "Dual-write",
            "Move readers",
            "Drop the old name",
        )
    ],
    "require-concurrent-index-creation": [
        _s(
            C.LOCK_AVOIDANCE,
            "Build the index concurrently",
            90,
            "CREATE INDEX CONCURRENTLY … (outside a transaction)",
            "Check pg_index.indisvalid afterwards",
        )
    ],
    "require-concurrent-index-deletion": [
        _s(C.LOCK_AVOIDANCE, "Drop the index concurrently", 85, "DROP INDEX CONCURRENTLY …")
    ],
    "unique-on-duplicate-values": [
        _s(
            C.DATA_PREPARATION,
            "Resolve the duplicates first",
            95,
            "SELECT cols, COUNT(*) … GROUP BY cols HAVING COUNT(*) > 1",
            "Merge or delete duplicates",
            "Then add the constraint",
        )
    ],
    "disallowed-unique-constraint": [
        _s(
            C.LOCK_AVOIDANCE,
            "Build the unique index first, then attach it",
            85,
            "CREATE UNIQUE INDEX CONCURRENTLY ix …",
            "ALTER TABLE … ADD CONSTRAINT … UNIQUE USING INDEX ix",
        )
    ],
    "constraint-missing-not-valid": [
        _s(
            C.LOCK_AVOIDANCE,
            "Add the constraint NOT VALID, validate separately",
            85,
            "ADD CONSTRAINT … NOT VALID",
            "Fix violating rows",
            "VALIDATE CONSTRAINT … in its own transaction",
        )
    ],
    "dropping-constraint": [
        _s(
            C.ROLLBACK_PLANNING,
            "Keep the constraint's definition to restore it",
            50,
            "Record the definition (schema snapshot)",
            "Enforce the rule in code meanwhile",
        )
    ],
    "changing-default": [
        _s(
            C.STAGED_ROLLOUT,
            "Set the value explicitly in writers first",
            60,
            "Deploy writers that set the value",
            "Change the default",
        )
    ],
}


class MitigationStrategyEngine:
    """Mitigation plans for risk assessments.

    :param risk_engine: the ``RiskAssessmentEngine`` whose assessments this engine mitigates.
    """

    def __init__(self, risk_engine: RiskAssessmentEngine | None = None) -> None:
        self.risk_engine = risk_engine

    async def generate_mitigation_plan(
        self, risk_assessment: RiskAssessment, operation_context: Mapping[str, Any] | None = None
    ) -> MitigationPlan:
        context = dict(operation_context or {})
        chosen: dict[str, MitigationStrategy] = {}
        weights: dict[str, float] = {}
        for finding in risk_assessment.findings:
            for strategy in _BY_RULE.get(finding.rule, []):
                key = strategy.description
                merged = (
                    attrs.evolve(strategy, addresses=(*chosen[key].addresses, finding.rule))
                    if key in chosen
                    else attrs.evolve(strategy, addresses=(finding.rule,))
                )
                chosen[key] = merged
                weights[key] = max(weights.get(key, 0.0), finding.score / 100)
        level = risk_assessment.overall_risk_level
        size = int(context.get("table_size") or risk_assessment.facts.get("row_count") or 0)
        production = bool(context.get("production_environment"))
        window = context.get("maintenance_window")
        if level >= RiskLevel.MEDIUM and (production or level >= RiskLevel.HIGH):
            chosen["snapshot"] = _s(
                C.ROLLBACK_PLANNING,
                "Take a schema snapshot to roll back to",
                60,
                "SchemaStateManager.create_schema_snapshot()",
                "Rehearse rollback_to_snapshot",
            )
            weights["snapshot"] = 0.3
        if production and level >= RiskLevel.MEDIUM:
            chosen["staging"] = _s(
                C.STAGED_ROLLOUT,
                "Rehearse the migration on a staging copy first",
                70,
                "StagingEnvironmentManager.create_staging_environment()",
                "test_migration_in_staging()",
                "cleanup_staging_environment()",
            )
            chosen["monitor"] = _s(
                C.MONITORING,
                "Watch locks and latency while it runs",
                40,
                "Set lock_timeout / statement_timeout",
                "Watch pg_locks / processlist",
                "Abort if latency degrades",
            )
            weights["staging"], weights["monitor"] = 0.4, 0.2
        if size >= 1_000_000 or (window is not None and float(window) < 60 and size >= 100_000):
            chosen["online"] = _s(
                C.LOCK_AVOIDANCE,
                "Use an online schema change and batched backfills",
                75,
                "gh-ost / pt-online-schema-change on MySQL, CONCURRENTLY on PostgreSQL",
                "Batches of 1,000-10,000 rows with pauses",
            )
            weights["online"] = 0.5
        strategies = sorted(chosen.values(), key=lambda s: -s.effectiveness_score)
        remaining = 1.0
        for key, strategy in chosen.items():
            remaining *= 1 - (strategy.effectiveness_score / 100) * weights.get(key, 0.5)
        reduction = round(min(90.0, (1 - remaining) * 100), 1) if risk_assessment.overall_score else 0.0
        residual = round(risk_assessment.overall_score * (1 - reduction / 100))
        return MitigationPlan(
            tuple(strategies), reduction, risk_assessment.overall_score, residual, level_for_score(residual)
        )
