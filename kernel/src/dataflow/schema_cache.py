"""The schema cache: which models' tables are known to be ready, so no operation checks the schema twice."""

from __future__ import annotations

import threading
import time
from typing import Any

from dataflow.models import ModelSpec

__all__ = ["SchemaCache"]


class SchemaCache:
    """Which models' tables are known to be ready, so no operation checks the schema twice.

    Thread-safe; honours ``schema_cache_ttl`` (seconds, None = forever) and ``schema_cache_max_size``.
    """

    def __init__(self, *, enabled: bool = True, ttl: float | None = None, max_size: int = 10000) -> None:
        self.enabled = enabled
        self.ttl = ttl
        self.max_size = max_size
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    def is_ready(self, model: ModelSpec) -> bool:
        entry = self._entries.get(model.name) if self.enabled else None
        if entry is not None and entry[0] == model.table and (
            self.ttl is None or time.monotonic() - entry[1] < self.ttl
        ):
            self.hits += 1
            return True
        self.misses += 1
        return False

    def mark_ready(self, model: ModelSpec) -> None:
        if not self.enabled:
            return
        with self._lock:
            if len(self._entries) >= self.max_size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[model.name] = (model.table, time.monotonic())

    def invalidate(self, model_name: str | None = None) -> None:
        with self._lock:
            if model_name is None:
                self._entries.clear()
            else:
                self._entries.pop(model_name, None)

    def clear(self) -> None:
        self.invalidate()

    def get_metrics(self) -> dict[str, Any]:
        total = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / total if total else 0.0,
            "cached_tables": len(self._entries),
            "enabled": self.enabled,
        }
