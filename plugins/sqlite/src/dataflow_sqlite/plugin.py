"""SQLite dialect plugin: serves ``sqlite://`` URLs (the embedded default) through aiosqlite."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dataflow.dialect import DialectInfo, DialectOptions
from dataflow.hookspecs import hookimpl
from dataflow.url import DatabaseURL


def _make(url: DatabaseURL, options: DialectOptions) -> Any:
    from dataflow_sqlite.dialect import SQLiteDialect

    return SQLiteDialect(url, options)


@hookimpl
def dataflow_dialects() -> Iterable[DialectInfo]:
    try:
        import aiosqlite  # noqa: F401
    except ImportError as exc:
        return [DialectInfo("sqlite", ("sqlite",), _make, "dataflow-sqlite", False, f"aiosqlite is missing: {exc}")]
    return [DialectInfo("sqlite", ("sqlite",), _make, "dataflow-sqlite")]
