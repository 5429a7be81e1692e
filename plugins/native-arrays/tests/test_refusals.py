"""use_native_arrays without array columns (DF-609), wrong values (DF-603 / DF-401), index methods (DF-610)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataflow import DataFlow
from dataflow.testing import raises_df
from dataflow.testing.fixtures import DIALECTS, dialect_url

NO_ARRAYS = [d for d in DIALECTS if (d.values[0] if hasattr(d, "values") else d) != "postgresql"]


@pytest.fixture(params=NO_ARRAYS)
def plain_db(request: pytest.FixtureRequest, tmp_path: Path):
    instance = DataFlow(dialect_url(request.param, tmp_path / "refusals.db"))
    yield instance
    instance.close()


def test_model_asking_for_native_arrays_is_df609_at_registration(plain_db):
    class AgentMemory:
        id: str
        tags: list[str]
        __dataflow__ = {"use_native_arrays": True}

    with raises_df("DF-609", match="no native array columns") as caught:
        plain_db.model(AgentMemory)
    assert caught["error"].context["model"] == "AgentMemory"
    assert "AgentMemory" not in plain_db.models
    assert not [n for n in plain_db.state.get("generated", {})]


def test_instance_option_is_df609_at_construction(tmp_path):
    with raises_df("DF-609"):
        DataFlow(f"sqlite:///{tmp_path / 'x.db'}", use_native_arrays=True)


def test_native_arrays_off_is_accepted_everywhere(plain_db):
    class Plain:
        id: str
        tags: list[str]
        __dataflow__ = {"use_native_arrays": False}

    spec = plain_db.model(Plain).__dataflow_model__
    assert not spec.field_map["tags"].native_array


def test_option_value_must_be_a_bool(tmp_path):
    db = DataFlow(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        class Odd:
            id: str
            tags: list[str]
            __dataflow__ = {"use_native_arrays": "yes"}

        with raises_df("DF-603", match="True or False"):
            db.model(Odd)
    finally:
        db.close()
    with raises_df("DF-401", match="True or False"):
        DataFlow(f"sqlite:///{tmp_path / 'y.db'}", use_native_arrays=1)


def test_gin_index_without_the_method_is_df610(plain_db):
    class Tagged:
        id: str
        tags: list[str]
        __dataflow__ = {"indexes": [{"fields": ["tags"], "using": "gin"}]}

    with raises_df("DF-610", match="does not have"):
        plain_db.model(Tagged)


def test_index_method_must_be_a_name(plain_db):
    class Tagged:
        id: str
        tags: list[str]
        __dataflow__ = {"indexes": [{"fields": ["tags"], "using": "gin; DROP TABLE x"}]}

    with raises_df("DF-102", match="index method name"):
        plain_db.model(Tagged)
