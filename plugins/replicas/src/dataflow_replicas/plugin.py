"""The replicas plugin's hooks: its options, the read router, ``db.replica_metrics()`` and closing.

``DataFlow(url, read_replicas=[url2, url3], max_replica_lag=2.0)``; an instance without
``read_replicas`` gets no router, so its statements run exactly as without the plugin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from dataflow.errors import redact_url
from dataflow.hookspecs import hookimpl
from dataflow.plugins import OptionInfo

DEFAULT_MAX_LAG = 2.0
DEFAULT_WINDOW = 5.0
DEFAULT_INTERVAL = 1.0
FALLBACKS = ("primary", "error")
EMBEDDED = frozenset({"sqlite", "duckdb"})
"""Dialects of database files read in place: no replicas to route to."""
_KEY = "replica_router"


@hookimpl
def dataflow_options() -> Iterable[OptionInfo]:
    return [
        OptionInfo("read_replicas", "URLs of read replicas of the primary; reads outside transactions go to them.",
                   None),
        OptionInfo("max_replica_lag", "Seconds a replica may be behind the primary and still serve reads.",
                   DEFAULT_MAX_LAG),
        OptionInfo("read_your_writes_window", "Seconds an asyncio task (or thread) that wrote keeps reading "
                   "from the primary.", DEFAULT_WINDOW),
        OptionInfo("replica_check_interval", "Seconds between checks of the replicas' health and lag.",
                   DEFAULT_INTERVAL),
        OptionInfo("replica_fallback", '"primary": with no usable replica, read the primary (one warning); '
                   '"error": raise DF-518.', "primary"),
    ]


def _bad(db: Any, message: str, option: str) -> Exception:
    return db.error("DF-414", message, option=option,
                    solutions=['DataFlow("postgresql://primary/app", read_replicas=["postgresql://replica1/app"], '
                               "max_replica_lag=2.0)"])


def _seconds(db: Any, option: str, *, zero_ok: bool) -> float:
    value = db.options[option]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not zero_ok):
        least = "≥ 0" if zero_ok else "> 0"
        raise _bad(db, f"{option}= is a number of seconds {least}, got {value!r}.", option)
    return float(value)


def _replica_urls(db: Any) -> list[str]:
    given = db.options["read_replicas"]
    if isinstance(given, str) or not isinstance(given, list | tuple):
        raise _bad(db, f"read_replicas= is a list of database URLs, got {type(given).__name__}"
                       f"{' (put the URL in a list)' if isinstance(given, str) else ''}.", "read_replicas")
    urls: list[str] = []
    for url in given:
        if not isinstance(url, str) or "://" not in url:
            shown = redact_url(url) if isinstance(url, str) else type(url).__name__
            raise _bad(db, f"Each read replica is a database URL, got {shown!r}.", "read_replicas")
        urls.append(url)
    return urls


def make_router(db: Any) -> Any:
    """The instance's router, or None without ``read_replicas``; DF-414 for settings that cannot work."""
    if db.options["read_replicas"] is None:
        return None
    urls = _replica_urls(db)
    max_lag = _seconds(db, "max_replica_lag", zero_ok=True)
    window = _seconds(db, "read_your_writes_window", zero_ok=True)
    interval = _seconds(db, "replica_check_interval", zero_ok=False)
    fallback = db.options["replica_fallback"]
    if fallback not in FALLBACKS:
        raise _bad(db, f"replica_fallback= is 'primary' or 'error', got {fallback!r}.", "replica_fallback")
    if not urls:
        return None
    if not db.dialect.lists_pools or db.dialect.name in EMBEDDED:
        raise _bad(db, f"The {db.dialect.name} dialect has no read replicas (a file database is read where it is).",
                   "read_replicas")
    from dataflow_replicas.router import ReplicaRouter

    router = ReplicaRouter(db, urls, max_lag=max_lag, window=window, interval=interval, fallback=fallback)
    for replica in router.replicas:
        if type(replica.dialect) is not type(db.dialect):
            kind = replica.dialect.name
            raise _bad(db, f"The read replica {replica.url} is a {kind} database; the primary is {db.dialect.name}.",
                       "read_replicas")
    return router


@hookimpl
def dataflow_read_router(db: Any) -> Any:
    router = make_router(db)
    if router is not None:
        db.state[_KEY] = router
    return router


def _router(db: Any) -> Any:
    router = db.state.get(_KEY)
    if router is None:
        raise db.error("DF-414", "This instance has no read replicas (give read_replicas=[...] to DataFlow).",
                       option="read_replicas")
    return router


@hookimpl
def dataflow_db_methods(db: Any) -> Mapping[str, Any]:
    def replica_metrics() -> Any:
        """Reads per target, fallbacks, and each replica's last check (``ReplicaMetrics``)."""
        return _router(db).metrics()

    async def check_replicas_async() -> Any:
        """Check every replica now; the metrics afterwards. DF-519 when a configured URL is not a replica."""
        import asyncio  # here: loading the plugin (every command does) does not import asyncio

        from dataflow.loop import background_loop

        router = _router(db)
        future = asyncio.run_coroutine_threadsafe(router.check(), background_loop())
        metrics = await asyncio.wrap_future(future)
        strays = router.not_replicas()
        if strays:
            raise db.error("DF-519", f"{', '.join(strays)} {'is' if len(strays) == 1 else 'are'} not a read replica: "
                           "the server replicates from no primary, so its rows may be anything.",
                           replicas=", ".join(strays),
                           solutions=["Point read_replicas at streaming replicas of the primary "
                                      "(PostgreSQL: pg_is_in_recovery() is true; MariaDB: SHOW SLAVE STATUS "
                                      "shows a row)."])
        return metrics

    def check_replicas() -> Any:
        """``check_replicas_async`` for synchronous code."""
        from dataflow.loop import run_sync

        return run_sync(check_replicas_async())

    return {"replica_metrics": replica_metrics, "check_replicas": check_replicas,
            "check_replicas_async": check_replicas_async}


@hookimpl
def dataflow_close(db: Any) -> Any:
    router = db.state.get(_KEY)
    return router.close() if router is not None else None
