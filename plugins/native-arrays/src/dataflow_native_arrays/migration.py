"""Risk of moving a JSONB list column to a native array: which stored lists would not convert.

The PostgreSQL dialect writes the step itself (``alter_type`` from ``jsonb`` to ``TEXT[]`` …, through a
conversion function); the migrate plugin plans it and never applies it automatically. This adds what
only the data can tell: how many rows hold a value the array cannot take (not a list, an element of
another type, a number outside ``INTEGER``), so the step is HIGH risk (it would fail and roll back)
when there are any, and how many lists are converted otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dataflow.types import MigrationPlan, MigrationStep, RiskFinding, RiskLevel

__all__ = ["assess_array_conversions", "conversion_target"]

RULE = "native_arrays.conversion"
_ELEMENT_CHECKS = {
    "text[]": "jsonb_typeof(e) <> 'string'",
    "integer[]": ("CASE WHEN jsonb_typeof(e) <> 'number' THEN TRUE ELSE (e::text::numeric <> trunc(e::text::numeric) "
                  "OR e::text::numeric NOT BETWEEN -2147483648 AND 2147483647) END"),
    "real[]": ("CASE WHEN jsonb_typeof(e) <> 'number' THEN TRUE "
               "ELSE abs(e::text::numeric) > 3.4028234663852886e38 END"),
}
"""Per target type, when one element ``e`` of a stored list does not convert as it is."""


def conversion_target(step: MigrationStep) -> str | None:
    """The array type a step turns a JSONB column into (``text[]`` …), or None for any other step."""
    if step.kind != "alter_type" or not step.column:
        return None
    old, new = str(step.details.get("from", "")).strip().lower(), str(step.details.get("to", "")).strip().lower()
    return new if old == "jsonb" and new in _ELEMENT_CHECKS else None


async def assess_array_conversions(plan: MigrationPlan, db: Any) -> Iterable[RiskFinding]:
    findings = []
    dialect = db.dialect
    wanted = [(i, s, t) for i, s in enumerate(plan.steps) if (t := conversion_target(s)) is not None]
    if not wanted:
        return []
    async with dialect.connection() as conn:
        for index, step, target in wanted:
            column, table = dialect.quote(step.column or ""), dialect.quote(step.table)
            rows = await conn.fetch(
                f"SELECT COUNT(*) FILTER (WHERE CASE WHEN jsonb_typeof({column}) <> 'array' THEN TRUE ELSE EXISTS "
                f"(SELECT 1 FROM jsonb_array_elements({column}) AS x(e) WHERE {_ELEMENT_CHECKS[target]}) END), "
                f"COUNT({column}) FROM {table}", [])
            bad, lists = int(rows[0][0]), int(rows[0][1])
            where = f"{step.table}.{step.column}"
            if bad:
                findings.append(RiskFinding(
                    RULE, RiskLevel.HIGH, 80, "data_loss",
                    f"{where}: {bad} of {lists} stored values are not lists of what {target.upper()} holds; the "
                    "conversion would fail and the migration roll back.", index,
                    "Fix or remove those values first, or keep the field as JSON (use_native_arrays off)."))
            else:
                findings.append(RiskFinding(
                    RULE, RiskLevel.MEDIUM, 40, "rewrite",
                    f"{where}: {lists} stored lists convert to {target.upper()}; the table is rewritten.", index,
                    "Run it when a table rewrite is acceptable; readers of the JSON column must expect arrays."))
    return findings
