"""PostgreSQL dialect plugin: serves ``postgresql://`` and ``postgres://`` URLs through asyncpg."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dataflow.dialect import DialectInfo, DialectOptions
from dataflow.hookspecs import hookimpl
from dataflow.url import DatabaseURL

SCHEMES = ("postgresql", "postgres")
PACKAGE = "dataflow-postgresql"


def _make(url: DatabaseURL, options: DialectOptions) -> Any:
    from dataflow_postgresql.dialect import PostgreSQLDialect

    return PostgreSQLDialect(url, options)


@hookimpl
def dataflow_dialects() -> Iterable[DialectInfo]:
    try:
        import asyncpg  # noqa: F401
    except ImportError as exc:
        return [DialectInfo("postgresql", SCHEMES, _make, PACKAGE, False, f"asyncpg is missing: {exc}")]
    return [DialectInfo("postgresql", SCHEMES, _make, PACKAGE)]
