"""Fixtures of the schema-cache plugin's tests: an instance on each real database, counting schema checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow
from dataflow.testing import raw_execute
from dataflow.testing.fixtures import DIALECTS, dialect_url, unique_table


class Counting:
    """Wraps an instance's schema manager and counts the models it is asked to make ready."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ensured: list[str] = []

    async def ensure(self, db: DataFlow, models: Iterable[Any]) -> None:
        models = list(models)
        self.ensured += [m.name for m in models]
        await self.inner.ensure(db, models)


@pytest.fixture(params=DIALECTS)
def dataflow_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return dialect_url(request.param, tmp_path / "cache.db")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cache.db'}"


@pytest.fixture
def make_instance() -> Iterator[Callable[..., tuple[DataFlow, Counting]]]:
    """``make_instance(url, **options) -> (db, counting)``: a DataFlow whose innermost schema manager
    counts its calls; its tables are dropped and the instance closed afterwards."""
    made: list[DataFlow] = []

    def make(url: str, **options: Any) -> tuple[DataFlow, Counting]:
        db = DataFlow(url, **options)
        made.append(db)
        holder = db.schema_manager
        inner = getattr(holder, "inner", None)
        counting = Counting(inner if inner is not None else holder)
        if inner is not None:
            holder.inner = counting
        else:
            db.schema_manager = counting
        return db, counting

    yield make
    for db in made:
        for model in db.models.values():
            try:
                raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(model.table)}")
            finally:
                pass
        db.close()


def declare(db: DataFlow, name: str = "Item") -> str:
    """A model ``name`` (``label: str``) with a unique table; returns the model name."""
    db.model(type(name, (), {"__annotations__": {"id": str, "label": str}, "__tablename__": unique_table(name)}))
    return name
