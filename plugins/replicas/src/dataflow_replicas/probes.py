"""How far behind its primary a replica is, asked of the servers themselves.

Lag is never guessed from the age of the last replayed transaction alone: on an idle primary that age
grows for ever while the replica is perfectly current. Each probe compares positions instead:

- PostgreSQL: the primary's WAL insert position (``pg_current_wal_insert_lsn()``: every commit,
  flushed or not, as ``synchronous_commit = off`` leaves them), sampled just before the
  replica is asked, against the replica's replayed position. Replayed at least as far: no lag. Behind,
  and holding WAL it has received but not replayed (replay paused or slow): the age of its last
  replayed transaction. Behind without having received it (streaming interrupted): the time since it
  was first seen behind.
- MariaDB: the primary's ``@@gtid_binlog_pos`` against the replica's ``@@gtid_slave_pos``; equal: no
  lag. Otherwise ``Seconds_Behind_Master`` (NULL while the SQL thread is stopped), and at least the time
  since the replica was first seen behind.

The primary's position is sampled once per check and kept for a while: a replica's lag is the time
since the oldest sample it has not reached (so an idle primary, whose samples do not move, is never
lag, and a replica a few milliseconds behind a busy primary is a few milliseconds behind). The server's
own figure (the age of the last replayed transaction while replay is stalled; ``Seconds_Behind_Master``)
is a lower bound on top.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs

__all__ = ["PROBES", "Position", "primary_position", "replica_position"]


@attrs.frozen
class Position:
    """What a replica says about itself.

    :param is_replica: False when the server is not replicating from anywhere (a misconfigured URL).
    :param applied: how far it has applied the primary's changes, comparable (``>=``) with what the
        primary probe returns; None when unknown.
    :param reported_lag: the server's own figure in seconds (age of the last replayed transaction
        while replay is stalled, ``Seconds_Behind_Master``), or None when it has none.
    """

    is_replica: bool
    applied: Any = None
    reported_lag: float | None = None


def _lsn(text: Any) -> int | None:
    """A WAL position ``'16/B374D848'`` as a number (None stays None)."""
    if not text:
        return None
    high, _, low = str(text).partition("/")
    return (int(high, 16) << 32) | int(low, 16)


async def _pg_primary(conn: Any) -> int | None:
    rows = await conn.fetch("SELECT pg_current_wal_insert_lsn()::text", [])
    return _lsn(rows[0][0])


async def _pg_replica(conn: Any, primary: Any) -> Position:
    rows = await conn.fetch(
        "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
        "EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8", [])
    in_recovery, received, replayed, age = rows[0]
    if not in_recovery:
        return Position(is_replica=False)
    received_at, replayed_at = _lsn(received), _lsn(replayed)
    # The age of the last replayed transaction is lag only while received WAL waits to be replayed.
    stalled = received_at is not None and replayed_at is not None and received_at > replayed_at
    return Position(True, replayed_at, max(0.0, float(age)) if stalled and age is not None else None)


async def _maria_primary(conn: Any) -> _GtidSet:
    rows = await conn.fetch("SELECT @@gtid_binlog_pos", [])
    return _GtidSet(str(rows[0][0] or ""))


async def _maria_replica(conn: Any, primary: Any) -> Position:
    cursor = await conn.raw.cursor()
    try:
        await cursor.execute("SHOW SLAVE STATUS")
        row = await cursor.fetchone()
        names = [d[0] for d in cursor.description or ()]
        await cursor.execute("SELECT @@gtid_slave_pos")
        applied = str((await cursor.fetchone())[0] or "")
    finally:
        await cursor.close()
    if row is None:
        return Position(is_replica=False)
    behind = dict(zip(names, row, strict=False)).get("Seconds_Behind_Master")  # NULL: SQL thread stopped
    return Position(True, _GtidSet(applied), None if behind is None else float(behind))


class _GtidSet:
    """A MariaDB GTID position (``0-1-42,1-2-7``): per replication domain, the highest sequence number."""

    def __init__(self, text: str) -> None:
        self.seq: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            domain, _server, number = part.split("-")
            self.seq[domain] = max(self.seq.get(domain, 0), int(number))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _GtidSet) and self.seq == other.seq

    __hash__ = None  # type: ignore[assignment]

    def __ge__(self, other: _GtidSet) -> bool:
        return all(self.seq.get(domain, 0) >= number for domain, number in other.seq.items())


async def _generic_primary(conn: Any) -> Any:
    return None


async def _generic_replica(conn: Any, primary: Any) -> Position:
    """A dialect without a probe: reachable means usable (its lag cannot be measured)."""
    await conn.fetch("SELECT 1", [])
    return Position(True)


PrimaryProbe = Callable[[Any], Awaitable[Any]]
ReplicaProbe = Callable[[Any, Any], Awaitable[Position]]

PROBES: dict[str, tuple[PrimaryProbe, ReplicaProbe]] = {
    "postgresql": (_pg_primary, _pg_replica),
    "mysql": (_maria_primary, _maria_replica),
}
"""Dialect name → (primary position probe, replica probe); other dialects are only checked for reachability."""


def primary_position(dialect_name: str) -> PrimaryProbe:
    return PROBES.get(dialect_name, (_generic_primary, _generic_replica))[0]


def replica_position(dialect_name: str) -> ReplicaProbe:
    return PROBES.get(dialect_name, (_generic_primary, _generic_replica))[1]
