"""``IntegratedRiskAssessmentSystem``: the complete assessment the enterprise workflow starts with.

It combines the rule-based ``RiskAssessmentEngine``, the ``ForeignKeyAnalyzer`` (foreign keys and
cascades) and a performance estimate (rows, expected duration), and turns business requirements
(maximum downtime, rollback time) into a mitigation plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.migration import RiskLevel

from dataflow_risk.catalog import Catalog, catalog_for
from dataflow_risk.foreign_key_analyzer import FKImpact, ForeignKeyAnalyzer, fk_operation_for
from dataflow_risk.mitigation_strategy_engine import MitigationPlan, MitigationStrategy, MitigationStrategyEngine
from dataflow_risk.risk_assessment_engine import RiskAssessment, RiskAssessmentEngine
from dataflow_risk.rules import level_for_score

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["ComprehensiveAssessment", "ComprehensiveMitigationPlan", "IntegratedRiskAssessmentSystem"]

_SECONDS_PER_ROW = {"rewrite": 2e-5, "scan": 2e-6, "instant": 0.0}


@attrs.frozen
class ComprehensiveAssessment:
    operation_type: str
    table_name: str
    overall_risk_level: RiskLevel
    risk_score: int
    risk_assessment: RiskAssessment
    fk_impact: FKImpact | None = None
    performance: Mapping[str, Any] = attrs.field(factory=dict)
    dependencies: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ComprehensiveMitigationPlan:
    strategies: tuple[MitigationStrategy, ...]
    estimated_risk_reduction: float
    meets_requirements: bool
    requirement_notes: tuple[str, ...]
    mitigation_plan: MitigationPlan


class IntegratedRiskAssessmentSystem:
    """Risk, dependencies, foreign keys and performance of one operation, in one assessment.

    :param db: the DataFlow instance (the spec's ``connection_manager``).
    """

    def __init__(self, db: DataFlow, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or catalog_for(db)
        self.risk_engine = RiskAssessmentEngine(db, self.catalog)
        self.mitigation_engine = MitigationStrategyEngine(self.risk_engine)

    async def perform_complete_assessment(
        self,
        operation_type: str,
        table_name: str,
        operation_details: Mapping[str, Any] | None = None,
        *,
        include_performance_analysis: bool = True,
        include_dependency_analysis: bool = True,
        include_fk_analysis: bool = True,
    ) -> ComprehensiveAssessment:
        details = dict(operation_details or {})
        column = details.pop("column_name", None) or details.pop("column", None)
        risk = await self.risk_engine.assess_operation_risk(operation_type, table_name, column, **details)
        score = risk.overall_score
        fk_impact = None
        fk_op = fk_operation_for(operation_type)
        if include_fk_analysis and fk_op is not None:
            fk_impact = await ForeignKeyAnalyzer(self.db, self.catalog).analyze_fk_impact(
                fk_op, table_name, column, include_cascade_analysis=True
            )
            score = max(
                score,
                {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 35, RiskLevel.HIGH: 65, RiskLevel.CRITICAL: 90}[
                    fk_impact.impact_level
                ],
            )
        dependencies: dict[str, Any] = {}
        if include_dependency_analysis:
            facts = risk.facts
            dependencies = {
                "foreign_keys": facts.get("referencing_foreign_keys", []),
                "views": facts.get("dependent_views", []),
                "triggers": facts.get("triggers", []),
                "indexes": facts.get("indexes", []),
            }
        performance: dict[str, Any] = {}
        if include_performance_analysis:
            rows = int(risk.facts.get("row_count", 0))
            rules = {f.rule for f in risk.findings}
            mode = (
                "rewrite"
                if rules
                & {"changing-column-type", "adding-field-with-volatile-default", "adding-field-with-default-rewrites"}
                else "scan"
                if rules & {"setting-not-null", "constraint-missing-not-valid", "require-concurrent-index-creation"}
                else "instant"
            )
            performance = {
                "row_count": rows,
                "mode": mode,
                "estimated_duration_seconds": round(0.01 + rows * _SECONDS_PER_ROW[mode], 3),
                "blocking": mode != "instant",
            }
        return ComprehensiveAssessment(
            operation_type, table_name, level_for_score(score), score, risk, fk_impact, performance, dependencies
        )

    async def generate_comprehensive_mitigation_plan(
        self, assessment: ComprehensiveAssessment, business_requirements: Mapping[str, Any] | None = None
    ) -> ComprehensiveMitigationPlan:
        requirements = dict(business_requirements or {})
        context = {
            "table_size": assessment.performance.get("row_count", 0),
            "production_environment": True,
            "maintenance_window": requirements.get("max_downtime_minutes"),
        }
        plan = await self.mitigation_engine.generate_mitigation_plan(assessment.risk_assessment, context)
        notes = []
        ok = True
        seconds = float(assessment.performance.get("estimated_duration_seconds", 0))
        downtime = requirements.get("max_downtime_minutes")
        if downtime is not None and assessment.performance.get("blocking") and seconds > float(downtime) * 60:
            ok = False
            notes.append(f"the estimated blocking time {seconds:.0f} s exceeds the {downtime} minute downtime limit")
        if (
            requirements.get("data_consistency_critical")
            and assessment.fk_impact is not None
            and not assessment.fk_impact.is_safe_to_proceed
        ):
            ok = False
            notes.append("foreign keys block the operation and data consistency is critical")
        if not notes:
            notes.append("the plan fits the business requirements")
        return ComprehensiveMitigationPlan(
            plan.recommended_strategies, plan.estimated_risk_reduction, ok, tuple(notes), plan
        )
