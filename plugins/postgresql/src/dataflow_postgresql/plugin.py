"""PostgreSQL dialect plugin: serves ``postgresql://`` and ``postgres://`` URLs through asyncpg."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dataflow.hookspecs import hookimpl
from dataflow.types import DialectInfo, DialectOptions, OptionInfo

if TYPE_CHECKING:
    from dataflow.url import DatabaseURL

SCHEMES = ("postgresql", "postgres")
PACKAGE = "dataflow-postgresql"


def _make(url: DatabaseURL, options: DialectOptions) -> Any:
    from dataflow_postgresql.dialect import PostgreSQLDialect

    return PostgreSQLDialect(url, options)


@hookimpl
def dataflow_dialects() -> Iterable[DialectInfo]:
    return [DialectInfo.needing("asyncpg", "postgresql", SCHEMES, _make, PACKAGE)]


COMPAT_MODES = ("native", "portable", "auto")
COMPAT_HELP = ('"native" (default), "portable" (no advisory locks, binary COPY, xmax upserts or sequence '
               'functions beyond setval/nextval: CockroachDB, YugabyteDB, Citus) or "auto" (ask the server).')


@hookimpl
def dataflow_options() -> Iterable[OptionInfo]:
    return [OptionInfo("postgres_compat", COMPAT_HELP, "native")]


@hookimpl
def dataflow_configure(db: Any) -> None:
    mode = db.options.get("postgres_compat", "native")
    if mode not in COMPAT_MODES:
        raise db.error("DF-401", f"postgres_compat= is one of {', '.join(map(repr, COMPAT_MODES))}, got {mode!r}.",
                       option="postgres_compat")
    set_compat = getattr(db.dialect, "set_compat", None)
    if db.dialect.name == "postgresql" and set_compat is not None:  # never imports asyncpg for other URLs
        set_compat(mode)
