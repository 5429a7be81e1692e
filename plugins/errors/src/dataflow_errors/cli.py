"""``dataflow errors list | show | docs``: the catalogue on the command line.

Registered through ``dataflow_register_commands`` as a cyclopts sub-App; help comes from the
docstrings. ``--json`` prints machine-readable output; an unknown code is a DF-102 error (printed by
the ``dataflow`` entry point, exit status 2) naming the closest known code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from cyclopts import App, Parameter
from dataflow.errors import DataFlowError, did_you_mean

from dataflow_errors.catalogue import CATALOGUE, CatalogueEntry, lookup
from dataflow_errors.docs import render_markdown, write_docs

__all__ = ["errors_app", "errors_group"]


def errors_list(*, json_output: Annotated[bool, Parameter(name="--json")] = False) -> None:
    """List every DF error code with its title and range.

    Parameters
    ----------
    json_output
        Print a JSON array of entries (code, title, category, summary, causes, solutions, docs).
    """
    if json_output:
        print(json.dumps([e.to_dict() for e in CATALOGUE], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="DataFlow error codes")
    for column in ("Code", "Title", "Range", "What happened"):
        table.add_column(column, overflow="fold")
    for entry in CATALOGUE:
        table.add_row(f"[bold]{entry.code}[/]", entry.title, entry.category, entry.summary)
    Console().print(table)


def _find(code: str) -> CatalogueEntry:
    entry = lookup(code)
    if entry is None:
        codes = [e.code for e in CATALOGUE]
        raise DataFlowError(
            "DF-102",
            f"No error code {code!r} in the catalogue.{did_you_mean(code.upper(), codes)}",
            context={"parameter": "code", "value": code},
            solutions=["Run `dataflow errors list` to see every code."],
        )
    return entry


def errors_show(code: str, *, json_output: Annotated[bool, Parameter(name="--json")] = False) -> None:
    """Show one error code: what happened, likely causes and solutions with examples.

    Parameters
    ----------
    code
        The code, e.g. ``DF-101`` (``df101`` and ``101`` work too).
    json_output
        Print the entry as JSON.
    """
    entry = _find(code)
    if json_output:
        print(json.dumps(entry.to_dict(), indent=2))
        return
    from rich.console import Console

    from dataflow_errors.render import entry_panel

    Console().print(entry_panel(entry))


def errors_docs(*, write: bool = False, path: Path | None = None) -> None:
    """Print the error reference page generated from the catalogue, or write it.

    Parameters
    ----------
    write
        Write the page (default ``docs/errors.md`` of the repository) instead of printing it.
    path
        Where to write it.
    """
    if write:
        print(f"Wrote {write_docs(path)}")
    else:
        print(render_markdown(), end="")


def errors_app() -> App:
    """The ``errors`` sub-command group."""
    app = App(name="errors", help="The DF error-code catalogue: list codes, show one, generate the docs.")
    app.command(errors_list, name="list")
    app.command(errors_show, name="show")
    app.command(errors_docs, name="docs")
    return app


errors_group = errors_app()
"""The group the plugin registers by import path (``dataflow_errors.cli:errors_group``)."""
