"""MySQL / MariaDB driver errors as DF-coded DataFlowErrors.

PyMySQL (under aiomysql) raises exceptions whose first argument is the server's (or client's)
numeric error code; that number, not the message text, decides the DF code. The caller chains the
original exception (``raise translated from exc``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pymysql.err
from dataflow.errors import DataFlowError

__all__ = ["lost_connection", "pool_exhausted", "translate"]

_DUPLICATE = {1062, 1022, 1586, 1569}
_NOT_NULL = {1048, 1364, 1263}
_FOREIGN_KEY = {1451, 1452, 1216, 1217}
_CONCURRENCY = {1213, 1205}
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2055, 1045, 1044, 1049, 1040, 1129, 1130, 1927}
_NO_TABLE = {1146}
_NO_COLUMN = {1054}
_REGEX = {1139, 3685, 3692, 3693, 3695, 3696, 3697, 3698, 3699}
_TIMED_OUT = {1969, 3024}
_BAD_VALUE = {1264, 1265, 1292, 1366, 1406, 1367, 3140, 4025}


def _code_of(exc: BaseException) -> int | None:
    args: Any = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def _detail(exc: BaseException) -> str:
    args: Any = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[1], str):
        return args[1]
    return str(exc) or type(exc).__name__


_SESSION_LOST = {2006, 2013, 2055, 1927, 4031}
"""Server gone away, lost during a query, lost reading or writing, connection killed, idle timeout."""


def lost_connection(exc: BaseException) -> bool:
    """True when ``exc`` means the session with the server ended under a statement."""
    return _code_of(exc) in _SESSION_LOST or isinstance(exc, ConnectionError | pymysql.err.InterfaceError)


def translate(exc: BaseException, server: str = "MySQL") -> DataFlowError:
    """The DF-coded error for a driver exception (``server`` names MySQL or MariaDB in messages)."""
    code = _code_of(exc)
    detail = _detail(exc)
    context: dict[str, Any] = {"server_code": code, "detail": detail}
    if code in _DUPLICATE:
        return DataFlowError("DF-704", f"A row with the same unique value already exists ({detail}).",
                             context=context,
                             solutions=["Use an UpsertNode, or conflict_resolution='skip' for bulk creates."])
    if code in _NOT_NULL:
        return DataFlowError("DF-705", f"A required column got no value ({detail}).", context=context,
                             solutions=["Give the field a value, or declare it Optional[...] in the model."])
    if code in _FOREIGN_KEY:
        return DataFlowError("DF-706", f"A foreign key would be violated ({detail}).", context=context)
    if code in _CONCURRENCY:
        return DataFlowError("DF-508", f"{server} aborted the transaction because of a lock conflict ({detail}).",
                             context=context, solutions=["Retry the operation; keep write transactions short."])
    if code in _UNREACHABLE or isinstance(exc, pymysql.err.InterfaceError) or (
        isinstance(exc, OSError | asyncio.TimeoutError) and code is None
    ):
        return DataFlowError("DF-402", f"The {server} database cannot be reached ({detail}).", context=context,
                             solutions=["Check that the server is running and that host, port, user, password "
                                        "and database of the URL are right."])
    if code in _NO_TABLE:
        return DataFlowError("DF-304", f"A table does not exist ({detail}).", context=context,
                             solutions=["Enable auto_migrate, or create the table."])
    if code in _NO_COLUMN:
        return DataFlowError("DF-305", f"A column does not exist ({detail}).", context=context,
                             solutions=["Enable auto_migrate so that new fields get their columns."])
    if code in _REGEX:
        return DataFlowError("DF-107", f"{server} refused the $regex pattern ({detail}).", context=context,
                             solutions=["Check the pattern's syntax, or simplify it (PCRE limits apply)."])
    if code in _TIMED_OUT:
        return DataFlowError("DF-512", f"The statement ran longer than statement_timeout and was stopped ({detail}).",
                             context=context,
                             solutions=["Narrow the filter or add an index; or raise "
                                        "DataFlow(statement_timeout=…) (seconds, 0: none)."])
    if code in _BAD_VALUE:
        return DataFlowError("DF-102", f"{server} refused a value ({detail}).", context=context,
                             solutions=["Check the value against the column: length, range and format."])
    return DataFlowError("DF-503", f"{server} reported an error: {type(exc).__name__}: {detail}", context=context)


def pool_exhausted(pool_size: int, max_overflow: int, timeout: float) -> DataFlowError:
    """DF-507: no pooled connection became free within ``pool_timeout``."""
    return DataFlowError(
        "DF-507",
        f"No database connection became free within {timeout:g} s "
        f"(pool_size={pool_size}, max_overflow={max_overflow}, all in use).",
        context={"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": timeout},
        causes=["More concurrent operations than pooled connections.",
                "A connection is held (db.connection() / db.transaction()) while another operation waits."],
        solutions=["Raise pool_size / max_overflow, or pool_timeout.",
                   "Release held connections before running further nodes."],
    )
