"""The kernel's memo of which models' tables are ready, so no operation checks the schema twice.

It is all the kernel needs: a model's table is checked (created, completed) by the schema manager the
first time a node touches the model, and remembered until ``invalidate``. The schema-cache plugin
(dataflow-schema-cache) replaces it, through ``dataflow_schema_cache``, with the spec's cache: a TTL,
a size bound, metrics and checksum validation. Anything with these three methods may replace it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dataflow.models import ModelSpec

__all__ = ["ReadyTables", "ReadyTablesLike"]


class ReadyTablesLike(Protocol):
    """What the kernel asks of the memo (a plugin's replacement included); thread-safe."""

    def is_ready(self, model: ModelSpec) -> bool:
        """True when ``model``'s table is known to be ready (no schema check needed)."""

    def mark_ready(self, model: ModelSpec) -> None:
        """The schema manager made ``model``'s table ready."""

    def invalidate(self, model_name: str | None = None) -> None:
        """Forget one model (every model when None): its next operation checks the schema again."""


class ReadyTables:
    """Model name → the table known to be ready for it. Plain dictionary operations, atomic under the GIL."""

    __slots__ = ("_tables",)

    def __init__(self) -> None:
        self._tables: dict[str, str] = {}

    def is_ready(self, model: ModelSpec) -> bool:
        return self._tables.get(model.name) == model.table

    def mark_ready(self, model: ModelSpec) -> None:
        self._tables[model.name] = model.table

    def invalidate(self, model_name: str | None = None) -> None:
        if model_name is None:
            self._tables.clear()
        else:
            self._tables.pop(model_name, None)
