"""The risk rules: every risky schema change that squawk, strong_migrations and Atlas flag, typed.

A rule names the operation it judges, a default level and score (0-100), a category (data loss,
locking / downtime, backward compatibility, integrity), the reason and a mitigation. Its check reads
the step and the live facts (``StepFacts``: row count, dependent foreign keys and their rows, views,
triggers, indexes, NULL / duplicate / orphan counts) and returns a ``Verdict`` when it fires, possibly
raising or lowering the level for what it found. ``evaluate(step, facts)`` runs them all: it is the
one place a level or a score is decided, for the migrate plugin's gate and for every spec-named class
(the engine, the analysers, the managers are views over it).

The rules never decide per database. What a change does on the database at hand — instant, a scan,
a rewrite, refused; which locks it holds — is the dialect's answer (``SQLDialect.change_cost``, in
``facts.cost``), and what the database has at all is its ``capabilities``; the rules judge those.

Scores and levels agree: LOW 0-25, MEDIUM 26-50, HIGH 51-75, CRITICAL 76-100.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
from dataflow.schema import default_expression, is_constant, is_volatile
from dataflow.types import (
    ChangeCost,
    ChangeEffect,
    DialectCapabilities,
    ForeignKeySchema,
    MigrationStep,
    RiskFinding,
    RiskLevel,
    ServerInfo,
    TableSchema,
    ViewSchema,
)

__all__ = [
    "RULES",
    "RiskCategory",
    "Rule",
    "StepFacts",
    "Verdict",
    "evaluate",
    "level_for_score",
    "size_risk",
]


class RiskCategory(enum.Enum):
    """What kind of harm a change risks."""

    DATA_LOSS = "data_loss"
    LOCKING = "locking"
    """Locking / downtime: the change blocks reads or writes while it runs (rewrites, scans)."""
    BACKWARD_COMPATIBILITY = "backward_compatibility"
    """Running application code (old deploys, readers, views) breaks."""
    INTEGRITY = "integrity"
    """Constraints are lost, or the statement fails on the data already there."""


def level_for_score(score: float) -> RiskLevel:
    if score > 75:
        return RiskLevel.CRITICAL
    if score > 50:
        return RiskLevel.HIGH
    if score > 25:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def size_risk(rows: int) -> tuple[RiskLevel, int]:
    """How bad a blocking rewrite or scan is for a table of ``rows`` rows (counted, capped)."""
    if rows <= 0:
        return RiskLevel.LOW, 5
    if rows < 10_000:
        return RiskLevel.MEDIUM, 35
    if rows < 1_000_000:
        return RiskLevel.HIGH, 65
    return RiskLevel.HIGH, 75


@attrs.define
class StepFacts:
    """Live facts about the table (and column) a step touches, and what the step costs on this database."""

    cost: ChangeCost = attrs.Factory(ChangeCost)
    capabilities: DialectCapabilities = attrs.Factory(DialectCapabilities)
    server: ServerInfo = attrs.Factory(lambda: ServerInfo(""))
    table: TableSchema | None = None
    rows: int = 0
    referencing_fks: list[ForeignKeySchema] = attrs.Factory(list)
    referencing_rows: dict[str, int] = attrs.Factory(dict)
    """Rows of each referencing table that hold a reference (by the referencing table's name)."""
    views: list[ViewSchema] = attrs.Factory(list)
    null_count: int = 0
    duplicate_count: int = 0
    orphan_count: int = 0
    violation_count: int = 0
    known: bool = True
    """False when no database was asked: counts are then guesses (every table assumed populated)."""

    @property
    def exists(self) -> bool:
        return self.table is not None

    @property
    def triggers(self) -> list[str]:
        return [t.name for t in self.table.triggers] if self.table else []


@attrs.frozen
class Verdict:
    """A rule fired: its level / score for this step, and the specific facts behind it."""

    level: RiskLevel
    score: int
    reason: str
    mitigation: str = ""


Check = Callable[[MigrationStep, StepFacts, "Rule"], "Verdict | None"]


@attrs.frozen
class Rule:
    """One typed risk rule.

    :param id: stable identifier (squawk-style, ``adding-required-field``).
    :param kinds: the step kinds it judges (``STEP_KINDS``, plus operations such as ``delete_rows``).
    :param category: what it risks.
    :param level: the default level, when the facts do not change it.
    :param score: the default score 0-100.
    :param reason: why the operation is risky.
    :param mitigation: how to do it safely.
    :param sources: the analysers that flag the same thing.
    """

    id: str
    kinds: frozenset[str]
    category: RiskCategory
    level: RiskLevel
    score: int
    reason: str
    mitigation: str
    check: Check
    sources: tuple[str, ...] = ()

    def verdict(
        self,
        reason: str | None = None,
        *,
        level: RiskLevel | None = None,
        score: int | None = None,
        mitigation: str | None = None,
    ) -> Verdict:
        score = self.score if score is None else score
        return Verdict(
            level or level_for_score(score),
            score,
            reason or self.reason,
            self.mitigation if mitigation is None else (mitigation or self.mitigation),
        )


# ---- reading a step --------------------------------------------------------------------------
def detail(step: MigrationStep, *keys: str, default: Any = None) -> Any:
    """The first of ``keys`` present in the step's details."""
    for key in keys:
        if key in step.details and step.details[key] is not None:
            return step.details[key]
    return default


def step_sql(step: MigrationStep) -> str:
    return " ".join(step.sql)


def columns_of(step: MigrationStep) -> tuple[str, ...]:
    value = detail(step, "columns", "fields")
    if value:
        return (value,) if isinstance(value, str) else tuple(value)
    return (step.column,) if step.column else ()


def has_default(step: MigrationStep) -> bool:
    expr = default_expression(step)
    return expr is not None and expr.upper() != "NULL"


def new_nullable(step: MigrationStep) -> bool:
    """Whether the column is nullable after the step (read from details, else from its SQL)."""
    value = detail(step, "nullable", "new_nullable", "to") if step.kind == "alter_nullability" else \
        detail(step, "nullable", "new_nullable")
    if value is not None:
        return bool(value)
    sql = step_sql(step).upper()
    if "DROP NOT NULL" in sql:
        return True
    return not re.search(r"\bNOT\s+NULL\b", sql)


def _rows(facts: StepFacts) -> str:
    if not facts.known:
        return "an unknown number of rows"
    return f"{facts.rows:,} row{'s' if facts.rows != 1 else ''}"


def _size_verdict(
    rule: Rule, facts: StepFacts, reason: str, mitigation: str | None = None, floor: RiskLevel = RiskLevel.LOW
) -> Verdict:
    level, score = size_risk(facts.rows)
    if level < floor:
        score = {RiskLevel.MEDIUM: 30, RiskLevel.HIGH: 55}.get(floor, score)
    return rule.verdict(f"{reason} ({_rows(facts)})", score=score, mitigation=mitigation)


def _blocking(facts: StepFacts) -> bool:
    cost = facts.cost
    return cost.effect in (ChangeEffect.SCAN, ChangeEffect.REWRITE) and (cost.blocks_writes or cost.blocks_reads)


# ---- the rules ---------------------------------------------------------------------------------
def _adding_required_field(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "add_column" or new_nullable(step) or has_default(step):
        return None
    cost = facts.cost
    if cost.effect is ChangeEffect.REFUSED:
        return rule.verdict(cost.reason, score=90, mitigation=cost.mitigation)
    if facts.rows == 0:
        return rule.verdict(
            "NOT NULL column without a default: the table is empty, but writers that do not set it will now fail",
            score=35,
        )
    if cost.fills_existing:
        return rule.verdict(f"{cost.reason} ({_rows(facts)})", score=70)
    return rule.verdict(
        f"NOT NULL column without a default on a table with {_rows(facts)}: the statement fails", score=90
    )


def _volatile_default(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    expr = default_expression(step)
    if step.kind != "add_column" or expr is None or is_constant(expr):
        return None
    cost = facts.cost
    if cost.effect is ChangeEffect.REFUSED:
        return rule.verdict(f"{cost.reason}: the statement fails", score=85, mitigation=cost.mitigation)
    if not is_volatile(expr) or cost.effect is not ChangeEffect.REWRITE:
        return None
    return _size_verdict(rule, facts, cost.reason, cost.mitigation)


def _default_rewrites(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    """Adding a column with a constant default rewrites the table on some servers (PostgreSQL before 11 …)."""
    if step.kind != "add_column" or not has_default(step) or not is_constant(default_expression(step)):
        return None
    if facts.cost.effect is not ChangeEffect.REWRITE:
        return None
    return _size_verdict(rule, facts, facts.cost.reason, facts.cost.mitigation)


def _setting_not_null(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "alter_nullability" or new_nullable(step):
        return None
    if facts.null_count:
        return rule.verdict(
            f"{facts.null_count:,} existing rows hold NULL in {step.column}: SET NOT NULL fails",
            score=90,
            mitigation="Backfill the NULLs first (dataflow migrate require table.column --backfill VALUE), "
            "in batches on a large table.",
        )
    if not _blocking(facts):
        return None
    return _size_verdict(rule, facts, facts.cost.reason, facts.cost.mitigation)


def _dropping_not_null(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "alter_nullability" or not new_nullable(step):
        return None
    return rule.verdict(f"{step.column} may now hold NULL: readers that rely on it being set can break")


def _referencing(facts: StepFacts, column: str | None) -> list[ForeignKeySchema]:
    return [fk for fk in facts.referencing_fks if column is None or column in fk.ref_columns]


def _populated_references(facts: StepFacts, column: str | None) -> list[str]:
    """The referencing tables that hold references (their rows would point at nothing, or stop the change)."""
    return sorted({fk.table for fk in _referencing(facts, column) if facts.referencing_rows.get(fk.table)
                   and fk.table != (facts.table.name if facts.table else None)})


def _changing_type(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "alter_type":
        return None
    cost = facts.cost
    referenced = _referencing(facts, step.column)
    if referenced:
        holders = _populated_references(facts, step.column)
        why = (f"foreign keys of {', '.join(sorted({fk.table for fk in referenced}))} reference {step.column}: "
               "their columns must change type together")
        if holders:
            return rule.verdict(f"{why}, and rows of {', '.join(holders)} reference it", score=90)
        return rule.verdict(why, score=70)
    if cost.effect is ChangeEffect.INSTANT:
        return rule.verdict(cost.reason, score=10, mitigation="")
    if cost.narrows:
        return rule.verdict(
            f"{cost.reason}; it narrows the column: existing values may be truncated or the change fails "
            f"({_rows(facts)})",
            score=85 if facts.rows else 40,
            mitigation="Check the longest / largest value first; add a new column, backfill, "
            "switch readers, then drop the old one.",
        )
    return _size_verdict(rule, facts, cost.reason, cost.mitigation or None, floor=RiskLevel.MEDIUM)


def _dependents(facts: StepFacts, column: str | None) -> list[str]:
    found = [f"foreign key {fk.name or fk.columns} of {fk.table}" for fk in _referencing(facts, column)]
    found += [f"view {v.name}" for v in facts.views]
    if column is not None and facts.table is not None:
        found += [
            f"index {i.name}"
            for i in facts.table.indexes
            if column in i.columns and len(i.columns) > 1
        ]
        found += [
            f"trigger {t.name}" for t in facts.table.triggers if re.search(rf"\b{re.escape(column)}\b", t.definition)
        ]
    elif facts.table is not None:
        found += [f"trigger {t.name}" for t in facts.table.triggers]
    return found


def _dropping_column(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "drop_column":
        return None
    dependents = _dependents(facts, step.column)
    holders = _populated_references(facts, step.column)
    if dependents:
        extra = f"; rows of {', '.join(holders)} still reference it" if holders else ""
        return rule.verdict(
            f"dropping {step.column} breaks or cascades to {', '.join(dependents)}; "
            f"its values in {_rows(facts)} are lost{extra}",
            score=90,
        )
    if facts.rows:
        return rule.verdict(f"the values of {step.column} in {_rows(facts)} are lost", score=70)
    return rule.verdict(f"{step.column} disappears: code still reading it breaks (the table is empty)", score=40)


def _dropping_table(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "drop_table":
        return None
    dependents = _dependents(facts, None)
    holders = _populated_references(facts, None)
    if facts.rows or dependents:
        extra = f"; depended on by {', '.join(dependents)}" if dependents else ""
        if holders:
            extra += f"; rows of {', '.join(holders)} still reference {step.table}"
        return rule.verdict(f"{_rows(facts)} are lost{extra}", score=95)
    return rule.verdict("the (empty) table disappears: code still using it breaks", score=55)


def _renaming(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind not in ("rename_column", "rename_table"):
        return None
    target = step.column if step.kind == "rename_column" else step.table
    new = detail(step, "new_name", "to", "new")
    dependents = _dependents(facts, step.column if step.kind == "rename_column" else None)
    reason = f"renaming {target} → {new} breaks every deployed reader and writer that uses the old name"
    if not facts.capabilities.views_follow_renames and facts.views:
        return rule.verdict(
            reason + f"; views keep the old name and break: {', '.join(v.name for v in facts.views)}", score=85
        )
    if dependents:
        reason += f" (depended on by {', '.join(dependents)})"
    return rule.verdict(reason, score=65 if step.kind == "rename_table" else 60)


def _index_blocks_writes(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "add_index" or not _blocking(facts) or not facts.cost.blocks_writes:
        return None
    return _size_verdict(rule, facts, facts.cost.reason, facts.cost.mitigation or None)


def _unique_on_duplicates(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    unique = step.kind == "add_unique" or (step.kind == "add_index" and bool(detail(step, "unique")))
    if not unique or not facts.duplicate_count:
        return None
    return rule.verdict(
        f"{facts.duplicate_count:,} values of ({', '.join(columns_of(step))}) occur more than once: "
        "the unique constraint cannot be created"
    )


def _unique_constraint(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "add_unique" or facts.rows == 0 or not _blocking(facts):
        return None
    return _size_verdict(rule, facts, facts.cost.reason, facts.cost.mitigation or None)


def _constraint_not_valid(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind not in ("add_foreign_key", "add_check"):
        return None
    what = "foreign key" if step.kind == "add_foreign_key" else "CHECK constraint"
    bad = facts.orphan_count if step.kind == "add_foreign_key" else facts.violation_count
    if bad:
        return rule.verdict(
            f"{bad:,} existing rows violate the new {what}: it cannot be validated",
            score=90,
            mitigation="Fix or delete the violating rows first.",
        )
    if facts.rows == 0 or not _blocking(facts):
        return None
    floor = RiskLevel.MEDIUM if facts.cost.effect is ChangeEffect.REWRITE else RiskLevel.LOW
    return _size_verdict(rule, facts, facts.cost.reason, facts.cost.mitigation or None, floor=floor)


def _dropping_constraint(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind == "drop_foreign_key":
        return rule.verdict("the foreign key no longer protects referential integrity: orphans become possible")
    if step.kind == "drop_index" and facts.table is not None:
        name = detail(step, "name", "index") or step.column
        index = facts.table.index(str(name))
        if index is not None and index.unique:
            return rule.verdict(f"dropping the unique index {name} lets duplicates in", score=45)
    return None


def _drop_index_blocks(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "drop_index" or not facts.cost.blocks_reads:
        return None
    return rule.verdict(facts.cost.reason, score=30, mitigation=facts.cost.mitigation or None)


def _changing_default(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "alter_default":
        return None
    if facts.cost.effect is ChangeEffect.REWRITE:
        return _size_verdict(rule, facts, facts.cost.reason, facts.cost.mitigation or None)
    return rule.verdict(
        f"new rows get a different default for {step.column}; writers relying on the old one change behaviour", score=15
    )


def _deleting_referenced_rows(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    """Deleting rows other tables reference: cascades change those tables, other keys refuse the delete."""
    if step.kind != "delete_rows":
        return None
    cascading = [fk for fk in facts.referencing_fks if (fk.on_delete or "").upper() in ("CASCADE", "SET NULL",
                                                                                         "SET DEFAULT")]
    touched = sorted({fk.table for fk in cascading if facts.referencing_rows.get(fk.table)})
    if touched:
        return rule.verdict(f"ON DELETE CASCADE / SET NULL would change rows of {', '.join(touched)}", score=90)
    refusing = _populated_references(facts, None)
    if refusing:
        return rule.verdict(f"rows of {', '.join(refusing)} reference these rows: the delete fails", score=60,
                            mitigation="Delete or re-point the referencing rows first.")
    if facts.referencing_fks:
        return rule.verdict("other tables' foreign keys point here (no rows reference it yet)", score=30)
    return None


def _schema_object_change(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    """A view or trigger changed or went away: readers of the view, or the behaviour the trigger gave."""
    if step.kind not in ("drop_view", "alter_view", "drop_trigger", "alter_trigger"):
        return None
    what = "view" if "view" in step.kind else "trigger"
    verb = "was dropped" if step.kind.startswith("drop") else "changed"
    return rule.verdict(f"the {what} {detail(step, 'name') or step.table} {verb}")


RULES: tuple[Rule, ...] = (
    Rule(
        "adding-required-field",
        frozenset({"add_column"}),
        RiskCategory.INTEGRITY,
        RiskLevel.CRITICAL,
        90,
        "A NOT NULL column without a default cannot be filled for existing rows.",
        "Add it nullable (or with a default), backfill in batches, then SET NOT NULL.",
        _adding_required_field,
        ("squawk: adding-required-field", "strong_migrations: add_column NOT NULL"),
    ),
    Rule(
        "adding-field-with-volatile-default",
        frozenset({"add_column"}),
        RiskCategory.LOCKING,
        RiskLevel.HIGH,
        65,
        "A volatile default forces a table rewrite.",
        "Add the column without a default, set the default separately, backfill in batches.",
        _volatile_default,
        ("squawk: adding-field-with-default", "strong_migrations: add_column_default_callable"),
    ),
    Rule(
        "adding-field-with-default-rewrites",
        frozenset({"add_column"}),
        RiskCategory.LOCKING,
        RiskLevel.HIGH,
        65,
        "This server version rewrites the table to add a column with a default.",
        "Add the column nullable without a default, then set the default and backfill in batches.",
        _default_rewrites,
        ("squawk: adding-field-with-default", "strong_migrations: add_column_default"),
    ),
    Rule(
        "setting-not-null",
        frozenset({"alter_nullability"}),
        RiskCategory.LOCKING,
        RiskLevel.HIGH,
        65,
        "SET NOT NULL scans the table under a blocking lock.",
        "Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL (PostgreSQL 12+ skips the "
        "scan) and drop the check.",
        _setting_not_null,
        ("squawk: adding-not-nullable-field", "strong_migrations: change_column_null"),
    ),
    Rule(
        "dropping-not-null",
        frozenset({"alter_nullability"}),
        RiskCategory.BACKWARD_COMPATIBILITY,
        RiskLevel.MEDIUM,
        35,
        "Readers may now meet NULLs.",
        "Make sure every reader handles NULL before deploying.",
        _dropping_not_null,
        ("atlas: MF104 / backward-incompatible nullability",),
    ),
    Rule(
        "changing-column-type",
        frozenset({"alter_type"}),
        RiskCategory.LOCKING,
        RiskLevel.HIGH,
        65,
        "Changing a column's type usually rewrites the table.",
        "Add a new column, dual-write, backfill, switch readers, then drop the old column.",
        _changing_type,
        ("squawk: changing-column-type", "strong_migrations: change_column", "atlas: MF103"),
    ),
    Rule(
        "dropping-column",
        frozenset({"drop_column"}),
        RiskCategory.DATA_LOSS,
        RiskLevel.HIGH,
        70,
        "Dropping a column destroys its data and breaks code still reading it.",
        "Stop reading / writing it first (ignore it in the model), back it up, then drop it in a later release.",
        _dropping_column,
        ("squawk: ban-drop-column", "strong_migrations: remove_column", "atlas: DS103"),
    ),
    Rule(
        "dropping-table",
        frozenset({"drop_table"}),
        RiskCategory.DATA_LOSS,
        RiskLevel.CRITICAL,
        95,
        "Dropping a table destroys its data.",
        "Back the table up (or rename it aside) and drop it only after a release without readers.",
        _dropping_table,
        ("squawk: ban-drop-table", "strong_migrations: drop_table", "atlas: DS102"),
    ),
    Rule(
        "renaming",
        frozenset({"rename_column", "rename_table"}),
        RiskCategory.BACKWARD_COMPATIBILITY,
        RiskLevel.HIGH,
        60,
        "Renames break deployed code that uses the old name.",
        "Expand / contract: add the new name (column copy or view), dual-write, move readers, drop the old name.",
        _renaming,
        (
            "squawk: renaming-column, renaming-table",
            "strong_migrations: rename_column, rename_table",
            "atlas: BC101, BC102",
        ),
    ),
    Rule(
        "require-concurrent-index-creation",
        frozenset({"add_index"}),
        RiskCategory.LOCKING,
        RiskLevel.HIGH,
        65,
        "Building an index blocks writes to the table.",
        "Build it without blocking writes where the database can (CREATE INDEX CONCURRENTLY).",
        _index_blocks_writes,
        ("squawk: require-concurrent-index-creation", "strong_migrations: add_index", "atlas: PG101"),
    ),
    Rule(
        "unique-on-duplicate-values",
        frozenset({"add_index", "add_unique"}),
        RiskCategory.INTEGRITY,
        RiskLevel.CRITICAL,
        90,
        "Duplicate values prevent the unique constraint.",
        "Remove or merge the duplicates first.",
        _unique_on_duplicates,
        ("atlas: MF101",),
    ),
    Rule(
        "disallowed-unique-constraint",
        frozenset({"add_unique"}),
        RiskCategory.LOCKING,
        RiskLevel.HIGH,
        65,
        "Adding a unique constraint to a populated table builds its index under a blocking lock.",
        "CREATE UNIQUE INDEX CONCURRENTLY, then ALTER TABLE … ADD CONSTRAINT … UNIQUE USING INDEX.",
        _unique_constraint,
        ("squawk: disallowed-unique-constraint", "strong_migrations: add_unique_constraint"),
    ),
    Rule(
        "constraint-missing-not-valid",
        frozenset({"add_foreign_key", "add_check"}),
        RiskCategory.LOCKING,
        RiskLevel.HIGH,
        65,
        "Adding a constraint validates every row under a blocking lock.",
        "ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in a separate transaction.",
        _constraint_not_valid,
        (
            "squawk: adding-foreign-key-constraint, constraint-missing-not-valid",
            "strong_migrations: add_foreign_key, add_check_constraint",
        ),
    ),
    Rule(
        "dropping-constraint",
        frozenset({"drop_foreign_key", "drop_index"}),
        RiskCategory.INTEGRITY,
        RiskLevel.LOW,
        20,
        "A dropped constraint no longer protects the data.",
        "Keep the guarantee in application code, or replace the constraint before dropping it.",
        _dropping_constraint,
        ("atlas: CD101",),
    ),
    Rule(
        "require-concurrent-index-deletion",
        frozenset({"drop_index"}),
        RiskCategory.LOCKING,
        RiskLevel.MEDIUM,
        30,
        "DROP INDEX locks the table.",
        "Drop it without blocking where the database can (DROP INDEX CONCURRENTLY).",
        _drop_index_blocks,
        ("squawk: require-concurrent-index-deletion",),
    ),
    Rule(
        "changing-default",
        frozenset({"alter_default"}),
        RiskCategory.BACKWARD_COMPATIBILITY,
        RiskLevel.LOW,
        15,
        "A changed default changes what new rows get.",
        "Deploy code that sets the value explicitly first.",
        _changing_default,
        ("atlas: BC / default change",),
    ),
    Rule(
        "deleting-referenced-rows",
        frozenset({"delete_rows"}),
        RiskCategory.INTEGRITY,
        RiskLevel.HIGH,
        60,
        "Other tables reference the rows: cascades change them, other keys refuse the delete.",
        "Review the cascades; delete or re-point the referencing rows first.",
        _deleting_referenced_rows,
        ("atlas: DS / referential actions",),
    ),
    Rule(
        "changing-view-or-trigger",
        frozenset({"drop_view", "alter_view", "drop_trigger", "alter_trigger"}),
        RiskCategory.BACKWARD_COMPATIBILITY,
        RiskLevel.MEDIUM,
        35,
        "Readers of a view, or behaviour a trigger gave, change.",
        "Recreate what depends on it, or keep the old definition until readers have moved.",
        _schema_object_change,
        ("atlas: BC / view change",),
    ),
)


def evaluate(
    step: MigrationStep, facts: StepFacts, step_index: int | None = None, rules: Iterable[Rule] = RULES
) -> list[RiskFinding]:
    """Every finding the rules make about ``step`` given ``facts``."""
    findings = []
    for rule in rules:
        if step.kind not in rule.kinds:
            continue
        verdict = rule.check(step, facts, rule)
        if verdict is None:
            continue
        findings.append(
            RiskFinding(
                rule.id,
                verdict.level,
                verdict.score,
                rule.category.value,
                f"{step.describe()}: {verdict.reason}",
                step_index,
                verdict.mitigation,
            )
        )
    return findings


def rules_by_id() -> Mapping[str, Rule]:
    return {rule.id: rule for rule in RULES}


def describe_rules(rules: Sequence[Rule] = RULES) -> list[dict[str, Any]]:
    """The rule table (for the README and ``dataflow migrate assess --rules``)."""
    return [
        {
            "id": r.id,
            "kinds": sorted(r.kinds),
            "category": r.category.value,
            "level": r.level.name,
            "score": r.score,
            "reason": r.reason,
            "mitigation": r.mitigation,
            "sources": list(r.sources),
        }
        for r in rules
    ]
