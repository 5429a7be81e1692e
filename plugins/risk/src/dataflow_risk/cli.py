"""``dataflow migrate assess``: the risk report for one operation on a live database.

Prints the overall level and score, the breakdown by category with each factor, and the mitigations;
``--rules`` lists the rule table. The command joins the ``migrate`` group (``risk assess`` only when
the migrate plugin's group is absent): one command, never two copies. The database is ``--url``, else
``DATABASE_URL``, else the embedded SQLite file, which must exist: assessing never creates a
database, and a table that does not exist is refused (DF-304) rather than rated.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from cyclopts import App, Parameter

__all__ = ["assess", "register"]


def assess(
    operation: Annotated[str | None, Parameter(name="--operation")] = None,
    table: Annotated[str | None, Parameter(name="--table")] = None,
    *,
    column: Annotated[str | None, Parameter(name="--column")] = None,
    url: Annotated[str | None, Parameter(name="--url")] = None,
    detail: Annotated[list[str] | None, Parameter(name="--detail", negative_iterable=())] = None,
    rules: Annotated[bool, Parameter(name="--rules", negative=())] = False,
    json_output: Annotated[bool, Parameter(name="--json", negative=())] = False,
) -> None:
    """Assess the risk of a schema operation against the live database.

    Parameters
    ----------
    operation
        drop_column, add_not_null_column, rename_table, alter_type, add_index … (see --rules).
    table
        The table it changes.
    column
        The column, for column operations.
    url
        The database URL (default: DATABASE_URL, else the embedded SQLite file ./dataflow.db, which must exist).
    detail
        Operation details as key=value (new_type=BIGINT, default_value=active, new_name=people).
    rules
        List the risk rules instead.
    json_output
        Print JSON (for scripts).
    """
    from dataflow_risk.rules import describe_rules

    if rules or not operation or not table:
        table_rows = describe_rules()
        if json_output:
            print(json.dumps(table_rows, indent=2))
            return
        for row in table_rows:
            print(f"{row['id']:<36} {row['level']:<9} {row['category']:<24} {', '.join(row['kinds'])}")
            print(f"    {row['reason']}  Mitigation: {row['mitigation']}")
        return
    details = dict(item.split("=", 1) for item in detail or () if "=" in item)
    from dataflow.loop import run_sync

    db = _existing_database(url, table)
    try:
        report = run_sync(_assess(db, operation, table, column, details))
    finally:
        db.close()
    if json_output:
        print(json.dumps(report, indent=2, default=str))
        return
    print(
        f"Risk of {operation} on {table}{'.' + column if column else ''}: "
        f"{report['overall_risk_level']} ({report['overall_score']}/100)"
    )
    for category, risk in report["category_risks"].items():
        print(f"  {category}: {risk['risk_level']} ({risk['score']}/100)")
        for factor in risk["risk_factors"]:
            print(f"    - {factor['description']} (impact {factor['impact_score']})")
    for mitigation in report["mitigations"]:
        print(f"  mitigation: {mitigation}")


async def _assess(db: Any, operation: str, table: str, column: str | None, details: dict[str, str]) -> dict[str, Any]:
    from dataflow_risk.risk_assessment_engine import RiskAssessmentEngine

    result = await RiskAssessmentEngine(db).assess_operation_risk(operation, table, column, **details)
    return {
        "overall_risk_level": result.overall_risk_level.name,
        "overall_score": result.overall_score,
        "category_risks": {
            c.name: {
                "risk_level": r.risk_level.name,
                "score": r.score,
                "risk_factors": [
                    {"description": f.description, "impact_score": f.impact_score} for f in r.risk_factors
                ],
            }
            for c, r in result.category_risks.items()
        },
        "mitigations": result.mitigations,
        "facts": result.facts,
    }


def _existing_database(url: str | None, table: str) -> Any:
    """The instance to assess on; a database that is not there yet is refused (DF-304 naming the table),
    never made by connecting to it."""
    import os

    from dataflow import DataFlow
    from dataflow.errors import DataFlowError

    db = DataFlow(url or os.environ.get("DATABASE_URL") or None)
    if not db.dialect.database_exists():
        db.close()
        raise DataFlowError(
            "DF-304",
            f"Table {table!r} does not exist: there is no database at {db.url}.",
            context={"table": table, "database": str(db.url)},
            solutions=["Give the database to assess: dataflow migrate assess … --url postgresql://…"],
        )
    return db


def register(app: Any) -> None:
    """Add ``migrate assess`` (``risk assess`` when there is no ``migrate`` group): one command, not two."""
    try:
        migrate = app["migrate"]
    except (KeyError, Exception):
        migrate = None
    if isinstance(migrate, App):
        migrate.command(assess, name="assess")
        return
    group = App(name="risk", help="Risk assessment of schema changes.")
    group.command(assess, name="assess")
    app.command(group)
