"""Without the plugin: list fields are JSON, the operators are unknown, its options name the package."""

from __future__ import annotations

import pytest
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.testing import raises_df


@pytest.fixture
def bare(tmp_path):
    instance = DataFlow(f"sqlite:///{tmp_path / 'bare.db'}", disable_plugins=["native-arrays"])
    yield instance
    instance.close()


def test_lists_still_work_as_json_and_the_operators_are_unknown(bare):
    @bare.model
    class Note:
        id: str
        tags: list[str]

    wf = WorkflowBuilder()
    wf.add_node("NoteCreateNode", "c", {"id": "n", "tags": ["a"], "db_instance": bare})
    wf.add_node("NoteReadNode", "r", {"id": "n", "db_instance": bare})
    wf.add_connection("c", "id", "r", "id")
    results, _ = LocalRuntime().execute(wf.build())
    assert results["r"]["tags"] == ["a"]
    assert "$contains" not in bare.dialect.operators
    wf = WorkflowBuilder()
    wf.add_node("NoteListNode", "l", {"filter": {"tags": {"$contains": "a"}}, "db_instance": bare})
    with raises_df("DF-102", match="Unknown filter operator"):
        LocalRuntime().execute(wf.build())


def test_asking_for_native_arrays_names_the_package(bare, tmp_path):
    class Memory:
        id: str
        tags: list[str]
        __dataflow__ = {"use_native_arrays": True}

    with raises_df("DF-407", match="dataflow-native-arrays"):
        bare.model(Memory)
    with raises_df("DF-401", match="dataflow-native-arrays"):
        DataFlow(f"sqlite:///{tmp_path / 'x.db'}", disable_plugins=["native-arrays"], use_native_arrays=True)
