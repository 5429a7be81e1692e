"""SQLite dialect plugin: serves ``sqlite://`` URLs (the embedded default) through aiosqlite."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dataflow.hookspecs import hookimpl
from dataflow.types import DialectInfo, DialectOptions

if TYPE_CHECKING:
    from dataflow.url import DatabaseURL


def _make(url: DatabaseURL, options: DialectOptions) -> Any:
    from dataflow_sqlite.dialect import SQLiteDialect

    return SQLiteDialect(url, options)


@hookimpl
def dataflow_dialects() -> Iterable[DialectInfo]:
    return [DialectInfo.needing("aiosqlite", "sqlite", ("sqlite",), _make, "dataflow-sqlite")]
