"""``dataflow audit verify --url URL``: check the audit trail's hash chain.

Exit status 0 when the chain is intact, 1 when it is broken (the report names the first bad row and
why) or there is no audit table; a DF-coded error (an unreachable database) exits 2 through the
``dataflow`` entry point. ``--json`` prints the report for scripts.
"""

from __future__ import annotations

import json
from typing import Annotated

from cyclopts import Parameter

__all__ = ["verify"]


def verify(*, url: Annotated[str | None, Parameter(help="The database URL (default: DATABASE_URL).")] = None,
           table: Annotated[str, Parameter(help="The audit table.")] = "dataflow_audit",
           json_output: Annotated[bool, Parameter(name="--json", negative=(),
                                                  help="Print the report as JSON, for scripts.")] = False) -> int:
    """Check the audit trail's hash chain: every row follows the previous one, every hash matches the row
    as stored, and the chain head matches the last row.

    Exit status: 0 intact, 1 broken (the first bad row is named) or no audit table.
    """
    from dataflow.facade import DataFlow

    with DataFlow(url, audit_table=table) as db:
        report = db.audit.verify()
    if json_output:
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if report.ok else 1
    from rich.console import Console

    console = Console(emoji=False, highlight=False)
    if report.ok:
        console.print(f"[green]✓ audit trail intact[/green]: {report.rows} rows in {report.table!r}, every hash "
                      f"matches.")
        return 0
    if report.first_bad is None:
        console.print(f"[red]✗ no audit trail[/red]: {report.reason}.")
        return 1
    where = f"first bad row: {report.first_bad}; "
    console.print(f"[red]✗ audit trail broken[/red] in {report.table!r}: {where}{report.reason}. "
                  f"{report.rows} rows before it verified.")
    return 1
