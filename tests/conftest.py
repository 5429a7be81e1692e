"""Fixtures shared by the workspace tests (those that run DataFlow with the real first-party plugins)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow


@pytest.fixture
def make_db(tmp_path: Path) -> Iterator[Callable[..., DataFlow]]:
    """``make_db(url=None, **options)``: a DataFlow on ``url``, or on a fresh SQLite file in ``tmp_path``
    (``db0.sqlite``, ``db1.sqlite`` …); every instance it made is closed after the test."""
    made: list[DataFlow] = []

    def make(url: str | None = None, **options: Any) -> DataFlow:
        db = DataFlow(url or f"sqlite:///{tmp_path / f'db{len(made)}.sqlite'}", **options)
        made.append(db)
        return db

    yield make
    for db in made:
        db.close()
