"""PostgreSQL dialect plugin: serves ``postgresql://`` and ``postgres://`` URLs through asyncpg."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dataflow.hookspecs import hookimpl
from dataflow.types import DialectInfo, DialectOptions
from dataflow.url import DatabaseURL

SCHEMES = ("postgresql", "postgres")
PACKAGE = "dataflow-postgresql"


def _make(url: DatabaseURL, options: DialectOptions) -> Any:
    from dataflow_postgresql.dialect import PostgreSQLDialect

    return PostgreSQLDialect(url, options)


@hookimpl
def dataflow_dialects() -> Iterable[DialectInfo]:
    return [DialectInfo.needing("asyncpg", "postgresql", SCHEMES, _make, PACKAGE)]
