"""Conformance: the dialect's migration lock primitive excludes other holders, times out with DF-307,
is released on error, and is held without taking a pooled connection (a pool of one still migrates)."""

from __future__ import annotations

import asyncio

import pytest

from dataflow.errors import DataFlowError
from dataflow.loop import run_sync
from dataflow.testing.fixtures import unique_table
from dataflow.testing.suite._support import tests_in


def test_a_held_lock_excludes_other_holders_until_released(make_model):
    if make_model.db.url.is_memory:
        pytest.skip("two instances on :memory: are two databases")
    first, second = make_model.db, make_model.new_db()
    name = f"conformance:{unique_table('lock')}"

    async def contend() -> None:
        async with first.dialect.migration_lock(name, 5):
            assert await second.dialect.lock_is_held(name)
            with pytest.raises(DataFlowError) as info:
                async with second.dialect.migration_lock(name, 0.3):
                    pytest.fail("two holders of one lock")
            assert info.value.code == "DF-307"
        assert not await second.dialect.lock_is_held(name)
        async with second.dialect.migration_lock(name, 5):
            pass

    run_sync(contend())


def test_the_lock_is_released_when_its_block_fails(db):
    name = f"conformance:{unique_table('lock')}"

    async def fail_inside() -> None:
        with pytest.raises(RuntimeError):
            async with db.dialect.migration_lock(name, 5):
                raise RuntimeError("the migration failed")
        assert not await db.dialect.lock_is_held(name)

    run_sync(fail_inside())


def test_holders_in_one_process_take_turns(make_model):
    if make_model.db.url.is_memory:
        pytest.skip("two instances on :memory: are two databases")
    instances = [make_model.db, make_model.new_db(), make_model.new_db()]
    name = f"conformance:{unique_table('lock')}"
    inside = most = 0

    async def work(instance) -> None:
        nonlocal inside, most
        for _ in range(2):
            async with instance.dialect.migration_lock(name, 30):
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.01)
                inside -= 1

    async def everyone() -> None:
        await asyncio.gather(*(work(i) for i in instances))

    run_sync(everyone())
    assert most == 1


def test_the_lock_takes_no_pooled_connection(make_model, run_node):
    db = make_model.new_db(pool_size=1, max_overflow=0, pool_timeout=2)

    class Tiny:
        name: str

    make_model(Tiny, db=db)
    name = f"conformance:{unique_table('lock')}"

    async def query_while_held() -> int:
        async with db.dialect.migration_lock(name, 5), db.dialect.connection() as conn:
            return int((await conn.fetch("SELECT 1", []))[0][0])

    assert run_sync(query_while_held()) == 1
    # The first node of a new model migrates its table under the lock, on a pool of one connection.
    assert run_node("TinyCreateNode", {"name": "x", "db_instance": db})["name"] == "x"


__all__ = tests_in(globals())
