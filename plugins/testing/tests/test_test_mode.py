"""Test mode's three-level priority, the metrics' shape, options and the plugin switched off."""

from __future__ import annotations

import time

import pytest
from dataflow import DataFlow
from dataflow.testing import raises_df
from dataflow_testing import mode
from dataflow_testing_support import item_model, run_node  # type: ignore[import-not-found]

METRIC_KEYS = {"active_pools", "total_pools_created", "test_mode_enabled", "aggressive_cleanup_enabled",
               "pool_keys", "event_loop_ids"}


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'mode.db'}"


def _enabled(db: DataFlow) -> bool:
    return db.get_cleanup_metrics()["test_mode_enabled"]


def test_a_running_pytest_is_detected_lowest_priority(sqlite_url: str) -> None:
    with DataFlow(sqlite_url) as db:
        assert mode.pytest_running() and _enabled(db)


def test_the_class_switch_beats_detection_and_the_option_beats_the_switch(sqlite_url: str) -> None:
    DataFlow.disable_test_mode()
    with DataFlow(sqlite_url) as auto, DataFlow(sqlite_url, test_mode=True) as explicit:
        assert not _enabled(auto), "disable_test_mode() turns off even a detected pytest"
        assert _enabled(explicit), "an instance's own test_mode=True wins over the switch"
        DataFlow.enable_test_mode()
        assert _enabled(auto), "the switch applies to instances already made"
        with DataFlow(sqlite_url, test_mode=False) as off:
            assert not _enabled(off), "an instance's own test_mode=False wins over enable_test_mode()"


def test_aggressive_cleanup_counts_only_in_test_mode(sqlite_url: str) -> None:
    with DataFlow(sqlite_url, test_mode=True, test_mode_aggressive_cleanup=True) as on, \
            DataFlow(sqlite_url, test_mode=False, test_mode_aggressive_cleanup=True) as off:
        assert on.get_cleanup_metrics()["aggressive_cleanup_enabled"] is True
        assert off.get_cleanup_metrics()["aggressive_cleanup_enabled"] is False


def test_metrics_have_the_spec_keys_and_real_figures(sqlite_url: str, table: str) -> None:
    with DataFlow(sqlite_url, test_mode=True) as db:
        empty = db.get_cleanup_metrics()
        assert set(empty) == METRIC_KEYS
        assert empty["active_pools"] == 0 and empty["pool_keys"] == [] and empty["event_loop_ids"] == []
        name = item_model(db, table)
        run_node(f"{name}CreateNode", {"id": "a"})
        metrics = db.get_cleanup_metrics()
        assert metrics["active_pools"] == 1 and metrics["total_pools_created"] == 1
        assert len(metrics["pool_keys"]) == 1 and "mode.db" in metrics["pool_keys"][0]
        assert len(metrics["event_loop_ids"]) == 1
        started = time.perf_counter()
        for _ in range(100):
            db.get_cleanup_metrics()
        assert (time.perf_counter() - started) / 100 < 0.01, "cheap: no I/O"


@pytest.mark.parametrize(("option", "value"), [("test_mode", "yes"), ("test_mode_aggressive_cleanup", 1),
                                               ("tdd_mode", None)])
def test_a_bad_option_value_is_df401(sqlite_url: str, option: str, value: object) -> None:
    with raises_df("DF-401", match=option):
        DataFlow(sqlite_url, **{option: value})


def test_bad_force_is_df102(sqlite_url: str) -> None:
    import asyncio

    with DataFlow(sqlite_url) as db, raises_df("DF-102", match="force"):
        asyncio.run(db.cleanup_all_pools(force="yes"))


def test_disabling_the_plugin_leaves_dataflow_working_and_names_the_package(sqlite_url: str, table: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with DataFlow(sqlite_url, disable_plugins=["testing"]) as db:
        name = item_model(db, table)
        assert run_node(f"{name}CreateNode", {"id": "a", "n": 2})["n"] == 2
        assert run_node(f"{name}ReadNode", {"id": "a"})["found"] is True
        with db.transaction():
            run_node(f"{name}UpdateNode", {"filter": {"id": "a"}, "fields": {"n": 3}})
        assert run_node(f"{name}CountNode", {})["count"] == 1
        with pytest.raises(AttributeError, match="dataflow-testing"):
            db.cleanup_all_pools  # noqa: B018
        assert not hasattr(db, "get_cleanup_metrics")
    with raises_df("DF-401", match="dataflow-testing"):
        DataFlow(sqlite_url, disable_plugins=["testing"], tdd_mode=True)
