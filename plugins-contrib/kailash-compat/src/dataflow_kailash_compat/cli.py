"""``dataflow compat``: every Kailash import path served, what serves it, and whether it is available now."""

from __future__ import annotations

import importlib.util
import json
from typing import Annotated, Any

from cyclopts import Parameter

from dataflow_kailash_compat.aliases import ALIASES, PROVIDERS, SERVED_BY_PLUGIN

__all__ = ["alias_table", "compat_command"]


def alias_table() -> list[dict[str, Any]]:
    """One row per import path: the path, what serves it, and the package it needs if that is missing."""
    rows = []
    for name, alias in ALIASES.items():
        targets = [alias.delegate] if alias.delegate else list(alias.exports.values())
        sources = sorted({SERVED_BY_PLUGIN.get(t, t.partition(":")[0]) for t in targets})
        missing = sorted({PROVIDERS.get(s.partition(".")[0], s) for s in sources
                          if importlib.util.find_spec(s.partition(".")[0]) is None})
        served = alias.delegate or ", ".join(f"{k} ← {v.replace(':', '.')}" for k, v in sorted(alias.exports.items()))
        rows.append({"import": name, "served_by": served or "(package)", "available": not missing,
                     "install": " ".join(missing)})
    return rows


def compat_command(*, json_output: Annotated[bool, Parameter(name="--json", help="Print JSON (for scripts).")]
                   = False) -> None:
    """List the Kailash import paths this plugin serves (kailash.*, dataflow.platform.*, dataflow.migrations.*).

    A path whose provider is not installed still imports; using a name from it raises DF-407 naming
    the package to install.
    """
    rows = alias_table()
    if json_output:
        print(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Kailash import paths served by DataFlow")
    for column in ("import", "served by", "status"):
        table.add_column(column)
    for row in rows:
        status = "[green]available[/]" if row["available"] else f"[yellow]pip install {row['install']}[/]"
        table.add_row(row["import"], row["served_by"], status)
    Console().print(table)
