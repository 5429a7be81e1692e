"""SQLite's errors as DF-coded errors, from SQLite's own result codes.

Every ``sqlite3.Error`` carries SQLite's extended result code and its name (``sqlite_errorcode``,
``sqlite_errorname``: ``SQLITE_CONSTRAINT_UNIQUE``, ``SQLITE_BUSY_SNAPSHOT`` …). The DF code is
decided by that name, or by the primary code (the low byte) for a family (every ``SQLITE_BUSY_*`` is
busy); the message text is only shown, never matched, with two exceptions: SQLite reports a missing
table as the generic ``SQLITE_ERROR`` (1), and a delete refused by ``ON DELETE RESTRICT`` as
``SQLITE_CONSTRAINT_TRIGGER``, with nothing but their messages to tell them apart.
"""

from __future__ import annotations

import sqlite3

from dataflow.errors import DataFlowError

__all__ = ["translate"]

# SQLite's primary result codes (https://sqlite.org/rescode.html).
_ERROR, _BUSY, _LOCKED, _CANTOPEN, _NOTADB = 1, 5, 6, 14, 26

_BY_NAME: dict[str, tuple[str, str, str]] = {
    "SQLITE_CONSTRAINT_UNIQUE": ("DF-704", "A row with the same unique value already exists",
                                 "Use an UpsertNode, or conflict_resolution='skip' for bulk."),
    "SQLITE_CONSTRAINT_PRIMARYKEY": ("DF-704", "A row with the same unique value already exists",
                                     "Use an UpsertNode, or conflict_resolution='skip' for bulk."),
    "SQLITE_CONSTRAINT_NOTNULL": ("DF-705", "A required column got no value",
                                  "Give the field a value, or declare it Optional[...] in the model."),
    "SQLITE_CONSTRAINT_FOREIGNKEY": ("DF-706", "A foreign key would be violated", "Create the referenced row first."),
}


def translate(exc: BaseException, busy: DataFlowError) -> DataFlowError:
    """The DF-coded error for ``exc``; ``busy`` is the dialect's DF-508 for a write lock held too long."""
    text = str(exc)
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        primary = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        known = _BY_NAME.get(name)
        if known is not None:
            code, what, fix = known
            return DataFlowError(code, f"{what} ({text}).", context={"sqlite_error": name, "detail": text},
                                 solutions=[fix])
        if name == "SQLITE_CONSTRAINT_TRIGGER" and "FOREIGN KEY" in text:
            code, what, fix = _BY_NAME["SQLITE_CONSTRAINT_FOREIGNKEY"]
            return DataFlowError(code, f"{what} ({text}).", context={"sqlite_error": name, "detail": text},
                                 solutions=[fix])
        if primary in (_BUSY, _LOCKED):
            busy.context.update({"sqlite_error": name, "detail": text})
            return busy
        if primary in (_CANTOPEN, _NOTADB):
            return DataFlowError("DF-402", f"Cannot open the SQLite database ({text}).", context={"sqlite_error": name})
        if primary == _ERROR and text.startswith("no such table"):
            return DataFlowError("DF-304", f"A table does not exist ({text}).",
                                 solutions=["Enable auto_migrate, or create the table."])
        return DataFlowError("DF-503", f"SQLite reported an error: {name or type(exc).__name__}: {text}",
                             context={"sqlite_error": name})
    if isinstance(exc, ValueError) and "closed" in text:  # aiosqlite's own: a statement on a closed connection
        return DataFlowError("DF-402", f"The SQLite connection is closed ({text}).")
    return DataFlowError("DF-503", f"SQLite reported an error: {type(exc).__name__}: {text}")
