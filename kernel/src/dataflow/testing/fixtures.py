"""Pytest fixtures and helpers of the dialect conformance suite.

The suite's tests need one thing from the dialect under test: a ``dataflow_url`` fixture. From it
these fixtures build everything else:

- ``db``: a ``DataFlow`` made from that URL, closed after the test;
- ``make_model``: declares a model class on ``db`` (or another instance) with a table name unique to
  the test, so tests may run in parallel against one shared server, and drops those tables at
  teardown with raw SQL through ``db.connection()``;
- ``run``: runs a ``WorkflowBuilder`` (or built workflow) on a ``LocalRuntime`` and returns the results;
- ``run_node``: runs a one-node workflow and returns that node's output dict.

A dialect's or plugin's own tests may also import ``execute`` (each test twice: LocalRuntime and
AsyncLocalRuntime), ``anyio_backend`` (asyncio), and use ``DIALECTS`` / ``dialect_url`` for a
``dataflow_url`` fixture parametrized over every real database.

The plain helpers (``raises_df``, ``server_url``, ``raw_rows`` …) are importable from
``dataflow.testing`` for a dialect's own tests.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dataflow.errors import DataFlowError, WorkflowExecutionError, redact_url
from dataflow.facade import DataFlow
from dataflow.loop import run_sync
from dataflow.url import parse_url
from dataflow.workflow import Workflow, WorkflowBuilder

__all__ = [
    "DIALECTS",
    "FIXTURE_NAMES",
    "ModelFactory",
    "anyio_backend",
    "dataflow_options",
    "db",
    "dialect_url",
    "execute",
    "make_model",
    "node_output",
    "probe_server",
    "raises_df",
    "raw_execute",
    "raw_fetch",
    "raw_rows",
    "run",
    "run_node",
    "server_url",
    "table_columns",
    "unique_table",
]

FIXTURE_NAMES = ("dataflow_options", "db", "make_model", "run", "run_node")
"""The fixtures a module gets from ``from dataflow.testing.suite import *`` (besides the tests)."""

_SERVERS: dict[str, tuple[str, str, int]] = {
    "postgresql": ("DATAFLOW_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test", 5432),
    "mysql": ("DATAFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test", 3306),
}
_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "mariadb": "mysql"}


# ---- servers ---------------------------------------------------------------------------------
@functools.cache
def _probe(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection to host:port succeeds, else why not (cached per process)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def probe_server(kind: str, *, timeout: float = 1.0) -> tuple[str, str | None]:
    """``(url, None)`` when the ``kind`` test server answers, else ``(url, why not)``: the URL from
    ``DATAFLOW_TEST_POSTGRES_URL`` / ``DATAFLOW_TEST_MYSQL_URL`` or its default. For scripts (the
    benchmarks) that skip a missing server themselves; tests use ``server_url``."""
    name = _ALIASES.get(kind, kind)
    if name not in _SERVERS:
        raise ValueError(f"probe_server() knows {sorted(_SERVERS)}, not {kind!r}")
    env, default, default_port = _SERVERS[name]
    url = os.environ.get(env) or default
    parsed = parse_url(url)
    return url, _probe(parsed.host or "127.0.0.1", parsed.port or default_port, timeout)


def server_url(kind: str, *, timeout: float = 1.0) -> str:
    """The URL of the ``kind`` test server (``"postgresql"`` or ``"mysql"``), probed first.

    The URL comes from ``DATAFLOW_TEST_POSTGRES_URL`` / ``DATAFLOW_TEST_MYSQL_URL`` (defaults
    ``postgresql://root@127.0.0.1:5432/test`` and ``mysql://root@127.0.0.1:3306/test``). When the
    server does not answer, the test is skipped with the reason, except under ``CI=true``, where a
    missing server is a failure: CI must never pass by skipping.
    """
    name = _ALIASES.get(kind, kind)
    url, problem = probe_server(name, timeout=timeout)
    if problem is not None:
        reason = f"the {name} test server at {redact_url(url)} is unreachable ({problem}); set {_SERVERS[name][0]}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return url


DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql),
            pytest.param("mysql", marks=pytest.mark.mysql)]
"""Every real database, as fixture params: SQLite (a file), PostgreSQL and MySQL / MariaDB (marked)."""


def dialect_url(kind: str, sqlite_file: Path) -> str:
    """The URL for a ``DIALECTS`` param: ``sqlite_file`` for SQLite, else the test server's (``server_url``)."""
    if kind == "sqlite":
        return f"sqlite:///{sqlite_file}"
    return server_url(kind)


# ---- errors ----------------------------------------------------------------------------------
@contextmanager
def raises_df(code: str, *, match: str | None = None) -> Iterator[dict[str, DataFlowError]]:
    """Expect a DataFlowError with ``code``; a workflow's DF-802 wrapper is looked through.

    ``with raises_df("DF-102") as caught: ...`` then ``caught["error"]`` is the DF error itself and
    ``caught["raised"]`` what was raised (the WorkflowExecutionError when run in a workflow).
    """
    caught: dict[str, DataFlowError] = {}
    with pytest.raises(DataFlowError) as info:
        yield caught
    raised = info.value
    error = raised
    if isinstance(raised, WorkflowExecutionError) and code != "DF-802":
        cause = raised.__cause__
        assert isinstance(cause, DataFlowError), f"DF-802 without a DataFlowError cause: {cause!r}"
        error = cause
    caught["raised"], caught["error"] = raised, error
    assert error.code == code, f"expected {code}, got {error.code}: {error.message}"
    if match is not None:
        assert re.search(match, error.message), f"{match!r} not found in {error.message!r}"


# ---- raw SQL ------------------------------------------------------------------------------------
def raw_fetch(db: DataFlow, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` run through the instance's own connection (bypassing every node)."""

    async def go() -> list[tuple[Any, ...]]:
        async with db.connection() as conn:
            return [tuple(r) for r in await conn.fetch(sql, params or [])]

    return run_sync(go())


def raw_execute(db: DataFlow, sql: str, params: list[Any] | None = None) -> int:
    """Run one statement through the instance's own connection; the changed-row count."""

    async def go() -> int:
        async with db.connection() as conn:
            return await conn.execute(sql, params or [])

    return run_sync(go())


def table_columns(db: DataFlow, table: str) -> set[str] | None:
    """The column names of ``table`` as the dialect reports them, or None when it does not exist."""

    async def go() -> set[str] | None:
        async with db.connection() as conn:
            return await db.dialect.table_columns(conn, table)

    return run_sync(go())


def raw_rows(db: DataFlow, model: Any, columns: str = "*") -> list[tuple[Any, ...]]:
    """Every row of a model's table, ordered by id, straight from the database."""
    spec = model.__dataflow_model__ if hasattr(model, "__dataflow_model__") else model
    q = db.dialect.quote
    return raw_fetch(db, f"SELECT {columns} FROM {q(spec.table)} ORDER BY {q('id')}")


# ---- models ----------------------------------------------------------------------------------
def unique_table(prefix: str = "t") -> str:
    """A table name no other test uses: ``<prefix>_<10 hex>`` (short enough for every database)."""
    stem = re.sub(r"[^a-z0-9_]", "", prefix.lower())[:24] or "t"
    return f"{stem}_{uuid.uuid4().hex[:10]}"


class ModelFactory:
    """Declares models with per-test table names; drops those tables and closes extra instances at teardown.

    ``make_model(cls)`` or ``@make_model`` registers ``cls`` on the fixture's ``db``;
    ``make_model(cls, db=other)`` on another instance; ``make_model(cls, table=name)`` reuses a table
    name (two instances sharing one table, as in migration tests). ``make_model.new_db(**options)``
    makes another DataFlow on the same URL, closed at teardown after its tables are dropped.
    """

    def __init__(self, db: DataFlow, url: str, options: Mapping[str, Any] | None = None) -> None:
        self.db = db
        self.url = url
        self.options = dict(options or {})
        """The suite's ``dataflow_options``: every ``new_db`` gets them too."""
        self.tables: dict[str, DataFlow] = {}
        self.instances: list[DataFlow] = []

    def __call__(
        self, cls: type | None = None, *, db: DataFlow | None = None, table: str | None = None
    ) -> Any:
        if cls is None:
            return lambda c: self(c, db=db, table=table)
        target = db if db is not None else self.db
        name = table or unique_table(f"t_{cls.__name__}")
        cls.__tablename__ = name  # type: ignore[attr-defined]
        self.tables.setdefault(name, target)
        return target.model(cls)

    def table(self, cls: Any) -> str:
        """The table name a declared model class got."""
        return str(cls.__dataflow_model__.table)

    def new_db(self, **options: Any) -> DataFlow:
        """Another instance on the suite's URL (the same database, except for ``:memory:``)."""
        instance = DataFlow(self.url, **{**self.options, **options})
        self.instances.append(instance)
        return instance

    def teardown(self) -> None:
        """Drop every table made (through the instance that made it), then close the extra instances.

        A table another one references cannot go first on every database: tables whose drop fails
        are tried again after the others, until a round drops nothing more.
        """
        errors: list[BaseException] = []
        pending = list(reversed(self.tables.items()))
        while pending:
            errors, failed = [], []
            for name, owner in pending:
                try:
                    raw_execute(owner, f"DROP TABLE IF EXISTS {owner.dialect.quote(name)}")
                except Exception as exc:  # collect, so one failure does not leave the other tables behind
                    errors.append(exc)
                    failed.append((name, owner))
            if len(failed) == len(pending):
                break
            pending = failed
        self.tables.clear()
        for instance in self.instances:
            try:
                instance.close()
            except Exception as exc:
                errors.append(exc)
        self.instances.clear()
        if errors:
            raise errors[0]


# ---- fixtures ------------------------------------------------------------------------------
@pytest.fixture
def dataflow_options() -> dict[str, Any]:
    """Options every instance of the suite is made with (``db``, ``make_model.new_db``): none by default;
    a dialect's module overrides it to run the suite in a mode of its own (``postgres_compat="portable"``)."""
    return {}


def _suite_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The ``dataflow_options`` fixture's value where the test module has one, else no options (a module
    may import ``db`` and ``make_model`` without it)."""
    try:
        return dict(request.getfixturevalue("dataflow_options"))
    except pytest.FixtureLookupError:
        return {}


@pytest.fixture
def db(dataflow_url: str, request: pytest.FixtureRequest) -> Iterator[DataFlow]:
    """A DataFlow instance on the dialect's URL (with ``dataflow_options``), closed after the test."""
    instance = DataFlow(dataflow_url, **_suite_options(request))
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture
def make_model(db: DataFlow, dataflow_url: str, request: pytest.FixtureRequest) -> Iterator[ModelFactory]:
    """Declare models with unique tables (``@make_model class Item: ...``); tables dropped afterwards."""
    factory = ModelFactory(db, dataflow_url, _suite_options(request))
    try:
        yield factory
    finally:
        factory.teardown()


Runner = Callable[..., dict[str, Any]]


@pytest.fixture
def run() -> Runner:
    """``run(builder_or_workflow, parameters=None) -> results`` on one LocalRuntime per test."""
    from dataflow import LocalRuntime

    runtime = LocalRuntime()

    def execute(
        workflow: WorkflowBuilder | Workflow, parameters: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        built = workflow.build() if isinstance(workflow, WorkflowBuilder) else workflow
        results, run_id = runtime.execute(built, parameters=dict(parameters or {}))
        assert isinstance(run_id, str) and run_id
        return results

    return execute


@pytest.fixture
def run_node(run: Runner) -> Runner:
    """``run_node("ItemCreateNode", {...}) -> output``: a one-node workflow, its output dict."""

    def execute(node_type: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        wf = WorkflowBuilder()
        wf.add_node(node_type, "node", dict(params or {}))
        return run(wf)["node"]

    return execute


@pytest.fixture
def anyio_backend() -> str:
    """anyio's pytest plugin runs ``@pytest.mark.anyio`` tests on asyncio only."""
    return "asyncio"


@pytest.fixture(params=["local", "async"])
def execute(request: pytest.FixtureRequest) -> Callable[[WorkflowBuilder], dict[str, Any]]:
    """Run a workflow with LocalRuntime, or with AsyncLocalRuntime on a fresh event loop per call
    (so the async variant also proves that a new loop never meets another loop's pool)."""
    from dataflow import AsyncLocalRuntime, LocalRuntime

    if request.param == "local":
        runtime = LocalRuntime()
        return lambda wf: runtime.execute(wf.build())[0]
    async_runtime = AsyncLocalRuntime()
    return lambda wf: asyncio.run(async_runtime.execute_workflow_async(wf.build()))[0]


def node_output(execute: Callable[[WorkflowBuilder], dict[str, Any]], node_type: str,
                params: Mapping[str, Any]) -> dict[str, Any]:
    """The output of a one-node workflow run with ``execute`` (the fixture of that name)."""
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", dict(params))
    return execute(wf)["n"]
