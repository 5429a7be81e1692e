"""Read replicas: what routing costs per read, and what two replicas add to read throughput.

    python bench/bench_replicas.py [--seconds 5] [--tasks 64] [--rows 20000]

1. Routing overhead: ``ReplicaRouter.route()`` (the decision made for every read: not a write, no
   transaction here, no fresh write of this task or run, next usable replica) timed in a tight loop,
   with the cost of making the coroutine it returns; and the same with a write window to look up.
   Target: under 5 µs per read. Needs no server.
2. Throughput: a private PostgreSQL primary and two streaming replicas (``dataflow_replicas.clusters``)
   on this machine; ``--tasks`` concurrent asyncio tasks reading (a count over a ``--rows`` table, by
   a random range: work on the server, little on the client) for ``--seconds`` each, first with the
   primary alone, then with ``read_replicas=[r1, r2]``. Each server gets the same connection budget
   (16). Printed: reads/s of each, the ratio (target ≥ 1.6x), and the reads each server answered.

All servers run on this machine's cores, so replicas add servers but not CPUs: when the primary alone
already keeps every core busy, the ratio is capped near 1x by the machine, which is printed with the
load average. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from typing import Any

from dataflow import DataFlow
from dataflow.query import Count, Select
from dataflow.routing import running

POOL = {"pool_size": 16, "max_overflow": 0}


def routing_overhead(samples: int = 200_000) -> dict[str, float]:
    """CPU microseconds per ``route()`` call (making and closing its coroutine included), median of 5
    rounds: process time, so that other processes of a loaded machine do not count."""
    from dataflow_replicas.router import ReplicaRouter

    db = DataFlow("postgresql://root@127.0.0.1:9/none", read_replicas=["postgresql://root@127.0.0.1:9/r1",
                                                                        "postgresql://root@127.0.0.1:9/r2"])
    router: ReplicaRouter = db.dialect.read_router  # type: ignore[assignment]
    for replica in router.replicas:
        replica.healthy = replica.usable = True
    router._checker = object()  # type: ignore[assignment]  # no checks: nothing to reach
    model = db.register_model(_bench_spec())
    query = Select(model, None, (), 1, 0)

    def rounds(label: str) -> float:
        figures = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(samples):
                routed = router.route(query, None)
                if routed is not None:
                    routed.close()
            figures.append((time.process_time() - start) / samples * 1e6)
        return statistics.median(figures)

    def baseline() -> float:
        figures = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(samples):
                routed = _noop(query)
                routed.close()
            figures.append((time.process_time() - start) / samples * 1e6)
        return statistics.median(figures)

    result = {"route": rounds("plain"), "coroutine alone": baseline()}
    router.wrote()  # a write window of this thread to look up (and miss, from the rounds' point of view)
    router._windows.clear()
    router._windows[object.__new__(_Key)] = time.monotonic() + 60  # another origin's window: looked up, missed
    with running(None):
        result["route, windows and a run to look up"] = rounds("windows")
    db.close()
    return result


class _Key:
    __slots__ = ("__weakref__",)


async def _noop(query: Any) -> None:
    return None


def _bench_spec() -> Any:
    from dataflow.models import model_spec_from_class

    cls = type("BenchRead", (), {"__annotations__": {"id": int, "n": int}, "__tablename__": "bench_reads"})
    return model_spec_from_class(cls)


async def throughput(db: DataFlow, model: Any, tasks: int, seconds: float, rows: int) -> float:
    """Reads per second of ``tasks`` concurrent readers for ``seconds``."""
    done = 0
    stop = time.monotonic() + seconds
    n_field = model.field_map["n"]
    from dataflow.query import Cond

    async def reader() -> None:
        nonlocal done
        rng = random.Random()
        while time.monotonic() < stop:
            low = rng.randrange(rows)
            await db.dialect.run(Count(model, Cond(n_field, "gte", low)))
            done += 1

    await asyncio.gather(*(reader() for _ in range(tasks)))
    return done / seconds


async def seed(db: DataFlow, model: Any, rows: int) -> None:
    from dataflow.query import Insert

    await db.ensure_ready(model)
    batch = [(i, i) for i in range(rows)]
    await db.dialect.run(Insert(model, ("id", "n"), batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()

    print("Routing overhead per read (µs):")
    for label, micros in routing_overhead().items():
        print(f"  {label:<40} {micros:6.2f}")
    print("  target: route() under 5 µs per read")

    from dataflow_replicas.clusters import PostgresPair

    reason = PostgresPair.missing()
    if reason is not None:
        print(f"Throughput skipped: {reason}")
        return
    print(f"\nThroughput: {args.tasks} tasks, {args.seconds:g} s each, count over {args.rows} rows "
          f"(load average before: {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)")
    with PostgresPair(replicas=2) as pair:

        async def measure() -> None:
            spec = _bench_spec()
            alone = DataFlow(pair.primary_url, **POOL)
            model = alone.register_model(spec)
            await seed(alone, model, args.rows)
            spread = DataFlow(pair.primary_url, read_replicas=pair.replica_urls, read_your_writes_window=0,
                              **POOL)
            spread_model = spread.register_model(_bench_spec())
            await spread.ensure_ready(spread_model)
            await spread.check_replicas_async()
            while not all(r.usable and r.lag == 0 for r in (await spread.check_replicas_async()).replicas):
                await asyncio.sleep(0.2)
            await throughput(alone, model, args.tasks, 1.0, args.rows)  # warm up the pools and caches
            primary_rate = await throughput(alone, model, args.tasks, args.seconds, args.rows)
            await throughput(spread, spread_model, args.tasks, 1.0, args.rows)
            before = spread.replica_metrics()
            replica_rate = await throughput(spread, spread_model, args.tasks, args.seconds, args.rows)
            after = spread.replica_metrics()
            print(f"  primary alone                 {primary_rate:10.0f} reads/s")
            print(f"  primary + 2 replicas          {replica_rate:10.0f} reads/s   "
                  f"ratio {replica_rate / primary_rate:.2f}x (target ≥ 1.6x)")
            for old, new in zip(before.replicas, after.replicas, strict=True):
                print(f"    {new.url:<44} {(new.reads - old.reads) / args.seconds:8.0f} reads/s "
                      f"(lag {new.lag or 0:.2f} s)")
            print(f"    primary (fallbacks, read-your-writes) "
                  f"{(after.primary_reads - before.primary_reads) / args.seconds:8.0f} reads/s")
            print(f"  load average after: {os.getloadavg()[0]:.1f}")
            await alone.close_async()
            await spread.close_async()

        asyncio.run(measure())


if __name__ == "__main__":
    main()
