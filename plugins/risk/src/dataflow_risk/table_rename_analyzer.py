"""``TableRenameAnalyzer``: renaming a table together with what depends on it (component 4).

Dependencies come from the dialect's catalogue: views, foreign keys of other tables, triggers, and
stored procedures / functions whose source names the table. Where views follow a rename by themselves
(``capabilities.views_follow_renames``: PostgreSQL, SQLite) they are left alone; elsewhere (MySQL)
they are dropped and created again over the new name. The risk of the rename is the rules' verdict
(``impact.risk_assessment``).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.types import MigrationStep, SchemaChange, ViewSchema

from dataflow_risk.assess import gather_facts
from dataflow_risk.catalog import Catalog, ForeignKeyInfo, TriggerInfo, ViewInfo, catalog_for
from dataflow_risk.risk_assessment_engine import RiskAssessment, assessment_of

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["RenameImpact", "RenamePlan", "RenameResult", "TableRenameAnalyzer"]


@attrs.frozen
class RenameImpact:
    current_name: str
    new_name: str
    view_dependencies: tuple[ViewInfo, ...]
    fk_dependencies: tuple[ForeignKeyInfo, ...]
    procedure_dependencies: tuple[str, ...]
    trigger_dependencies: tuple[TriggerInfo, ...]
    can_rename_safely: bool
    issues: tuple[str, ...] = ()
    risk_assessment: RiskAssessment | None = None
    """The rules' assessment of the rename (its level and score)."""

    @property
    def total_dependencies(self) -> list[Any]:
        return [
            *self.view_dependencies,
            *self.fk_dependencies,
            *self.procedure_dependencies,
            *self.trigger_dependencies,
        ]


@attrs.frozen
class RenamePlan:
    impact: RenameImpact
    statements: tuple[str, ...]
    backup_table: str | None = None


@attrs.frozen
class RenameResult:
    success: bool
    executed_statements: tuple[str, ...]
    duration: float
    backup_table: str | None = None
    error: str | None = None


class TableRenameAnalyzer:
    """Dependency analysis and coordinated table renames.

    :param db: the DataFlow instance (the spec's ``connection_manager``).
    """

    def __init__(self, db: DataFlow, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or catalog_for(db)

    async def analyze_rename_impact(self, current_name: str, new_name: str) -> RenameImpact:
        step = MigrationStep("rename_table", current_name, details={"to": new_name})
        facts = await gather_facts(step, self.catalog)
        issues = []
        if facts.table is None:
            issues.append(f"table {current_name} does not exist")
        if await self.catalog.table_exists(new_name) or new_name in {v.name for v in await self.catalog.views()}:
            issues.append(f"{new_name} already exists")
        procedures = await self.catalog.routines_referencing(current_name)
        if procedures:
            issues.append(f"procedures name the table in their source and are not rewritten: {', '.join(procedures)}")
        triggers = facts.table.triggers if facts.table else ()
        return RenameImpact(current_name, new_name, tuple(facts.views), tuple(facts.referencing_fks),
                            tuple(procedures), tuple(triggers), not issues, tuple(issues), assessment_of(step, facts))

    async def create_rename_plan(
        self,
        rename_impact: RenameImpact,
        *,
        include_dependency_updates: bool = True,
        backup_strategy: str | None = None,
    ) -> RenamePlan:
        old, new = rename_impact.current_name, rename_impact.new_name
        dialect = self.db.dialect
        statements: list[str] = []
        backup = None
        if backup_strategy in ("full_backup", "table_snapshot"):
            backup = f"{old}_backup_{int(time.time())}"
            statements.append(f"CREATE TABLE {self.catalog.qualified(backup)} AS SELECT * FROM "
                              f"{self.catalog.qualified(old)}")
        # Views that keep the old name (where the database does not follow renames) are recreated.
        recreate = include_dependency_updates and not dialect.capabilities.views_follow_renames
        if recreate:
            statements += [dialect.drop_view_sql(v.name) for v in rename_impact.view_dependencies]
        table = await self.catalog.table(old)
        if table is None:
            raise self.db.error("DF-304", f"Table {old!r} does not exist.", table=old)
        statements += dialect.schema_change_sql(SchemaChange("rename_table", old, table, attrs.evolve(table, name=new),
                                                             details={"to": new}))
        if recreate:
            pattern = re.compile(rf"([`\"\[]?){re.escape(old)}([`\"\]]?)(?![\w$])")
            for view in rename_impact.view_dependencies:
                query = pattern.sub(lambda m: f"{m.group(1)}{new}{m.group(2)}", view.query)
                statements.append(dialect.create_view_sql(ViewSchema(view.name, query)))
        return RenamePlan(rename_impact, tuple(statements), backup)

    async def execute_coordinated_rename(self, rename_plan: RenamePlan) -> RenameResult:
        started = time.perf_counter()
        if not rename_plan.impact.can_rename_safely:
            return RenameResult(False, (), 0.0, None, "; ".join(rename_plan.impact.issues))
        try:
            await self.catalog.execute(list(rename_plan.statements))
        except Exception as exc:
            return RenameResult(False, (), time.perf_counter() - started, rename_plan.backup_table, str(exc))
        return RenameResult(True, rename_plan.statements, time.perf_counter() - started, rename_plan.backup_table)
