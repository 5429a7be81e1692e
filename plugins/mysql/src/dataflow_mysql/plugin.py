"""MySQL / MariaDB dialect plugin: serves ``mysql://`` and ``mariadb://`` URLs (``mysql+aiomysql://`` too)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dataflow.hookspecs import hookimpl
from dataflow.types import DialectInfo, DialectOptions

if TYPE_CHECKING:
    from dataflow.url import DatabaseURL

SCHEMES = ("mysql", "mariadb")


def _make(url: DatabaseURL, options: DialectOptions) -> Any:
    from dataflow_mysql.dialect import MySQLDialect

    return MySQLDialect(url, options)


@hookimpl
def dataflow_dialects() -> Iterable[DialectInfo]:
    return [DialectInfo.needing("aiomysql", "mysql", SCHEMES, _make, "dataflow-mysql")]
