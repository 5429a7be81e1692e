"""What error enhancement costs: ``python bench/bench_errors.py``.

1. FULL enhancement + rendering of one error (hints from every provider, then the rich panel and the
   plain ``str()``): the budget is 5 ms per error.
2. The success path: a create workflow with the errors plugin loaded versus ``disable_plugins=["errors"]``
   (and in DISABLED mode): the plugin implements no per-node hook, so the difference should be noise.

Figures are printed, not asserted: benchmarks are not timed tests.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from dataflow import DataFlow, DataFlowError, LocalRuntime, WorkflowBuilder
from dataflow_errors import render_text

ERRORS = 500
CREATES = 2000


def enhancement_ms(db: DataFlow) -> tuple[float, float]:
    """Median milliseconds per error: (enhance + str, enhance + str + rich render)."""
    plain, rich = [], []
    for i in range(ERRORS):
        start = time.perf_counter()
        error = db.enhance(DataFlowError("DF-102", f"Model 'User' has no field 'nam{i}'. Did you mean 'name'?",
                                         context={"node_id": "create", "model": "User", "field": f"nam{i}"}))
        str(error)
        middle = time.perf_counter()
        render_text(error)
        end = time.perf_counter()
        plain.append((middle - start) * 1000)
        rich.append((end - start) * 1000)
    return statistics.median(plain), statistics.median(rich)


def create_run_us(directory: Path, **options: Any) -> float:
    """Median microseconds of a one-node create workflow on a SQLite file."""
    db = DataFlow(f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.db'}", **options)
    db.model(type("BenchUser", (), {"__annotations__": {"id": str, "name": str}}))
    runtime = LocalRuntime()
    samples = []
    for i in range(CREATES):
        wf = WorkflowBuilder()
        wf.add_node("BenchUserCreateNode", "c", {"id": f"u{i}", "name": "n"}, db_instance=db)
        built = wf.build()
        start = time.perf_counter()
        runtime.execute(built)
        samples.append((time.perf_counter() - start) * 1e6)
    db.close()
    return statistics.median(samples[CREATES // 10:])  # the first calls warm caches and the table


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    db = DataFlow("sqlite:///:memory:", error_enhancement_mode="FULL")
    plain_ms, rich_ms = enhancement_ms(db)
    db.close()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        # Alternate the three set-ups over several rounds and keep each one's best median, so that
        # warm-up and machine noise do not favour whichever runs last.
        rounds: dict[str, list[float]] = {"on": [], "off": [], "disabled": []}
        for _ in range(3):
            rounds["on"].append(create_run_us(directory))
            rounds["off"].append(create_run_us(directory, disable_plugins=["errors"]))
            rounds["disabled"].append(create_run_us(directory, error_enhancement_mode="DISABLED"))
        with_plugin, without_plugin, disabled_mode = (min(rounds[k]) for k in ("on", "off", "disabled"))

    console = Console()
    table = Table(title="Error enhancement cost")
    for column in ("measure", "value", "budget / note"):
        table.add_column(column)
    table.add_row("FULL: enhance + str(), per error", f"{plain_ms:.3f} ms", "< 5 ms")
    table.add_row("FULL: enhance + str() + rich render, per error", f"{rich_ms:.3f} ms",
                  "< 5 ms" + (" OK" if rich_ms < 5 else " OVER BUDGET"))
    table.add_row("create workflow, errors plugin on (FULL)", f"{with_plugin:.1f} µs", "")
    table.add_row("create workflow, errors plugin disabled", f"{without_plugin:.1f} µs", "")
    table.add_row("create workflow, DISABLED mode", f"{disabled_mode:.1f} µs", "")
    table.add_row("success-path difference (on vs off)",
                  f"{(with_plugin - without_plugin) / without_plugin * 100:+.1f} %", "noise: no per-node hook")
    console.print(table)


if __name__ == "__main__":
    main()
