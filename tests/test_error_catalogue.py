"""The error catalogue, end to end: every DF code is documented, raised by the code base and by a test.

- ``docs/errors.md`` is regenerated from the catalogue and compared (stale docs fail);
- every code the source raises is in the catalogue, and every catalogue code has a scenario below
  that really triggers it (SQLite files; PostgreSQL where a server is needed) and checks ``exc.code``;
- the ``dataflow_error_hints`` hook: isolation of a failing provider, deterministic order, the
  kernel's hints win on a clash;
- the three modes, context without secrets, the rich rendering, the ``dataflow errors`` CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import re
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow, DataFlowError, ErrorHint, LocalRuntime, WorkflowBuilder, hookimpl
from dataflow.cli import main as cli_main
from dataflow.errors import WorkflowExecutionError
from dataflow.loop import run_sync
from dataflow.testing import raises_df, raw_execute, server_url
from dataflow_errors import CATALOGUE, lookup, render_markdown, render_text
from dataflow_errors.docs import default_docs_path

REPO = Path(__file__).resolve().parents[1]
CODES = [entry.code for entry in CATALOGUE]


# ---- helpers -----------------------------------------------------------------------------------
@pytest.fixture
def dbs() -> Iterator[list[DataFlow]]:
    """Instances a scenario makes; closed afterwards, after the tables of the models declared on a
    server instance are dropped (SQLite files go with ``tmp_path``)."""
    made: list[DataFlow] = []
    yield made
    for db in made:
        if db.dialect.name != "sqlite":
            for spec in db.models.values():
                with contextlib.suppress(Exception):  # a scenario may leave the server unreachable
                    raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(spec.table)}")
        db.close()


def sqlite_db(tmp_path: Path, made: list[DataFlow], **options: Any) -> DataFlow:
    db = DataFlow(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}", **options)
    made.append(db)
    return db


def user_model(db: DataFlow, table: str | None = None) -> str:
    """Declare a ``User``-like model with a unique class and table name; returns the class name."""
    name = f"U{uuid.uuid4().hex[:8]}"
    cls = type(name, (), {"__annotations__": {"id": str, "name": str, "age": int, "nick": str | None},
                          "age": 0, "nick": None, "__tablename__": table or f"t_{uuid.uuid4().hex[:10]}"})
    db.model(cls)
    return name


def run_node(node_type: str, params: dict[str, Any]) -> dict[str, Any]:
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", params)
    results, _ = LocalRuntime().execute(wf.build())
    return results["n"]


def raw_sqlite(db: DataFlow, *statements: str) -> None:
    with sqlite3.connect(db.url.database) as conn:
        for sql in statements:
            conn.execute(sql)


def existing_table_db(tmp_path: Path, made: list[DataFlow], extra: str) -> tuple[DataFlow, str]:
    """An instance in existing_schema_mode over a table made by hand with ``extra`` column SQL."""
    path = tmp_path / f"{uuid.uuid4().hex[:8]}.db"
    table = f"t_{uuid.uuid4().hex[:10]}"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE parents (id TEXT PRIMARY KEY)")
        conn.execute(f'CREATE TABLE "{table}" (id TEXT PRIMARY KEY, name TEXT NOT NULL, age INTEGER, '
                     f"nick TEXT, created_at TEXT, updated_at TEXT, {extra})")
    db = DataFlow(f"sqlite:///{path}", existing_schema_mode=True)
    made.append(db)
    return db, user_model(db, table)


def plugin_api(module: str, *names: str) -> Any:
    """A public object of a plugin being written by others; skip (with why) until it exists."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    mod = importlib.import_module(module)
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        pytest.skip(f"{module} does not offer {', '.join(missing)} yet")
    return [getattr(mod, n) for n in names]


def postgres_db(made: list[DataFlow], **options: Any) -> DataFlow:
    url = server_url("postgresql")
    try:
        db = DataFlow(url, **options)
    except DataFlowError as exc:
        if exc.code == "DF-403":
            pytest.skip(f"the PostgreSQL plugin is not available: {exc.message}")
        raise
    made.append(db)
    return db


# ---- one scenario per code ----------------------------------------------------------------------
Scenario = Callable[[Path, list[DataFlow]], None]
SCENARIOS: dict[str, Scenario] = {}


def scenario(code: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[code] = fn
        return fn

    return register


@scenario("DF-101")
def _missing_field(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    run_node(f"{name}CreateNode", {"name": "no id"})


@scenario("DF-102")
def _unknown_filter_operator(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    run_node(f"{name}ListNode", {"filter": {"age": {"$gtee": 3}}})


@scenario("DF-104")
def _managed_field(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    run_node(f"{name}CreateNode", {"id": "a", "name": "A", "created_at": "2024-01-01T00:00:00Z"})


@scenario("DF-106")
def _bulk_delete_everything(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    run_node(f"{name}BulkDeleteNode", {"filter": {}})


@scenario("DF-107")
def _invalid_regex(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    run_node(f"{name}ListNode", {"filter": {"name": {"$regex": "(unclosed"}}})


@scenario("DF-201")
def _missing_output(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    wf = WorkflowBuilder()
    wf.add_node(f"{name}CreateNode", "create", {"id": "a", "name": "A"})
    wf.add_node(f"{name}ReadNode", "read", {})
    wf.add_connection("create", "user_id", "read", "id")
    LocalRuntime().execute(wf.build())


@scenario("DF-301")
def _migration_failed(tmp_path: Path, made: list[DataFlow]) -> None:
    """A unique index over a column holding duplicates: CREATE UNIQUE INDEX fails and the plan rolls back."""
    plugin_api("dataflow_migrate", "plan_migration")
    db = sqlite_db(tmp_path, made)
    table = f"t_{uuid.uuid4().hex[:10]}"
    name = user_model(db, table)
    run_node(f"{name}BulkCreateNode", {"data": [{"id": "a", "name": "A"}, {"id": "b", "name": "A"}]})
    later = DataFlow(str(db.url.raw))
    made.append(later)
    strict = type("Strict", (), {"__annotations__": {"id": str, "name": str, "age": int, "nick": str | None},
                                 "age": 0, "nick": None, "__tablename__": table,
                                 "__dataflow__": {"indexes": [{"fields": ["name"], "unique": True}]}})
    later.model(strict)
    later.migrate_apply(later.migrate_plan(["Strict"]), models=["Strict"], confirmed=True)


@scenario("DF-302")
def _migration_refused(tmp_path: Path, made: list[DataFlow]) -> None:
    (refuse_if_risky,) = plugin_api("dataflow_risk", "refuse_if_risky")
    from dataflow.migration import RiskFinding, RiskLevel

    drop = RiskFinding("drop_column", RiskLevel.CRITICAL, 90, "data_loss", "the column holds data", 0,
                       "Copy the column first.")
    refuse_if_risky(sqlite_db(tmp_path, made), None, [drop])


@scenario("DF-307")
def _lock_timeout(tmp_path: Path, made: list[DataFlow]) -> None:
    """A second manager waits past its timeout for a scope the first one holds."""
    (manager_cls,) = plugin_api("dataflow_locks", "MigrationLockManager")
    path = tmp_path / "locks.db"
    first = DataFlow(f"sqlite:///{path}")
    second = DataFlow(f"sqlite:///{path}")
    made.extend([first, second])

    async def contend() -> None:
        held = manager_cls(first).acquire_migration_lock(lock_scope="catalogue", timeout_seconds=5)
        waiting = manager_cls(second).acquire_migration_lock(lock_scope="catalogue", timeout_seconds=0.3)
        async with held, waiting:
            pass

    run_sync(contend())


@scenario("DF-303")
def _no_schema_reader(tmp_path: Path, made: list[DataFlow]) -> None:
    """A dialect that does not implement introspection (the base class's) asked for the live schema."""
    plugin_api("dataflow_migrate", "plan_migration")
    from dataflow.dialect import DialectInfo, SQLDialect
    from dataflow_sqlite.dialect import SQLiteDialect

    class NoReader(SQLiteDialect):
        name = "noreader"
        introspect = SQLDialect.introspect

    class NoReaderPlugin:
        @hookimpl
        def dataflow_dialects(self) -> list[DialectInfo]:
            return [DialectInfo("noreader", ("noreader",), NoReader, package="dataflow-noreader")]

    db = DataFlow(f"noreader:///{tmp_path / 'df303.db'}", plugins=[NoReaderPlugin()])
    made.append(db)
    db.introspect_schema()


@scenario("DF-304")
def _table_missing(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made, auto_migrate=False)
    name = user_model(db)
    run_node(f"{name}CountNode", {})


@scenario("DF-305")
def _schema_mismatch(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made, existing_schema_mode=True)
    table = f"t_{uuid.uuid4().hex[:10]}"
    raw_sqlite(db, f'CREATE TABLE "{table}" (id TEXT PRIMARY KEY, name TEXT)')
    name = user_model(db, table)
    run_node(f"{name}CountNode", {})


@scenario("DF-308")
def _no_scratch_database(tmp_path: Path, made: list[DataFlow]) -> None:
    """A staging copy asked of a dialect that declares no scratch databases."""
    (manager_cls,) = plugin_api("dataflow_risk.staging_environment_manager", "StagingEnvironmentManager")
    import attrs
    from dataflow.dialect import DialectInfo
    from dataflow_sqlite.dialect import SQLiteDialect

    class NoScratch(SQLiteDialect):
        name = "noscratch"
        capabilities = attrs.evolve(SQLiteDialect.capabilities, scratch_databases=False)

    class NoScratchPlugin:
        @hookimpl
        def dataflow_dialects(self) -> list[DialectInfo]:
            return [DialectInfo("noscratch", ("noscratch",), NoScratch, package="dataflow-noscratch")]

    db = DataFlow(f"noscratch:///{tmp_path / 'df308.db'}", plugins=[NoScratchPlugin()])
    made.append(db)
    run_sync(manager_cls(db).create_staging_environment("rehearsal"))


@scenario("DF-401")
def _unknown_option(tmp_path: Path, made: list[DataFlow]) -> None:
    sqlite_db(tmp_path, made, auto_migrat=True)


@scenario("DF-402")
def _unreachable(tmp_path: Path, made: list[DataFlow]) -> None:
    db = DataFlow(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")
    made.append(db)
    name = user_model(db)
    run_node(f"{name}CountNode", {})


@scenario("DF-403")
def _no_dialect(tmp_path: Path, made: list[DataFlow]) -> None:
    DataFlow("mongodb://root@127.0.0.1:27017/test")


@scenario("DF-404")
def _essential_plugin(tmp_path: Path, made: list[DataFlow]) -> None:
    DataFlow("sqlite:///:memory:", disable_plugins=["builtin"])


@scenario("DF-405")
def _db_methods_provider_fails(tmp_path: Path, made: list[DataFlow]) -> None:
    class Broken:
        @hookimpl
        def dataflow_db_methods(self, db: DataFlow) -> dict[str, Any]:
            raise RuntimeError("not configured")

    DataFlow(f"sqlite:///{tmp_path / 'df405.db'}", plugins=[Broken()])


@scenario("DF-408")
def _command_of_a_plugin_that_is_off(tmp_path: Path, made: list[DataFlow]) -> None:
    from cyclopts import App
    from dataflow.cli import check_command
    from dataflow.plugins import PluginManager

    check_command(App(name="dataflow"), ["analyze", "flow.py"], PluginManager(autoload=False))


@scenario("DF-410")
def _schema_per_tenant_on_sqlite(tmp_path: Path, made: list[DataFlow]) -> None:
    sqlite_db(tmp_path, made, multi_tenant=True, tenant_isolation="schema")


@scenario("DF-407")
def _parquet_without_pyarrow(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    missing = {"pyarrow": None, "pyarrow.parquet": None}
    saved = {key: sys.modules.get(key) for key in missing}
    sys.modules.update(missing)  # type: ignore[arg-type]
    try:
        run_node(f"{name}ExportNode", {"path": str(tmp_path / "out.parquet")})
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module


@scenario("DF-411")
def _bad_protection_rule(tmp_path: Path, made: list[DataFlow]) -> None:
    sqlite_db(tmp_path, made, write_protection=[{"level": "galaxy", "read_only": True}])


@scenario("DF-415")
def _express_operation_the_model_lacks(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    db.express_sync.call(user_model(db), "archive", {})


@scenario("DF-719")
def _raw_sql_without_its_parameter(tmp_path: Path, made: list[DataFlow]) -> None:
    sqlite_db(tmp_path, made).fetch_sync("SELECT :missing AS x", {})


@scenario("DF-720")
def _raw_sql_that_is_not_sql(tmp_path: Path, made: list[DataFlow]) -> None:
    sqlite_db(tmp_path, made).execute_sync("SELEC 1")


@scenario("DF-501")
def _sync_call_inside_loop(tmp_path: Path, made: list[DataFlow]) -> None:
    async def nested() -> None:
        run_sync(asyncio.sleep(0))

    run_sync(nested())


@scenario("DF-503")
def _check_constraint(tmp_path: Path, made: list[DataFlow]) -> None:
    _, name = existing_table_db(tmp_path, made, "CHECK (age >= 0)")
    run_node(f"{name}CreateNode", {"id": "a", "name": "A", "age": -1})


@scenario("DF-507")
def _pool_exhausted(tmp_path: Path, made: list[DataFlow]) -> None:
    db = postgres_db(made, pool_size=1, max_overflow=0, pool_timeout=0.3)

    async def hold_and_ask() -> None:
        async with db.connection(), db.connection():
            pass

    run_sync(hold_and_ask())


@scenario("DF-508")
def _database_locked(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made, busy_timeout=0.2)
    name = user_model(db)
    run_node(f"{name}CountNode", {})  # the table exists before the other writer takes the lock
    blocker = sqlite3.connect(db.url.database, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        run_node(f"{name}CreateNode", {"id": "a", "name": "A"})
    finally:
        blocker.close()


@scenario("DF-509")
def _transaction_aborted(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    run_node(f"{name}CreateNode", {"id": "a", "name": "A"})
    with db.transaction():
        with pytest.raises(DataFlowError):
            run_node(f"{name}CreateNode", {"id": "a", "name": "again"})  # DF-704, caught: the block goes on
        run_node(f"{name}CreateNode", {"id": "b", "name": "B"})


def _postgres_session_lost(made: list[DataFlow], node: str, params: dict[str, Any], lock: str,
                           in_transaction: bool = False) -> None:
    """Run ``node`` on PostgreSQL (inside ``db.transaction()`` when ``in_transaction``) while another
    transaction holds ``lock`` on its table, and end the node's session (only that one: it waits on
    this scenario's own table) while it waits."""
    db = postgres_db(made)
    admin = postgres_db(made)
    name = user_model(db)
    table = db.models[name].table
    run_node(f"{name}CreateNode", {"id": "x", "name": "before"})
    wf = WorkflowBuilder()
    wf.add_node(f"{name}{node}", "n", {**params, "db_instance": db})

    async def scenario() -> None:
        async with admin.connection() as holder, admin.connection() as killer:
            await holder.execute("BEGIN", [])
            try:
                await holder.execute(lock.format(table), [])
                write = asyncio.create_task(_async_run(db, wf, in_transaction))
                for _ in range(200):
                    waiting = await killer.fetch("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                                                 f"AND wait_event_type = 'Lock' AND query LIKE '%{table}%'", [])
                    if waiting:
                        await killer.execute(f"SELECT pg_terminate_backend({int(waiting[0][0])})", [])
                        break
                    await asyncio.sleep(0.05)
            finally:
                await holder.execute("ROLLBACK", [])
            await write

    asyncio.run(scenario())


async def _async_run(db: DataFlow, wf: WorkflowBuilder, in_transaction: bool) -> Any:
    from dataflow import AsyncLocalRuntime

    if not in_transaction:
        return await AsyncLocalRuntime().execute_workflow_async(wf.build())
    async with db.transaction():
        return await AsyncLocalRuntime().execute_workflow_async(wf.build())


@scenario("DF-510")
def _write_outcome_unknown(tmp_path: Path, made: list[DataFlow]) -> None:
    _postgres_session_lost(made, "CreateNode", {"id": "y", "name": "ours"},
                           "INSERT INTO {} (id, name, age) VALUES ('y', 'theirs', 0)")


@scenario("DF-511")
def _transaction_lost(tmp_path: Path, made: list[DataFlow]) -> None:
    _postgres_session_lost(made, "UpdateNode", {"filter": {"id": "x"}, "fields": {"name": "after"}},
                           "UPDATE {} SET name = name WHERE id = 'x'", in_transaction=True)


@scenario("DF-515")
def _tdd_connection_killed(tmp_path: Path, made: list[DataFlow]) -> None:
    from dataflow_testing.tdd import end_transaction

    db = postgres_db(made, tdd_mode=True)
    name = user_model(db)
    run_node(f"{name}CreateNode", {"id": "a", "name": "A"})

    async def backend_pid() -> int:
        async with db.connection() as conn:  # the TDD transaction's own connection
            return int((await conn.fetch("SELECT pg_backend_pid()", []))[0][0])

    killer = postgres_db(made)
    pid = run_sync(backend_pid())

    async def kill() -> None:
        async with killer.connection() as conn:
            await conn.fetch("SELECT pg_terminate_backend($1)", [pid])

    run_sync(kill())
    run_sync(end_transaction(db))


@scenario("DF-516")
def _tdd_ddl_waits_for_the_test(tmp_path: Path, made: list[DataFlow]) -> None:
    url = server_url("mysql")
    writer, other = DataFlow(url, tdd_mode=True), DataFlow(url, tdd_mode=True)
    made += [writer, other]
    table = f"t_{uuid.uuid4().hex[:10]}"
    name = user_model(writer, table)
    run_node(f"{name}CreateNode", {"id": "a", "name": "A"})  # the test's transaction holds the table now
    wider = type("Wider", (), {"__annotations__": {"id": str, "name": str, "extra": str}, "extra": "",
                               "__tablename__": table})
    other.model(wider)
    other.schema_manager.wait = 0.3
    try:
        run_node("WiderCreateNode", {"id": "b", "name": "B"})
    finally:
        writer.close()
        other.close()
        with DataFlow(url) as cleaner:
            from dataflow.testing import raw_execute

            raw_execute(cleaner, f"DROP TABLE IF EXISTS `{table}`")


@scenario("DF-413")
def _duckdb_file_in_another_process(tmp_path: Path, made: list[DataFlow]) -> None:
    import subprocess

    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; held = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", str(path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"open"
        db = DataFlow(f"duckdb:///{path}")
        made.append(db)
        run_node(f"{user_model(db)}CountNode", {})
    finally:
        holder.kill()
        holder.wait()


@scenario("DF-517")
def _duckdb_write_conflict(tmp_path: Path, made: list[DataFlow]) -> None:
    import duckdb

    db = DataFlow(f"duckdb:///{tmp_path / 'conflict.duckdb'}")
    made.append(db)
    name = user_model(db)
    run_node(f"{name}CreateNode", {"id": "u1", "name": "A"})
    table = db.models[name].table
    outside, ours = db.dialect.database().cursor(), db.dialect.database().cursor()  # connections DataFlow
    outside.execute("BEGIN")                                                        # does not coordinate
    outside.execute(f'UPDATE "{table}" SET "name" = \'B\' WHERE "id" = \'u1\'')
    try:
        ours.execute(f'UPDATE "{table}" SET "name" = \'C\' WHERE "id" = \'u1\'')
    except duckdb.Error as exc:
        raise db.dialect.translate_error(exc) from exc
    finally:
        outside.execute("ROLLBACK")


@scenario("DF-414")
def _replicas_not_a_list(tmp_path: Path, made: list[DataFlow]) -> None:
    sqlite_db(tmp_path, made, read_replicas="postgresql://replica/app")


@scenario("DF-518")
def _no_usable_replica(tmp_path: Path, made: list[DataFlow]) -> None:
    db = postgres_db(made, read_replicas=["postgresql://root@127.0.0.1:1/test"], replica_fallback="error",
                     connect_timeout=1.0)
    db.check_replicas()  # the replica cannot be reached: not usable
    name = user_model(db)
    run_node(f"{name}ListNode", {})


@scenario("DF-519")
def _primary_listed_as_replica(tmp_path: Path, made: list[DataFlow]) -> None:
    db = postgres_db(made, read_replicas=[server_url("postgresql")])
    db.check_replicas()


@scenario("DF-512")
def _statement_timeout(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made, statement_timeout=0.2)

    async def endless() -> None:
        async with db.connection() as conn:
            await conn.fetch("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                             "SELECT COUNT(*) FROM c", [])

    run_sync(endless())


@scenario("DF-601")
def _primary_key_renamed(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    db.model(type("Account", (), {"__annotations__": {"user_id": str}, "__dataflow__": {"primary_key": "user_id"}}))


@scenario("DF-602")
def _registered_twice(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    cls = type("Twice", (), {"__annotations__": {"id": str}})
    db.model(cls)
    db.model(cls)


@scenario("DF-603")
def _unsupported_type(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    db.model(type("Odd", (), {"__annotations__": {"id": str, "blob": complex}}))


@scenario("DF-607")
def _identifier_with_a_newline(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    db.model(type("Feed", (), {"__annotations__": {"id": str}, "__tablename__": "feeds\n"}))


@scenario("DF-608")
def _fields_differing_in_case(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    db.model(type("Point", (), {"__annotations__": {"id": str, "a": int, "A": int}}))


@scenario("DF-609")
def _native_arrays_on_sqlite(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    db.model(type("Memory", (), {"__annotations__": {"id": str, "tags": list[str]},
                                 "__dataflow__": {"use_native_arrays": True}}))


@scenario("DF-610")
def _gin_index_on_sqlite(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    db.model(type("Tagged", (), {"__annotations__": {"id": str, "tags": list[str]},
                                 "__dataflow__": {"indexes": [{"fields": ["tags"], "using": "gin"}]}}))


@scenario("DF-605")
def _unknown_model(tmp_path: Path, made: list[DataFlow]) -> None:
    sqlite_db(tmp_path, made).get_model("Nobody")


@scenario("DF-701")
def _unknown_node(tmp_path: Path, made: list[DataFlow]) -> None:
    wf = WorkflowBuilder()
    wf.add_node("NoSuchModelCreateNode", "c", {})
    wf.build()


@scenario("DF-703")
def _not_found(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    run_node(f"{user_model(db)}ReadNode", {"id": "ghost"})


@scenario("DF-704")
def _duplicate_id(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    run_node(f"{name}CreateNode", {"id": "a", "name": "A"})
    run_node(f"{name}CreateNode", {"id": "a", "name": "again"})


@scenario("DF-705")
def _not_null(tmp_path: Path, made: list[DataFlow]) -> None:
    _, name = existing_table_db(tmp_path, made, "tenant TEXT NOT NULL")
    run_node(f"{name}CreateNode", {"id": "a", "name": "A"})


@scenario("DF-706")
def _foreign_key(tmp_path: Path, made: list[DataFlow]) -> None:
    _db, name = existing_table_db(tmp_path, made, "parent TEXT DEFAULT 'missing' REFERENCES parents(id)")
    run_node(f"{name}CreateNode", {"id": "a", "name": "A"})


@scenario("DF-711")
def _relation_broken(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)

    @db.model
    class Writer:
        name: str

    @db.model
    class Story:
        title: str
        writer_id: int
        __dataflow__ = {"foreign_keys": {"writer_id": "Writer"}}

    run_node("StoryCreateNode", {"title": "t", "writer_id": 404})


@scenario("DF-708")
def _ambiguous_filter(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    run_node(f"{name}BulkCreateNode", {"data": [{"id": "a", "name": "Same"}, {"id": "b", "name": "Same"}]})
    run_node(f"{name}UpdateNode", {"filter": {"name": "Same"}, "fields": {"age": 3}})


@scenario("DF-709")
def _code_does_not_compile(tmp_path: Path, made: list[DataFlow]) -> None:
    run_node("PythonCodeNode", {"code": "result = (1 +"})


@scenario("DF-712")
def _import_bad_line(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    (tmp_path / "users.csv").write_text("id,name,age\nu1,Ann,30\nu2,Bob,thirty\n")
    run_node(f"{name}ImportNode", {"path": str(tmp_path / "users.csv")})


@scenario("DF-713")
def _import_missing_file(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    run_node(f"{name}ImportNode", {"path": str(tmp_path / "missing.csv")})


@scenario("DF-714")
def _tenant_model_without_a_tenant(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made, multi_tenant=True)
    name = user_model(db)
    run_node(f"{name}ListNode", {})


@scenario("DF-715")
def _row_of_another_tenant(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made, multi_tenant=True)
    name = user_model(db)
    with db.tenant_context.switch("acme"):
        run_node(f"{name}CreateNode", {"id": "u1", "name": "Ann", "tenant_id": "globex"})


@scenario("DF-716")
def _write_refused(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made, write_protection=[{"level": "global", "read_only": True}])
    name = user_model(db)
    run_node(f"{name}CreateNode", {"id": "u1", "name": "A"})


@scenario("DF-717")
def _audit_trail_broken(tmp_path: Path, made: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, made, audit_log=True)
    name = user_model(db)
    run_node(f"{name}BulkCreateNode", {"data": [{"id": "u1", "name": "A"}, {"id": "u2", "name": "B"}]})
    raw_sqlite(db, "UPDATE dataflow_audit SET actor = 'mallory' WHERE seq = 1")
    db.audit.require_intact()


@scenario("DF-801")
def _duplicate_node_id(tmp_path: Path, made: list[DataFlow]) -> None:
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "same", {"code": "result = 1"})
    wf.add_node("PythonCodeNode", "same", {"code": "result = 2"})


@scenario("DF-803")
def _transaction_node_out_of_place(tmp_path: Path, made: list[DataFlow]) -> None:
    run_node("TransactionCommitNode", {})  # no TransactionScopeNode opened a transaction


@scenario("DF-804")
def _committed_in_part(tmp_path: Path, made: list[DataFlow]) -> None:
    first = sqlite_db(tmp_path, made)
    kept = user_model(first)
    path = tmp_path / "deferred.db"
    with sqlite3.connect(path) as conn:  # a foreign key checked only at commit
        conn.execute("CREATE TABLE parents (id TEXT PRIMARY KEY)")
        conn.execute("CREATE TABLE kids (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES parents(id) "
                     "DEFERRABLE INITIALLY DEFERRED, created_at TEXT, updated_at TEXT)")
    second = DataFlow(f"sqlite:///{path}", existing_schema_mode=True)
    made.append(second)
    second.model(type("Kid", (), {"__annotations__": {"id": str, "parent_id": str}, "__tablename__": "kids"}))
    wf = WorkflowBuilder()
    wf.add_node(f"{kept}CreateNode", "kept", {"id": "a", "name": "A"})
    wf.add_node("KidCreateNode", "orphan", {"id": "k", "parent_id": "nobody"})
    LocalRuntime().execute(wf.build(), transaction=True)


@scenario("DF-805")
def _transaction_timed_out(tmp_path: Path, made: list[DataFlow]) -> None:
    import time

    db = sqlite_db(tmp_path, made)
    name = user_model(db)
    with db.transaction(timeout=0.05):
        time.sleep(0.1)
        run_node(f"{name}CreateNode", {"id": "late", "name": "L"})


@scenario("DF-802")
def _node_failed(tmp_path: Path, made: list[DataFlow]) -> None:
    run_node("PythonCodeNode", {"code": "result = 1 / 0"})


@scenario("DF-806")
def _no_workflow_in_the_file(tmp_path: Path, made: list[DataFlow]) -> None:
    (load_workflow,) = plugin_api("dataflow_inspector", "load_workflow")
    path = tmp_path / "flow.py"
    path.write_text("x = 1\n", encoding="utf-8")
    load_workflow(path)


@scenario("DF-807")
def _no_such_node_to_inspect(tmp_path: Path, made: list[DataFlow]) -> None:
    (inspector_class,) = plugin_api("dataflow_inspector", "Inspector")
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "prepare", {"code": "result = 1"})
    inspector_class(wf).node_info("prepar")


@pytest.mark.parametrize("code", CODES)
def test_every_documented_code_is_raised_by_a_scenario(code: str, tmp_path: Path, dbs: list[DataFlow]) -> None:
    assert code in SCENARIOS, f"{code} is in the catalogue but no scenario raises it"
    with raises_df(code) as caught:
        SCENARIOS[code](tmp_path, dbs)
    error = caught["error"]
    assert error.code == code
    assert re.fullmatch(r"DF-\d{3}", error.code)
    assert code in str(caught["raised"])


def test_unreachable_postgres_is_df_402(dbs: list[DataFlow]) -> None:
    server_url("postgresql")  # the plugin's behaviour is what is tested; skip without a server at all
    try:
        db = DataFlow("postgresql://root@127.0.0.1:1/test", connect_timeout=2.0)
    except DataFlowError as exc:
        if exc.code == "DF-403":
            pytest.skip(f"the PostgreSQL plugin is not available: {exc.message}")
        raise
    dbs.append(db)
    name = user_model(db)
    with raises_df("DF-402"):
        run_node(f"{name}CountNode", {})


# ---- the catalogue, the source and the docs ------------------------------------------------------
def _codes_in_source() -> set[str]:
    roots = [REPO / "kernel" / "src", *(p / "src" for p in (REPO / "plugins").iterdir() if p.name != "errors"),
             *(p / "src" for p in (REPO / "plugins-contrib").glob("*"))]
    found: set[str] = set()
    for root in roots:
        for path in root.rglob("*.py"):
            found.update(re.findall(r"DF-\d{3}", path.read_text(encoding="utf-8")))
    return found


def test_every_code_in_the_source_is_in_the_catalogue() -> None:
    missing = sorted(_codes_in_source() - set(CODES))
    assert not missing, f"codes raised in the source but missing from the catalogue: {missing}"


def test_the_fixed_codes_of_the_api_are_in_the_catalogue() -> None:
    api = (REPO.parent / "shared" / "design" / "API.md")
    fixed = set(re.findall(r"^\| (DF-\d{3}) \|", api.read_text(), re.M)) if api.exists() else set()
    assert fixed <= set(CODES), sorted(fixed - set(CODES))


def test_catalogue_entries_are_complete_and_unique() -> None:
    assert len(CODES) == len(set(CODES)) and sorted(CODES) == CODES
    for entry in CATALOGUE:
        assert entry.title and entry.summary and entry.causes and entry.solutions, entry.code
        assert all(s.example for s in entry.solutions), f"{entry.code}: every solution needs an example"
        assert entry.docs == f"docs/errors.md#{entry.code.lower()}"
        assert lookup(entry.code.lower().replace("-", "")) is entry


def test_docs_page_is_generated_from_the_catalogue() -> None:
    page = REPO / "docs" / "errors.md"
    assert default_docs_path() == page
    assert page.read_text(encoding="utf-8") == render_markdown(), (
        "docs/errors.md is stale: run `dataflow errors docs --write`")
    for code in CODES:
        assert f'<a id="{code.lower()}"></a>' in page.read_text(encoding="utf-8")


# ---- the hint hook -------------------------------------------------------------------------------
class _Hints:
    def __init__(self, source: str, *, fail: bool = False) -> None:
        self.source, self.fail = source, fail

    @hookimpl
    def dataflow_error_hints(self, error: DataFlowError) -> list[ErrorHint]:
        if self.fail:
            raise RuntimeError("a broken hint provider")
        return [ErrorHint(error.code, title=f"from {self.source}", causes=(f"cause from {self.source}",))]


def test_catalogue_hints_reach_errors_raised_through_an_instance(dbs: list[DataFlow]) -> None:
    db = DataFlow("sqlite:///:memory:")
    dbs.append(db)
    error = db.error("DF-703", "No User matches 'x'.", solutions=["raise-site fix"])
    entry = lookup("DF-703")
    assert error.title == entry.title and error.docs == entry.docs
    assert error.solutions[0] == "raise-site fix"  # what the raise site knew comes first
    assert set(entry.causes) <= set(error.causes)


def test_a_failing_hint_provider_never_hides_the_error(dbs: list[DataFlow]) -> None:
    db = DataFlow("sqlite:///:memory:")
    dbs.append(db)
    db.plugins.register(_Hints("broken", fail=True), name="aaa-broken")
    error = db.error("DF-605", "No model named 'X' on this instance.")
    assert error.code == "DF-605"
    assert error.title == lookup("DF-605").title


def test_hints_apply_in_plugin_name_order_and_the_kernel_wins(dbs: list[DataFlow]) -> None:
    db = DataFlow("sqlite:///:memory:")
    dbs.append(db)
    db.plugins.register(_Hints("zzz"), name="zzz-late")
    db.plugins.register(_Hints("aaa"), name="aaa-early")
    first = db.error("DF-605", "x")
    assert first.title == "from aaa"  # sorted by plugin name: aaa < errors < zzz
    assert first.causes.index("cause from aaa") < first.causes.index(lookup("DF-605").causes[0])
    assert first.causes[-1] == "cause from zzz"
    # The kernel's own provider ("builtin") runs before every plugin: its title wins a clash.
    db.plugins.pm.unregister(name="builtin")
    db.plugins.pm.register(_Hints("the kernel"), name="builtin")
    assert db.error("DF-605", "x").title == "from the kernel"


def test_workflow_build_errors_are_enhanced_too() -> None:
    wf = WorkflowBuilder()
    wf.add_node("PythonCodeNode", "a", {"code": "result = 1"})
    wf.add_connection("a", "result", "b", "x")
    with pytest.raises(DataFlowError) as info:
        wf.build()
    assert info.value.code == "DF-801" and info.value.title == lookup("DF-801").title


# ---- modes -------------------------------------------------------------------------------------
def _unknown_model_error(mode: str | None) -> DataFlowError:
    options = {"error_enhancement_mode": mode} if mode else {}
    db = DataFlow("sqlite:///:memory:", **options)
    db.model(type("Customer", (), {"__annotations__": {"id": str}}))
    try:
        with pytest.raises(DataFlowError) as info:
            db.get_model("Custmer")
        return info.value
    finally:
        db.close()


def test_full_mode_is_readable_plain_text_with_causes_solutions_example_docs() -> None:
    text = str(_unknown_model_error("FULL"))
    assert text.startswith("DF-605: Unknown model")
    for part in ("Did you mean 'Customer'?", "Causes:", "Solutions:", "Example:", "docs/errors.md#df-605"):
        assert part in text


def test_minimal_mode_is_one_line_with_code_and_fix() -> None:
    text = str(_unknown_model_error("MINIMAL"))
    assert "\n" not in text and text.startswith("DF-605: ") and "Fix: " in text


def test_disabled_mode_is_the_bare_code_and_message() -> None:
    error = _unknown_model_error("DISABLED")
    assert str(error) == f"DF-605: {error.message}" and not error.title


def test_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFLOW_ERROR_ENHANCER_MODE", "minimal")
    assert "\n" not in str(_unknown_model_error(None))


def test_an_invalid_mode_is_df_401() -> None:
    with raises_df("DF-401"):
        DataFlow("sqlite:///:memory:", error_enhancement_mode="LOUD")


@pytest.mark.parametrize("mode", ["FULL", "MINIMAL", "DISABLED"])
def test_rich_render_honours_the_mode_and_always_shows_the_code(mode: str) -> None:
    error = _unknown_model_error(mode)
    text = render_text(error)
    assert "DF-605" in text
    if mode == "FULL":
        assert "Likely causes" in text and "Solutions" in text and 'db.get_model("User")' in text
    else:
        assert text.strip() == str(error)


# ---- context -----------------------------------------------------------------------------------
def test_node_errors_carry_node_model_parameter_and_suggestion(tmp_path: Path, dbs: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, dbs)
    name = user_model(db)
    with raises_df("DF-102") as caught:
        run_node(f"{name}ListNode", {"filtr": {"age": 3}})
    error = caught["error"]
    assert error.context["node_id"] == "n" and error.context["node_type"] == f"{name}ListNode"
    assert error.context["parameter"] == "filtr" and "Did you mean 'filter'?" in error.message
    with raises_df("DF-102") as caught:
        run_node(f"{name}CreateNode", {"id": "a", "name": "A", "age": "x" * 500})
    error = caught["error"]
    assert error.context["model"] == name and error.context["field"] == "age"
    assert len(str(error.context["value"])) <= 80  # the offending value, truncated


def test_unknown_option_suggests_the_closest() -> None:
    with raises_df("DF-401", match="Did you mean 'auto_migrate'"):
        DataFlow("sqlite:///:memory:", auto_migrat=True)


def test_unknown_node_suggests_the_closest(tmp_path: Path, dbs: list[DataFlow]) -> None:
    db = sqlite_db(tmp_path, dbs)
    name = user_model(db)
    wf = WorkflowBuilder()
    wf.add_node(f"{name}CreatNode", "c", {})
    with raises_df("DF-701", match=f"Did you mean '{name}CreateNode'"):
        wf.build()


def _all_text(error: BaseException) -> str:
    """Everything a user or a log could see of an error and its DF-coded causes."""
    parts = []
    current: BaseException | None = error
    while isinstance(current, DataFlowError):
        parts += [str(current), repr(current), repr(current.context), json.dumps(current.to_dict()),
                  current.effective_mode(), render_text(current), *map(str, current.args)]
        current = current.__cause__
    return "\n".join(parts)


@pytest.mark.parametrize("url", ["postgresql://u:secret@host:1/db", "postgresql://u:secret@127.0.0.1:1/db",
                                 "mysql://u:secret@127.0.0.1:1/db", "postgresql://u:secret@[bad/db",
                                 "u:secret@host/db"])
def test_a_url_password_never_appears_in_an_error(url: str, dbs: list[DataFlow]) -> None:
    try:
        db = DataFlow(url, connect_timeout=1.0)
    except DataFlowError as exc:
        assert "secret" not in _all_text(exc)
        return
    dbs.append(db)
    assert "secret" not in repr(db)
    name = user_model(db)
    with pytest.raises(DataFlowError) as info:
        run_node(f"{name}CountNode", {})
    assert "secret" not in _all_text(info.value)


def test_workflow_execution_error_names_node_and_chains_the_cause() -> None:
    with pytest.raises(WorkflowExecutionError) as info:
        run_node("PythonCodeNode", {"code": "result = 1 / 0"})
    error = info.value
    assert error.code == "DF-802" and error.node_id == "n" and isinstance(error.__cause__, ZeroDivisionError)
    assert error.title == lookup("DF-802").title


# ---- the CLI -----------------------------------------------------------------------------------
def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["errors", "list"]) == 0
    out = capsys.readouterr().out
    assert all(code in out for code in CODES)


def test_cli_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["errors", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["code"] for d in data] == CODES and data[0]["solutions"][0]["example"]


def test_cli_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["errors", "show", "DF-101"]) == 0
    out = capsys.readouterr().out
    assert "DF-101" in out and lookup("DF-101").title in out and "Solutions" in out


def test_cli_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["errors", "show", "df-704", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["code"] == "DF-704"


def test_cli_show_unknown_code_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["errors", "show", "DF-999"]) != 0
    err = capsys.readouterr().err
    assert "DF-999" in err and "dataflow errors list" in err


def test_cli_docs_prints_and_writes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli_main(["errors", "docs"]) == 0
    assert capsys.readouterr().out == render_markdown()
    target = tmp_path / "errors.md"
    assert cli_main(["errors", "docs", "--write", "--path", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_markdown()


def test_cli_help_comes_from_docstrings(capsys: pytest.CaptureFixture[str]) -> None:
    cli_main(["errors", "--help"])
    out = capsys.readouterr().out
    assert "List every DF error code" in out and "Show one error code" in out
