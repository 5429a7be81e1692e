"""dataflow-risk plugin: assesses migration plans and adds ``dataflow migrate assess``.

``dataflow_assess_migration`` returns a ``PlanAssessment`` for the plan: the migrate plugin awaits it
(live facts: row counts, dependents, bad-data counts) and stores the findings on ``plan.findings``,
whose ``plan.level`` its apply gates on (DF-302 at HIGH or CRITICAL unless confirmed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataflow.hookspecs import hookimpl

if TYPE_CHECKING:
    from dataflow.facade import DataFlow


@hookimpl
def dataflow_assess_migration(plan: Any, db: DataFlow) -> Any:
    steps = getattr(plan, "steps", None)
    if not steps or all(step.kind == "create_table" for step in steps):
        return None  # a new table touches no data and no reader: no rule applies, no query needed
    from dataflow_risk.assess import PlanAssessment

    return PlanAssessment(plan, db)


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    from dataflow_risk.cli import register

    register(app)
