"""``dataflow migrate status | plan | apply | require``: migrations from the command line.

``--models`` names a module (``pkg.models``) or a file (``app/models.py``) that declares models on a
DataFlow instance it creates; the instances found in its globals supply the models. With ``--url``
the models are planned against that database instead of the instance's own. Output is a rich table
of steps with their risk (``--json`` for machines); ``apply`` shows a progress bar and refuses risky
plans without ``--confirm`` (DF-302). Columns are only ever dropped with ``--drop-columns``.
``require`` completes a required column that was added nullable to a populated table: it backfills
the NULLs with ``--backfill`` and makes the column NOT NULL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

from cyclopts import Parameter
from dataflow.cli import ModelsOption, open_instance
from dataflow.errors import DataFlowError
from dataflow.loop import run_sync
from dataflow.types import MigrationPlan, RiskLevel

from dataflow_migrate import api
from dataflow_migrate.history import step_to_dict

__all__ = ["apply", "plan", "require", "status"]

# The options the three commands share, with their help text in one place.
JsonFlag = Annotated[bool, Parameter(name="--json", negative=(), help="Print JSON (for scripts) instead of tables.")]
UrlOption = Annotated[str | None, Parameter(help="Database URL (default: the URL of the instance in --models).")]
DropColumnsFlag = Annotated[bool, Parameter(negative=(), help="Also drop columns no model field maps to any more "
                                                              "(their data is deleted; off unless given).")]
AcceptRenameOption = Annotated[Sequence[str], Parameter(negative_iterable=(), help="Take a rename candidate: "
                                                        "table.old->new (repeatable).")]
ConfirmFlag = Annotated[bool, Parameter(negative=(), help="Apply even when the plan's risk is HIGH or CRITICAL.")]
_LEVEL_COLOURS = {RiskLevel.LOW: "green", RiskLevel.MEDIUM: "yellow", RiskLevel.HIGH: "red",
                  RiskLevel.CRITICAL: "bold red"}


def _step_levels(plan: MigrationPlan) -> dict[int, RiskLevel]:
    levels: dict[int, RiskLevel] = {}
    for finding in plan.findings:
        if finding.step_index is not None:
            levels[finding.step_index] = max(levels.get(finding.step_index, RiskLevel.LOW), finding.level)
    return levels


def plan_to_dict(plan: MigrationPlan) -> dict[str, Any]:
    levels = _step_levels(plan)
    return {
        "dialect": plan.dialect,
        "level": plan.level.name,
        "checksum": plan.checksum(),
        "steps": [{**step_to_dict(s), "risk": levels.get(i, RiskLevel.LOW).name} for i, s in enumerate(plan.steps)],
        "findings": [{"rule": f.rule, "level": f.level.name, "score": f.score, "category": f.category,
                      "reason": f.reason, "step_index": f.step_index, "mitigation": f.mitigation}
                     for f in plan.findings],
        "rename_candidates": [step_to_dict(c) for c in plan.rename_candidates],
        "follow_ups": [step_to_dict(f) for f in plan.follow_ups],
    }


def _print_plan(plan: MigrationPlan, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if plan.is_empty and not plan.rename_candidates and not plan.follow_ups:
        console.print(f"[green]{title}: the schema matches the models; nothing to do.[/]")
        return
    levels = _step_levels(plan)
    if plan.steps:
        table = Table(title=f"{title} ({plan.dialect}, risk {plan.level.name})")
        for column in ("#", "Step", "Target", "Risk", "SQL"):
            table.add_column(column)
        for index, step in enumerate(plan.steps):
            level = levels.get(index, RiskLevel.LOW)
            target = f"{step.table}.{step.column}" if step.column else step.table
            table.add_row(str(index + 1), step.kind, target, f"[{_LEVEL_COLOURS[level]}]{level.name}[/]",
                          "\n".join(step.sql))
        console.print(table)
    for finding in plan.findings:
        console.print(f"[{_LEVEL_COLOURS[finding.level]}]{finding.level.name}[/] {finding.reason}"
                      + (f" — {finding.mitigation}" if finding.mitigation else ""))
    for follow_up in plan.follow_ups:
        # One line each, never wrapped: the command is meant to be copied.
        console.print(f"[yellow]Pending[/] make {follow_up.table}.{follow_up.column} NOT NULL "
                      f"({follow_up.details.get('reason', 'required by the model')}): "
                      f"{follow_up.details.get('command')}", soft_wrap=True)
    for candidate in plan.rename_candidates:
        to = candidate.details.get("to")
        console.print(f"[yellow]Possible rename[/] {candidate.describe()} → {to} "
                      f"(accept with --accept-rename {candidate.table}.{candidate.column}->{to})")


def _renames(accept_rename: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for item in accept_rename:
        old, arrow, new = item.partition("->")
        if not arrow:
            raise DataFlowError("DF-401", f"--accept-rename expects table.old->new, got {item!r}.")
        pairs[old.strip()] = new.strip()
    return pairs


def status(*, url: UrlOption = None, models: ModelsOption = None, json_output: JsonFlag = False) -> None:
    """Show pending steps for the models and the recent migration history."""
    db = open_instance(url, models)
    try:
        result = run_sync(api.migrate_status(db))
    finally:
        db.close()
    history = [{k: v for k, v in row.items() if k != "steps"} for row in result["history"]]
    if json_output:
        print(json.dumps({"pending": plan_to_dict(result["pending"]), "history": history}, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    _print_plan(result["pending"], "Pending")
    table = Table(title="History (newest first)")
    for column in ("Started", "Kind", "Status", "Steps", "Duration ms", "Holder"):
        table.add_column(column)
    for row in history:
        table.add_row(str(row["started_at"]), row["kind"], row["status"], f"{row['checkpoint']}/{row['step_count']}",
                      f"{float(row['duration_ms'] or 0):.1f}", str(row["holder"]))
    Console().print(table)


def plan(*, url: UrlOption = None, models: ModelsOption = None, json_output: JsonFlag = False,
         drop_columns: DropColumnsFlag = False, accept_rename: AcceptRenameOption = ()) -> None:
    """Show the steps that would bring the database to the models, with their risk."""
    db = open_instance(url, models)
    try:
        result = run_sync(api.migrate_plan(db, drop_columns=drop_columns, accept_renames=_renames(accept_rename)))
    finally:
        db.close()
    if json_output:
        print(json.dumps(plan_to_dict(result), indent=2, default=str))
    else:
        _print_plan(result, "Plan")


def apply(*, url: UrlOption = None, models: ModelsOption = None, json_output: JsonFlag = False,
          confirm: ConfirmFlag = False, drop_columns: DropColumnsFlag = False,
          accept_rename: AcceptRenameOption = ()) -> None:
    """Apply the plan under the migration lock (risky plans need --confirm)."""
    db = open_instance(url, models)
    options: dict[str, Any] = {"drop_columns": drop_columns, "accept_renames": _renames(accept_rename)}
    try:
        preview = run_sync(api.migrate_plan(db, **options))
        if not json_output:
            _print_plan(preview, "Plan")
        if preview.is_empty:
            if json_output:
                print(json.dumps({"status": "empty", "steps": 0}))
            return
        if json_output:
            result = run_sync(api.migrate_apply(db, confirmed=confirm, **options))
        else:
            from rich.progress import Progress

            with Progress() as bar:
                task = bar.add_task("Applying", total=len(preview.steps))

                def advance(_index: int, step: Any) -> None:
                    bar.update(task, advance=1, description=step.describe())

                result = run_sync(api.migrate_apply(db, confirmed=confirm, progress=advance, **options))
    finally:
        db.close()
    summary = {"id": result["id"], "status": result["status"], "steps": result["steps"],
               "duration_ms": result["duration_ms"], "plan": plan_to_dict(result["plan"])}
    if json_output:
        print(json.dumps(summary, indent=2, default=str))
    else:
        from rich.console import Console

        Console().print(f"[green]Applied {result['steps']} step(s) in {result['duration_ms']:.1f} ms[/] "
                        f"(history id {result['id']}).")


def _backfill_value(text: str) -> Any:
    """A --backfill value: JSON when it reads as JSON (``5``, ``true``, ``"x"``, ``{}``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def require(target: str, *, backfill: Annotated[str | None, Parameter(
                help="The value NULLs are filled with first (JSON when it reads as JSON, else text).")] = None,
            url: UrlOption = None, models: ModelsOption = None, json_output: JsonFlag = False,
            confirm: ConfirmFlag = False) -> None:
    """Make a column NOT NULL: backfill its NULLs, then SET NOT NULL as a locked, recorded migration.

    Completes a required field that was added nullable to a table holding rows (`migrate status`
    shows it as pending, with this command).

    Parameters
    ----------
    target
        The column, as table.column.
    """
    db = open_instance(url, models)
    try:
        value = api.NO_BACKFILL if backfill is None else _backfill_value(backfill)
        result = run_sync(api.migrate_require(db, target, value, confirmed=confirm))
    finally:
        db.close()
    summary = {"status": result["status"], "backfilled": result["backfilled"], "id": result["id"],
               "plan": plan_to_dict(result["plan"]) if result["plan"] is not None else None}
    if json_output:
        print(json.dumps(summary, indent=2, default=str))
        return
    from rich.console import Console

    if result["status"] == "already_required":
        Console().print(f"[green]{target} is already NOT NULL; nothing to do.[/]")
    else:
        Console().print(f"[green]{target} is now NOT NULL[/] ({result['backfilled']} row(s) backfilled, "
                        f"history id {result['id']}).")

