"""DuckDB's errors as DF-coded errors.

DuckDB reports no error codes: each error is an exception class (``ConstraintException``,
``CatalogException``, ``TransactionException`` …) with a message. The class decides the family; within
a family the message's fixed opening words (DuckDB's own wording, e.g. "Duplicate key") tell the
kinds apart. Anything not recognised is DF-503 with DuckDB's message.
"""

from __future__ import annotations

from typing import Any

import duckdb
from dataflow.errors import DataFlowError

__all__ = ["file_in_use", "translate", "write_conflict"]

_CONSTRAINTS = (
    (("Duplicate key", "violates unique constraint", "violates primary key constraint",
      "UNIQUE constraint violation"), "DF-704",
     "A row with the same unique value already exists", "Use an UpsertNode, or conflict_resolution='skip' for bulk."),
    (("NOT NULL constraint failed",), "DF-705", "A required column got no value",
     "Give the field a value, or declare it Optional[...] in the model."),
    (("foreign key constraint",), "DF-706", "A foreign key would be violated",
     "Create the referenced row first (or delete the referencing rows first)."),
)


def file_in_use(path: str, detail: str) -> DataFlowError:
    """DF-413: another process has the database file open (DuckDB allows one writing process per file)."""
    return DataFlowError(
        "DF-413",
        f"The DuckDB database file {path!r} is open in another process; DuckDB lets one process at a time "
        "open a file for writing.",
        context={"path": path, "detail": detail[:300]},
        causes=["Another program (a second worker, a notebook, the duckdb shell) has the file open."],
        solutions=["Run one process per DuckDB file (a single worker), or close the other program first.",
                   "Use PostgreSQL or MySQL for several processes writing one database."],
    )


def write_conflict(detail: str) -> DataFlowError:
    """DF-517: DuckDB's optimistic concurrency aborted a write that raced another connection's."""
    return DataFlowError(
        "DF-517",
        "DuckDB aborted the write: another connection changed the same rows (or the same table's schema) "
        "in a transaction that committed first. Nothing of this transaction was applied.",
        context={"detail": detail[:300]},
        causes=["A connection opened outside DataFlow (the same file, the same process) wrote concurrently; "
                "DataFlow's own writers take turns and never conflict."],
        solutions=["Run the operation again.", "Write to the database through one DataFlow instance."],
    )


def translate(exc: BaseException, *, path: str, busy: DataFlowError) -> DataFlowError:
    """The DF-coded error for a DuckDB exception (``busy``: the dialect's DF-508 for a held write turn)."""
    text = str(exc)
    first_line = text.splitlines()[0] if text else ""
    context: dict[str, Any] = {"duckdb_error": type(exc).__name__, "detail": text[:300]}
    if isinstance(exc, duckdb.ConstraintException):
        for phrases, code, what, fix in _CONSTRAINTS:
            if any(p in first_line for p in phrases):
                return DataFlowError(code, f"{what} ({first_line}).", context=context, solutions=[fix])
        return DataFlowError("DF-503", f"DuckDB refused the change: {first_line}", context=context)
    if isinstance(exc, duckdb.CatalogException) and "does not exist" in first_line and "Table" in first_line:
        return DataFlowError("DF-304", f"A table does not exist ({first_line}).", context=context,
                             solutions=["Enable auto_migrate, or create the table."])
    if isinstance(exc, duckdb.CatalogException) and "main key table" in first_line:
        return DataFlowError(
            "DF-308",
            f"DuckDB cannot drop or rebuild a table that other tables' foreign keys reference ({first_line}).",
            context={**context, "dialect": "duckdb", "capability": "rebuilding a referenced table"},
            solutions=["Drop the referencing foreign keys (or tables) first, change this table, then add them again."])
    if isinstance(exc, duckdb.IOException) and "lock" in first_line.lower():
        return file_in_use(path, text)
    if isinstance(exc, duckdb.IOException):
        return DataFlowError("DF-402", f"Cannot open the DuckDB database {path!r}: {first_line}",
                             context={**context, "path": path},
                             solutions=["Check that the directory exists and is writable."])
    if isinstance(exc, duckdb.TransactionException) and "onflict" in first_line:
        return write_conflict(text)
    if isinstance(exc, duckdb.ConnectionException):
        return DataFlowError("DF-402", f"The DuckDB connection is closed ({first_line}).", context=context)
    if isinstance(exc, duckdb.OutOfRangeException | duckdb.ConversionException):
        return DataFlowError("DF-102", f"A value does not fit its column on DuckDB ({first_line}).", context=context,
                             solutions=["Check the value against the field's type (DuckDB integers are 64-bit)."])
    return DataFlowError("DF-503", f"DuckDB reported an error: {type(exc).__name__}: {first_line}", context=context)
