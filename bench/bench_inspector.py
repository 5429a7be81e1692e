"""What inspecting costs: ``python bench/bench_inspector.py``.

1. Analysis of a 100-node workflow (summary, cycles, validation) from a fresh ``Inspector``: the spec's
   budget is 10 ms. Printed beside ``build()`` of the same workflow (the same checks, raising).
2. One ``trace_parameter`` on it: budget 1 ms.
3. Validating 500 connections (``Inspector(...).validate_connections()``): budget 5 ms.
4. ``dataflow --help`` as a whole process: budget 300 ms; beside the bare interpreter and ``import cyclopts``.
5. ``dataflow validate FILE`` against importing FILE alone, both whole processes: budget +100 ms.

Medians of many runs (processes: best and median of ``--runs``), and the load average, since the
machine may be shared; in-process figures are CPU time, processes show wall and CPU time (user +
system), which a busy machine inflates less. Processes run as on an installed system, with Python's
bytecode caches (a warm-up run writes them even where ``PYTHONDONTWRITEBYTECODE`` is set); the
``--help`` row without them shows what an environment that never writes them pays (every module
compiled from source on every run). Figures are printed, not asserted: benchmarks are not timed tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataflow import DataFlow, WorkflowBuilder
from dataflow_inspector import Inspector

SCRIPT = Path(sys.executable).with_name("dataflow")


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    """Median CPU milliseconds of ``fn`` (this process's CPU time: other processes of a shared machine
    slow it less than wall time)."""
    samples = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        samples.append((time.process_time() - start) * 1000)
    return statistics.median(samples)


def _model(db: DataFlow) -> None:
    cls = type("Person", (), {"__annotations__": {"id": str, "name": str, "email": str, "age": int,
                                                    "nickname": str | None},
                              "age": 0, "nickname": None, "__tablename__": f"people_{uuid.uuid4().hex[:8]}"})
    db.model(cls)


def hundred_nodes() -> WorkflowBuilder:
    """100 nodes of every kind, each reading what an earlier one produced: 25 chains of create →
    read (connection) → update (template) → list."""
    wf = WorkflowBuilder()
    for chain in range(25):
        wf.add_node("PersonCreateNode", f"create{chain}", {"id": f"p{chain}", "name": "n", "email": "e@x.io"})
        wf.add_node("PersonReadNode", f"read{chain}", {})
        wf.add_connection(f"create{chain}", "id", f"read{chain}", "id")
        wf.add_node("PersonUpdateNode", f"update{chain}", {"filter": {"id": f"${{read{chain}.id}}"},
                                                           "fields": {"age": 1}})
        wf.add_node("PersonListNode", f"list{chain}", {"filter": {"age": {"$gte": 1}}, "limit": 10})
        wf.add_connection(f"update{chain}", "age", f"list{chain}", "offset")
    return wf


def connections_500() -> WorkflowBuilder:
    """126 create nodes, each fed four of its fields by the one before it: 500 connections."""
    wf = WorkflowBuilder()
    wf.add_node("PersonCreateNode", "n0", {"id": "p0", "name": "n", "email": "e@x.io", "age": 1})
    for i in range(1, 126):
        wf.add_node("PersonCreateNode", f"n{i}", {"id": f"p{i}"})
        for field in ("name", "email", "age", "nickname"):
            wf.add_connection(f"n{i - 1}", field, f"n{i}", field)
    return wf


def analysis(wf: WorkflowBuilder) -> None:
    inspector = Inspector(wf)
    inspector.workflow_summary()
    inspector.detect_cycles()
    inspector.validate_connections()


def _process_ms(args: list[str], runs: int, cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(best wall, median wall, best CPU) milliseconds of running ``args`` as a whole process (CPU: the
    child's user + system time, which a busy machine inflates less than wall time)."""
    walls, cpus = [], []
    subprocess.run(args, cwd=cwd, env=env, capture_output=True)  # warm-up: writes the bytecode caches
    for _ in range(runs):
        before = os.times()
        start = time.perf_counter()
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
        walls.append((time.perf_counter() - start) * 1000)
        after = os.times()
        cpus.append((after.children_user - before.children_user + after.children_system
                     - before.children_system) * 1000)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(args)} failed: {done.stderr}")
    return min(walls), statistics.median(walls), min(cpus)


WORKFLOW_FILE = '''
from dataflow import DataFlow, WorkflowBuilder

db = DataFlow("sqlite:///bench.db")


@db.model
class Person:
    id: str
    name: str
    email: str
    age: int = 0


workflow = WorkflowBuilder()
for i in range(10):
    workflow.add_node("PersonCreateNode", f"create{i}", {"id": f"p{i}", "name": "n", "email": "e@x.io"})
    workflow.add_node("PersonReadNode", f"read{i}", {})
    workflow.add_connection(f"create{i}", "id", f"read{i}", "id")
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="Processes per whole-process measure.")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = DataFlow(f"sqlite:///{folder / 'bench.db'}")
        _model(db)
        hundred, five_hundred = hundred_nodes(), connections_500()
        assert Inspector(hundred).is_valid(strict=True) and len(Inspector(five_hundred).connections()) == 500
        analysis_ms = _median_ms(lambda: analysis(hundred), 200)
        build_ms = _median_ms(hundred.build, 200)
        inspector = Inspector(hundred)
        inspector.trace_parameter("list24", "offset")
        trace_ms = _median_ms(lambda: inspector.trace_parameter("list24", "offset"), 2000)
        validate_ms = _median_ms(lambda: Inspector(five_hundred).validate_connections(), 100)
        build_500_ms = _median_ms(five_hundred.build, 100)
        db.close()

        env = {k: v for k, v in os.environ.items()
               if not k.startswith("DATAFLOW_") and k != "PYTHONDONTWRITEBYTECODE"}
        uncached = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(folder / "no-cache")}
        (folder / "flow.py").write_text(textwrap.dedent(WORKFLOW_FILE), encoding="utf-8")
        python = sys.executable
        bare = _process_ms([python, "-c", "pass"], args.runs, folder, env)
        cyclopts = _process_ms([python, "-c", "import cyclopts"], args.runs, folder, env)
        help_ms = _process_ms([str(SCRIPT), "--help"], args.runs, folder, env)
        help_uncached = _process_ms([str(SCRIPT), "--help"], args.runs, folder, uncached)
        imported = _process_ms([python, "-c", "import runpy; runpy.run_path('flow.py')"], args.runs, folder, env)
        validated = _process_ms([str(SCRIPT), "validate", "flow.py"], args.runs, folder, env)

    def verdict(value: float, budget: float) -> str:
        return f"< {budget:g} ms " + ("OK" if value < budget else "OVER")

    table = Table(title=f"Inspector costs (load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
                        "in-process figures are CPU time)")
    for column in ("measure", "value", "compared with", "budget"):
        table.add_column(column)
    table.add_row("analysis of 100 nodes (summary, cycles, validation)", f"{analysis_ms:.2f} ms",
                  f"build(): {build_ms:.2f} ms (x{analysis_ms / build_ms:.1f})", verdict(analysis_ms, 10))
    table.add_row("one trace_parameter", f"{trace_ms * 1000:.0f} µs", "", verdict(trace_ms, 1))
    table.add_row("validating 500 connections", f"{validate_ms:.2f} ms",
                  f"build(): {build_500_ms:.2f} ms (x{validate_ms / build_500_ms:.1f})", verdict(validate_ms, 5))
    table.add_row("dataflow --help, whole process: wall best / median; CPU best",
                  f"{help_ms[0]:.0f} / {help_ms[1]:.0f}; {help_ms[2]:.0f} ms",
                  f"python -c pass: {bare[0]:.0f} ms wall, {bare[2]:.0f} ms CPU; import cyclopts: "
                  f"{cyclopts[0]:.0f} ms wall, {cyclopts[2]:.0f} ms CPU", verdict(help_ms[0], 300))
    table.add_row("dataflow --help without bytecode caches: wall best; CPU best",
                  f"{help_uncached[0]:.0f}; {help_uncached[2]:.0f} ms", "every module compiled on every run", "")
    added_wall, added_cpu = validated[0] - imported[0], validated[2] - imported[2]
    table.add_row("dataflow validate FILE minus importing FILE: wall best; CPU best",
                  f"+{added_wall:.0f}; +{added_cpu:.0f} ms",
                  f"wall {validated[0]:.0f} vs {imported[0]:.0f} ms; CPU {validated[2]:.0f} vs {imported[2]:.0f} ms",
                  "< +100 ms " + ("OK" if added_wall < 100 else "OVER"))
    Console().print(table)


if __name__ == "__main__":
    main()
