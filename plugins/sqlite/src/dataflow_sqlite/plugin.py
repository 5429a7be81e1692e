"""SQLite dialect plugin: serves ``sqlite://`` URLs (the embedded default) through aiosqlite."""

from __future__ import annotations

import importlib.util
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
    if importlib.util.find_spec("aiosqlite") is None:  # find_spec: no import on every DataFlow()
        return [DialectInfo("sqlite", ("sqlite",), _make, "dataflow-sqlite", False,
                            "the aiosqlite driver is not installed")]
    return [DialectInfo("sqlite", ("sqlite",), _make, "dataflow-sqlite")]
