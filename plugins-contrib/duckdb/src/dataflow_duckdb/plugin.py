"""DuckDB dialect plugin: serves ``duckdb://`` URLs (``duckdb:///file.duckdb``, ``duckdb:///:memory:``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dataflow.hookspecs import hookimpl
from dataflow.types import DialectInfo, DialectOptions

if TYPE_CHECKING:
    from dataflow.url import DatabaseURL


def _make(url: DatabaseURL, options: DialectOptions) -> Any:
    from dataflow_duckdb.dialect import DuckDBDialect

    return DuckDBDialect(url, options)


@hookimpl
def dataflow_dialects() -> Iterable[DialectInfo]:
    return [DialectInfo.needing("duckdb", "duckdb", ("duckdb",), _make, "dataflow-duckdb")]
