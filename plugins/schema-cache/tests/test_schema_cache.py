"""The schema cache on every database: hits and misses, TTL, size bound, validation, clear, migrations, threads."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from dataflow import DataFlow, LocalRuntime, WorkflowBuilder
from dataflow.testing import raises_df, raw_execute

from .conftest import declare


def create(db: DataFlow, model: str, row_id: str) -> None:
    wf = WorkflowBuilder()
    wf.add_node(f"{model}CreateNode", "c", {"id": row_id, "label": "x", "db_instance": db})
    LocalRuntime().execute(wf.build())


def count(db: DataFlow, model: str) -> int:
    wf = WorkflowBuilder()
    wf.add_node(f"{model}CountNode", "n", {"db_instance": db})
    return int(LocalRuntime().execute(wf.build())[0]["n"]["count"])


def test_first_use_checks_the_schema_then_every_operation_hits(make_instance, dataflow_url):
    db, counting = make_instance(dataflow_url)
    model = declare(db)
    create(db, model, "a")
    for i in range(4):
        create(db, model, f"b{i}")
    assert count(db, model) == 5
    assert counting.ensured == [model]
    metrics = db._schema_cache.get_metrics()
    assert metrics["hits"] >= 5 and metrics["cached_tables"] == 1
    assert metrics["hit_rate"] == metrics["hits"] / (metrics["hits"] + metrics["misses"])
    assert {"evictions", "expirations", "validations"} <= set(metrics)


def test_clear_makes_the_next_operation_check_again(make_instance, sqlite_url):
    db, counting = make_instance(sqlite_url)
    model = declare(db)
    create(db, model, "a")
    db._schema_cache.clear()
    assert db._schema_cache.get_metrics()["cached_tables"] == 0
    create(db, model, "b")
    assert counting.ensured == [model, model]


def test_disabled_checks_every_time(make_instance, sqlite_url):
    db, counting = make_instance(sqlite_url, schema_cache_enabled=False)
    model = declare(db)
    for i in range(3):
        create(db, model, str(i))
    assert counting.ensured == [model] * 3
    metrics = db._schema_cache.get_metrics()
    assert (metrics["hits"], metrics["cached_tables"], metrics["enabled"]) == (0, 0, False)


def test_an_expired_entry_is_checked_again(make_instance, sqlite_url):
    db, counting = make_instance(sqlite_url, schema_cache_ttl=0.05)
    model = declare(db)
    create(db, model, "a")
    time.sleep(0.2)  # past the TTL: not a timed assertion, the entry is expired whatever the load
    create(db, model, "b")
    assert counting.ensured == [model, model]
    assert db._schema_cache.get_metrics()["expirations"] >= 1


def test_the_least_recently_used_table_is_evicted(make_instance, sqlite_url):
    db, counting = make_instance(sqlite_url, schema_cache_max_size=2)
    names = [declare(db, name) for name in ("Alpha", "Beta", "Gamma")]
    for name in names:
        create(db, name, "a")
    metrics = db._schema_cache.get_metrics()
    assert (metrics["cached_tables"], metrics["evictions"]) == (2, 1)
    create(db, "Alpha", "b")  # evicted first: checked again
    assert counting.ensured == ["Alpha", "Beta", "Gamma", "Alpha"]


def test_validation_renews_an_unchanged_table_and_rechecks_a_changed_one(make_instance, dataflow_url):
    db, counting = make_instance(dataflow_url, schema_cache_ttl=0.05, schema_cache_validation=True)
    model = declare(db)
    create(db, model, "a")
    time.sleep(0.2)
    create(db, model, "b")
    assert counting.ensured == [model], "unchanged checksum: no migration check"
    metrics = db._schema_cache.get_metrics()
    assert (metrics["validations"], metrics["validation_failures"]) == (1, 0)
    table = db.get_model(model).table
    raw_execute(db, f"ALTER TABLE {db.dialect.quote(table)} ADD COLUMN extra_col INTEGER")
    time.sleep(0.2)
    create(db, model, "c")
    assert counting.ensured == [model, model], "changed checksum: checked again"
    assert db._schema_cache.get_metrics()["validation_failures"] == 1
    assert count(db, model) == 3


def test_every_migration_this_process_applies_invalidates(make_instance, sqlite_url):
    db, _ = make_instance(sqlite_url)
    model = declare(db)
    create(db, model, "a")
    other, _ = make_instance(sqlite_url)  # another instance of this process on the same database
    other.model(type("Item", (), {"__annotations__": {"id": str, "label": str, "note": str | None},
                                  "__tablename__": db.get_model(model).table}))
    assert db._schema_cache.get_metrics()["cached_tables"] == 1
    other.migrate_apply(other.migrate_plan(), confirmed=True)
    assert db._schema_cache.get_metrics()["cached_tables"] == 0
    assert other._schema_cache.get_metrics()["cached_tables"] == 0


def test_thread_pool_of_workflows_checks_the_schema_once(make_instance, dataflow_url):
    db, counting = make_instance(dataflow_url)
    model = declare(db)

    def work(worker: int) -> int:
        for i in range(5):
            create(db, model, f"w{worker}-{i}")
        return worker

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(work, range(8))) == list(range(8))
    assert count(db, model) == 40
    assert counting.ensured == [model]
    metrics = db._schema_cache.get_metrics()
    assert metrics["cached_tables"] == 1 and metrics["hit_rate"] > 0.5


@pytest.mark.parametrize(("option", "value"), [("schema_cache_enabled", "yes"), ("schema_cache_ttl", -1),
                                               ("schema_cache_ttl", "300"), ("schema_cache_max_size", 0),
                                               ("schema_cache_max_size", 2.5), ("schema_cache_validation", 1)])
def test_wrong_option_values_are_df401(sqlite_url, option, value):
    with raises_df("DF-401", match=option):
        DataFlow(sqlite_url, **{option: value})


def test_the_spec_configuration_is_accepted(make_instance, sqlite_url):
    db, _ = make_instance(sqlite_url, schema_cache_enabled=True, schema_cache_ttl=300, schema_cache_max_size=10000,
                          schema_cache_validation=False)
    metrics = db._schema_cache.get_metrics()
    assert (metrics["ttl"], metrics["max_size"], metrics["validation"]) == (300.0, 10000, False)
