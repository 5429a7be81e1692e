"""Direct calls against the raw driver: ``python bench/bench_express.py [--rows N] [--reads N] [--repeats N]``.

On each database (a SQLite file, and the PostgreSQL / MariaDB test servers when they answer), ``--reads``
reads by id of a ``--rows`` table:

- ``db.express.read("Person", id)`` against the raw driver reading the same rows with the same SELECT
  (aiosqlite; asyncpg and aiomysql taking a pooled connection per read, as an application does, and,
  for reference, on one connection held throughout). Target: at most 1.10 (10 % overhead).
- ``db.express.count`` with a filter against the raw driver's ``COUNT(*)``, and the same read through
  a one-node workflow on ``AsyncLocalRuntime``, for scale.

The best of ``--repeats`` rounds of each side, alternating (``common.alternate``). Figures are printed,
not asserted; the machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from common import SERVER_KINDS, Comparison, alternate, one_node, print_table, reachable_servers
from dataflow import AsyncLocalRuntime, DataFlow
from dataflow.url import parse_url

RawReads = Callable[[list[str]], Awaitable[None]]


def _declare(db: DataFlow, table: str) -> None:
    db.model(type("Person", (), {"__annotations__": {"id": str, "name": str, "age": int}, "age": 0,
                                 "__tablename__": table}))


async def _raw_sides(kind: str, url: str, select: str) -> tuple[dict[str, RawReads], Callable[[], Awaitable[None]]]:
    """The raw driver's read loops for ``kind`` (by label) and what closes its connections."""
    if kind == "sqlite":
        import aiosqlite

        conn = await aiosqlite.connect(parse_url(url).database)
        sql = select.replace("%s", "?")

        async def sqlite_reads(ids: list[str]) -> None:
            for key in ids:
                await conn.execute_fetchall(sql, (key,))

        return {"aiosqlite": sqlite_reads}, conn.close
    if kind == "postgresql":
        import asyncpg

        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        held = await asyncpg.connect(url)
        sql = select.replace("%s", "$1")
        prepared = await held.prepare(sql)

        async def pg_pooled(ids: list[str]) -> None:
            for key in ids:
                async with pool.acquire() as c:
                    await c.fetchrow(sql, key)

        async def pg_held(ids: list[str]) -> None:
            for key in ids:
                await prepared.fetchrow(key)

        async def close_pg() -> None:
            await held.close()
            await pool.close()

        return {"asyncpg pool.acquire": pg_pooled, "asyncpg one prepared conn": pg_held}, close_pg
    import aiomysql

    parsed = parse_url(url)
    kwargs = {"host": parsed.host or "127.0.0.1", "port": parsed.port or 3306, "user": parsed.username or "root",
              "password": parsed.password or "", "db": parsed.database, "autocommit": True}
    pool = await aiomysql.create_pool(minsize=1, maxsize=2, **kwargs)
    held = await aiomysql.connect(**kwargs)

    async def my_pooled(ids: list[str]) -> None:
        for key in ids:
            async with pool.acquire() as c, c.cursor() as cur:
                await cur.execute(select, (key,))
                await cur.fetchone()

    async def my_held(ids: list[str]) -> None:
        async with held.cursor() as cur:
            for key in ids:
                await cur.execute(select, (key,))
                await cur.fetchone()

    async def close_my() -> None:
        held.close()
        pool.close()
        await pool.wait_closed()

    return {"aiomysql pool.acquire": my_pooled, "aiomysql one conn": my_held}, close_my


async def measure(kind: str, url: str, rows: int, reads: int, repeats: int) -> list[Comparison]:
    db = DataFlow(url)
    table = f"bench_express_{uuid.uuid4().hex[:8]}"
    _declare(db, table)
    try:
        await db.express.bulk_create("Person", [{"id": f"p{i}", "name": f"person {i}", "age": i % 90}
                                                for i in range(rows)])
        ids = [f"p{i}" for i in range(0, rows, max(1, rows // reads))][:reads]
        q = db.dialect.quote
        select = f"SELECT {', '.join(q(c) for c in ('id', 'name', 'age', 'created_at', 'updated_at'))} " \
                 f"FROM {q(table)} WHERE {q('id')} = %s"
        raws, close = await _raw_sides(kind, url, select)
        try:
            async def express_reads() -> None:
                for key in ids:
                    await db.express.read("Person", key)

            runtime = AsyncLocalRuntime()
            workflow = one_node("PersonReadNode", {"id": "p0"}, "read")

            async def workflow_reads() -> None:
                for key in ids:
                    await runtime.execute_workflow_async(workflow, {"read": {"id": key}})

            labels = list(raws)
            best = await alternate(repeats, express_reads, workflow_reads, *(lambda f=f: f(ids) for f in raws.values()))
            express_s, workflow_s, raw_times = best[0], best[1], best[2:]
            found = [Comparison(f"express read by id vs {label}", express_s, raw_s, len(ids), "reads",
                                "≤ 1.10" if index == 0 else "(reference)", False)
                     for index, (label, raw_s) in enumerate(zip(labels, raw_times, strict=True))]
            found.append(Comparison(f"workflow read by id vs {labels[0]}", workflow_s, raw_times[0], len(ids),
                                    "reads", "(reference)", False))
            return found
        finally:
            await close()
    finally:
        async with db.connection() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {db.dialect.quote(table)}", [])
        await db.close_async()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", choices=["sqlite", *SERVER_KINDS], help="One database only.")
    args, _rest = parser.parse_known_args()
    targets = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp()) / 'express.db'}"}
    targets.update(reachable_servers())
    for kind, url in targets.items():
        if args.only not in (None, kind):
            continue
        results = asyncio.run(measure(kind, url, args.rows, args.reads, args.repeats))
        print_table(f"{kind}: db.express vs the raw driver ({args.reads:,} reads by id)", results)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
