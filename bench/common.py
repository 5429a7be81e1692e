"""Shared helpers of the benchmarks: timing, a rich results table, ratio formatting.

Benchmarks compare DataFlow with the raw driver in the same run, on the same machine, and print
ratios; they are not timed assertions.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs


@attrs.frozen
class Comparison:
    """One measured pair: framework and raw seconds for the same work."""

    name: str
    framework_s: float
    raw_s: float
    work: int
    unit: str
    target: str
    higher_is_better: bool

    @property
    def ratio(self) -> float:
        """Throughput ratio (framework / raw) for bulk work; time ratio (framework / raw) otherwise."""
        return self.raw_s / self.framework_s if self.higher_is_better else self.framework_s / self.raw_s

    def row(self) -> list[str]:
        kind = "throughput" if self.higher_is_better else "time"
        return [self.name, self._rate(self.framework_s), self._rate(self.raw_s), f"{self.ratio:.2f} ({kind})",
                self.target]

    def _rate(self, seconds: float) -> str:
        return f"{self.work / seconds:,.0f} {self.unit}/s"


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


async def best_of_async(repeats: int, fn: Callable[[], Awaitable[Any]]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        await fn()
        best = min(best, time.perf_counter() - start)
    return best


def print_table(title: str, comparisons: list[Comparison]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("benchmark", "DataFlow", "raw driver", "ratio", "target"):
        table.add_column(column)
    for c in comparisons:
        table.add_row(*c.row())
    Console().print(table)
