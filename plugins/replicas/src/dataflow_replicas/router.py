"""The replica router: which server runs each read, and the checks that keep replicas honest.

Routing (``ReplicaRouter.route``, shown every statement of the primary's dialect):

- A write (any statement that is not a read) is noted for read-your-writes and runs on the primary.
- A read given a connection, or run inside a transaction, stays there (the primary).
- A read of a workflow run that wrote, or of an origin (the asyncio task, or the thread under
  ``LocalRuntime``) that wrote less than ``read_your_writes_window`` seconds ago, runs on the primary.
- Any other read goes to the next usable replica, round robin: checked, reachable, and at most
  ``max_replica_lag`` seconds behind. With none usable it runs on the primary and one warning (DF-518)
  is logged until a replica is usable again; ``replica_fallback="error"`` raises DF-518 instead.
- A read that fails on a replica runs again on the primary; a replica that could not be reached is
  skipped until a check finds it back.

Checks run on DataFlow's background loop every ``replica_check_interval`` seconds, started by the
first routed read: the primary's replication position is sampled, then each replica's (see
``probes``), and each replica's lag is the time since the oldest sample it has not reached.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import itertools
import logging
import math
import time
import weakref
from collections.abc import Coroutine
from typing import Any

import attrs
from dataflow.errors import DataFlowError, redact_url
from dataflow.routing import READS, current_run, origin
from dataflow.url import parse_url

from dataflow_replicas.probes import Position, primary_position, replica_position

__all__ = ["ReplicaMetrics", "ReplicaRouter", "ReplicaStatus"]

log = logging.getLogger("dataflow.replicas")

_UNREACHABLE = frozenset({"DF-402", "DF-510", "DF-511"})
"""Codes of a read that failed because the replica could not be reached or was lost under it."""

_on_primary: contextvars.ContextVar[bool] = contextvars.ContextVar("dataflow_replicas_on_primary", default=False)
"""True while a read that failed on a replica runs again on the primary (it must not be routed again)."""


@attrs.frozen
class ReplicaStatus:
    """One replica as last seen: ``db.replica_metrics().replicas``.

    :param url: its URL, password hidden.
    :param healthy: reachable and replicating at the last check (None: not checked yet).
    :param usable: reads go to it now (healthy and within ``max_replica_lag``).
    :param lag: seconds behind the primary at the last check (None: unknown).
    :param reads: reads it answered.
    :param failures: reads that failed on it and ran on the primary instead.
    :param error: why it is not healthy, if it is not.
    :param checked_at: when it was last checked (``time.time()``; 0.0: never).
    """

    url: str
    healthy: bool | None
    usable: bool
    lag: float | None
    reads: int
    failures: int
    error: str | None
    checked_at: float


@attrs.frozen
class ReplicaMetrics:
    """``db.replica_metrics()``: where reads went, and each replica's last check.

    :param primary_reads: reads run on the primary (read-your-writes, no usable replica, a failed
        replica read), not counting reads inside transactions or given a connection.
    :param read_your_writes: of those, reads kept on the primary because their origin or run wrote.
    :param fallbacks: reads meant for a replica that ran on the primary (none usable, or it failed).
    :param replicas: each replica's status, in the order given.
    """

    primary_reads: int
    read_your_writes: int
    fallbacks: int
    replicas: tuple[ReplicaStatus, ...]

    @property
    def replica_reads(self) -> int:
        return sum(r.reads for r in self.replicas)

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self, recurse=True), "replica_reads": self.replica_reads}


class _Replica:
    """A replica's dialect (its own pools) and what the checks found."""

    __slots__ = ("behind_since", "checked_at", "dialect", "error", "failures", "healthy", "lag", "reads", "url",
                 "usable")

    def __init__(self, url: str, dialect: Any) -> None:
        self.url = redact_url(url)
        self.dialect = dialect
        self.healthy: bool | None = None
        self.usable = False
        self.lag: float | None = None
        self.reads = 0
        self.failures = 0
        self.error: str | None = None
        self.checked_at = 0.0
        self.behind_since: float | None = None

    def down(self, why: str) -> None:
        self.healthy = self.usable = False
        self.error = why

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(self.url, self.healthy, self.usable, self.lag, self.reads, self.failures, self.error,
                             self.checked_at)


class ReplicaRouter:
    """The ``dataflow.routing.ReadRouter`` of one instance with read replicas (see the module docstring)."""

    def __init__(self, db: Any, urls: list[str], *, max_lag: float, window: float, interval: float,
                 fallback: str) -> None:
        self.db = db
        self.primary = db.dialect
        self.max_lag = max_lag
        self.window = window
        self.interval = interval
        self.fallback = fallback
        self.replicas = [_Replica(url, db.make_dialect(parse_url(url))) for url in urls]
        self._turn = itertools.count()
        self._written_runs: weakref.WeakSet[Any] = weakref.WeakSet()
        self._windows: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self.primary_reads = 0
        self.read_your_writes = 0
        self.fallbacks = 0
        self._warned = False
        self._checker: asyncio.Task[None] | None = None
        self._checker_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # (time.monotonic(), primary position) samples, newest last, covering about twice max_lag.
        self._samples: collections.deque[tuple[float, Any]] = collections.deque(
            maxlen=max(4, math.ceil(2 * max_lag / interval) + 2))
        self._checking = asyncio.Lock()
        self._first_check: concurrent.futures.Future[None] = concurrent.futures.Future()
        """Done once the first check has ended (whatever it found): reads before it wait for it."""

    # ---- routing -------------------------------------------------------------------------------
    def route(self, query: Any, conn: Any) -> Coroutine[Any, Any, Any] | None:
        if type(query) not in READS:
            self.wrote()
            return None
        if conn is not None or _on_primary.get() or self.primary.current_transaction() is not None:
            return None
        if (self._written_runs or self._windows) and self._fresh_write_here():
            self.read_your_writes += 1
            self.primary_reads += 1
            return None
        if self._checker is None:
            self._start_checker()
        if not self._first_check.done():
            return self._after_first_check(query)  # only the very first reads wait (one check, milliseconds)
        replicas = self.replicas
        count = len(replicas)
        turn = next(self._turn)
        for step in range(count):
            replica = replicas[(turn + step) % count]
            if replica.usable:
                if self._warned:
                    self._warned = False
                    log.info("Reads go to the read replicas again (%s).", replica.url)
                return self._read_on(replica, query)
        self._no_replica()
        return None

    async def _after_first_check(self, query: Any) -> Any:
        await asyncio.wrap_future(self._first_check)
        return await self.primary.run(query)  # routed again, now that the replicas' states are known

    def wrote(self) -> None:
        """Keep this run's, and for ``window`` seconds this origin's, reads on the primary."""
        run = current_run()
        if run is not None:
            self._written_runs.add(run)
        if self.window > 0:
            self._windows[origin()] = time.monotonic() + self.window

    def _fresh_write_here(self) -> bool:
        run = current_run()
        if run is not None and run in self._written_runs:
            return True
        until = self._windows.get(origin())
        return until is not None and until > time.monotonic()

    def _no_replica(self) -> None:
        self.fallbacks += 1
        self.primary_reads += 1
        if self.fallback == "error":
            raise self._none_usable_error()
        if not self._warned and all(r.healthy is not None for r in self.replicas):
            self._warned = True  # once, until a replica is usable again; replicas not yet checked are no news
            log.warning("DF-518: %s", self._none_usable_error().message)

    def _none_usable_error(self) -> DataFlowError:
        states = "; ".join(f"{r.url}: {self._why_unusable(r)}" for r in self.replicas)
        return self.db.error(
            "DF-518",
            f"No read replica is usable, so reads run on the primary ({states}).",
            replicas=states,
            solutions=["Check that the replicas run and replicate: db.replica_metrics() shows each one's state.",
                       f"Raise max_replica_lag (now {self.max_lag:g} s) if the replicas are only a little behind."],
        )

    def _why_unusable(self, replica: _Replica) -> str:
        if replica.healthy is None:
            return "not checked yet"
        if not replica.healthy:
            return replica.error or "unreachable"
        return f"{replica.lag:.1f} s behind (max_replica_lag {self.max_lag:g} s)"

    async def _read_on(self, replica: _Replica, query: Any) -> Any:
        try:
            result = await replica.dialect.run(query)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            replica.failures += 1
            self.fallbacks += 1
            self.primary_reads += 1
            code = getattr(exc, "code", None)
            if code in _UNREACHABLE:
                replica.down(f"{code}: {getattr(exc, 'message', exc)}")
                log.warning("Read replica %s failed (%s); reads go elsewhere until it is back.", replica.url, code)
            else:
                log.debug("A read failed on replica %s (%s); it runs on the primary.", replica.url, exc)
            token = _on_primary.set(True)
            try:
                return await self.primary.run(query)
            finally:
                _on_primary.reset(token)
        replica.reads += 1
        return result

    # ---- metrics ---------------------------------------------------------------------------------
    def metrics(self) -> ReplicaMetrics:
        return ReplicaMetrics(self.primary_reads, self.read_your_writes, self.fallbacks,
                              tuple(r.status() for r in self.replicas))

    # ---- checks ----------------------------------------------------------------------------------
    def _start_checker(self) -> None:
        from dataflow.loop import background_loop

        if self._closed:
            return
        loop = background_loop()
        self._checker_loop = loop
        self._checker = _PENDING  # claimed: the task is made on the background loop

        def start() -> None:
            if not self._closed:
                self._checker = loop.create_task(self._check_forever(), name="dataflow-replica-checks")

        loop.call_soon_threadsafe(start)

    async def _check_forever(self) -> None:
        try:
            while not self._closed:
                try:
                    await self.check()
                except asyncio.CancelledError:
                    raise
                except Exception:  # a check must never stop the checks
                    log.exception("Checking the read replicas failed")
                self._checked()
                await asyncio.sleep(self.interval)
        finally:
            self._checked()

    def _checked(self) -> None:
        if not self._first_check.done():
            self._first_check.set_result(None)

    async def check(self) -> ReplicaMetrics:
        """Check every replica now (reachability, replication, lag); the metrics afterwards."""
        async with self._checking:
            sampled_at = time.monotonic()
            try:
                async with self.primary.connection() as conn:
                    position = await asyncio.wait_for(primary_position(self.primary.name)(conn), self._timeout)
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                log.debug("Could not read the primary's replication position: %s", exc)
                position = None
            if position is not None:
                self._samples.append((sampled_at, position))
            await asyncio.gather(*(self._check_one(r, position) for r in self.replicas))
        self._checked()
        return self.metrics()

    @property
    def _timeout(self) -> float:
        return max(1.0, 2 * self.interval)

    async def _check_one(self, replica: _Replica, primary: Any) -> None:
        try:
            async with replica.dialect.connection() as conn:
                found = await asyncio.wait_for(replica_position(replica.dialect.name)(conn, primary), self._timeout)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            replica.down(f"{getattr(exc, 'code', type(exc).__name__)}: {getattr(exc, 'message', exc)}")
            replica.lag = None
            replica.checked_at = time.time()
            return
        replica.checked_at = time.time()
        if not found.is_replica:
            replica.down("DF-519: the server is not a replica (it replicates from nowhere)")
            replica.lag = None
            return
        replica.lag = self._lag(found, primary)
        replica.healthy, replica.error = True, None
        replica.usable = replica.lag <= self.max_lag

    def _lag(self, found: Position, primary: Any) -> float:
        """Seconds since the oldest primary sample the replica has not reached (0 when it has the
        newest), and at least what the server itself reports."""
        reported = found.reported_lag or 0.0
        if primary is None or found.applied is None:
            return reported  # nothing to compare: the server's own figure is all there is
        now = time.monotonic()
        missed: float | None = None
        for sampled_at, position in reversed(self._samples):
            if found.applied >= position:
                break
            missed = sampled_at
        if missed is None:
            return reported
        return max(reported, now - missed)

    def not_replicas(self) -> list[str]:
        """URLs of the configured replicas the last check found not to be replicas."""
        return [r.url for r in self.replicas if r.error is not None and r.error.startswith("DF-519")]

    # ---- closing --------------------------------------------------------------------------------
    async def close(self) -> None:
        self._closed = True
        self._checked()
        checker, loop = self._checker, self._checker_loop
        if isinstance(checker, asyncio.Task) and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(checker.cancel)
        for replica in self.replicas:
            try:
                await replica.dialect.close()
            except Exception:  # one replica that fails to close must not keep the others open
                log.debug("Closing replica %s failed", replica.url, exc_info=True)
            replica.dialect.close_sync()


_PENDING: Any = object()
"""Stands for the checker task between the first routed read and the task's creation."""
