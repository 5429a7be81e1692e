"""The risk rules: every risky schema change that squawk, strong_migrations and Atlas flag, typed.

A rule names the operation it judges, a default level and score (0-100), a category (data loss,
locking / downtime, backward compatibility, integrity), the reason and a mitigation. Its check reads
the step and the live facts (``StepFacts``: row count, dependent foreign keys, views, triggers,
indexes, NULL / duplicate / orphan counts, server version) and returns a ``Verdict`` when it fires,
possibly raising or lowering the level for what it found. ``evaluate(step, facts)`` runs them all.

Scores and levels agree: LOW 0-25, MEDIUM 26-50, HIGH 51-75, CRITICAL 76-100.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
from dataflow.migration import MigrationStep, RiskFinding, RiskLevel

from dataflow_risk.catalog import ForeignKeyInfo, ServerVersion, TableInfo, ViewInfo

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
    """Live facts about the table (and column) a step touches."""

    dialect: str
    version: ServerVersion
    table: TableInfo | None = None
    rows: int = 0
    referencing_fks: list[ForeignKeyInfo] = attrs.Factory(list)
    views: list[ViewInfo] = attrs.Factory(list)
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
    :param kinds: the step kinds it judges (``STEP_KINDS``).
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
            self.mitigation if mitigation is None else mitigation,
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


_LITERAL = re.compile(r"""^\s*(?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?|TRUE|FALSE|NULL)\s*(?:::[\w\s\[\]()]+)?$""", re.I)
_VOLATILE = re.compile(
    r"\b(random|clock_timestamp|timeofday|gen_random_uuid|uuid_generate_v[14]\w*|nextval|uuid|rand|"
    r"sys_guid|newid|setseed)\s*\(",
    re.I,
)
_NON_CONSTANT = re.compile(r"\b(current_timestamp|current_time|current_date|localtimestamp|localtime|now)\b|\(", re.I)


def default_expression(step: MigrationStep) -> str | None:
    """The column default as SQL text: an explicit expression, the step's DEFAULT clause, or a literal."""
    expr = detail(step, "default_expression", "default_sql", "server_default")
    if expr is not None:
        return str(expr)
    found = re.search(
        r"\bDEFAULT\s+(.+?)(?:\s+(?:NOT\s+NULL|NULL|CHECK|REFERENCES|CONSTRAINT|PRIMARY|UNIQUE)\b|;|$)",
        step_sql(step),
        re.I,
    )
    if found:
        return found.group(1).strip()
    value = detail(step, "default")
    if value is None:
        return None
    return str(value) if isinstance(value, int | float) else "'" + str(value).replace("'", "''") + "'"


def has_default(step: MigrationStep) -> bool:
    return default_expression(step) is not None and (default_expression(step) or "").upper() != "NULL"


def is_volatile(expr: str | None) -> bool:
    return bool(expr) and _VOLATILE.search(expr or "") is not None


def is_constant(expr: str | None) -> bool:
    return expr is None or _LITERAL.match(expr) is not None


def new_nullable(step: MigrationStep) -> bool:
    """Whether the column is nullable after the step (read from details, else from its SQL)."""
    value = detail(step, "nullable", "new_nullable")
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


# ---- type changes ------------------------------------------------------------------------------
_TYPE = re.compile(r"^\s*([a-z_ ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*(unsigned)?\s*$", re.I)
_ALIASES = {
    "character varying": "varchar",
    "character": "char",
    "int4": "integer",
    "int": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "decimal": "numeric",
    "float8": "double precision",
    "double": "double precision",
    "float4": "real",
    "bool": "boolean",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "mediumint": "mediumint",
    "tinyint": "tinyint",
}
_INT_RANK = {"tinyint": 1, "smallint": 2, "mediumint": 3, "integer": 4, "bigint": 5}


def parse_type(text: str) -> tuple[str, int | None, int | None]:
    """``varchar(20)`` → ("varchar", 20, None); ``numeric(10,2)`` → ("numeric", 10, 2)."""
    found = _TYPE.match(text or "")
    if not found:
        return (text or "").strip().lower(), None, None
    base = " ".join(found.group(1).lower().split())
    base = _ALIASES.get(base, base)
    return base, int(found.group(2)) if found.group(2) else None, int(found.group(3)) if found.group(3) else None


def sqlite_affinity(type_text: str) -> str:
    """SQLite's column affinity rules (section 3.1 of its datatype page)."""
    t = (type_text or "").upper()
    if "INT" in t:
        return "INTEGER"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def type_change_kind(old: str, new: str, dialect: str) -> str:
    """ "same", "safe" (metadata-only widening), "narrowing" (values may not fit) or "rewrite"."""
    if dialect == "sqlite":
        # SQLite stores values by affinity: a declared size is never enforced.
        return "safe" if sqlite_affinity(old) == sqlite_affinity(new) else "rewrite"
    (ob, ol, os_), (nb, nl, ns) = parse_type(old), parse_type(new)
    if (ob, ol, os_) == (nb, nl, ns):
        return "same"
    text_like = {"varchar", "text", "char", "longtext", "mediumtext"}
    if ob in ("varchar", "char") and nb == ob:
        if nl is None or (ol is not None and nl >= ol):
            if dialect == "mysql" and ol is not None and nl is not None and (ol * 4 < 256) != (nl * 4 < 256):
                return "rewrite"  # the length prefix grows from one byte to two: InnoDB copies the table
            return "safe"
        return "narrowing"
    if dialect == "postgresql":
        if ob == "varchar" and nb == "text":
            return "safe"
        if ob == "text" and nb == "varchar":
            return "safe" if nl is None else "narrowing"
        if ob == "numeric" and nb == "numeric":
            if nl is None:
                return "safe"
            if ol is not None and nl >= ol and (ns or 0) == (os_ or 0):
                return "safe"
            return "narrowing" if ol is not None and (nl < ol or (ns or 0) < (os_ or 0)) else "rewrite"
        if (ob, nb) in (("cidr", "inet"), ("timestamp", "timestamptz"), ("varbit", "varbit")):
            return "safe" if ob != "timestamp" else "rewrite"
    if ob in _INT_RANK and nb in _INT_RANK:
        return "rewrite" if _INT_RANK[nb] > _INT_RANK[ob] else "narrowing"
    if ob in text_like and nb in text_like:
        return "rewrite" if nb in ("text", "longtext", "mediumtext") else "narrowing"
    if ob in text_like or (ob == "numeric" and nb in _INT_RANK):
        return "narrowing"
    return "rewrite"


# ---- the rules ---------------------------------------------------------------------------------
def _adding_required_field(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "add_column" or new_nullable(step) or has_default(step):
        return None
    if facts.dialect == "sqlite":
        return rule.verdict(
            "SQLite refuses to add a NOT NULL column without a default, even to an empty table", score=90
        )
    if facts.rows == 0:
        return rule.verdict(
            "NOT NULL column without a default: the table is empty, but writers that do not set it will now fail",
            score=35,
        )
    if facts.dialect == "mysql":
        return rule.verdict(
            f"NOT NULL column without a default: MySQL fills the {_rows(facts)} already there with "
            "the type's implicit default ('' / 0), silently",
            score=70,
        )
    return rule.verdict(
        f"NOT NULL column without a default on a table with {_rows(facts)}: the statement fails", score=90
    )


def _volatile_default(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    expr = default_expression(step)
    if step.kind != "add_column" or expr is None:
        return None
    if facts.dialect == "sqlite":
        if is_constant(expr):
            return None
        return rule.verdict(
            f"SQLite cannot add a column whose default ({expr}) is not a constant: the statement fails",
            score=85,
            mitigation="Add the column with a constant default (or nullable), then fill it with an UPDATE.",
        )
    if not is_volatile(expr):
        return None
    return _size_verdict(
        rule,
        facts,
        f"the volatile default {expr} is evaluated for every existing row, rewriting the table under an exclusive lock",
    )


def _default_rewrites(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    """Before PostgreSQL 11, MySQL 8.0.12 and MariaDB 10.3, adding a column with a default rewrote the table."""
    if step.kind != "add_column" or not has_default(step) or is_volatile(default_expression(step)):
        return None
    v = facts.version
    if facts.dialect == "postgresql" and v.numbers and not v.at_least(11):
        why = f"PostgreSQL {v.text} (before 11) rewrites the table to add a column with a default"
    elif facts.dialect == "mysql" and v.is_mariadb and v.numbers and not v.at_least(10, 3):
        why = f"MariaDB {v.text} (before 10.3) copies the table to add a column"
    elif facts.dialect == "mysql" and not v.is_mariadb and v.numbers and not v.at_least(8, 0, 12):
        why = f"MySQL {v.text} (before 8.0.12) rebuilds the table to add a column"
    else:
        return None
    return _size_verdict(rule, facts, why)


def _setting_not_null(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "alter_nullability" or new_nullable(step):
        return None
    if facts.null_count:
        return rule.verdict(
            f"{facts.null_count:,} existing rows hold NULL in {step.column}: SET NOT NULL fails",
            score=90,
            mitigation="Backfill the NULLs first (UPDATE … SET col = <value> WHERE col IS "
            "NULL), in batches on a large table.",
        )
    if facts.dialect == "postgresql":
        reason = "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock"
        mitigation = (
            rule.mitigation
            if not facts.version.numbers or facts.version.at_least(12)
            else "Upgrade to PostgreSQL 12+, or run it in a maintenance window."
        )
    elif facts.dialect == "mysql":
        reason, mitigation = (
            "MODIFY … NOT NULL rebuilds the table",
            "Use an online schema change tool (gh-ost, pt-online-schema-change) on a large table.",
        )
    else:
        reason, mitigation = "SQLite must rebuild the table to change nullability", "Run it while writers are paused."
    return _size_verdict(rule, facts, reason, mitigation)


def _dropping_not_null(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "alter_nullability" or not new_nullable(step):
        return None
    return rule.verdict(f"{step.column} may now hold NULL: readers that rely on it being set can break")


def _changing_type(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "alter_type":
        return None
    new = detail(step, "new_type", "to_type", "type") or ""
    old = detail(step, "old_type", "from_type")
    if old is None and facts.table is not None and step.column:
        column = facts.table.column(step.column)
        old = column.type if column else None
    kind = type_change_kind(str(old or ""), str(new), facts.dialect) if old else "rewrite"
    if kind == "same":
        return None
    if facts.dialect == "sqlite":
        # SQLite has no ALTER COLUMN TYPE: the table is rebuilt; values keep or convert their affinity.
        why = (
            "keeps the column's affinity, but SQLite rebuilds the table to change a declared type"
            if kind == "safe"
            else "changes the column's affinity: SQLite rebuilds the table and converts stored values"
        )
        return _size_verdict(rule, facts, f"{old} → {new} {why}")
    if kind == "safe":
        return rule.verdict(f"{old} → {new} is a safe widening (metadata only, no rewrite)", score=10, mitigation="")
    if kind == "narrowing":
        return rule.verdict(
            f"{old} → {new} narrows the column: existing values may be truncated or the change fails ({_rows(facts)})",
            score=85 if facts.rows else 40,
            mitigation="Check the longest / largest value first; add a new column, backfill, "
            "switch readers, then drop the old one.",
        )
    return _size_verdict(
        rule,
        facts,
        f"{old or 'the column'} → {new} rewrites the table and its indexes under an exclusive lock",
        floor=RiskLevel.MEDIUM,
    )


def _dependents(facts: StepFacts, column: str | None) -> list[str]:
    found = [
        f"foreign key {fk.name} of {fk.table}"
        for fk in facts.referencing_fks
        if column is None or column in fk.ref_columns
    ]
    found += [f"view {v.name}" for v in facts.views]
    if column is not None and facts.table is not None:
        found += [
            f"index {i.name}"
            for i in facts.table.indexes + facts.table.uniques
            if column in i.columns and len(i.columns) > 1 and not i.primary
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
    if dependents:
        return rule.verdict(
            f"dropping {step.column} breaks or cascades to {', '.join(dependents)}; "
            f"its values in {_rows(facts)} are lost",
            score=90,
        )
    if facts.rows:
        return rule.verdict(f"the values of {step.column} in {_rows(facts)} are lost", score=70)
    return rule.verdict(f"{step.column} disappears: code still reading it breaks (the table is empty)", score=40)


def _dropping_table(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "drop_table":
        return None
    dependents = _dependents(facts, None)
    if facts.rows or dependents:
        extra = f"; depended on by {', '.join(dependents)}" if dependents else ""
        return rule.verdict(f"{_rows(facts)} are lost{extra}", score=95)
    return rule.verdict("the (empty) table disappears: code still using it breaks", score=55)


def _renaming(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind not in ("rename_column", "rename_table"):
        return None
    target = step.column if step.kind == "rename_column" else step.table
    new = detail(step, "new_name", "to", "new")
    dependents = _dependents(facts, step.column if step.kind == "rename_column" else None)
    reason = f"renaming {target} → {new} breaks every deployed reader and writer that uses the old name"
    if facts.dialect == "mysql" and facts.views:
        return rule.verdict(
            reason + f"; MySQL views keep the old name and break: {', '.join(v.name for v in facts.views)}", score=85
        )
    if dependents:
        reason += f" (depended on by {', '.join(dependents)})"
    return rule.verdict(reason, score=65 if step.kind == "rename_table" else 60)


def _index_without_concurrently(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "add_index":
        return None
    concurrently = "CONCURRENTLY" in step_sql(step).upper() or bool(detail(step, "concurrently"))
    if facts.dialect == "postgresql" and not concurrently:
        return _size_verdict(
            rule, facts, "CREATE INDEX without CONCURRENTLY blocks every write to the table while it builds"
        )
    if facts.dialect == "sqlite" and facts.rows >= 10_000:
        return _size_verdict(
            rule,
            facts,
            "SQLite holds the database write lock while it builds the index",
            "Build it while writers are paused.",
        )
    return None


def _unique_on_duplicates(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    unique = step.kind == "add_unique" or (step.kind == "add_index" and bool(detail(step, "unique")))
    if not unique or not facts.duplicate_count:
        return None
    return rule.verdict(
        f"{facts.duplicate_count:,} values of ({', '.join(columns_of(step))}) occur more than once: "
        "the unique constraint cannot be created"
    )


def _unique_constraint(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "add_unique" or facts.rows == 0:
        return None
    sql = step_sql(step).upper()
    if facts.dialect == "postgresql" and "USING INDEX" not in sql:
        return _size_verdict(
            rule, facts, "ADD UNIQUE builds its index under an ACCESS EXCLUSIVE lock on a populated table"
        )
    if facts.dialect == "sqlite" and "CREATE UNIQUE INDEX" not in sql:
        return _size_verdict(
            rule,
            facts,
            "SQLite must rebuild the table to add a UNIQUE constraint",
            "Create a UNIQUE INDEX instead: same guarantee, no rebuild.",
        )
    if facts.dialect == "mysql":
        return _size_verdict(
            rule,
            facts,
            "adding a UNIQUE key to a populated table builds an index and rejects concurrent duplicates",
            "Use ALGORITHM=INPLACE, LOCK=NONE.",
        )
    return None


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
    if facts.rows == 0:
        return None
    if facts.dialect == "postgresql" and "NOT VALID" not in step_sql(step).upper():
        return _size_verdict(
            rule,
            facts,
            f"adding a {what} without NOT VALID validates every row while it holds a lock that blocks writes",
        )
    if facts.dialect == "sqlite":
        return _size_verdict(
            rule,
            facts,
            f"SQLite must rebuild the table to add a {what}",
            "Run it while writers are paused.",
            floor=RiskLevel.MEDIUM,
        )
    if facts.dialect == "mysql":
        return _size_verdict(
            rule,
            facts,
            f"adding a {what} copies the table (ALGORITHM=COPY)",
            "SET foreign_key_checks = 0 lets InnoDB add a foreign key in place; validate with a query afterwards."
            if step.kind == "add_foreign_key"
            else "Use an online schema change tool on a large table.",
        )
    return None


def _dropping_constraint(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind == "drop_foreign_key":
        return rule.verdict("the foreign key no longer protects referential integrity: orphans become possible")
    if step.kind == "drop_index" and facts.table is not None:
        name = detail(step, "name", "index") or step.column
        index = next((i for i in facts.table.indexes + facts.table.uniques if i.name == name), None)
        if index is not None and index.unique:
            return rule.verdict(f"dropping the unique index {name} lets duplicates in", score=45)
    return None


def _drop_index_concurrently(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "drop_index" or facts.dialect != "postgresql" or "CONCURRENTLY" in step_sql(step).upper():
        return None
    return rule.verdict("DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table", score=30)


def _changing_default(step: MigrationStep, facts: StepFacts, rule: Rule) -> Verdict | None:
    if step.kind != "alter_default":
        return None
    if facts.dialect == "sqlite":
        return _size_verdict(rule, facts, "SQLite must rebuild the table to change a column default")
    return rule.verdict(
        f"new rows get a different default for {step.column}; writers relying on the old one change behaviour", score=15
    )


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
        "CREATE INDEX CONCURRENTLY (outside a transaction) on PostgreSQL.",
        _index_without_concurrently,
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
        "DROP INDEX CONCURRENTLY on PostgreSQL.",
        _drop_index_concurrently,
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
