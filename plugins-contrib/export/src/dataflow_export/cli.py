"""``dataflow export`` and ``dataflow import``: the export plugin's streaming transfer from the command line.

The model comes from ``--models`` (a module or file declaring it on a DataFlow instance, exact types),
or, without it and with the migrate plugin installed, from the live table of that name. A rich
progress bar goes to stderr while rows move; the summary is a table, or JSON with ``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from cyclopts import Parameter
from dataflow.cli import ModelsOption, open_instance
from dataflow.errors import DataFlowError, did_you_mean
from dataflow.loop import run_sync
from dataflow.models import ModelSpec

from dataflow_export.formats import format_of
from dataflow_export.stream import DEFAULT_BATCH_SIZE, Progress, export_model, import_model

__all__ = ["export_command", "import_command"]

JsonFlag = Annotated[bool, Parameter(name="--json", help="Print the summary as JSON (for scripts).")]
UrlOption = Annotated[str | None, Parameter(help="Database URL (default: the instance's in --models).")]
FormatOption = Annotated[Literal["csv", "jsonl", "parquet"] | None,
                         Parameter(help="File format (default: from the file's suffix).")]
BatchOption = Annotated[int, Parameter(help="Rows per batch.")]


def _model(db: Any, name: str) -> ModelSpec:
    """The model called ``name`` (class or table name), discovering the table when nothing declares it."""
    for spec in db.models.values():
        if name in (spec.name, spec.table):
            return spec
    try:
        discover = db.register_schema_as_models
    except AttributeError:
        raise DataFlowError(
            "DF-407", f"No model {name!r} is declared, and reading the table from the database needs the "
                      "migrate plugin (dataflow-migrate), which is not installed or not enabled.",
            context={"model": name}, solutions=["Pass --models pkg.models (the module that declares it).",
                                                "Or pip install dataflow-migrate."]) from None
    found = discover(tables=[name])
    for model_name, table in found.get("models", {}).items():
        if table == name:
            return db.models[model_name]
    known = [*db.models, *(s.table for s in db.models.values())]
    reason = found.get("skipped", {}).get(name, "no such table")
    raise DataFlowError("DF-605", f"No model or table {name!r} ({reason}).{did_you_mean(name, known)}",
                        context={"model": name}, solutions=["Pass --models, or check the table name."])


@contextmanager
def _progress_bar(label: str, unit: str, quiet: bool) -> Iterator[Progress | None]:
    """A rich progress bar on stderr while the transfer runs (none when ``quiet``)."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    counter = TransferSpeedColumn() if unit == "bytes" else MofNCompleteColumn()
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), counter,
                   TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None)

    with bar:
        yield update


def _report(result: dict[str, Any], json_output: bool, title: str) -> None:
    if json_output:
        print(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)


def _run(url: str | None, models: str | None, name: str,
         work: Callable[[Any, ModelSpec, Progress | None], Any], label: str, unit: str,
         quiet: bool) -> dict[str, Any]:
    db = open_instance(url, models)
    try:
        model = _model(db, name)
        with _progress_bar(f"{label} {model.name}", unit, quiet) as progress:
            result: dict[str, Any] = run_sync(work(db, model, progress))
        return result
    finally:
        db.close()


def _names(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def export_command(
    model: str,
    path: str,
    *,
    url: UrlOption = None,
    models: ModelsOption = None,
    format: FormatOption = None,
    filter: Annotated[str | None, Parameter(help='Rows to export, as JSON: \'{"age": {"$gte": 18}}\'.')] = None,
    order_by: Annotated[str | None, Parameter(
        help="Order, comma-separated; -field for descending: --order-by=-price,name (id breaks ties).")] = None,
    fields: Annotated[str | None, Parameter(help="Only these columns, comma-separated: --fields id,name.")] = None,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    overwrite: Annotated[bool, Parameter(help="Replace PATH if it exists.")] = True,
    json_output: JsonFlag = False,
) -> None:
    """Export a model's rows to a CSV, JSON Lines or Parquet file, streamed in batches.

    Rows are read with keyset pagination (constant memory, however large the table) and written to a
    temporary file that replaces PATH only when complete. Example: ``dataflow export User users.csv
    --models app.models --filter '{"active": true}' --order-by=-created_at``.

    Parameters
    ----------
    model
        The model's name (User) or its table (users).
    path
        The file to write: *.csv, *.jsonl, *.parquet (CSV and JSON Lines may end in .gz).
    """
    try:
        where = json.loads(filter) if filter else None
    except ValueError as exc:
        raise DataFlowError("DF-102", f"--filter is not valid JSON: {exc}.", context={"parameter": "filter"}) from None
    result = _run(url, models, model, lambda db, spec, progress: export_model(
        db, spec, path, format=format, filter=where, order_by=_names(order_by), fields=_names(fields),
        batch_size=batch_size, overwrite=overwrite, progress=progress),
        "Exporting", "rows", json_output)
    _report(result, json_output, f"Exported {result['exported']} rows")


def import_command(
    model: str,
    path: str,
    *,
    url: UrlOption = None,
    models: ModelsOption = None,
    format: FormatOption = None,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    on_conflict: Annotated[Literal["error", "skip", "update"],
                           Parameter(help="A row whose id already exists: error, skip or update.")] = "error",
    json_output: JsonFlag = False,
) -> None:
    """Import a CSV, JSON Lines or Parquet file into a model's table, all or nothing.

    Every value is checked against the model; the first bad line stops the import with DF-712 naming
    it, and nothing is written (one transaction). Rows go through the database's bulk path. Example:
    ``dataflow import User users.csv --models app.models --on-conflict update``.

    Parameters
    ----------
    model
        The model's name (User) or its table (users).
    path
        The file to read (format from its suffix unless --format).
    """
    result = _run(url, models, model, lambda db, spec, progress: import_model(
        db, spec, path, format=format, batch_size=batch_size, conflict_resolution=on_conflict, progress=progress),
        "Importing", "rows" if format_of(path, format) == "parquet" else "bytes", json_output)
    _report(result, json_output, f"Imported {result['processed']} rows")
