"""dataflow-risk: the risk engine and the enterprise migration system of DataFlow.

The spec's ``dataflow.migrations.<module>`` classes live here as ``dataflow_risk.<module>``
(see README.md for the mapping); the rules are in ``dataflow_risk.rules``, the live catalogue
queries in ``dataflow_risk.catalog``.
"""

from dataflow.migration import RiskFinding, RiskLevel

from dataflow_risk.assess import PlanAssessment, assess_plan, assess_steps, refuse_if_risky
from dataflow_risk.risk_assessment_engine import RiskAssessment, RiskAssessmentEngine
from dataflow_risk.rules import RULES, RiskCategory, Rule

__all__ = [
    "RULES",
    "PlanAssessment",
    "RiskAssessment",
    "RiskAssessmentEngine",
    "RiskCategory",
    "RiskFinding",
    "RiskLevel",
    "Rule",
    "assess_plan",
    "assess_steps",
    "refuse_if_risky",
]
