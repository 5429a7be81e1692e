"""What the schema cache costs and saves: ``python bench/bench_schema_cache.py [--repeats N] [--json]``.

On a SQLite file:

1. **The first operation on a new instance**: ``DataFlow(url)``, ``@db.model`` and the first
   ``CreateNode`` (which creates the table), in a fresh file each time. Target: under 20 ms. The part
   after the instance and model exist (the first operation alone) is printed too. Imports are not
   in it (one warm-up instance loads DataFlow, its plugins and the runtime first, as an application
   that made one instance already has); the same first operation in a fresh interpreter, imports
   included, is printed beside it (median of a few ``python -c`` runs).
2. **A cached check**: ``is_ready(model)`` of the schema-cache plugin's ``SchemaCache`` and of the
   kernel's own memo (``dataflow.ready.ReadyTables``), and the whole ``await db.ensure_ready(model)``
   once the table is known. Target: under 1 µs for the check.
3. **What it saves**: a ``CountNode`` with the cache, against the same with ``schema_cache_enabled=False``
   (every operation checks the schema again).

Medians of ``--repeats`` runs (checks: the best of five million-call loops). Figures are printed, not
asserted; the machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.ready import ReadyTables


def _model(db: DataFlow) -> str:
    db.model(type("Note", (), {"__annotations__": {"id": str, "text": str}, "__tablename__": "notes"}))
    return "Note"


def _run(runtime: LocalRuntime, node: str, params: dict[str, Any]) -> None:
    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    runtime.execute(wf.build())


def first_operation(folder: Path, repeats: int) -> tuple[float, float]:
    """(median seconds for instance + model + first create, median seconds for the first create alone)."""
    runtime = LocalRuntime()
    _run_warm = DataFlow(f"sqlite:///{folder / 'warm.db'}")  # imports and the runtime loaded once, as in an app
    _run(runtime, f"{_model(_run_warm)}CreateNode", {"id": "w", "text": "x"})
    _run_warm.close()
    whole, alone = [], []
    for i in range(repeats):
        started = time.perf_counter()
        db = DataFlow(f"sqlite:///{folder / f'first-{i}.db'}")
        name = _model(db)
        ready = time.perf_counter()
        _run(runtime, f"{name}CreateNode", {"id": "a", "text": "x", "db_instance": db})
        done = time.perf_counter()
        whole.append(done - started)
        alone.append(done - ready)
        db.close()
    return statistics.median(whole), statistics.median(alone)


_COLD = """
import sys, time
started = time.perf_counter()
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
imported = time.perf_counter()
db = DataFlow("sqlite:///" + sys.argv[1])
db.model(type("Note", (), {"__annotations__": {"id": str, "text": str}, "__tablename__": "notes"}))
wf = WorkflowBuilder()
wf.add_node("NoteCreateNode", "n", {"id": "a", "text": "x"})
LocalRuntime().execute(wf.build())
print(imported - started, time.perf_counter() - started)
"""


def cold_first_operation(folder: Path, repeats: int) -> tuple[float, float]:
    """(median seconds of the imports, median seconds of imports + the first operation) in a new interpreter."""
    imports, whole = [], []
    for i in range(repeats):
        out = subprocess.run([sys.executable, "-c", _COLD, str(folder / f"cold-{i}.db")], capture_output=True,
                             text=True, check=True).stdout.split()
        imports.append(float(out[0]))
        whole.append(float(out[1]))
    return statistics.median(imports), statistics.median(whole)


def cached_checks(folder: Path) -> dict[str, float]:
    """Seconds per call: the plugin's is_ready, the kernel memo's is_ready, a cached ensure_ready."""
    db = DataFlow(f"sqlite:///{folder / 'checks.db'}")
    name = _model(db)
    _run(LocalRuntime(), f"{name}CountNode", {"db_instance": db})
    model = db.get_model(name)
    memo = ReadyTables()
    memo.mark_ready(model)
    calls = 1_000_000
    plugin_check = min(timeit.repeat(lambda: db._ready_tables.is_ready(model), number=calls, repeat=5)) / calls
    kernel_check = min(timeit.repeat(lambda: memo.is_ready(model), number=calls, repeat=5)) / calls

    async def ensure_many(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await db.ensure_ready(model)
        return (time.perf_counter() - started) / n

    ensure = min(asyncio.run(ensure_many(100_000)) for _ in range(3))
    kind = type(db._ready_tables).__name__
    db.close()
    return {f"is_ready ({kind})": plugin_check, "is_ready (kernel memo)": kernel_check,
            "await db.ensure_ready(model), cached": ensure}


def savings(folder: Path, repeats: int) -> tuple[float, float]:
    """(median seconds of a CountNode with the cache, without it)."""
    runtime = LocalRuntime()
    results = []
    for enabled in (True, False):
        db = DataFlow(f"sqlite:///{folder / f'save-{enabled}.db'}", schema_cache_enabled=enabled)
        name = _model(db)
        _run(runtime, f"{name}CountNode", {"db_instance": db})
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            _run(runtime, f"{name}CountNode", {"db_instance": db})
            times.append(time.perf_counter() - started)
        results.append(statistics.median(times))
        db.close()
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        whole, alone = first_operation(folder, args.repeats)
        cold_imports, cold_whole = cold_first_operation(folder, min(args.repeats, 5))
        checks = cached_checks(folder)
        cached, uncached = savings(folder, args.repeats)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"first_operation_ms": whole * 1000, "first_create_alone_ms": alone * 1000,
                          "fresh_interpreter_ms": {"imports": cold_imports * 1000, "with_first_operation":
                                                   cold_whole * 1000},
                          "checks_ns": {k: v * 1e9 for k, v in checks.items()},
                          "count_node_ms": {"cached": cached * 1000, "uncached": uncached * 1000}, "load": load}))
        return
    print("Schema cache, SQLite")
    print(f"  first operation on a new instance (DataFlow + model + first create): {whole * 1000:7.2f} ms "
          f"(target < 20 ms); the first create alone {alone * 1000:.2f} ms; imports not included")
    print(f"  in a fresh interpreter: imports {cold_imports * 1000:.0f} ms, imports + the same first operation "
          f"{cold_whole * 1000:.0f} ms")
    for label, seconds in checks.items():
        print(f"  {label:<42} {seconds * 1e9:8.0f} ns per call")
    print(f"  CountNode with the cache {cached * 1000:.2f} ms, without (schema_cache_enabled=False) "
          f"{uncached * 1000:.2f} ms: {uncached / cached:.1f}x")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
