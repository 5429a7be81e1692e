"""Fixtures: a DataFlow instance on each real database, with unique tables that are cleaned up.

SQLite runs on a file under tmp_path; PostgreSQL and MySQL / MariaDB on the test servers named by
DATAFLOW_TEST_POSTGRES_URL / DATAFLOW_TEST_MYSQL_URL. An unreachable server (or a dialect plugin that
is not ready) skips locally with its reason and fails when CI=true.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError
from dataflow_risk.catalog import Catalog, catalog_for

URLS = {
    "postgresql": os.environ.get("DATAFLOW_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test"),
    "mysql": os.environ.get("DATAFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}
ID_COLUMN = {
    "sqlite": "id INTEGER PRIMARY KEY",
    "postgresql": "id SERIAL PRIMARY KEY",
    "mysql": "id INT AUTO_INCREMENT PRIMARY KEY",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Env:
    """One database under test: unique names, raw SQL helpers, and cleanup of what a test made."""

    def __init__(self, db: DataFlow) -> None:
        self.db = db
        self.kind = db.dialect.name
        self.catalog: Catalog = catalog_for(db)
        self.tables: list[str] = []
        self.views: list[str] = []
        self.schemas: list[str] = []
        self.scope = f"r{uuid.uuid4().hex[:6]}_"
        """Every name this test makes starts with it, so whole-schema tools can be limited to the test."""

    @property
    def id_column(self) -> str:
        return ID_COLUMN[self.kind]

    def name(self, prefix: str = "t") -> str:
        return f"{self.scope}{prefix}_{uuid.uuid4().hex[:8]}"

    def q(self, name: str) -> str:
        return self.db.dialect.quote(name)

    async def sql(self, *statements: str) -> None:
        async with self.db.dialect.connection() as conn:
            for statement in statements:
                await conn.execute(statement, [])

    async def fetch(self, text: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return await self.catalog.fetch(text, params)

    async def table(self, columns: str, rows: Sequence[Sequence[Any]] = (), names: str = "", prefix: str = "t") -> str:
        """Create a table ``(id, <columns>)`` and insert ``rows`` into the named columns."""
        table = self.name(prefix)
        self.tables.append(table)
        await self.sql(f"CREATE TABLE {self.q(table)} ({self.id_column}, {columns})")
        if rows:
            cols = ", ".join(self.q(c.strip()) for c in names.split(","))
            marks = ", ".join("?" for _ in rows[0])
            async with self.db.dialect.connection() as conn:
                await conn.executemany(
                    self.catalog.sql(f"INSERT INTO {self.q(table)} ({cols}) VALUES ({marks})"), [list(r) for r in rows]
                )
        return table

    async def view(self, select: str) -> str:
        view = self.name("v")
        self.views.append(view)
        await self.sql(f"CREATE VIEW {self.q(view)} AS {select}")
        return view

    async def cleanup(self) -> None:
        cascade = " CASCADE" if self.kind == "postgresql" else ""
        for view in reversed(self.views):
            await self._quietly(f"DROP VIEW IF EXISTS {self.q(view)}{cascade}")
        if self.kind == "mysql":
            await self._quietly("SET FOREIGN_KEY_CHECKS = 0")
        for table in reversed(self.tables):
            await self._quietly(f"DROP TABLE IF EXISTS {self.q(table)}{cascade}")
        if self.kind == "mysql":
            await self._quietly("SET FOREIGN_KEY_CHECKS = 1")
        for schema in self.schemas:
            await self._quietly(
                f"DROP SCHEMA IF EXISTS {self.q(schema)} CASCADE"
                if self.kind == "postgresql"
                else f"DROP DATABASE IF EXISTS {self.q(schema)}"
            )

    async def _quietly(self, statement: str) -> None:
        with contextlib.suppress(Exception):  # cleanup of something a failed test never made
            await self.sql(statement)


def _unavailable(kind: str, reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{kind} is not available under CI: {reason}")
    pytest.skip(f"{kind} not available: {reason}")


async def make_db(kind: str, tmp_path: Any) -> DataFlow:
    url = f"sqlite:///{tmp_path / 'risk.db'}" if kind == "sqlite" else URLS[kind]
    try:
        db = DataFlow(url)
        async with db.dialect.connection() as conn:
            await conn.fetch("SELECT 1", [])
    except (DataFlowError, NotImplementedError, OSError) as exc:
        _unavailable(kind, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return db


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def env(request: Any, tmp_path: Any) -> AsyncIterator[Env]:
    db = await make_db(request.param, tmp_path)
    environment = Env(db)
    try:
        yield environment
    finally:
        await environment.cleanup()
        await db.close_async()
