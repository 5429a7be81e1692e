"""Assessing migration plans: gather the live facts each step needs, then run the rules.

``assess_plan(plan, db)`` is the async entry point; the ``dataflow_assess_migration`` hook returns a
``PlanAssessment``, which callers ``await`` (live facts) or, from synchronous code with no event
loop running, simply iterate. Facts are read once per table and shared by the plan's steps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dataflow.types import MigrationPlan, MigrationStep, RiskFinding, ServerInfo

from dataflow_risk.catalog import Catalog, catalog_for
from dataflow_risk.rules import StepFacts, columns_of, detail, evaluate

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["PlanAssessment", "assess_plan", "assess_steps", "gather_facts", "refuse_if_risky", "static_facts"]

_COLUMN_KINDS = {"drop_column", "rename_column", "alter_nullability", "alter_type", "alter_default"}
_DEPENDENT_KINDS = {"drop_table", "rename_table", "drop_column", "rename_column", "alter_type", "delete_rows"}


async def gather_facts(step: MigrationStep, catalog: Catalog, cache: dict[str, Any] | None = None) -> StepFacts:
    """The live facts the rules need about ``step`` (table shape, rows, dependents, bad-data counts), and
    what the step costs on this database (the dialect's ``change_cost``)."""
    cache = {} if cache is None else cache
    server = await catalog.server_version()
    key = f"table:{step.table}"
    if key not in cache:
        info = await catalog.table(step.table)
        rows = await catalog.row_count(step.table) if info is not None else 0
        cache[key] = (info, rows)
    table, rows = cache[key]
    facts = StepFacts(catalog.dialect.change_cost(step, table, server, rows), catalog.capabilities, server, table,
                      rows)
    if table is None:
        return facts
    column = step.column if step.kind in _COLUMN_KINDS else None
    if step.kind in _DEPENDENT_KINDS:
        facts.referencing_fks = await catalog.referencing_fks(step.table, column)
        if step.kind != "alter_type":
            facts.views = await catalog.dependent_views(step.table, column)
        for fk in facts.referencing_fks:
            if fk.table not in facts.referencing_rows:
                held = " AND ".join(f"{catalog.q(c)} IS NOT NULL" for c in fk.columns)
                found = await catalog.fetch(f"SELECT COUNT(*) FROM {catalog.qualified(fk.table)} WHERE {held}")
                facts.referencing_rows[fk.table] = int(found[0][0])
    present = set(table.column_names)
    if step.kind == "alter_nullability" and step.column is not None and step.column in present and facts.rows:
        facts.null_count = await catalog.null_count(step.table, step.column)
    unique = step.kind == "add_unique" or (step.kind == "add_index" and bool(detail(step, "unique")))
    cols = columns_of(step)
    if unique and cols and set(cols) <= present and facts.rows:
        facts.duplicate_count = await catalog.duplicate_count(step.table, cols)
    if step.kind == "add_foreign_key" and facts.rows:
        ref_table = detail(step, "ref_table", "references", "referenced_table")
        ref_cols = detail(step, "ref_columns", "referenced_columns", "ref_column", default=("id",))
        ref_cols = (ref_cols,) if isinstance(ref_cols, str) else tuple(ref_cols)
        if ref_table and cols and set(cols) <= present and await catalog.table_exists(ref_table):
            facts.orphan_count = await catalog.orphan_count(step.table, cols, ref_table, ref_cols)
    if step.kind == "add_check" and facts.rows:
        expression = detail(step, "expression", "check", "condition")
        if expression:
            # The expression is the migration's own SQL (like its DDL), never a user-supplied value.
            found = await catalog.fetch(
                f"SELECT COUNT(*) FROM {catalog.qualified(step.table)} WHERE NOT ({expression})"
            )
            facts.violation_count = int(found[0][0])
    return facts


def static_facts(db: DataFlow, step: MigrationStep) -> StepFacts:
    """Facts without asking the database: every table is assumed to hold data (the cautious answer)."""
    server = ServerInfo(db.dialect.name)
    return StepFacts(db.dialect.change_cost(step, None, server, 1), db.dialect.capabilities, server, None, 1,
                     known=False)


async def assess_steps(
    steps: Sequence[MigrationStep], db: DataFlow, catalog: Catalog | None = None
) -> list[RiskFinding]:
    """Findings for ``steps`` (each tagged with its index) from the live database."""
    catalog = catalog or catalog_for(db)
    cache: dict[str, Any] = {}
    findings: list[RiskFinding] = []
    for index, step in enumerate(steps):
        findings += evaluate(step, await gather_facts(step, catalog, cache), index)
    return findings


async def assess_plan(plan: MigrationPlan, db: DataFlow, *, attach: bool = False) -> list[RiskFinding]:
    """Findings for ``plan``; with ``attach`` they replace this plugin's earlier findings on the plan."""
    findings = await assess_steps(plan.steps, db)
    if attach:
        ours = {f.rule for f in findings}
        plan.findings[:] = [f for f in plan.findings if f.rule not in ours] + findings
    return findings


def static_findings(steps: Sequence[MigrationStep], db: DataFlow) -> list[RiskFinding]:
    """Findings without a database: every table is assumed populated (the cautious answer)."""
    findings: list[RiskFinding] = []
    for index, step in enumerate(steps):
        findings += evaluate(step, static_facts(db, step), index)
    return findings


class PlanAssessment:
    """What ``dataflow_assess_migration`` returns: ``await`` it for findings from the live database.

    Iterating it from synchronous code runs the same assessment on DataFlow's background loop; where
    an event loop is already running in this thread (so it cannot block), iteration falls back to
    the rules alone, assuming every table holds data.
    """

    def __init__(self, plan: MigrationPlan, db: DataFlow) -> None:
        self.plan = plan
        self.db = db

    def __await__(self) -> Generator[Any, None, list[RiskFinding]]:
        return assess_plan(self.plan, self.db).__await__()

    def __iter__(self) -> Iterator[RiskFinding]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            from dataflow.loop import run_sync

            return iter(run_sync(assess_plan(self.plan, self.db)))
        return iter(static_findings(self.plan.steps, self.db))


def refuse_if_risky(
    db: DataFlow, plan: MigrationPlan | None, findings: Iterable[RiskFinding] | None = None, *, confirmed: bool = False
) -> None:
    """The gate: a plan at HIGH or CRITICAL risk is refused with DF-302 unless ``confirmed``.

    One gate for every caller: this is the migrate plugin's, applied to ``findings`` when they are
    given apart from a plan.
    """
    from dataflow_migrate.apply import refuse_if_risky as gate

    if plan is None or findings is not None:
        steps = list(plan.steps) if plan is not None else []
        plan = MigrationPlan(db.dialect.name, steps, list(findings or ()))
    gate(db, plan, confirmed)
