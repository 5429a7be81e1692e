"""``RiskAssessmentEngine``: one operation's risk, broken down by category (the spec's component 1).

``await RiskAssessmentEngine(db).assess_operation_risk(operation_type="drop_column", table_name="users",
column_name="legacy")`` turns the operation into a typed ``MigrationStep``, reads the live facts and
runs the rules; the result has ``overall_risk_level``, ``overall_score`` and ``category_risks`` (one
``CategoryRisk`` per ``RiskCategory`` with its level, score and risk factors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.types import MigrationPlan, MigrationStep, RiskFinding, RiskLevel

from dataflow_risk.assess import assess_steps, gather_facts
from dataflow_risk.catalog import Catalog, catalog_for
from dataflow_risk.rules import RiskCategory, StepFacts, evaluate, level_for_score

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = [
    "OPERATION_KINDS",
    "CategoryRisk",
    "RiskAssessment",
    "RiskAssessmentEngine",
    "RiskCategory",
    "RiskFactor",
    "RiskLevel",
    "assessment_of",
    "operation_step",
]

OPERATION_KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "add_column": ("add_column", {}),
    "add_nullable_column": ("add_column", {"nullable": True}),
    "add_not_null_column": ("add_column", {"nullable": False}),
    "drop_column": ("drop_column", {}),
    "remove_column": ("drop_column", {}),
    "rename_column": ("rename_column", {}),
    "drop_table": ("drop_table", {}),
    "rename_table": ("rename_table", {}),
    "alter_type": ("alter_type", {}),
    "change_column_type": ("alter_type", {}),
    "modify_column_type": ("alter_type", {}),
    "alter_nullability": ("alter_nullability", {}),
    "set_not_null": ("alter_nullability", {"nullable": False}),
    "drop_not_null": ("alter_nullability", {"nullable": True}),
    "alter_default": ("alter_default", {}),
    "add_index": ("add_index", {}),
    "create_index": ("add_index", {}),
    "drop_index": ("drop_index", {}),
    "add_unique": ("add_unique", {}),
    "add_unique_constraint": ("add_unique", {}),
    "add_foreign_key": ("add_foreign_key", {}),
    "drop_foreign_key": ("drop_foreign_key", {}),
    "add_check": ("add_check", {}),
    "add_check_constraint": ("add_check", {}),
    "create_table": ("create_table", {}),
    "delete_rows": ("delete_rows", {}),
}
"""The spec's operation names (and common synonyms) → the kernel's step kinds, with implied details."""


@attrs.frozen
class RiskFactor:
    """One reason for risk: what a rule found, and how much it weighs (0-100)."""

    description: str
    impact_score: int
    rule: str = ""
    mitigation: str = ""


@attrs.frozen
class CategoryRisk:
    """The risk in one category: the worst of its factors."""

    category: RiskCategory
    risk_level: RiskLevel
    score: int
    risk_factors: tuple[RiskFactor, ...] = ()


@attrs.frozen
class RiskAssessment:
    """The result of ``assess_operation_risk``."""

    operation_type: str
    table_name: str
    column_name: str | None
    overall_risk_level: RiskLevel
    overall_score: int
    category_risks: Mapping[RiskCategory, CategoryRisk]
    findings: tuple[RiskFinding, ...] = ()
    step: MigrationStep | None = None
    facts: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def risk_level(self) -> RiskLevel:
        return self.overall_risk_level

    @property
    def risk_factors(self) -> list[RiskFactor]:
        return [f for c in self.category_risks.values() for f in c.risk_factors]

    @property
    def mitigations(self) -> list[str]:
        return list(dict.fromkeys(f.mitigation for f in self.findings if f.mitigation))


def operation_step(
    db: DataFlow,
    operation_type: str,
    table_name: str,
    column_name: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> MigrationStep:
    """The typed step an operation name describes (DF-102 names the known operations)."""
    try:
        kind, implied = OPERATION_KINDS[operation_type]
    except KeyError:
        from dataflow.errors import did_you_mean

        raise db.error(
            "DF-102",
            f"Unknown operation_type {operation_type!r}.{did_you_mean(operation_type, OPERATION_KINDS)}",
            operation_type=operation_type,
            solutions=[f"Known operations: {', '.join(sorted(OPERATION_KINDS))}."],
        ) from None
    merged = {**implied, **dict(details or {})}
    column = column_name or merged.get("column_name") or merged.get("column")
    return MigrationStep(kind, table_name, column, tuple(merged.pop("sql", ()) or ()), merged)


def summarise(
    findings: Iterable[RiskFinding], extra: Iterable[tuple[RiskCategory, RiskFactor]] = ()
) -> tuple[RiskLevel, int, dict[RiskCategory, CategoryRisk]]:
    """Group findings (plus extra factors) into per-category risks and the overall level / score."""
    factors: dict[RiskCategory, list[RiskFactor]] = {c: [] for c in RiskCategory}
    for finding in findings:
        factors[RiskCategory(finding.category)].append(
            RiskFactor(finding.reason, finding.score, finding.rule, finding.mitigation)
        )
    for category, factor in extra:
        factors[category].append(factor)
    categories = {}
    for category, items in factors.items():
        score = max((f.impact_score for f in items), default=0)
        categories[category] = CategoryRisk(category, level_for_score(score), score, tuple(items))
    overall = max((c.score for c in categories.values()), default=0)
    return level_for_score(overall), overall, categories


def dependency_factors(dependencies: Any) -> list[tuple[RiskCategory, RiskFactor]]:
    """Factors from a caller's dependency report (a mapping type → names, or objects with a name)."""
    if not dependencies:
        return []
    items: list[str] = []
    if isinstance(dependencies, Mapping):
        for kind, names in dependencies.items():
            for name in [names] if isinstance(names, str) else names or ():
                items.append(f"{kind} {getattr(name, 'object_name', getattr(name, 'name', name))}")
    else:
        for dep in getattr(dependencies, "dependencies", dependencies):
            kind = getattr(getattr(dep, "dependency_type", None), "value", "dependency")
            items.append(f"{kind} {getattr(dep, 'object_name', getattr(dep, 'name', dep))}")
    return [
        (RiskCategory.BACKWARD_COMPATIBILITY, RiskFactor(f"reported dependency: {item}", 60, "dependency-report"))
        for item in items
    ]


def assessment_of(step: MigrationStep, facts: StepFacts, dependencies: Any = None,
                  operation_type: str | None = None) -> RiskAssessment:
    """The one evaluation of the rules for ``step`` with ``facts``, as a RiskAssessment (every spec-named
    class reports levels and scores from here)."""
    findings = evaluate(step, facts, 0)
    level, score, categories = summarise(findings, dependency_factors(dependencies))
    return RiskAssessment(operation_type or step.kind, step.table, step.column, level, score, categories,
                          tuple(findings), step, facts_summary(facts))


class RiskAssessmentEngine:
    """Multi-dimensional risk of a schema operation, from the rules and the live database.

    :param db: the DataFlow instance (the spec's ``connection_manager``).
    """

    def __init__(self, db: DataFlow, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or catalog_for(db)

    async def assess_operation_risk(
        self,
        operation_type: str,
        table_name: str,
        column_name: str | None = None,
        dependencies: Any = None,
        **details: Any,
    ) -> RiskAssessment:
        """The risk of one operation (``drop_column``, ``add_not_null_column``, ``rename_table`` …).

        Extra keyword arguments are the operation's details (``new_type``, ``default_value``,
        ``new_name``, ``columns``, ``ref_table`` …); ``dependencies`` adds a caller's report.
        DF-304 names the table when it does not exist (an operation on nothing has no risk to rate).
        """
        if "default_value" in details and "default" not in details:
            details["default"] = details.pop("default_value")
        if "data_type" in details and "type" not in details:
            details["type"] = details["data_type"]
        step = operation_step(self.db, operation_type, table_name, column_name, details)
        facts = await gather_facts(step, self.catalog)
        if facts.table is None and step.kind != "create_table":
            raise self.db.error("DF-304", f"Table {table_name!r} does not exist: there is nothing to assess.",
                                table=table_name, solutions=["Check the table name and the database URL."])
        return assessment_of(step, facts, dependencies, operation_type)

    async def assess_step(self, step: MigrationStep) -> RiskAssessment:
        return assessment_of(step, await gather_facts(step, self.catalog))

    async def assess_plan(self, plan: MigrationPlan) -> RiskAssessment:
        """The whole plan as one assessment (its findings keep their step index)."""
        findings = await assess_steps(plan.steps, self.db, self.catalog)
        level, score, categories = summarise(findings)
        tables = ", ".join(dict.fromkeys(s.table for s in plan.steps))
        return RiskAssessment("plan", tables, None, level, score, categories, tuple(findings))


def facts_summary(facts: StepFacts) -> dict[str, Any]:
    return {
        "dialect": facts.server.product,
        "server_version": facts.server.text,
        "table_exists": facts.exists,
        "row_count": facts.rows,
        "referencing_foreign_keys": [fk.name or f"{fk.table}({', '.join(fk.columns)})" for fk in facts.referencing_fks],
        "referencing_rows": dict(facts.referencing_rows),
        "change": {"effect": facts.cost.effect.value, "blocks_writes": facts.cost.blocks_writes,
                   "blocks_reads": facts.cost.blocks_reads, "reason": facts.cost.reason},
        "dependent_views": [v.name for v in facts.views],
        "triggers": facts.triggers,
        "indexes": [i.name for i in facts.table.indexes] if facts.table else [],
        "null_count": facts.null_count,
        "duplicate_count": facts.duplicate_count,
        "orphan_count": facts.orphan_count,
    }
