"""Every hook of ``dataflow.hookspecs`` is called by DataFlow through a plugin, tested and documented.

Each ``test_hook_<name>`` registers a throwaway plugin implementing that one hook, makes DataFlow do
the thing that calls it, and checks the result was used. The meta-tests at the end (after datasette's
``test_plugin_hooks_have_tests`` and ``test_plugin_hooks_are_documented``) enumerate the hookspecs
so a new hook without a test or a section in ``docs/hooks.md`` fails the suite.

The databases are real SQLite files in ``tmp_path``; only the sqlite, crud and runtime plugins are
loaded (``plugins=[...]`` allow-list) so another plugin's behaviour never leaks into a hook's test.
The three migration hooks are called by the migrate plugin, so their tests add it and go through its
public API (``db.migrate_plan()``, ``db.migrate_apply()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import attrs
import pytest
from dataflow import DataFlow, hookspecs
from dataflow.builtin import BasicSchemaManager
from dataflow.dialect import DialectInfo, SQLBuilder, SQLDialect
from dataflow.errors import DataFlowError, ErrorHint
from dataflow.hookspecs import hookimpl
from dataflow.loop import run_sync
from dataflow.migration import MigrationPlan, MigrationStep, RiskFinding, RiskLevel
from dataflow.models import FieldSpec, ModelSpec
from dataflow.nodes import Node, NodeContext, Param
from dataflow.plugins import OptionInfo, PluginManager, RuntimeInfo
from dataflow.query import Cond
from dataflow.testing.helpers import run_nodes as run

BASE_PLUGINS = ["sqlite", "crud", "runtime"]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def hook_names() -> list[str]:
    """Every hook the kernel specifies (functions pluggy marked with ``@hookspec``)."""
    return sorted(n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, "dataflow_spec"))


def signature_of(name: str) -> str:
    """``dataflow_x(a: A, b: B) -> R`` exactly as written in hookspecs.py."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{name}({params}) -> {sig.return_annotation}"


@pytest.fixture
def make_db(make_db: Callable[..., DataFlow]) -> Callable[..., DataFlow]:
    """``make_db(*plugin_objects, extra=[plugin names], **options)``: the workspace ``make_db`` (fresh
    SQLite file, closed afterwards) with only BASE_PLUGINS, ``extra`` and the given plugin objects loaded."""

    def make(*plugins: Any, url: str | None = None, extra: Iterable[str] = (), **options: Any) -> DataFlow:
        return make_db(url, plugins=[*BASE_PLUGINS, *extra, *plugins], **options)

    return make


def declared_types(path: str, table: str) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {row[1]: row[2] for row in conn.execute(f'PRAGMA table_info("{table}")')}


# ---- instance set-up ----------------------------------------------------------------------


def test_hook_dataflow_configure(make_db: Callable[..., DataFlow]) -> None:
    class Configure:
        @hookimpl
        def dataflow_configure(self, db: DataFlow) -> None:
            db.state["configured"] = db.state.get("configured", 0) + 1

    db = make_db(Configure())
    assert db.state["configured"] == 1
    db.plugins.register(Configure(), name="late")
    assert db.state["configured"] == 2, "historic: a plugin registered later is still called"


def test_hook_dataflow_options(make_db: Callable[..., DataFlow]) -> None:
    class Options:
        @hookimpl
        def dataflow_options(self) -> Iterable[OptionInfo]:
            return [OptionInfo("greeting", "How to greet.", "hello")]

    assert make_db(Options()).options["greeting"] == "hello"
    assert make_db(Options(), greeting="hi").options["greeting"] == "hi"
    with pytest.raises(DataFlowError) as info:
        make_db(Options(), greting="hi")
    assert info.value.code == "DF-401"
    assert "Did you mean 'greeting'?" in info.value.message


def test_hook_dataflow_db_methods(make_db: Callable[..., DataFlow]) -> None:
    class Methods:
        @hookimpl
        def dataflow_db_methods(self, db: DataFlow) -> dict[str, Any]:
            return {"shout": lambda text: f"{db.name}: {text.upper()}"}

    db = make_db(Methods(), name="loud")
    assert db.shout("hi") == "loud: HI"

    class Same:
        @hookimpl
        def dataflow_db_methods(self) -> dict[str, Any]:
            return {"shout": print}

    with pytest.raises(DataFlowError) as info:
        make_db(Methods(), Same())
    assert "shout" in info.value.message
    assert info.value.message.count("'") >= 4, "the error names both plugins"


def test_hook_dataflow_class_methods() -> None:
    from dataflow.facade import class_methods
    from dataflow.runtime import default_manager

    class Shout:
        @hookimpl
        def dataflow_class_methods(self) -> dict[str, Any]:
            return {"shout_everywhere": lambda text: text.upper()}

    class Same:
        @hookimpl
        def dataflow_class_methods(self) -> dict[str, Any]:
            return {"shout_everywhere": print}

    manager = default_manager()
    names = [manager.register(Shout(), name="shout-plugin")]
    class_methods.cache_clear()
    try:
        assert DataFlow.shout_everywhere("hi") == "HI"
        names.append(manager.register(Same(), name="same-plugin"))
        class_methods.cache_clear()
        with pytest.raises(DataFlowError) as info:
            DataFlow.shout_everywhere  # noqa: B018 - the lookup is what raises
        assert info.value.code == "DF-404" and "shout-plugin" in info.value.message
        assert "same-plugin" in info.value.message
    finally:
        for name in names:
            manager.unregister(name)
        class_methods.cache_clear()
    with pytest.raises(AttributeError):
        DataFlow.shout_everywhere  # noqa: B018


def test_hook_dataflow_close(make_db: Callable[..., DataFlow]) -> None:
    calls: list[str] = []

    class Close:
        @hookimpl
        def dataflow_close(self, db: DataFlow) -> Coroutine[Any, Any, None]:
            calls.append("called")

            async def release() -> None:
                await asyncio.sleep(0)
                calls.append("awaited")

            return release()

    db = make_db(Close())
    db.close()
    assert calls == ["called", "awaited"]


# ---- dialects -----------------------------------------------------------------------------


def test_hook_dataflow_dialects(make_db: Callable[..., DataFlow], tmp_path: Path) -> None:
    from dataflow_sqlite.dialect import SQLiteDialect

    class Renamed(SQLiteDialect):
        name = "renamed-sqlite"

    class Dialects:
        @hookimpl
        def dataflow_dialects(self) -> Iterable[DialectInfo]:
            return [DialectInfo("renamed-sqlite", ("litefile",), Renamed, package="dataflow-renamed")]

    db = make_db(Dialects(), url=f"litefile:///{tmp_path / 'renamed.sqlite'}")
    assert isinstance(db.dialect, Renamed)

    @db.model
    class Note:
        text: str

    results = run(("NoteCreateNode", "c", {"text": "hi"}), ("NoteCountNode", "n", {}))
    assert results["n"] == {"count": 1}
    assert (tmp_path / "renamed.sqlite").exists()


def test_hook_dataflow_column_type(make_db: Callable[..., DataFlow], tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    class ColumnType:
        @hookimpl
        def dataflow_column_type(self, field: FieldSpec, dialect: SQLDialect) -> str | None:
            seen.append((field.name, dialect.name))
            return "VARCHAR(12)" if field.name == "code" else None

    db = make_db(ColumnType())

    @db.model
    class Voucher:
        code: str
        label: str

    run(("VoucherCreateNode", "c", {"code": "X1", "label": "l"}))
    types = declared_types(db.url.database, "vouchers")
    assert types["code"] == "VARCHAR(12)"
    assert types["label"] != "VARCHAR(12)"
    assert ("code", db.dialect.name) in seen


def test_hook_dataflow_read_router(make_db: Callable[..., DataFlow], tmp_path: Path) -> None:
    """Installed on the dialect (firstresult): shown every statement; a read it takes runs where it says."""
    copy = tmp_path / "copy.sqlite"
    seen: list[str] = []

    class Router:
        def __init__(self, db: DataFlow) -> None:
            self.elsewhere = db.make_dialect(f"sqlite:///{copy}")
            self.wrote_count = 0

        def route(self, query: Any, conn: Any) -> Any:
            seen.append(type(query).__name__)
            if type(query).__name__ in ("Select", "Count") and conn is None:
                return self.elsewhere.run(query)
            return None

        def wrote(self) -> None:
            self.wrote_count += 1

    class ReadRouter:
        @hookimpl
        def dataflow_read_router(self, db: DataFlow) -> Any:
            return Router(db)

    db = make_db(ReadRouter())
    router = db.dialect.read_router
    assert isinstance(router, Router)

    @db.model
    class Note:
        text: str

    run(("NoteCreateNode", "c", {"text": "on the primary"}))
    with contextlib.closing(sqlite3.connect(copy)) as conn:  # the "replica": same table, another row
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT, created_at TEXT, updated_at TEXT)")
        conn.execute("INSERT INTO notes (id, text) VALUES (7, 'on the copy')")
        conn.commit()
    found = run(("NoteListNode", "l", {}))["l"]["records"]
    assert [r["text"] for r in found] == ["on the copy"]
    assert "Insert" in seen and "Select" in seen
    with db.transaction():
        pass
    assert router.wrote_count == 1, "opening a transaction counts as a write"
    run_sync(router.elsewhere.close())


def test_hook_dataflow_filter_operators(make_db: Callable[..., DataFlow]) -> None:
    def starts_with(b: SQLBuilder, cond: Cond) -> str:
        return f"{b.quote(cond.field.name)} LIKE {b.bind(str(cond.value) + '%')}"

    class Operators:
        @hookimpl
        def dataflow_filter_operators(self, dialect: SQLDialect) -> dict[str, Any]:
            return {"$startswith": starts_with}

    db = make_db(Operators())
    assert db.dialect.operators["$startswith"] is starts_with

    @db.model
    class Person:
        name: str

    results = run(("PersonBulkCreateNode", "fill", {"data": [{"name": n} for n in ("Alice", "Alfred", "Bob")]}))
    assert results["fill"]["inserted"] == 3
    found = run(("PersonListNode", "l", {"filter": {"name": {"$startswith": "Al"}}, "order_by": ["name"]}))
    assert [r["name"] for r in found["l"]["records"]] == ["Alfred", "Alice"]


# ---- models and nodes ---------------------------------------------------------------------


def test_hook_dataflow_register_model(make_db: Callable[..., DataFlow], tmp_path: Path) -> None:
    class Prefix:
        @hookimpl
        def dataflow_register_model(self, model: ModelSpec, db: DataFlow) -> ModelSpec:
            return attrs.evolve(model, table=f"app_{model.table}")

    class AddField:
        @hookimpl
        def dataflow_register_model(self, model: ModelSpec) -> ModelSpec:
            extra = FieldSpec("tenant", "str", str, nullable=True)
            return attrs.evolve(model, fields=(*model.fields[:-2], extra, *model.fields[-2:]))

    db = make_db(Prefix(), AddField())

    @db.model
    class Order:
        total: float

    spec = db.get_model("Order")
    assert spec.table == "app_orders", "each implementation sees the previous one's result"
    assert "tenant" in spec.column_names
    created = run(("OrderCreateNode", "c", {"total": 2.5, "tenant": "acme"}))["c"]
    assert created["tenant"] == "acme"
    assert "tenant" in declared_types(db.url.database, "app_orders")


def test_hook_dataflow_generate_nodes(make_db: Callable[..., DataFlow]) -> None:
    class Describe:
        @hookimpl
        def dataflow_generate_nodes(self, model: ModelSpec, db: DataFlow,
                                    register: Callable[[str, type[Node]], None]) -> None:
            class DescribeNode(Node):
                type_name = f"{model.name}DescribeNode"

                async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
                    return {"table": model.table, "fields": list(model.column_names), "db": db.name}

            register(DescribeNode.type_name, DescribeNode)

    db = make_db(Describe(), name="described")

    @db.model
    class Tag:
        label: str

    assert "TagDescribeNode" in db.state["generated"]["Tag"]
    assert "TagCreateNode" in db.state["generated"]["Tag"], "the CRUD plugin's nodes are generated too"
    out = run(("TagDescribeNode", "d", {}))["d"]
    assert out == {"table": "tags", "fields": ["id", "label", "created_at", "updated_at"], "db": "described"}


class Greet(Node):
    """Says hello to ``name``."""

    type_name = "GreetNode"
    parameters = {"name": Param("name", str, required=True)}

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"greeting": f"hello {params['name']}", "node": ctx.node_id}


class GreetPlugin:
    """Adds ``GreetNode``, a node type that belongs to no model."""

    @hookimpl
    def dataflow_node_types(self, register: Callable[[str, type[Node]], None]) -> None:
        register("GreetNode", Greet)


def test_hook_dataflow_node_types(make_db: Callable[..., DataFlow]) -> None:
    make_db(GreetPlugin())
    results = run(("GreetNode", "g", {"name": "Ann"}), ("GreetNode", "h", {"name": "${g.greeting}"}))
    assert results["h"] == {"greeting": "hello hello Ann", "node": "h"}


def test_hook_dataflow_execute_node(make_db: Callable[..., DataFlow]) -> None:
    seen: list[str] = []

    class Timing:
        @hookimpl(wrapper=True)
        def dataflow_execute_node(self, node: Node, params: dict[str, Any], ctx: NodeContext) -> Any:
            coro = yield

            async def wrapped() -> Any:
                seen.append(f"before {ctx.node_id}")
                output = await coro
                seen.append(f"after {ctx.node_id}")
                return {**output, "wrapped_by": "timing"}

            return wrapped()

    db = make_db(Timing())

    @db.model
    class Event:
        title: str

    created = run(("EventCreateNode", "c", {"title": "launch"}))["c"]
    assert created["title"] == "launch"
    assert created["wrapped_by"] == "timing"
    assert seen == ["before c", "after c"]


def test_execute_node_wrappers_may_pass_operations_through(make_db: Callable[..., DataFlow]) -> None:
    """Nodes of an operation every wrapper declares in ``passes_through`` run without the hook call."""
    seen: list[str] = []

    class WritesOnly:
        @hookimpl(wrapper=True)
        def dataflow_execute_node(self, node: Node, params: dict[str, Any], ctx: NodeContext) -> Any:
            seen.append(f"writes-only {node.operation}")
            return (yield)

        dataflow_execute_node.passes_through = frozenset({"read", "list"})  # type: ignore[attr-defined]

    class Everything:
        @hookimpl(wrapper=True)
        def dataflow_execute_node(self, node: Node, params: dict[str, Any], ctx: NodeContext) -> Any:
            seen.append(f"everything {node.operation}")
            return (yield)

    db = make_db(WritesOnly())

    @db.model
    class Note:
        title: str

    created = run(("NoteCreateNode", "c", {"title": "a"}))["c"]
    run(("NoteReadNode", "r", {"id": created["id"]}), ("NoteListNode", "l", {}))
    assert seen == ["writes-only create"]  # the read and the list ran without the hook
    seen.clear()
    other = make_db(WritesOnly(), Everything())

    @other.model
    class Memo:
        title: str

    created = run(("MemoCreateNode", "c", {"title": "a"}))["c"]
    run(("MemoReadNode", "r", {"id": created["id"]}))
    assert sorted(seen) == ["everything create", "everything read", "writes-only create", "writes-only read"]


def test_execute_node_wrappers_may_say_when_they_are_idle(make_db: Callable[..., DataFlow]) -> None:
    """While every wrapper's ``passes_through_when(db)`` answers True, the instance's nodes run without
    the hook call; the predicate is asked before each node, and one wrapper without it keeps the hook."""
    seen: list[str] = []
    guarding = {"on": False}
    asked: list[DataFlow] = []

    def idle(db: DataFlow) -> bool:
        asked.append(db)
        return not guarding["on"]

    class Guard:
        @hookimpl(wrapper=True)
        def dataflow_execute_node(self, node: Node, params: dict[str, Any], ctx: NodeContext) -> Any:
            seen.append(f"guard {node.operation}")
            return (yield)

        dataflow_execute_node.passes_through = frozenset({"read"})  # type: ignore[attr-defined]
        dataflow_execute_node.passes_through_when = idle  # type: ignore[attr-defined]

    class Always:
        @hookimpl(wrapper=True)
        def dataflow_execute_node(self, node: Node, params: dict[str, Any], ctx: NodeContext) -> Any:
            seen.append(f"always {node.operation}")
            return (yield)

    db = make_db(Guard())

    @db.model
    class Note:
        title: str

    created = run(("NoteCreateNode", "c", {"title": "a"}))["c"]
    assert seen == [] and asked == [db]  # idle: the create ran without the hook
    guarding["on"] = True
    run(("NoteUpdateNode", "u", {"id": created["id"], "fields": {"title": "b"}}))
    run(("NoteReadNode", "r", {"id": created["id"]}))
    assert seen == ["guard update"]  # asked again before the update; the read passes through by operation
    assert asked == [db, db]
    seen.clear()
    guarding["on"] = False
    other = make_db(Guard(), Always())

    @other.model
    class Memo:
        title: str

    run(("MemoCreateNode", "c", {"title": "a"}))
    assert sorted(seen) == ["always create", "guard create"]  # a wrapper without the predicate: the hook runs


def test_hook_dataflow_connection(make_db: Callable[..., DataFlow]) -> None:
    statements: list[str] = []

    class Counting:
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        async def execute(self, sql: str, params: Any) -> Any:
            statements.append(sql)
            return await self.conn.execute(sql, params)

    class Wrap:
        @hookimpl
        def dataflow_connection(self, connection: Any, db: DataFlow) -> Any:
            return Counting(connection)

    db = make_db(Wrap())

    async def raw() -> None:
        async with db.connection() as conn:
            await conn.execute("CREATE TABLE hooked (id TEXT)", [])

    asyncio.run(raw())
    assert statements == ["CREATE TABLE hooked (id TEXT)"]


def test_hook_dataflow_model_scope(make_db: Callable[..., DataFlow]) -> None:
    """A scope amends node parameters before the node reads them and sees every query on its model's
    table (each once, a transaction's statements included); a model it returns None for is untouched."""
    from dataflow.query import Select, Update
    from dataflow.scopes import ModelScope

    queries: list[str] = []

    class Capped(ModelScope):
        def node_params(self, node: Node, params: dict[str, Any]) -> dict[str, Any]:
            if node.operation == "list":
                return {**params, "limit": 1}  # a new dict: the kernel puts it in place of the old one
            return params

        def query(self, query: Any) -> Any:
            queries.append(type(query).__name__)
            if isinstance(query, Update) and "title" in query.values:
                raise DataFlowError("DF-102", "titles are frozen")
            if isinstance(query, Select) and query.limit is None:
                return attrs.evolve(query, limit=5)
            return query

    class Scoping:
        @hookimpl
        def dataflow_model_scope(self, model: ModelSpec, db: DataFlow) -> ModelScope | None:
            return Capped() if model.name == "Note" else None

    db = make_db(Scoping())

    @db.model
    class Note:
        title: str

    @db.model
    class Tag:
        label: str

    assert db.model_scopes.keys() == {"Note"}
    run(("NoteBulkCreateNode", "b", {"data": [{"title": f"n{i}"} for i in range(3)]}))
    assert queries == ["Insert"], "a statement joining the node's transaction passes the scope once"
    assert run(("NoteListNode", "l", {"limit": 10}))["l"]["count"] == 1
    with pytest.raises(DataFlowError, match="titles are frozen"):
        run(("NoteUpdateNode", "u", {"id": 1, "fields": {"title": "new"}}))
    assert queries == ["Insert", "Select", "Update"], "an update by id is one UPDATE, no match read first"
    run(("TagCreateNode", "t", {"label": "x"}), ("TagListNode", "tl", {}))
    assert queries == ["Insert", "Select", "Update"], "an unscoped model's queries pass untouched"


def test_hook_dataflow_run_parameters(make_db: Callable[..., DataFlow]) -> None:
    """A declared run keyword reaches every node through run_context(); an undeclared one is DF-102."""
    from dataflow import LocalRuntime, WorkflowBuilder
    from dataflow.runtime import run_context

    seen: list[Any] = []

    class Actor:
        @hookimpl
        def dataflow_run_parameters(self) -> Iterable[OptionInfo]:
            return [OptionInfo("actor", "Who runs the workflow.")]

        @hookimpl(wrapper=True)
        def dataflow_execute_node(self, node: Node, params: dict[str, Any], ctx: NodeContext) -> Any:
            seen.append(run_context().get("actor"))
            return (yield)

    db = make_db(Actor())

    @db.model
    class Memo:
        text: str

    wf = WorkflowBuilder()
    wf.add_node("MemoCreateNode", "c", {"text": "hi"})
    LocalRuntime().execute(wf.build(), actor="ann")
    assert seen == ["ann"] and dict(run_context()) == {}
    with pytest.raises(DataFlowError) as info:
        LocalRuntime().execute(wf.build(), actr="ann")
    assert info.value.code == "DF-102" and "Did you mean 'actor'?" in info.value.message


def test_hook_dataflow_runtimes(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataflow
    import dataflow.runtime

    class FakeLocalRuntime:
        """Stands in for the runtime plugin's LocalRuntime."""

    class Runtimes:
        @hookimpl
        def dataflow_runtimes(self) -> Iterable[RuntimeInfo]:
            return [RuntimeInfo("LocalRuntime", FakeLocalRuntime)]

    manager = PluginManager(autoload=False, plugins=[Runtimes()])
    monkeypatch.setattr(dataflow.runtime, "default_manager", lambda: manager)
    assert dataflow.LocalRuntime is FakeLocalRuntime
    monkeypatch.setattr(dataflow.runtime, "default_manager", lambda: PluginManager(autoload=False))
    with pytest.raises(DataFlowError) as info:
        _ = dataflow.AsyncLocalRuntime
    assert info.value.code == "DF-403"
    assert "dataflow-runtime" in info.value.message


# ---- schema and migrations ----------------------------------------------------------------


def test_hook_dataflow_schema_cache(make_db: Callable[..., DataFlow]) -> None:
    calls: list[tuple[str, str | None]] = []

    class Memo:
        def __init__(self) -> None:
            self.ready: set[str] = set()

        def is_ready(self, model: ModelSpec) -> bool:
            calls.append(("is_ready", model.name))
            return model.name in self.ready

        def mark_ready(self, model: ModelSpec) -> None:
            calls.append(("mark_ready", model.name))
            self.ready.add(model.name)

        def invalidate(self, model_name: str | None = None) -> None:
            calls.append(("invalidate", model_name))
            self.ready.discard(model_name or "")

    memo = Memo()

    class SchemaCache:
        @hookimpl
        def dataflow_schema_cache(self, db: DataFlow) -> Any:
            return memo

    db = make_db(SchemaCache())

    @db.model
    class Item:
        name: str

    run(("ItemCreateNode", "a", {"name": "x"}))
    run(("ItemCountNode", "n", {}))
    assert ("mark_ready", "Item") in calls and calls.count(("is_ready", "Item")) >= 3
    db.forget_schema([db.get_model("Item").table])
    assert calls[-1] == ("invalidate", "Item") and "Item" not in memo.ready


def test_hook_dataflow_schema_manager(make_db: Callable[..., DataFlow]) -> None:
    ensured: list[list[str]] = []

    class Recording(BasicSchemaManager):
        async def ensure(self, db: DataFlow, models: Iterable[ModelSpec]) -> None:
            models = list(models)
            ensured.append([m.name for m in models])
            await super().ensure(db, models)

    class SchemaManager:
        @hookimpl
        def dataflow_schema_manager(self, db: DataFlow) -> Any:
            return Recording()

    db = make_db(SchemaManager())
    assert isinstance(db.schema_manager, Recording)

    @db.model
    class Item:
        name: str

    # The count depends on the create (a template), so the two run one after the other.
    results = run(("ItemCreateNode", "a", {"name": "x"}), ("ItemCountNode", "n", {"filter": {"name": "${a.name}"}}))
    assert results["n"] == {"count": 1}
    assert ensured == [["Item"]], "called on first use, then cached"


def index_names(path: str, table: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {row[1] for row in conn.execute(f'PRAGMA index_list("{table}")')}


def _migrating_db(make_db: Callable[..., DataFlow], plugin: Any) -> DataFlow:
    """An instance with the migrate plugin (whose planner and apply call the migration hooks)."""
    db = make_db(plugin, extra=["migrate"])

    @db.model
    class Ledger:
        name: str

    return db


def test_hook_dataflow_migration_steps(make_db: Callable[..., DataFlow]) -> None:
    """Called by the migrate plugin's planner: the steps returned are appended to the plan and applied."""

    class Steps:
        @hookimpl
        def dataflow_migration_steps(self, plan: MigrationPlan, db: DataFlow) -> Iterable[MigrationStep]:
            tables = {s.table for s in plan.steps if s.kind == "create_table"}
            return [MigrationStep("add_index", t, "name", (f'CREATE INDEX "ix_{t}_by_name" ON "{t}" ("name")',),
                                  {"fields": ["name"]}) for t in sorted(tables)]

    db = _migrating_db(make_db, Steps())
    plan = db.migrate_plan()
    assert [s.kind for s in plan.steps] == ["create_table", "add_index"]
    assert db.migrate_apply(plan)["status"] == "applied"
    assert "ix_ledgers_by_name" in index_names(db.url.database, "ledgers")


def test_hook_dataflow_assess_migration(make_db: Callable[..., DataFlow]) -> None:
    """Called by the migrate plugin's planner; a HIGH finding makes apply refuse without confirmation."""

    class Assess:
        @hookimpl
        def dataflow_assess_migration(self, plan: MigrationPlan) -> Iterable[RiskFinding]:
            return [RiskFinding("test.rule", RiskLevel.HIGH, 80, "data_loss", f"{s.describe()} is risky", i)
                    for i, s in enumerate(plan.steps)]

    db = _migrating_db(make_db, Assess())
    plan = db.migrate_plan()
    assert plan.level is RiskLevel.HIGH
    assert "create table ledgers is risky" in [f.reason for f in plan.findings]
    with pytest.raises(DataFlowError) as info:
        db.migrate_apply(plan)
    assert info.value.code == "DF-302"
    assert "is risky" in info.value.message
    db.migrate_apply(plan, confirmed=True)
    assert declared_types(db.url.database, "ledgers")


def test_hook_dataflow_migration_lock(make_db: Callable[..., DataFlow]) -> None:
    """Called by the migrate plugin around apply (firstresult): the plan runs while the lock is held."""
    events: list[str] = []

    class Lock:
        @hookimpl
        def dataflow_migration_lock(self, db: DataFlow, scope: str) -> Any:
            @contextlib.asynccontextmanager
            async def held() -> AsyncIterator[str]:
                events.append(f"acquire {scope}")
                yield scope
                events.append(f"release {scope}")

            return held()

    db = _migrating_db(make_db, Lock())
    db.migrate_apply()
    assert len(events) == 2
    assert events[0].startswith("acquire ") and events[1].startswith("release ")
    assert events[0].removeprefix("acquire ") == events[1].removeprefix("release ")
    assert declared_types(db.url.database, "ledgers"), "the plan was applied under the lock"


# ---- errors and the command line ----------------------------------------------------------


def test_hook_dataflow_error_hints(make_db: Callable[..., DataFlow]) -> None:
    class Hints:
        @hookimpl
        def dataflow_error_hints(self, error: DataFlowError) -> Iterable[ErrorHint]:
            return [ErrorHint("DF-602", "Duplicate Model", ("The class was declared twice.",),
                              ("Rename one of the classes.",)),
                    ErrorHint("DF-999", "Not this one", solutions=("never shown",))]

    class Broken:
        @hookimpl
        def dataflow_error_hints(self, error: DataFlowError) -> Iterable[ErrorHint]:
            raise RuntimeError("a failing provider never hides the error")

    db = make_db(Hints(), Broken())

    @db.model
    class Thing:
        name: str

    with pytest.raises(DataFlowError) as info:
        db.model(type("Thing", (), {"__annotations__": {"name": str}}))
    err = info.value
    assert err.code == "DF-602"
    assert err.title == "Duplicate Model"
    assert "The class was declared twice." in err.causes
    assert "Rename one of the classes." in err.solutions
    assert "never shown" not in err.solutions


def test_hook_dataflow_register_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from dataflow.cli import make_app

    def hello(name: str = "world") -> None:
        """Say hello.

        Parameters
        ----------
        name
            Who to greet.
        """
        print(f"hello {name}")

    class Commands:
        @hookimpl
        def dataflow_register_commands(self, app: Any) -> None:
            app.command(hello, name="hello")

    app = make_app(PluginManager(autoload=False, plugins=[Commands()]))
    app(["hello", "--name", "Ann"], result_action="return_value")
    assert capsys.readouterr().out.strip() == "hello Ann"


# ---- the meta-tests -----------------------------------------------------------------------


def test_hookspecs_are_found() -> None:
    names = hook_names()
    assert "dataflow_configure" in names and "dataflow_register_commands" in names
    assert len(names) >= 18


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_has_a_test(name: str) -> None:
    test = globals().get(f"test_hook_{name}")
    assert callable(test), f"hook {name} has no test_hook_{name} in {__file__}"
    assert name in inspect.getsource(test), f"test_hook_{name} never implements {name}"


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_is_documented_with_its_signature(name: str) -> None:
    text = DOCS.read_text()
    sections = re.findall(r"^## `?(dataflow_\w+)`?", text, flags=re.M)
    assert name in sections, f"docs/hooks.md has no '## {name}' section"
    body = text.split(f"## {name}", 1)[1].split("\n## ", 1)[0]
    assert signature_of(name) in body, f"docs/hooks.md shows the wrong signature for {name}"


def test_docs_document_no_hook_that_does_not_exist() -> None:
    documented = set(re.findall(r"^## `?(dataflow_\w+)`?", DOCS.read_text(), flags=re.M))
    assert documented == set(hook_names())
