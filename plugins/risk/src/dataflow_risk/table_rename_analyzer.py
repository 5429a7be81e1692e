"""``TableRenameAnalyzer``: renaming a table together with what depends on it (component 4).

Dependencies come from the live catalogue: views, foreign keys of other tables, triggers, and stored
procedures / functions whose source names the table (PostgreSQL ``pg_proc``, MySQL
``information_schema.ROUTINES``). PostgreSQL views and foreign keys follow a rename by themselves
(they hold the table's OID); on SQLite and MySQL views keep the old name and are recreated.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import attrs

from dataflow_risk.catalog import Catalog, ForeignKeyInfo, TriggerInfo, ViewInfo, catalog_for

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

    async def _procedures(self, table: str) -> list[str]:
        kind = self.catalog.dialect_name
        if kind == "postgresql":
            rows = await self.catalog.fetch(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = ? AND p.prosrc LIKE ?",
                [
                    await self.catalog.current_schema(),  # type: ignore
                    f"%{table}%",
                ],
            )
        elif kind == "mysql":
            rows = await self.catalog.fetch(
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE "
                "ROUTINE_SCHEMA = DATABASE() AND ROUTINE_DEFINITION LIKE ?",
                [f"%{table}%"],
            )
        else:
            return []
        return sorted({r[0] for r in rows})

    async def analyze_rename_impact(self, current_name: str, new_name: str) -> RenameImpact:
        info = await self.catalog.table(current_name)
        issues = []
        if info is None:
            issues.append(f"table {current_name} does not exist")
        if await self.catalog.table_exists(new_name) or new_name in {v.name for v in await self.catalog.views()}:
            issues.append(f"{new_name} already exists")
        views = await self.catalog.dependent_views(current_name)
        fks = await self.catalog.referencing_fks(current_name)
        procedures = await self._procedures(current_name)
        if procedures:
            issues.append(f"procedures name the table in their source and are not rewritten: {', '.join(procedures)}")
        triggers = info.triggers if info else ()
        return RenameImpact(
            current_name,
            new_name,
            tuple(views),
            tuple(fks),
            tuple(procedures),
            tuple(triggers),
            not issues,
            tuple(issues),
        )

    async def create_rename_plan(
        self,
        rename_impact: RenameImpact,
        *,
        include_dependency_updates: bool = True,
        backup_strategy: str | None = None,
    ) -> RenamePlan:
        q, old, new = self.catalog.q, rename_impact.current_name, rename_impact.new_name
        kind = self.catalog.dialect_name
        statements: list[str] = []
        backup = None
        if backup_strategy in ("full_backup", "table_snapshot"):
            backup = f"{old}_backup_{int(time.time())}"
            statements.append(
                f"CREATE TABLE {self.catalog.qualified(backup)} AS SELECT * FROM {self.catalog.qualified(old)}"
            )
        # PostgreSQL views follow the OID and SQLite 3.26+ rewrites them; MySQL views keep the old name.
        recreate = include_dependency_updates and kind == "mysql"
        if recreate:
            statements += [f"DROP VIEW {self.catalog.qualified(v.name)}" for v in rename_impact.view_dependencies]
        statements.append(
            f"RENAME TABLE {self.catalog.qualified(old)} TO {self.catalog.qualified(new)}"
            if kind == "mysql"
            else f"ALTER TABLE {self.catalog.qualified(old)} RENAME TO {q(new)}"
        )
        if recreate:
            pattern = re.compile(rf"([`\"\[]?){re.escape(old)}([`\"\]]?)(?![\w$])")
            for view in rename_impact.view_dependencies:
                body = pattern.sub(lambda m: f"{m.group(1)}{new}{m.group(2)}", view.definition)
                statements.append(f"CREATE VIEW {self.catalog.qualified(view.name)} AS {body}")
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
