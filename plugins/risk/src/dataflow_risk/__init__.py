"""dataflow-risk: the risk engine and the enterprise migration system of DataFlow.

The spec's ``dataflow.migrations.<module>`` classes live here as ``dataflow_risk.<module>``
(see README.md for the mapping); the rules are in ``dataflow_risk.rules``, the live catalogue
queries in ``dataflow_risk.catalog``.
"""

from dataflow.plugins import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "RiskFinding": "dataflow.migration",
    "RiskLevel": "dataflow.migration",
    "PlanAssessment": "dataflow_risk.assess",
    "assess_plan": "dataflow_risk.assess",
    "assess_steps": "dataflow_risk.assess",
    "refuse_if_risky": "dataflow_risk.assess",
    "RiskAssessment": "dataflow_risk.risk_assessment_engine",
    "RiskAssessmentEngine": "dataflow_risk.risk_assessment_engine",
    "RULES": "dataflow_risk.rules",
    "RiskCategory": "dataflow_risk.rules",
    "Rule": "dataflow_risk.rules",
})

__all__ = __dir__()
