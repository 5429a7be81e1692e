"""Database URLs: ``scheme://user:password@host:port/database?options`` parsed into a frozen record."""

from __future__ import annotations

import urllib.parse
from typing import Any

import attrs

from dataflow.errors import MASK, DataFlowError, redact_url

__all__ = ["DatabaseURL", "parse_url"]


@attrs.frozen
class DatabaseURL:
    """A parsed database URL; ``str(url)`` never shows the password."""

    scheme: str
    driver: str = ""
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str = ""
    query: dict[str, str] = attrs.field(factory=dict, repr=lambda query: repr(_masked(query)))
    raw: str = attrs.field(default="", repr=False)

    def __str__(self) -> str:
        return redact_url(self.raw)

    @property
    def is_memory(self) -> bool:
        return self.database in ("", ":memory:")


_SECRET_KEYS = frozenset({"password", "passwd", "pwd", "sslpassword"})


def _masked(query: dict[str, str]) -> dict[str, str]:
    """The query options as shown to people: secrets (``?password=…``) masked."""
    return {k: MASK if k.lower() in _SECRET_KEYS else v for k, v in query.items()}


def parse_url(raw: Any) -> DatabaseURL:
    """Parse a URL string; DF-401 with the expected form when it is not one."""
    if not isinstance(raw, str) or not raw.strip():
        raise DataFlowError(
            "DF-401",
            f"The database URL must be a non-empty string, got {type(raw).__name__}.",
            solutions=["Pass a URL such as 'postgresql://user@localhost:5432/app' or 'sqlite:///app.db'."],
        )
    text = raw.strip()
    if text == ":memory:":
        return DatabaseURL("sqlite", database=":memory:", raw=text)
    if "://" not in text:
        raise DataFlowError(
            "DF-401",
            f"{redact_url(text)!r} is not a database URL (it has no 'scheme://').",
            context={"url": text},
            solutions=["Use 'sqlite:///file.db', 'postgresql://user@host:5432/db' or 'mysql://user@host:3306/db'."],
        )
    scheme_part, _, rest = text.partition("://")
    scheme, _, driver = scheme_part.lower().partition("+")
    if scheme == "sqlite" or scheme == "duckdb" or rest.startswith("/"):
        # sqlite:///rel.db is relative, sqlite:////abs.db absolute, sqlite:// or sqlite:///:memory: in memory.
        # Any scheme without a host reads its path the same way, so a plugin's file database works too.
        path, _, query = rest.partition("?")
        database = path[1:] if path.startswith("/") else path
        return DatabaseURL(scheme, driver, database=database, query=dict(urllib.parse.parse_qsl(query)), raw=text)
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise DataFlowError(
            "DF-401",
            f"The database URL {redact_url(text)!r} is malformed: {exc}.",
            context={"url": text},
            solutions=["Check the host and port: 'postgresql://user@localhost:5432/app'."],
        ) from None
    return DatabaseURL(
        scheme,
        driver,
        urllib.parse.unquote(parts.username) if parts.username else None,
        urllib.parse.unquote(parts.password) if parts.password else None,
        parts.hostname,
        port,
        urllib.parse.unquote(parts.path.lstrip("/")),
        dict(urllib.parse.parse_qsl(parts.query)),
        text,
    )
