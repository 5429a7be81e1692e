"""Workflows: transactions, runtime overhead and build time, printed as figures from one run.

    python bench/bench_workflows.py [--creates 1000] [--nodes 1000] [--chain 2000] [--skip-servers]

1. Transactions (PostgreSQL and MariaDB, SQLite for reference): a workflow of ``--creates`` CreateNodes
   run with ``transaction=True`` (one commit) against the same workflow run without (each create
   commits alone). Target: the transactional run at least 3x faster on the servers.
2. Runtime overhead: a ``--nodes``-node workflow of nodes that do nothing, built and run by
   ``AsyncLocalRuntime``; the time per node is the runtime's own cost, the order analysis of
   ``build()`` included. Two shapes: nodes that declare nothing (the order rule chains them one after
   the other) and nodes that use no database (free to overlap). Target: under 50 µs per node.
3. Build: ``build()`` of ``--chain`` nodes, each connected to the one before (CRUD reads, and code
   nodes). Target: at most 20 µs per node.

Runs alternate and the best of each is kept, so that load from other processes hits both sides alike;
the machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

sys.path.insert(0, os.path.dirname(__file__))

from common import best_of
from dataflow import AsyncLocalRuntime, DataFlow, DataFlowError, LocalRuntime, Node, NodeContext, WorkflowBuilder
from dataflow.workflow import Workflow

SERVERS = {
    "PostgreSQL": os.environ.get("DATAFLOW_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test"),
    "MariaDB": os.environ.get("DATAFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}


class Idle(Node):
    """Does nothing and declares nothing about what it touches: the order rule chains it."""

    type_name: ClassVar[str] = "Idle"
    outputs = frozenset({"ok"})

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"ok": True}


class Pure(Idle):
    """Does nothing and uses no database: free to overlap with every other such node."""

    type_name: ClassVar[str] = "Pure"

    @classmethod
    def touches(cls, params: Any) -> tuple[()]:
        return ()


# ---- 1. transactions --------------------------------------------------------------------------------
def creates(model: str, count: int, tag: str) -> Workflow:
    wf = WorkflowBuilder()
    for i in range(count):
        wf.add_node(f"{model}CreateNode", f"c{i}", {"id": f"{tag}-{i}", "name": f"n{i}", "age": i})
    return wf.build()


def transaction_figures(label: str, url: str, count: int, rounds: int) -> str:
    db = DataFlow(url)
    model = f"Bench{uuid.uuid4().hex[:6]}"
    db.model(type(model, (), {"__annotations__": {"id": str, "name": str, "age": int},
                              "__tablename__": f"bench_tx_{uuid.uuid4().hex[:8]}"}))
    runtime = LocalRuntime()
    try:
        runtime.execute(creates(model, 1, "warm"))  # the table and the pool, before anything is timed
        alone = together = float("inf")
        for round_ in range(rounds):
            for transactional in ((False, True) if round_ % 2 == 0 else (True, False)):
                built = creates(model, count, f"r{round_}{int(transactional)}")
                start = time.perf_counter()
                runtime.execute(built, transaction=transactional)
                elapsed = time.perf_counter() - start
                if transactional:
                    together = min(together, elapsed)
                else:
                    alone = min(alone, elapsed)
        return (f"{label:<11} {count:,} creates: each committing alone {alone * 1000:8.1f} ms, "
                f"transaction=True {together * 1000:8.1f} ms → {alone / together:5.2f}x faster")
    finally:
        table = db.models[model].table
        LocalRuntime().execute(_drop(db, table))
        db.close()


def _drop(db: DataFlow, table: str) -> Workflow:
    """A one-node workflow dropping ``table`` (the benchmark cleans up after itself)."""

    class Drop(Pure):
        type_name: ClassVar[str] = "Drop"

        async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
            async with db.connection() as conn:
                await conn.execute(f"DROP TABLE IF EXISTS {db.dialect.quote(table)}", [])
            return {"ok": True}

    wf = WorkflowBuilder()
    wf.add_node(Drop, "drop", {})
    return wf.build()


# ---- 2. runtime overhead ------------------------------------------------------------------------------
def overhead_per_node(kind: type[Node], nodes: int, rounds: int) -> float:
    runtime = AsyncLocalRuntime()

    def once() -> None:
        wf = WorkflowBuilder()
        for i in range(nodes):
            wf.add_node(kind, f"n{i}", {})
        asyncio.run(runtime.execute_workflow_async(wf.build()))

    once()
    return best_of(rounds, once) / nodes * 1e6


# ---- 3. build ------------------------------------------------------------------------------------------
def build_per_node(make: Callable[[int], WorkflowBuilder], nodes: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        wf = make(nodes)
        start = time.perf_counter()
        wf.build()
        best = min(best, time.perf_counter() - start)
    return best / nodes * 1e6


def crud_chain(model: str) -> Callable[[int], WorkflowBuilder]:
    def make(nodes: int) -> WorkflowBuilder:
        wf = WorkflowBuilder()
        for i in range(nodes):
            wf.add_node(f"{model}ReadNode", f"n{i}", {"raise_on_not_found": False})
            if i:
                wf.add_connection(f"n{i - 1}", "id", f"n{i}", "id")
        return wf

    return make


def code_chain(nodes: int) -> WorkflowBuilder:
    wf = WorkflowBuilder()
    for i in range(nodes):
        wf.add_node("PythonCodeNode", f"n{i}", {"code": "result = x"})
        if i:
            wf.add_connection(f"n{i - 1}", "result", f"n{i}", "x")
    return wf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-servers", action="store_true")
    args, _ = parser.parse_known_args()  # nox passes every bench script the same arguments
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")

    print("\n1. transaction=True against each create committing alone (target on the servers: ≥ 3x)")
    with tempfile.TemporaryDirectory() as folder:
        targets = {"SQLite": f"sqlite:///{os.path.join(folder, 'bench.db')}"}
        if not args.skip_servers:
            targets.update(SERVERS)
        for label, url in targets.items():
            try:
                print(transaction_figures(label, url, args.creates, args.rounds))
            except DataFlowError as exc:
                print(f"{label:<11} skipped: {exc.code} {exc.message}")

    print(f"\n2. runtime overhead, build() and execute of a {args.nodes:,}-node workflow (target: < 50 µs per node)")
    print(f"   nodes that declare nothing (chained by the order rule): "
          f"{overhead_per_node(Idle, args.nodes, args.rounds):6.1f} µs per node")
    print(f"   nodes that use no database (free to overlap):           "
          f"{overhead_per_node(Pure, args.nodes, args.rounds):6.1f} µs per node")

    print(f"\n3. build() of {args.chain:,} chained nodes (target: ≤ 20 µs per node)")
    with tempfile.TemporaryDirectory() as folder:
        db = DataFlow(f"sqlite:///{os.path.join(folder, 'build.db')}")
        model = f"Chain{uuid.uuid4().hex[:6]}"
        db.model(type(model, (), {"__annotations__": {"id": str, "name": str}}))
        code_chain(2).build()  # the node types of the installed plugins load on first use, not timed
        print(f"   CRUD reads, each connected to the one before: "
              f"{build_per_node(crud_chain(model), args.chain, args.rounds + 2):6.1f} µs per node")
        print(f"   code nodes, each connected to the one before: "
              f"{build_per_node(code_chain, args.chain, args.rounds + 2):6.1f} µs per node")
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
