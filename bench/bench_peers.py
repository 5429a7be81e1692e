"""DataFlow beside its peers on everyday workloads: the raw driver, SQLAlchemy Core (2.x, async) and
Tortoise ORM, on SQLite, PostgreSQL and MariaDB / MySQL, measured side by side in one process per database.

    python bench/bench_peers.py [--db all|sqlite|postgresql|mysql] [--rounds 3] [--markdown FILE]

Every contender has tables of its own made with DataFlow's DDL for the same model, 50,000 rows of
(str id, str name, str email, int age, bool active) plus the managed ``created_at`` / ``updated_at``
(every side writes them), and an index on ``name``. Workloads, each run by every contender in turn
(the order rotates each round):

- bulk insert 50k: the application's list of dicts into an empty table, one transaction;
- bulk upsert 50k, half existing: into a table holding the first 25,000 ids, on the primary key;
- list 100 rows: ``age >= 30 AND active`` ordered by ``name``, ``LIMIT 100`` (200 queries);
- 2,000 updates by id: one row's name (and ``updated_at``) each, each its own transaction;
- count with a filter: ``age > 50`` (200 counts);
- read by id: 2,000 rows, one at a time.

The raw side is the driver the peers sit on (aiosqlite, asyncpg, aiomysql), used as a careful
application would: one held connection, COPY / ``unnest`` / ``executemany`` for bulk work. The ratio
is contender ÷ raw driver in the same round (time; for the bulk workloads raw rate ÷ contender rate,
so higher is better there too as a throughput ratio), the median of the rounds. SQLAlchemy and
Tortoise are bench-only dependencies (the ``bench`` dependency group), never DataFlow's.

``--profile WORKLOAD`` runs DataFlow's side of one workload under cProfile and prints where the time
goes (with ``--db`` naming one database).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from dataflow import AsyncLocalRuntime, DataFlow, WorkflowBuilder

ROWS = 50_000
LISTS = 200
UPDATES = 2_000
COUNTS = 200
READS = 2_000
COLUMNS = ("id", "name", "email", "age", "active", "created_at", "updated_at")
SLICES = 20
"""Slices of each per-operation workload, run by the contenders in turn."""
CONTENDERS = ("raw", "dataflow", "sqlalchemy", "tortoise")
WORKLOADS = {
    # name: (label, higher_is_better, DataFlow's target)
    "bulk_insert": ("bulk insert 50k", True, "≥ 0.8"),
    "bulk_upsert": ("bulk upsert 50k, half existing", True, "≥ 0.7"),
    "list": ("list 100 rows, filter + order + limit", False, "≤ 1.5"),
    "update": ("2,000 updates by id", False, "≤ 1.5"),
    "count": ("count with a filter", False, "≤ 1.15"),
    "read": ("read by id", False, "(leads)"),
}
URLS = {
    "sqlite": None,  # a file in a temporary directory, made per run
    "postgresql": os.environ.get("DATAFLOW_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test"),
    "mysql": os.environ.get("DATAFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}


def people(n: int, prefix: str = "p", name: str = "user") -> list[dict[str, Any]]:
    """``n`` rows as an application holds them; ages 0-89 and two thirds active, for fixed selectivity."""
    return [{"id": f"{prefix}{i}", "name": f"{name} {i:06d}", "email": f"u{i}@example.com", "age": i % 90,
             "active": i % 3 != 0} for i in range(n)]


def _slice(items: list[str], k: int) -> list[str]:
    size = len(items) // SLICES
    return items[k * size : (k + 1) * size]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamped(data: list[dict[str, Any]], stamp: Any) -> list[tuple[Any, ...]]:
    """Rows as the raw side writes them: tuples in COLUMNS order, both timestamps ``stamp``."""
    return [(r["id"], r["name"], r["email"], r["age"], r["active"], stamp, stamp) for r in data]


# ---- the contenders ---------------------------------------------------------------------------------
class Contender:
    """One way of doing the workloads against its own two tables (``main`` and ``upsert``)."""

    name = ""

    def __init__(self, kind: str, url: str, tables: dict[str, str]) -> None:
        self.kind = kind
        self.url = url
        self.main = tables["main"]
        self.upsert_table = tables["upsert"]

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def bulk_insert(self, data: list[dict[str, Any]]) -> None: ...

    async def bulk_upsert(self, data: list[dict[str, Any]]) -> None: ...

    async def lists(self, n: int) -> int: ...

    async def updates(self, ids: list[str], tag: str) -> None: ...

    async def counts(self, n: int) -> int: ...

    async def reads(self, ids: list[str]) -> None: ...


class Raw(Contender):
    """The driver itself, on one held connection (it also prepares the tables of every contender)."""

    name = "raw driver"

    async def open(self) -> None:
        if self.kind == "sqlite":
            import aiosqlite

            self.conn = await aiosqlite.connect(self.url, isolation_level=None)
            await self.conn.execute("PRAGMA journal_mode = WAL")
            await self.conn.execute("PRAGMA synchronous = NORMAL")
        elif self.kind == "postgresql":
            import asyncpg

            self.conn = await asyncpg.connect(self.url)
        else:
            import aiomysql
            from dataflow.url import parse_url

            u = parse_url(self.url)
            self.conn = await aiomysql.connect(host=u.host or "127.0.0.1", port=u.port or 3306,
                                               user=u.username or "root", password=u.password or "",
                                               db=u.database, charset="utf8mb4", autocommit=True)

    async def close(self) -> None:
        if self.kind == "mysql":
            self.conn.close()
        else:
            await self.conn.close()

    # ---- plain statements, in each driver's spelling ----------------------------------------------
    def _sql(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in the driver's own style."""
        if self.kind == "postgresql":
            parts = sql.split("?")
            return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))
        if self.kind == "mysql":
            return sql.replace("?", "%s").replace('"', "`")
        return sql

    async def execute(self, sql: str, *params: Any) -> None:
        sql = self._sql(sql)
        if self.kind == "postgresql":
            await self.conn.execute(sql, *params)
        elif self.kind == "mysql":
            async with self.conn.cursor() as cur:
                await cur.execute(sql, params or None)
        else:
            await self.conn.execute(sql, params)

    async def fetch(self, sql: str, *params: Any) -> list[Any]:
        sql = self._sql(sql)
        if self.kind == "postgresql":
            return await self.conn.fetch(sql, *params)
        if self.kind == "mysql":
            async with self.conn.cursor() as cur:
                await cur.execute(sql, params or None)
                return list(await cur.fetchall())
        return list(await self.conn.execute_fetchall(sql, params))

    def _stamp(self, stamp: dt.datetime) -> Any:
        if self.kind == "sqlite":
            return stamp.isoformat()
        if self.kind == "mysql":
            return stamp.replace(tzinfo=None)
        return stamp

    # ---- the workloads ------------------------------------------------------------------------------
    async def write_rows(self, table: str, data: list[dict[str, Any]], upsert: bool) -> None:
        records = stamped(data, self._stamp(now()))
        cols = ", ".join(f'"{c}"' for c in COLUMNS)
        changed = [c for c in COLUMNS if c not in ("id", "created_at")]
        if self.kind == "postgresql":
            async with self.conn.transaction():
                if not upsert:
                    await self.conn.copy_records_to_table(table, records=records, columns=list(COLUMNS))
                    return
                arrays = [list(column) for column in zip(*records, strict=True)]
                sets = ", ".join(f'"{c}" = excluded."{c}"' for c in changed)
                await self.conn.execute(
                    f'INSERT INTO "{table}" ({cols}) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], '
                    f"$4::bigint[], $5::bool[], $6::timestamptz[], $7::timestamptz[]) "
                    f"ON CONFLICT (id) DO UPDATE SET {sets}", *arrays)
            return
        marks = ", ".join("?" * len(COLUMNS))
        sql = f'INSERT INTO "{table}" ({cols}) VALUES ({marks})'
        if upsert and self.kind == "mysql":
            sql += " ON DUPLICATE KEY UPDATE " + ", ".join(f'"{c}" = VALUES("{c}")' for c in changed)
        elif upsert:
            sql += " ON CONFLICT (id) DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in changed)
        sql = self._sql(sql)
        if self.kind == "mysql":
            await self.conn.begin()
            async with self.conn.cursor() as cur:
                await cur.executemany(sql, records)
            await self.conn.commit()
        else:
            await self.conn.execute("BEGIN")
            await self.conn.executemany(sql, records)
            await self.conn.execute("COMMIT")

    async def bulk_insert(self, data: list[dict[str, Any]]) -> None:
        await self.write_rows(self.main, data, upsert=False)

    async def bulk_upsert(self, data: list[dict[str, Any]]) -> None:
        await self.write_rows(self.upsert_table, data, upsert=True)

    async def lists(self, n: int) -> int:
        sql = (f'SELECT {", ".join(COLUMNS)} FROM "{self.main}" WHERE age >= ? AND active = ? '
               f"ORDER BY name LIMIT ?")
        got = 0
        for _ in range(n):
            got += len(await self.fetch(sql, 30, True, 100))
        return got

    async def updates(self, ids: list[str], tag: str) -> None:
        sql = f'UPDATE "{self.main}" SET name = ?, updated_at = ? WHERE id = ?'
        for key in ids:
            await self.execute(sql, f"{tag} {key}", self._stamp(now()), key)

    async def counts(self, n: int) -> int:
        sql = f'SELECT COUNT(*) FROM "{self.main}" WHERE age > ?'
        total = 0
        for _ in range(n):
            total = (await self.fetch(sql, 50))[0][0]
        return int(total)

    async def reads(self, ids: list[str]) -> None:
        sql = f'SELECT {", ".join(COLUMNS)} FROM "{self.main}" WHERE id = ?'
        for key in ids:
            await self.fetch(sql, key)


class Flow(Contender):
    """DataFlow: generated nodes through AsyncLocalRuntime; single-row workflows built once."""

    name = "DataFlow"

    def __init__(self, kind: str, url: str, tables: dict[str, str], db: DataFlow) -> None:
        super().__init__(kind, url, tables)
        self.db = db
        self.runtime = AsyncLocalRuntime()
        self._list = _one("PMainListNode", {"filter": {"age": {"$gte": 30}, "active": True}, "order_by": ["name"],
                                             "limit": 100}, "list")
        self._update = _one("PMainUpdateNode", {"id": "p0", "fields": {"name": "x"}}, "update")
        self._count = _one("PMainCountNode", {"filter": {"age": {"$gt": 50}}}, "count")
        self._read = _one("PMainReadNode", {"id": "p0"}, "read")

    async def bulk_insert(self, data: list[dict[str, Any]]) -> None:
        results, _ = await self.runtime.execute_workflow_async(_one("PMainBulkCreateNode", {"data": data}, "bulk"))
        assert results["bulk"]["inserted"] == len(data)

    async def bulk_upsert(self, data: list[dict[str, Any]]) -> None:
        await self.runtime.execute_workflow_async(_one("PUpsertBulkUpsertNode", {"data": data}, "bulk"))

    async def lists(self, n: int) -> int:
        got = 0
        for _ in range(n):
            results, _ = await self.runtime.execute_workflow_async(self._list)
            got += results["list"]["count"]
        return got

    async def updates(self, ids: list[str], tag: str) -> None:
        for key in ids:
            await self.runtime.execute_workflow_async(self._update,
                                                      {"update": {"id": key, "fields": {"name": f"{tag} {key}"}}})

    async def counts(self, n: int) -> int:
        total = 0
        for _ in range(n):
            results, _ = await self.runtime.execute_workflow_async(self._count)
            total = results["count"]["count"]
        return total

    async def reads(self, ids: list[str]) -> None:
        for key in ids:
            await self.runtime.execute_workflow_async(self._read, {"read": {"id": key}})


def _one(node: str, params: dict[str, Any], node_id: str) -> Any:
    wf = WorkflowBuilder()
    wf.add_node(node, node_id, params)
    return wf.build()


class Alchemy(Contender):
    """SQLAlchemy Core 2.x on its async engine, written as its documentation shows."""

    name = "SQLAlchemy Core"

    async def open(self) -> None:
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import create_async_engine

        self.sa = sa
        scheme = {"sqlite": "sqlite+aiosqlite:///", "postgresql": "postgresql+asyncpg://",
                  "mysql": "mysql+aiomysql://"}[self.kind]
        url = scheme + (self.url if self.kind == "sqlite" else self.url.partition("://")[2])
        if self.kind == "mysql":
            url += "?charset=utf8mb4"
        self.engine = create_async_engine(url, pool_size=5)
        meta = sa.MetaData()

        def table(name: str) -> sa.Table:
            return sa.Table(name, meta, sa.Column("id", sa.String(255), primary_key=True), sa.Column("name", sa.Text),
                            sa.Column("email", sa.Text), sa.Column("age", sa.BigInteger),
                            sa.Column("active", sa.Boolean), sa.Column("created_at", sa.DateTime(timezone=True)),
                            sa.Column("updated_at", sa.DateTime(timezone=True)))

        self.t = table(self.main)
        self.u = table(self.upsert_table)

    async def close(self) -> None:
        await self.engine.dispose()

    def _stamp(self, stamp: dt.datetime) -> Any:
        return stamp.replace(tzinfo=None) if self.kind == "mysql" else stamp

    async def bulk_insert(self, data: list[dict[str, Any]]) -> None:
        stamp = self._stamp(now())
        rows = [{**r, "created_at": stamp, "updated_at": stamp} for r in data]
        async with self.engine.begin() as conn:
            await conn.execute(self.t.insert(), rows)

    async def bulk_upsert(self, data: list[dict[str, Any]]) -> None:
        stamp = self._stamp(now())
        rows = [{**r, "created_at": stamp, "updated_at": stamp} for r in data]
        changed = ("name", "email", "age", "active", "updated_at")
        if self.kind == "mysql":
            from sqlalchemy.dialects.mysql import insert

            stmt = insert(self.u)
            stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in changed})
        else:
            if self.kind == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
            stmt = insert(self.u)
            stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={c: stmt.excluded[c] for c in changed})
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def lists(self, n: int) -> int:
        t = self.t
        got = 0
        for _ in range(n):
            stmt = self.sa.select(t).where(t.c.age >= 30, t.c.active.is_(True)).order_by(t.c.name).limit(100)
            async with self.engine.connect() as conn:
                got += len((await conn.execute(stmt)).all())
        return got

    async def updates(self, ids: list[str], tag: str) -> None:
        t = self.t
        for key in ids:
            async with self.engine.begin() as conn:
                await conn.execute(self.sa.update(t).where(t.c.id == key)
                                   .values(name=f"{tag} {key}", updated_at=self._stamp(now())))

    async def counts(self, n: int) -> int:
        t = self.t
        total = 0
        for _ in range(n):
            async with self.engine.connect() as conn:
                total = (await conn.execute(self.sa.select(self.sa.func.count()).select_from(t)
                                            .where(t.c.age > 50))).scalar_one()
        return int(total)

    async def reads(self, ids: list[str]) -> None:
        t = self.t
        for key in ids:
            async with self.engine.connect() as conn:
                (await conn.execute(self.sa.select(t).where(t.c.id == key))).first()


class Turtle(Contender):
    """Tortoise ORM, its models mapped onto this contender's tables."""

    name = "Tortoise ORM"

    async def open(self) -> None:
        from tortoise import Tortoise, fields
        from tortoise.models import Model

        module = types.ModuleType(f"peer_models_{uuid.uuid4().hex[:6]}")

        def model(class_name: str, table: str) -> type[Model]:
            attrs = {
                "id": fields.CharField(primary_key=True, max_length=255),
                "name": fields.TextField(),
                "email": fields.TextField(),
                "age": fields.BigIntField(),
                "active": fields.BooleanField(),
                "created_at": fields.DatetimeField(auto_now_add=True),
                "updated_at": fields.DatetimeField(auto_now=True),
                "Meta": type("Meta", (), {"table": table}),
                "__module__": module.__name__,
            }
            made = type(class_name, (Model,), attrs)
            setattr(module, class_name, made)
            return made

        self.T = model("TMain", self.main)
        self.U = model("TUpsert", self.upsert_table)
        sys.modules[module.__name__] = module
        if self.kind == "sqlite":
            url = f"sqlite://{self.url}"
        elif self.kind == "postgresql":
            url = "postgres://" + self.url.partition("://")[2]
        else:
            rest = self.url.partition("://")[2]
            user, _, host = rest.partition("@")
            url = f"mysql://{user if ':' in user else user + ':'}@{host}?charset=utf8mb4"
        self.tortoise = Tortoise
        await Tortoise.init(db_url=url, modules={"models": [module.__name__]})

    async def close(self) -> None:
        await self.tortoise.close_connections()

    async def bulk_insert(self, data: list[dict[str, Any]]) -> None:
        from tortoise.transactions import in_transaction

        async with in_transaction():
            await self.T.bulk_create([self.T(**r) for r in data], batch_size=1000)

    async def bulk_upsert(self, data: list[dict[str, Any]]) -> None:
        from tortoise.transactions import in_transaction

        async with in_transaction():
            await self.U.bulk_create([self.U(**r) for r in data], batch_size=1000, on_conflict=["id"],
                                     update_fields=["name", "email", "age", "active", "updated_at"])

    async def lists(self, n: int) -> int:
        got = 0
        for _ in range(n):
            got += len(await self.T.filter(age__gte=30, active=True).order_by("name").limit(100))
        return got

    async def updates(self, ids: list[str], tag: str) -> None:
        for key in ids:
            await self.T.filter(id=key).update(name=f"{tag} {key}", updated_at=now())

    async def counts(self, n: int) -> int:
        total = 0
        for _ in range(n):
            total = await self.T.filter(age__gt=50).count()
        return total

    async def reads(self, ids: list[str]) -> None:
        for key in ids:
            await self.T.get(id=key)


# ---- one database ---------------------------------------------------------------------------------------
async def run_database(kind: str, rounds: int, profile: str | None, only: tuple[str, ...] = tuple(WORKLOADS)
                       ) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    workdir = tempfile.mkdtemp(prefix="dataflow-peers-") if kind == "sqlite" else None
    url = os.path.join(workdir, "peers.db") if workdir else URLS[kind]
    assert url is not None
    db = DataFlow(f"sqlite:///{url}" if kind == "sqlite" else url)
    tables = {c: {"main": f"peer_{c}_{tag}", "upsert": f"peer_{c}_u_{tag}"} for c in CONTENDERS}

    @db.model
    class PMain:
        id: str
        name: str
        email: str
        age: int
        active: bool
        __tablename__ = tables["dataflow"]["main"]
        __dataflow__ = {"indexes": [{"fields": ["name"]}]}

    @db.model
    class PUpsert:
        id: str
        name: str
        email: str
        age: int
        active: bool
        __tablename__ = tables["dataflow"]["upsert"]
        __dataflow__ = {"indexes": [{"fields": ["name"]}]}

    flow = Flow(kind, url, tables["dataflow"], db)
    await flow.runtime.execute_workflow_async(_one("PMainCountNode", {}, "c"))  # tables made, pool open
    await flow.runtime.execute_workflow_async(_one("PUpsertCountNode", {}, "c"))
    raw = Raw(kind, url, tables["raw"])
    await raw.open()
    ddl = {}
    for spec in (PMain.__dataflow_model__, PUpsert.__dataflow_model__):
        ddl[spec.table] = db.dialect.create_table_sql(spec)
    for contender in CONTENDERS[:1] + CONTENDERS[2:]:
        for role, source in (("main", PMain), ("upsert", PUpsert)):
            base = source.__dataflow_model__.table
            for statement in ddl[base]:
                await raw.execute(statement.replace(base, tables[contender][role]).replace("`", '"'))
    others: dict[str, Contender] = {"raw": raw, "dataflow": flow,
                                    "sqlalchemy": Alchemy(kind, url, tables["sqlalchemy"]),
                                    "tortoise": Turtle(kind, url, tables["tortoise"])}
    for contender in others.values():
        if contender is not raw and contender is not flow:
            await contender.open()
    times: dict[str, dict[str, list[float]]] = {w: {c: [] for c in CONTENDERS} for w in WORKLOADS}
    data = people(ROWS)
    seeded = data[: ROWS // 2]
    upserted = people(ROWS, name="again")
    update_ids = [f"p{i}" for i in range(0, ROWS, ROWS // UPDATES)][:UPDATES]
    read_ids = [f"p{i}" for i in range(7, ROWS, ROWS // READS)][:READS]
    try:
        for round_ in range(rounds):
            order = CONTENDERS[round_ % 4:] + CONTENDERS[: round_ % 4]
            for contender in CONTENDERS:
                for role in ("main", "upsert"):
                    await raw.execute(f'DELETE FROM "{tables[contender][role]}"')
                await raw.write_rows(tables[contender]["upsert"], seeded, upsert=False)
            # Per-operation workloads run in slices, every contender taking its slice in turn: a burst of
            # load from elsewhere on the machine then falls on all of them alike.
            steps: list[tuple[str, Callable[[Contender, int], Awaitable[Any]]]] = [
                ("bulk_insert", lambda c, _k: c.bulk_insert(data)),
                ("bulk_upsert", lambda c, _k: c.bulk_upsert(upserted)),
                ("list", lambda c, _k: c.lists(LISTS // SLICES)),
                ("update", lambda c, k, r=round_: c.updates(_slice(update_ids, k), f"r{r}")),
                ("count", lambda c, _k: c.counts(COUNTS // SLICES)),
                ("read", lambda c, k: c.reads(_slice(read_ids, k))),
            ]
            if "bulk_insert" not in only:  # the reads still need the rows: written untimed
                for contender in CONTENDERS:
                    await raw.write_rows(tables[contender]["main"], data, upsert=False)
            for workload, step in steps:
                if workload not in only:
                    continue
                if workload == "list":
                    await _analyze(raw, kind, [t for c in CONTENDERS for t in tables[c].values()])
                spent = dict.fromkeys(CONTENDERS, 0.0)
                for k in range(1 if workload.startswith("bulk") else SLICES):
                    for name in order[k % 4:] + order[: k % 4]:
                        if spent[name] != spent[name]:  # failed earlier in this workload
                            continue
                        start = time.perf_counter()
                        try:
                            await step(others[name], k)
                        except Exception as exc:  # a peer that cannot do this on this database
                            print(f"  {kind}: {name} fails {workload}: {exc!r:.200}", file=sys.stderr)
                            spent[name] = float("nan")
                            continue
                        spent[name] += time.perf_counter() - start
                for name in CONTENDERS:
                    times[workload][name].append(spent[name])
            print(f"  {kind}: round {round_ + 1} of {rounds} done", file=sys.stderr)
        if profile:
            profiler = cProfile.Profile()
            step = dict(steps)[profile]
            for role in ("main", "upsert"):  # a bulk workload starts from the tables it had
                await raw.execute(f'DELETE FROM "{tables["dataflow"][role]}"')
            await raw.write_rows(tables["dataflow"]["upsert"], seeded, upsert=False)
            if not profile.startswith("bulk"):
                await raw.write_rows(tables["dataflow"]["main"], data, upsert=False)
            profiler.enable()
            for k in range(1 if profile.startswith("bulk") else SLICES):
                await step(flow, k)
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        for contender in CONTENDERS:
            await raw.execute(f'SELECT COUNT(*) FROM "{tables[contender]["main"]}"')
    finally:
        for name in ("sqlalchemy", "tortoise"):
            await others[name].close()
        await db.close_async()
        if workdir is None:
            for contender in CONTENDERS:
                for table in tables[contender].values():
                    await raw.execute(f'DROP TABLE IF EXISTS "{table}"')
        await raw.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return {"kind": kind, "times": times, "load": os.getloadavg()}


async def _analyze(raw: Raw, kind: str, tables: list[str]) -> None:
    """Fresh planner statistics for every table alike, before the reads."""
    for table in tables:
        await raw.execute(f'ANALYZE "{table}"' if kind != "mysql" else f'ANALYZE TABLE "{table}"')


# ---- the report -------------------------------------------------------------------------------------------
def ratios(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per workload and contender, the median over rounds of its ratio to the raw driver of that round."""
    out: dict[str, dict[str, float]] = {}
    for workload, (_label, higher, _target) in WORKLOADS.items():
        raw = result["times"][workload]["raw"]
        out[workload] = {}
        if not raw:
            continue
        for contender in CONTENDERS[1:]:
            mine = result["times"][workload][contender]
            per_round = [(r / m) if higher else (m / r) for m, r in zip(mine, raw, strict=True)]
            failed = any(x != x for x in per_round)
            out[workload][contender] = float("nan") if failed else statistics.median(per_round)
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    names = {"dataflow": "DataFlow", "sqlalchemy": "SQLAlchemy Core", "tortoise": "Tortoise"}
    lines = ["| workload | database | raw driver (median) | DataFlow ÷ raw | SQLAlchemy Core ÷ raw | Tortoise ÷ raw "
             "| DataFlow target |", "|---|---|---|---|---|---|---|"]
    for workload, (label, higher, target) in WORKLOADS.items():
        for result in results:
            raw = statistics.median(result["times"][workload]["raw"])
            table = ratios(result)[workload]
            measured = [v for v in table.values() if v == v]
            best = max(measured) if higher else min(measured)
            cells = []
            for contender in names:
                text = _shown(table[contender])
                cells.append(f"**{text}**" if table[contender] == best else text)
            shown = f"{raw * 1000:,.0f} ms"
            suffix = " (throughput ratio)" if higher else ""
            lines.append(f"| {label}{suffix} | {DATABASES[result['kind']]} | {shown} | " + " | ".join(cells)
                         + f" | {target} |")
    return "\n".join(lines)


def _shown(ratio: float) -> str:
    return "fails" if ratio != ratio else f"{ratio:.2f}"


DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB"}


def print_report(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="DataFlow and its peers, ratio to the raw driver (median of rounds; bulk: throughput ratio)")
    for column in ("workload", "database", "raw driver", "DataFlow", "SQLAlchemy Core", "Tortoise", "target", "load"):
        table.add_column(column)
    for workload, (label, higher, target) in WORKLOADS.items():
        for result in results:
            r = ratios(result)[workload]
            if not r:
                continue
            raw = statistics.median(result["times"][workload]["raw"])
            met = (r["dataflow"] >= float(target[2:]) if higher else r["dataflow"] <= float(target[2:])) \
                if target[0] in "≤≥" else True
            table.add_row(label, DATABASES[result["kind"]], f"{raw * 1000:,.1f} ms",
                          _shown(r["dataflow"]) + ("" if met else " ✗"), _shown(r["sqlalchemy"]),
                          _shown(r["tortoise"]), target, " ".join(f"{x:.1f}" for x in result["load"]))
    Console(width=160).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="all", choices=("all", *URLS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="write this database's raw timings here (used by --db all)")
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    parser.add_argument("--only", help="comma-separated workloads to measure (one database; others are skipped)")
    parser.add_argument("--profile", choices=tuple(WORKLOADS), help="profile DataFlow's side of one workload")
    args = parser.parse_args()
    if args.db != "all":
        only = tuple(args.only.split(",")) if args.only else tuple(WORKLOADS)
        result = asyncio.run(run_database(args.db, args.rounds, args.profile, only))
        if args.json:
            with open(args.json, "w") as out:
                json.dump(result, out)
            return
        results = [result]
    else:
        results = []
        for kind in URLS:
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                # One process per database: Tortoise keeps its configuration in the process.
                subprocess.run([sys.executable, __file__, "--db", kind, "--rounds", str(args.rounds),
                                "--json", out.name], check=True)
                with open(out.name) as done:
                    results.append(json.load(done))
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    print_report(results)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(markdown(results) + "\n")


if __name__ == "__main__":
    main()
