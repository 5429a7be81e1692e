"""Migration records shared by the migrate, risk and locks plugins: steps, plans and risk findings.

The kernel only defines the shapes; planning, applying and assessing live in plugins. A plan is an
ordered list of typed steps with the SQL for one dialect; ``dataflow_migration_steps`` lets plugins
add or rewrite steps, ``dataflow_assess_migration`` returns RiskFindings for them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["STEP_KINDS", "MigrationPlan", "MigrationStep", "RiskFinding", "RiskLevel"]

STEP_KINDS = frozenset({
    "create_table", "add_column", "add_index", "add_foreign_key", "alter_nullability", "alter_type",
    "alter_default", "drop_column", "drop_index", "drop_foreign_key", "drop_table", "rename_column",
    "rename_table", "add_check", "add_unique",
})
ADDITIVE_KINDS = frozenset({"create_table", "add_column", "add_index"})


class RiskLevel(enum.IntEnum):
    """How dangerous a step is; ordered, so ``max()`` of levels is the plan's level."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


@attrs.frozen
class MigrationStep:
    """One typed schema change.

    :param kind: one of ``STEP_KINDS``.
    :param table: the table it changes.
    :param column: the column, for column steps.
    :param sql: the statements, for the plan's dialect.
    :param details: kind-specific facts (old / new type, nullability, default, index fields, new name …).
    :param model: the model that asked for it, when one did.
    """

    kind: str
    table: str
    column: str | None = None
    sql: tuple[str, ...] = ()
    details: Mapping[str, Any] = attrs.field(factory=dict)
    model: str | None = None

    @property
    def additive(self) -> bool:
        """Safe for auto-migration: creates something, narrows or removes nothing."""
        if self.kind == "add_column":
            return bool(self.details.get("nullable", True)) or self.details.get("default") is not None
        return self.kind in ADDITIVE_KINDS

    def describe(self) -> str:
        target = f"{self.table}.{self.column}" if self.column else self.table
        return f"{self.kind.replace('_', ' ')} {target}"


@attrs.frozen
class RiskFinding:
    """What a risk rule found about one step."""

    rule: str
    level: RiskLevel
    score: int
    category: str
    reason: str
    step_index: int | None = None
    mitigation: str = ""


@attrs.define
class MigrationPlan:
    """An ordered list of steps for one dialect, and the findings assessed for them."""

    dialect: str
    steps: list[MigrationStep] = attrs.Factory(list)
    findings: list[RiskFinding] = attrs.Factory(list)
    rename_candidates: list[MigrationStep] = attrs.Factory(list)

    @property
    def level(self) -> RiskLevel:
        return max((f.level for f in self.findings), default=RiskLevel.LOW)

    @property
    def is_empty(self) -> bool:
        return not self.steps

    @property
    def additive_only(self) -> bool:
        return all(step.additive for step in self.steps)

    def checksum(self) -> str:
        import hashlib

        return hashlib.sha256("\n".join(s for step in self.steps for s in step.sql).encode()).hexdigest()[:16]
