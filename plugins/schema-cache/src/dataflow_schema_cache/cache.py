"""The schema cache: which models' tables are known to be ready, with a TTL, a size bound, metrics and
an optional checksum of the live table compared when an entry expires.

The kernel asks it ``is_ready(model)`` before every operation and tells it ``mark_ready(model)`` once
the schema manager has made the table ready; ``invalidate`` forgets models (the kernel calls it for the
tables of every migration this process applies). All of it is thread-safe: a hit takes no lock (one
dictionary read, one atomic count); a lock guards every change of the entries and the other counters.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from dataflow.models import ModelSpec

__all__ = ["SchemaCache"]


class _Entry(NamedTuple):
    table: str
    stamp: float
    checksum: str | None = None


def _value(counter: itertools.count[int]) -> int:
    """How many times ``next(counter)`` ran (an ``itertools.count`` reports it only through its repr)."""
    return int(repr(counter)[6:-1])


class SchemaCache:
    """Which models' tables are ready (``db._schema_cache``).

    :param enabled: False: nothing is remembered, every operation checks the schema (debugging).
    :param ttl: seconds an entry stays valid; None: until invalidated.
    :param max_size: the most entries; past it the entry made longest ago goes (counted in ``evictions``).
    :param validation: on expiry, compare a checksum of the live table with the one taken when the
        entry was made: unchanged, the entry is renewed without asking the schema manager again.
    """

    def __init__(self, *, enabled: bool = True, ttl: float | None = None, max_size: int = 10000,
                 validation: bool = False) -> None:
        self.enabled = enabled
        self.ttl = ttl
        self.max_size = max_size
        self.validation = validation
        self._entries: dict[str, _Entry] = {}
        self._pending: dict[str, str] = {}
        """Checksums taken right after the schema manager made a table ready, until ``mark_ready``."""
        self._lock = threading.Lock()
        # A hit is the hot path of every operation: one dictionary read and an atomic increment, no lock
        # (``next`` on an itertools.count is a single C call, so concurrent hits are never lost).
        self._hits = itertools.count()
        self.misses = self.evictions = self.expirations = 0
        self.validations = self.validation_failures = 0

    @property
    def hits(self) -> int:
        return _value(self._hits)

    # ---- what the kernel calls ---------------------------------------------------------------------
    def is_ready(self, model: ModelSpec) -> bool:
        entry = self._entries.get(model.name)
        if entry is not None and entry.table == model.table and (
                self.ttl is None or time.monotonic() - entry.stamp < self.ttl):
            next(self._hits)
            return True
        with self._lock:
            self.misses += 1
            if entry is not None and entry.table == model.table:
                self.expirations += 1
                if not self.validation:  # a validating cache keeps the checksum to compare
                    self._entries.pop(model.name, None)
        return False

    def mark_ready(self, model: ModelSpec) -> None:
        with self._lock:
            checksum = self._pending.pop(model.name, None)
            if not self.enabled:
                return
            old = self._entries.pop(model.name, None)
            if checksum is None and old is not None and old.table == model.table:
                checksum = old.checksum
            self._entries[model.name] = _Entry(model.table, time.monotonic(), checksum)
            while len(self._entries) > self.max_size:
                del self._entries[next(iter(self._entries))]
                self.evictions += 1

    def invalidate(self, model_name: str | None = None) -> None:
        with self._lock:
            if model_name is None:
                self._entries.clear()
                self._pending.clear()
            else:
                self._entries.pop(model_name, None)
                self._pending.pop(model_name, None)

    # ---- validation (the validating schema manager) ---------------------------------------------------
    def stored_checksum(self, model: ModelSpec) -> str | None:
        """The checksum of ``model``'s expired entry, when validation may renew it."""
        with self._lock:
            entry = self._entries.get(model.name)
            return entry.checksum if entry is not None and entry.table == model.table else None

    def validated(self, model: ModelSpec, same: bool) -> None:
        with self._lock:
            self.validations += 1
            if not same:
                self.validation_failures += 1
                self._entries.pop(model.name, None)

    def record_checksum(self, model: ModelSpec, checksum: str) -> None:
        with self._lock:
            self._pending[model.name] = checksum

    # ---- what users call ----------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every table: the next operation on each model checks its schema again."""
        self.invalidate()

    def cached_tables(self) -> list[str]:
        """The tables remembered as ready, the longest-remembered first."""
        with self._lock:
            return [entry.table for entry in self._entries.values()]

    def reset_metrics(self) -> None:
        with self._lock:
            self._hits = itertools.count()
            self.misses = self.evictions = self.expirations = 0
            self.validations = self.validation_failures = 0

    def get_metrics(self) -> dict[str, Any]:
        """``hits``, ``misses``, ``hit_rate`` (0.0 before any check), ``cached_tables``, ``evictions``,
        ``expirations``, ``validations``, ``validation_failures`` and the settings."""
        with self._lock:
            hits = self.hits
            total = hits + self.misses
            return {
                "hits": hits,
                "misses": self.misses,
                "hit_rate": hits / total if total else 0.0,
                "cached_tables": len(self._entries),
                "evictions": self.evictions,
                "expirations": self.expirations,
                "validations": self.validations,
                "validation_failures": self.validation_failures,
                "enabled": self.enabled,
                "ttl": self.ttl,
                "max_size": self.max_size,
                "validation": self.validation,
            }

    def __repr__(self) -> str:
        metrics = self.get_metrics()
        return (f"SchemaCache(enabled={self.enabled}, ttl={self.ttl}, cached_tables={metrics['cached_tables']}, "
                f"hit_rate={metrics['hit_rate']:.2%})")


def table_checksum(columns: list[tuple[Any, ...]], indexes: list[tuple[Any, ...]]) -> str:
    """A digest of a live table's columns (name, type, nullability) and indexes (name, columns, unique)."""
    text = repr((sorted(columns), sorted(indexes)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
