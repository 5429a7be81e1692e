"""``dataflow perf``: run a workflow once, time every node, and tell where the time went.

Each node's start and end come from ``dataflow.runtime.observe_nodes`` (every node, whatever runs
it). Times count from the first node's start; what came before it (the runtime starting, checking the
run's inputs) is reported apart as start-up. The run is the first in a fresh process, as a user's
first run is: first-use costs (importing a driver, connecting, creating a table) land in the nodes
that meet them. From the times and the built workflow (what each node waits for): each node's share
of the run's wall time, when it became ready (the last node it waited for finished) and how long it
then queued, which nodes overlapped it, the critical path (the chain of waits that set the total) and the
bottleneck (the longest node on that path: making it faster shortens the run). ``--profile`` also
runs the workflow under ``cProfile`` (on this thread: the run uses ``AsyncLocalRuntime``) and lists
the functions that took the most time themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import attrs
from dataflow.errors import DataFlowError
from dataflow.runtime import find_runtime_object, observe_nodes
from dataflow.workflow import Workflow

__all__ = ["NodeTiming", "PerfReport", "profile_workflow"]

_PROFILE_ROWS = 15


@attrs.frozen
class NodeTiming:
    """One node of the run. Times are seconds from the run's start.

    :param ready: when everything it waits for had finished (0 for a node that waits for nothing).
    :param waited_for: the node it waited for last (its start followed that node's end), and why:
        ``data`` (a connection or template) or ``order`` (the order rule: same instance, a writer).
    :param concurrent_with: the nodes whose run overlapped its own.
    """

    node_id: str
    type_name: str
    start: float
    end: float
    ready: float
    share: float
    waited_for: tuple[str, str] | None
    waits_for: tuple[str, ...]
    concurrent_with: tuple[str, ...]
    error: str | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def queued(self) -> float:
        """Time between being ready and starting (a concurrency limit, or the loop busy elsewhere)."""
        return max(0.0, self.start - self.ready)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node_id, "type": self.type_name, "start_s": round(self.start, 6),
                "end_s": round(self.end, 6), "duration_s": round(self.duration, 6), "share": round(self.share, 4),
                "ready_s": round(self.ready, 6), "queued_s": round(self.queued, 6),
                "waited_for": ({"node": self.waited_for[0], "why": self.waited_for[1]} if self.waited_for else None),
                "waits_for": list(self.waits_for), "concurrent_with": list(self.concurrent_with),
                "error": self.error}


@attrs.frozen
class PerfReport:
    """What one timed run found.

    :param total: seconds from the first node's start to the last node's end.
    :param startup: seconds from the call to the first node's start.
    """

    total: float
    startup: float
    run_id: str | None
    nodes: tuple[NodeTiming, ...]
    critical_path: tuple[str, ...]
    bottleneck: str | None
    max_concurrency: int
    error: str | None = None
    profile: tuple[dict[str, Any], ...] = ()
    not_run: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"total_s": round(self.total, 6), "startup_s": round(self.startup, 6), "run_id": self.run_id,
                "error": self.error,
                "nodes": [n.to_dict() for n in self.nodes], "not_run": list(self.not_run),
                "critical_path": list(self.critical_path), "bottleneck": self.bottleneck,
                "max_concurrency": self.max_concurrency, "profile": list(self.profile)}


def profile_workflow(built: Workflow, parameters: Mapping[str, Any] | None = None, *, profile: bool = False,
                     close: tuple[Any, ...] = ()) -> PerfReport:
    """Run ``built`` once with ``parameters`` on ``AsyncLocalRuntime`` and time every node.

    A failing node does not lose the timings: the report holds what ran and the error. ``close``:
    DataFlow instances to close on the run's loop once it is done.
    """
    runtime = find_runtime_object("AsyncLocalRuntime")()
    seen: list[tuple[str, float, float, BaseException | None]] = []
    outcome: dict[str, Any] = {}

    async def run() -> None:
        try:
            _results, outcome["run_id"] = await runtime.execute_workflow_async(built, inputs=dict(parameters or {}))
        except DataFlowError as exc:
            outcome["error"] = f"{exc.code}: {exc.message}"
        finally:
            for db in close:
                await db.close_async()

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    with observe_nodes(lambda ctx, start, end, error: seen.append((ctx.node_id, start, end, error))):
        began = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            asyncio.run(run())
        finally:
            if profiler is not None:
                profiler.disable()
        finished = time.perf_counter()
    return _report(built, seen, began, finished, outcome, _hot_functions(profiler) if profiler else ())


def _report(built: Workflow, seen: list[tuple[str, float, float, BaseException | None]], began: float,
            finished: float, outcome: Mapping[str, Any], profile: tuple[dict[str, Any], ...]) -> PerfReport:
    first = min((start for _n, start, _e, _x in seen), default=finished)
    total = max((end for _n, _s, end, _x in seen), default=finished) - first
    spans = {node_id: (start - first, end - first, error) for node_id, start, end, error in seen}
    ordered = sorted(spans, key=lambda n: (spans[n][0], spans[n][1]))
    timings = []
    for node_id in ordered:
        start, end, error = spans[node_id]
        entry = built.nodes[node_id]
        ends = [(spans[w][1], w) for w in entry.waits_for if w in spans]
        previous = max(ends) if ends else None
        why = "data" if previous and previous[1] in entry.depends_on else "order"
        overlap = tuple(other for other in ordered if other != node_id
                        and spans[other][0] < end and start < spans[other][1])
        timings.append(NodeTiming(
            node_id, entry.type_name, start, end, previous[0] if previous else 0.0,
            (end - start) / total if total > 0 else 0.0, (previous[1], why) if previous else None,
            tuple(sorted(entry.waits_for)), overlap, f"{type(error).__name__}: {error}" if error else None,
        ))
    path = _critical_path(built, spans)
    bottleneck = max(path, key=lambda n: spans[n][1] - spans[n][0]) if path else None
    return PerfReport(total, first - began, outcome.get("run_id"), tuple(timings), path, bottleneck,
                      _max_overlap(spans),
                      outcome.get("error"), profile, tuple(n for n in built.order if n not in spans))


def _critical_path(built: Workflow, spans: Mapping[str, tuple[float, float, Any]]) -> tuple[str, ...]:
    """From the node that finished last, back through the node each one waited for last."""
    if not spans:
        return ()
    node_id = max(spans, key=lambda n: spans[n][1])
    path = [node_id]
    while True:
        waited = [w for w in built.nodes[node_id].waits_for if w in spans]
        if not waited:
            break
        node_id = max(waited, key=lambda n: spans[n][1])
        path.append(node_id)
    return tuple(reversed(path))


def _max_overlap(spans: Mapping[str, tuple[float, float, Any]]) -> int:
    events = sorted([(s, 1) for s, _e, _x in spans.values()] + [(e, -1) for _s, e, _x in spans.values()])
    running = peak = 0
    for _at, step in events:
        running += step
        peak = max(peak, running)
    return peak


def _hot_functions(profiler: Any) -> tuple[dict[str, Any], ...]:
    import pstats

    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_cc, calls, own, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = "" if filename == "~" else f" ({_short_path(filename)}:{line})"  # "~": a built-in
        rows.append({"function": f"{name}{where}", "calls": calls,
                     "own_s": round(own, 6), "cumulative_s": round(cumulative, 6)})
    # By time spent in the function itself: where the time goes (a driver call, SQL compilation, or the
    # event loop's select(), which is time spent waiting for the database or a worker thread).
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return tuple(rows[:_PROFILE_ROWS])


def _short_path(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1:]
    elif "src" in parts:
        parts = parts[parts.index("src") + 1:]
    return "/".join(parts[-3:])
