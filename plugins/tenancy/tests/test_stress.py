"""Stress: two tenants working at the same time never see or touch each other's rows (SQLite,
PostgreSQL, MariaDB).

Each tenant runs asyncio tasks (several at once, on one loop) and a thread of its own (the
synchronous runtime), all interleaving list / read / count / update / bulk create / bulk update,
through generated nodes and straight through ``db.dialect.run``. The filter dicts and the query
objects are shared by every worker of both tenants, and a second instance on the same table runs
beside the first: a cached condition, a reused filter or query, a statement cache or another
instance's tenant must never let a row of the other tenant through. Every row a worker is handed
is checked (its tenant column and its code, which names the tenant that made it), and raw SQL
checks at the end that each tenant holds exactly the rows it made, with values only it wrote.

The same holds for code that wraps ``db.dialect.run`` on the instance (instrumentation, as tests
do to count statements): the tenant filter stays under the wrapper, and removing the wrapper
leaves it in place.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from dataflow import AsyncLocalRuntime, DataFlow, DataFlowError, LocalRuntime, WorkflowBuilder
from dataflow.errors import WorkflowExecutionError
from dataflow.loop import run_sync
from dataflow.query import Count, Select, parse_filter
from dataflow.testing import raw_fetch

TENANTS = ("red", "blue")
ROUNDS = 6
TASKS_PER_TENANT = 2
SHARED_FILTER: dict[str, Any] = {"value": {"$gte": 0}}
"""One filter dict object, handed to every node of every worker of both tenants."""
SHARED_UPDATE_FILTER: dict[str, Any] = {"code": {"$ne": ""}}


def _wf(*nodes: tuple[str, str, dict[str, Any]], db: DataFlow | None = None) -> Any:
    """A workflow of ``nodes``; with ``db``, each runs on that instance (two instances declare Item)."""
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params if db is None else {**params, "db_instance": db})
    return wf.build()


class Board:
    """What the workers share: every id made (any tenant's), the query objects, the problems seen."""

    def __init__(self, db: DataFlow, twin: DataFlow) -> None:
        self.db = db
        self.twin = twin
        self.ids: dict[str, list[Any]] = {t: [] for t in TENANTS}
        self.lock = threading.Lock()
        model = db.models["Item"]
        where = parse_filter(model, SHARED_FILTER)
        self.select = Select(model, where, (("id", False),))  # one query object, run by every worker
        self.count = Count(model, where)
        self.problems: list[str] = []

    def made(self, tenant: str, ids: list[Any]) -> None:
        with self.lock:
            self.ids[tenant].extend(ids)

    def known(self, tenant: str) -> int:
        """How many rows ``tenant`` is known to have made (all committed: their workflows are over)."""
        with self.lock:
            return len(self.ids[tenant])

    def foreign_id(self, tenant: str, round_: int) -> Any:
        with self.lock:
            theirs = [i for t, ids in self.ids.items() if t != tenant for i in ids]
        return theirs[round_ % len(theirs)] if theirs else None

    def check(self, tenant: str, rows: list[dict[str, Any]], what: str) -> None:
        for row in rows:
            if row.get("tenant_id") != tenant or not str(row.get("code", "")).startswith(f"{tenant}-"):
                self.problems.append(f"{tenant} {what} saw {row}")


def _nodes(worker: str, round_: int, foreign: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """The nodes of one worker's round: writes of its own rows, reads of everything it may see."""
    return [
        ("ItemBulkCreateNode", "bulk", {"data": [{"code": f"{worker}-{round_}-{k}", "value": k} for k in range(3)],
                                        "return_ids": True}),
        ("ItemListNode", "list", {"filter": SHARED_FILTER, "limit": 10_000}),
        ("ItemCountNode", "count", {"filter": SHARED_FILTER}),
        ("ItemBulkUpdateNode", "touch", {"filter": SHARED_UPDATE_FILTER, "fields": {"value": round_}}),
        ("ItemReadNode", "foreign", {"id": foreign if foreign is not None else -1, "raise_on_not_found": False}),
    ]


def _judge(board: Board, tenant: str, worker: str, results: dict[str, Any], known: int) -> None:
    """``known``: the rows the tenant had made before the workflow started. The list and the count run
    after the workflow's own bulk create, so each sees at least those plus its three rows (comparing the
    two with each other would race: they may run at once, beside other workers' inserts)."""
    board.made(tenant, list(results["bulk"].get("ids") or []))
    records = results["list"]["records"]
    board.check(tenant, records, f"{worker} list")
    least = known + 3
    if len([r for r in records if r.get("tenant_id") == tenant]) < least:
        board.problems.append(f"{worker} list missed some of the {least} rows {tenant} had made")
    if results["count"]["count"] < least:
        board.problems.append(f"{worker} count {results['count']['count']} below the {least} rows {tenant} had made")
    foreign = results["foreign"]
    if foreign.get("found"):
        board.problems.append(f"{worker} read another tenant's row: {foreign}")


def _foreign_update(board: Board, db: DataFlow, tenant: str, round_: int) -> Any:
    """Another tenant's id, to update: refused or not found, never changed (checked at the end)."""
    foreign = board.foreign_id(tenant, round_)
    return None if foreign is None else _wf(("ItemUpdateNode", "n", {"id": foreign, "fields": {"value": -1}}), db=db)


async def _task(board: Board, tenant: str, worker: str) -> None:
    runtime = AsyncLocalRuntime()
    db = board.db
    for round_ in range(ROUNDS):
        async with db.tenant_context.aswitch(tenant):
            await asyncio.sleep(0)
            known = board.known(tenant)
            results, _ = await runtime.execute_workflow_async(
                _wf(*_nodes(worker, round_, board.foreign_id(tenant, round_)), db=db))
            _judge(board, tenant, worker, results, known)
            await asyncio.sleep(0)
            board.check(tenant, await db.dialect.run(board.select), f"{worker} shared Select")
            await db.dialect.run(board.count)
            async with board.twin.tenant_context.aswitch(tenant):
                twin_rows, _ = await runtime.execute_workflow_async(
                    _wf(("ItemListNode", "n", {"filter": SHARED_FILTER, "limit": 10_000}), db=board.twin))
            board.check(tenant, twin_rows["n"]["records"], f"{worker} second instance list")
            update = _foreign_update(board, db, tenant, round_)
            if update is not None:
                try:
                    updated, _ = await runtime.execute_workflow_async(update)
                except WorkflowExecutionError as exc:
                    if not isinstance(exc.__cause__, DataFlowError):
                        board.problems.append(f"{worker}: {exc!r}")
                else:
                    if updated["n"].get("updated") is not False:
                        board.problems.append(f"{worker} updated another tenant's row: {updated['n']}")


def _thread(board: Board, tenant: str, worker: str, errors: list[BaseException]) -> None:
    try:
        runtime = LocalRuntime()
        for round_ in range(ROUNDS):
            with board.db.tenant_context.switch(tenant):
                nodes = _nodes(worker, round_, board.foreign_id(tenant, round_))
                known = board.known(tenant)
                results, _ = runtime.execute(_wf(*nodes, db=board.db))
                _judge(board, tenant, worker, results, known)
                board.check(tenant, run_sync(board.db.dialect.run(board.select)), f"{worker} shared Select")
    except BaseException as exc:  # reported by the test, in its own thread's place
        errors.append(exc)


def _stress(board: Board) -> None:
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_thread, args=(board, t, f"{t}-thread", errors)) for t in TENANTS]
    for thread in threads:
        thread.start()

    async def tasks() -> None:
        await asyncio.gather(*(_task(board, t, f"{t}-task{n}") for t in TENANTS for n in range(TASKS_PER_TENANT)))

    try:
        run_sync(tasks())
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def _final_check(board: Board) -> None:
    q = board.db.dialect.quote
    table = board.db.models["Item"].table
    rows = raw_fetch(board.db, f"SELECT {q('tenant_id')}, {q('id')}, {q('code')}, {q('value')} FROM {q(table)}")
    for tenant in TENANTS:
        mine = [r for r in rows if r[0] == tenant]
        assert all(str(r[2]).startswith(f"{tenant}-") for r in mine), f"{tenant} holds another tenant's rows"
        assert sorted(r[1] for r in mine) == sorted(board.ids[tenant]), f"{tenant}'s rows are not the ones it made"
        assert all(r[3] >= 0 for r in mine), f"another tenant wrote {tenant}'s rows"
    workers = len(TENANTS) * (TASKS_PER_TENANT + 1)
    assert len(rows) == workers * ROUNDS * 3


@pytest.fixture
def board(tenant_db: DataFlow, make_model: Any) -> Board:
    class Item:
        code: str
        value: int = 0

    make_model(Item)
    twin = make_model.new_db(multi_tenant=True)

    class TwinItem:
        code: str
        value: int = 0

    TwinItem.__name__ = "Item"
    make_model(TwinItem, db=twin, table=make_model.table(Item))
    run_sync(tenant_db.ensure_ready(tenant_db.models["Item"]))
    return Board(tenant_db, twin)


def test_two_tenants_at_once_in_tasks_and_threads_never_see_each_others_rows(board: Board) -> None:
    _stress(board)
    assert board.problems == []
    _final_check(board)


def test_a_wrapper_over_dialect_run_keeps_the_tenant_filter_under_it(board: Board) -> None:
    """Instrumenting ``db.dialect.run`` on the instance (and taking it off again) never unscopes a query."""
    db = board.db
    seen: list[str] = []
    original = db.dialect.run

    async def counting(query: Any, conn: Any = None) -> Any:
        seen.append(type(query).__name__)
        return await original(query, conn)

    runtime = LocalRuntime()
    for tenant in TENANTS:
        with db.tenant_context.switch(tenant):
            runtime.execute(_wf(("ItemBulkCreateNode", "n", {"data": [{"code": f"{tenant}-w", "value": 1}],
                                                             "return_ids": True}), db=db))
    db.dialect.run = counting  # type: ignore[method-assign]
    try:
        with db.tenant_context.switch("red"):
            listed, _ = runtime.execute(_wf(("ItemListNode", "n", {"filter": SHARED_FILTER}), db=db))
    finally:
        del db.dialect.run
    assert seen and [r["code"] for r in listed["n"]["records"]] == ["red-w"]
    with db.tenant_context.switch("blue"):
        listed, _ = runtime.execute(_wf(("ItemListNode", "n", {"filter": SHARED_FILTER}), db=db))
        assert [r["code"] for r in listed["n"]["records"]] == ["blue-w"]
        assert [r["code"] for r in run_sync(db.dialect.run(board.select))] == ["blue-w"]


def test_a_wrapper_set_before_the_first_tenant_model_still_has_the_filter_under_it(
        tenant_db: DataFlow, make_model: Any) -> None:
    """A ``run`` wrapper put on the instance before any tenant model exists is scoped too."""
    original = tenant_db.dialect.run
    calls: list[Any] = []

    async def counting(query: Any, conn: Any = None) -> Any:
        calls.append(query)
        return await original(query, conn)

    tenant_db.dialect.run = counting  # type: ignore[method-assign]

    class Early:
        code: str

    make_model(Early)
    runtime = LocalRuntime()
    for tenant in TENANTS:
        with tenant_db.tenant_context.switch(tenant):
            runtime.execute(_wf(("EarlyCreateNode", "n", {"code": f"{tenant}-e"})))
    with tenant_db.tenant_context.switch("red"):
        listed, _ = runtime.execute(_wf(("EarlyListNode", "n", {})))
    assert calls and [r["code"] for r in listed["n"]["records"]] == ["red-e"]
    del tenant_db.dialect.run
    with pytest.raises(DataFlowError) as caught:  # no current tenant: refused, never unfiltered
        run_sync(tenant_db.dialect.run(Select(tenant_db.models["Early"])))
    assert caught.value.code == "DF-714"
    # Putting back the run saved before any model was scoped (a monkeypatch undone) keeps the filter.
    tenant_db.dialect.run = original  # type: ignore[method-assign]
    with tenant_db.tenant_context.switch("blue"):
        rows = run_sync(tenant_db.dialect.run(Select(tenant_db.models["Early"])))
    assert [r["code"] for r in rows] == ["blue-e"]


def test_the_tenant_is_a_bound_value_of_one_statement_shape(tenant_db: DataFlow, make_model: Any) -> None:
    """Reads by id of two tenants compile to one SQL text (one statement-cache entry): the tenant is a
    bound value, never part of the text, and each tenant's statement binds its own."""

    class Doc:
        title: str

    make_model(Doc)
    model = tenant_db.models["Doc"]
    (scope,) = tenant_db.model_scopes["Doc"]
    compiled = []
    for tenant in TENANTS:
        with tenant_db.tenant_context.switch(tenant):
            scoped = scope.query(Select(model, parse_filter(model, {"id": 7}), limit=2))
        for _ in range(2):  # the second time from the statement cache
            sql, params = tenant_db.dialect.compile_select(scoped)
            assert tenant in params and tenant not in sql
            assert [p for p in params if p in TENANTS] == [tenant]
            compiled.append(sql)
    assert len(set(compiled)) == 1
