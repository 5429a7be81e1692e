"""asyncpg and socket exceptions as DF-coded errors.

PostgreSQL reports every failure with a SQLSTATE; mapping on the code (not on asyncpg's class names
or message text) keeps the translation stable across driver versions. Connection failures that never
reach the server (refused, unreachable, timed out) arrive as OSError / TimeoutError instead.
"""

from __future__ import annotations

from typing import Any

from dataflow.errors import DataFlowError

__all__ = ["pool_exhausted", "translate", "unreachable"]

# SQLSTATE → (DF code, what to say, how to fix it)
_BY_STATE: dict[str, tuple[str, str, str]] = {
    "23505": ("DF-704", "A row with the same unique value already exists",
              "Use an UpsertNode, or conflict_resolution='skip' for bulk creates."),
    "23502": ("DF-705", "A required column got no value",
              "Give the field a value, or declare it Optional[...]."),
    "23503": ("DF-706", "A foreign key would be violated", "Create the referenced row first."),
    "40P01": ("DF-508", "A deadlock was detected and this transaction was rolled back",
              "Retry the operation; touch rows in a consistent order."),
    "40001": ("DF-508", "The transaction could not be serialized and was rolled back",
              "Retry the operation."),
    "42P01": ("DF-304", "A table does not exist", "Enable auto_migrate, or create the table."),
    "2201B": ("DF-107", "The $regex pattern is not a valid PostgreSQL regular expression",
              "Check the pattern (POSIX regular expression syntax)."),
    "2201X": ("DF-107", "The $regex pattern is too complex for PostgreSQL", "Simplify the pattern."),
    "57014": ("DF-512", "The statement ran longer than statement_timeout and was stopped",
              "Narrow the filter or add an index; or raise DataFlow(statement_timeout=…) (seconds, 0: none)."),
    "54001": ("DF-102", "The statement is too complex for PostgreSQL (stack depth limit)",
              "Use fewer, simpler conditions: one $in rather than many alternatives."),
    "22003": ("DF-102", "A value is out of range for its column", "Use a smaller value."),
}
# SQLSTATE classes / codes meaning "the server cannot be used": connection exceptions (08),
# shutdown or not yet accepting (57P0x), unknown database (3D000), authentication (28), too many clients.
_UNREACHABLE_PREFIXES = ("08", "28", "57P01", "57P02", "57P03", "3D000", "53300")


def unreachable(target: str, exc: BaseException) -> DataFlowError:
    """DF-402: the server could not be reached (refused, timed out, rejected the login …)."""
    reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
    return DataFlowError(
        "DF-402",
        f"Cannot reach the PostgreSQL server at {target} ({reason}).",
        context={"server": target},
        causes=["The server is not running or not listening on that host and port.",
                "A firewall drops the connection.", "The database, user or password is wrong."],
        solutions=["Check the URL (postgresql://user@host:5432/db) and that the server is up.",
                   "Raise connect_timeout= if the server is slow to accept connections."],
    )


def pool_exhausted(size: int, timeout: float) -> DataFlowError:
    """DF-507: every pooled connection stayed busy for ``timeout`` seconds."""
    return DataFlowError(
        "DF-507",
        f"The connection pool is exhausted: all {size} connections stayed busy for {timeout:g} s.",
        context={"max_connections": size, "pool_timeout": timeout},
        causes=["More concurrent operations than pool_size + max_overflow.",
                "A connection is held (db.connection() / db.transaction()) while another node runs."],
        solutions=["Raise pool_size / max_overflow, or pool_timeout.", "Release held connections sooner."],
    )


def translate(exc: BaseException, target: str) -> DataFlowError:
    """Any exception from asyncpg (or its sockets) as a DF-coded error; the caller chains ``exc``."""
    state: Any = getattr(exc, "sqlstate", None)
    detail = str(exc)
    if isinstance(state, str):
        known = _BY_STATE.get(state)
        if known is not None:
            code, what, fix = known
            context = {"sqlstate": state, "detail": detail}
            for attr in ("constraint_name", "table_name", "column_name"):
                value = getattr(exc, attr, None)
                if value:
                    context[attr.removesuffix("_name")] = value
            return DataFlowError(code, f"{what} ({detail}).", context=context, solutions=[fix])
        if state.startswith(_UNREACHABLE_PREFIXES):
            return unreachable(target, exc)
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return unreachable(target, exc)
    if type(exc).__name__ in ("ConnectionDoesNotExistError", "InterfaceError") and "closed" in detail:
        return unreachable(target, exc)
    return DataFlowError(
        "DF-503",
        f"PostgreSQL reported an error: {type(exc).__name__}: {detail}",
        context={"sqlstate": state} if state else {},
    )
