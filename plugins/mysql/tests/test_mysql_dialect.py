"""MySQL-specific behaviour: DDL and types, case- and space-sensitive text, error codes, bulk batching."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import decimal
from typing import Optional

import attrs
import pymysql.err
import pytest
from dataflow import DataFlow, DataFlowError
from dataflow.loop import run_sync
from dataflow.query import Insert, Update, parse_filter
from dataflow.testing import raises_df, raw_execute, raw_fetch, raw_rows
from dataflow.testing.helpers import ScalarFields
from dataflow_mysql.errors import translate
from dataflow_mysql.pool import ServerInfo


def test_plugin_offers_mysql_and_mariadb_schemes(db):
    infos = {info.name: info for _plugin, info in db.dialect_infos()}
    assert infos["mysql"].schemes == ("mysql", "mariadb") and infos["mysql"].available
    for url in ("mariadb://root@127.0.0.1/test", "mysql+aiomysql://root@127.0.0.1/test"):
        other = DataFlow(url)
        assert other.dialect.name == "mysql"
        other.close()


def test_table_ddl(make_model, run_node):
    @make_model
    class Doc:
        id: str
        title: str
        body: str
        price: decimal.Decimal
        __dataflow__ = {"indexes": [{"name": "ix_title", "fields": ["title"]}]}

    run_node("DocCountNode", {})
    ddl = raw_fetch(make_model.db, f"SHOW CREATE TABLE `{Doc.__tablename__}`")[0][1]
    assert "`id` varchar(255) NOT NULL" in ddl and "`title` varchar(255) NOT NULL" in ddl
    assert "`body` longtext NOT NULL" in ddl
    assert "`price` varchar(67) NOT NULL" in ddl  # decimals are kept as their text, with their digits
    assert "KEY `ix_title` (`title`)" in ddl and "ENGINE=InnoDB" in ddl
    assert "COLLATE=utf8mb4_nopad_bin" in ddl


def test_every_type_round_trips(make_model, run_node):
    @make_model
    class Sample(ScalarFields):
        data: dict
        items: list
        maybe: Optional[str] = None  # noqa: UP045  (the spelling of API.md)

    paris = dt.timezone(dt.timedelta(hours=2))
    values = {
        "s": "héllo ✓ 🎉", "i": -(2**62), "f": 0.1, "b": True,
        "when": dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=paris), "day": dt.date(1999, 12, 31),
        "amount": decimal.Decimal("12345678901234567890.123456789"), "blob": b"\x00\xff'\\\"",
        "data": {"nested": {"list": [1, "two", None, True]}, "ünï": "çødé"}, "items": [1, 2.5, "x"],
    }
    created = run_node("SampleCreateNode", values)
    read = run_node("SampleReadNode", {"id": created["id"]})
    for key, value in values.items():
        assert read[key] == value, key
    assert read["when"].tzinfo == dt.UTC and read["when"].hour == 10
    assert read["b"] is True and read["maybe"] is None and isinstance(read["blob"], bytes)
    assert str(read["amount"]) == "12345678901234567890.123456789"
    naive = run_node("SampleCreateNode", {**values, "when": dt.datetime(2024, 1, 1, 8, 0), "amount": "1.50",
                                          "b": False})
    again = run_node("SampleReadNode", {"id": naive["id"]})
    assert again["when"] == dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC)
    assert again["amount"] == decimal.Decimal("1.5") and again["b"] is False
    listed = run_node("SampleListNode", {"filter": {"amount": {"$gt": "1.4999999"},
                                                    "when": {"$lt": "2024-02-01T00:00:00Z"}}})
    assert [r["id"] for r in listed["records"]] == [naive["id"]]


def test_text_is_case_and_trailing_space_sensitive(make_model, run_node):
    @make_model
    class Word:
        id: str
        text: str
        __dataflow__ = {"indexes": [{"name": "ux_text", "fields": ["text"], "unique": True}]}

    run_node("WordBulkCreateNode", {"data": [{"id": "1", "text": "abc"}, {"id": "2", "text": "abc "},
                                             {"id": "3", "text": "ABC"}]})

    def ids(flt):
        return sorted(r["id"] for r in run_node("WordListNode", {"filter": flt})["records"])

    assert ids({"text": "abc"}) == ["1"]
    assert ids({"text": {"$like": "a%"}}) == ["1", "2"]
    assert ids({"text": {"$ilike": "a%"}}) == ["1", "2", "3"]
    assert ids({"text": {"$regex": "^ab"}}) == ["1", "2"]
    assert ids({"text": {"$regex": "c$"}}) == ["1"]
    assert run_node("WordReadNode", {"id": "1 ", "raise_on_not_found": False})["found"] is False


def test_reserved_words_and_hostile_values(make_model, run_node):
    @make_model
    class Select:
        order: str
        key: int
        select: str | None = None

    hostile = "'; DROP TABLE users; -- %s %% \\ \" ` ü"  # NUL is refused everywhere (DF-102)
    created = run_node("SelectCreateNode", {"order": hostile, "key": 1, "select": "%"})
    assert run_node("SelectReadNode", {"id": created["id"]})["order"] == hostile
    assert run_node("SelectCountNode", {"filter": {"order": hostile, "select": {"$like": "\\%"}}}) == {"count": 1}
    assert run_node("SelectListNode", {"order_by": ["-order", "key"]})["count"] == 1


def test_additive_migration_keeps_data(make_model, run_node):
    @make_model
    class Pet:
        name: str

    run_node("PetCreateNode", {"name": "Rex"})
    other = make_model.new_db()

    class Pet2:
        name: str
        age: int | None = None

    Pet2.__name__ = "Pet"
    make_model(Pet2, db=other, table=Pet.__tablename__)
    wf_out = run_node("PetCreateNode", {"name": "Tom", "age": 3, "db_instance": other})
    assert wf_out["age"] == 3
    assert raw_rows(other, Pet2, "`name`, `age`") == [("Rex", None), ("Tom", 3)]


def test_bulk_insert_is_split_by_packet_size_and_stays_atomic(make_model, run_node, db):
    @make_model
    class Line:
        id: str
        text: str

    run_node("LineCountNode", {})  # connect: the server facts are known from here on
    db.dialect.pools.server = attrs.evolve(db.dialect.pools.server, max_allowed_packet=64 * 1024)
    model = db.models["Line"]
    rows = [{"id": f"r{i:05d}", "text": "x" * 100} for i in range(3000)]
    batches = db.dialect._packet_batches(model, ("id", "text"), [v for r in rows for v in r.values()])
    assert len(batches) > 10 and batches[-1][1] == 3000
    assert run_node("LineBulkCreateNode", {"data": rows})["inserted"] == 3000
    assert raw_fetch(db, f"SELECT COUNT(*) FROM `{Line.__tablename__}`")[0][0] == 3000
    more = [{"id": f"s{i:05d}", "text": "y" * 100} for i in range(2999)] + [{"id": "r00000", "text": "dup"}]
    with raises_df("DF-704"):
        run_node("LineBulkCreateNode", {"data": more})  # the duplicate is in the last statement
    assert raw_fetch(db, f"SELECT COUNT(*) FROM `{Line.__tablename__}`")[0][0] == 3000


def test_driver_errors_become_df_codes(make_model, run_node, db):
    @make_model
    class Parent:
        id: str
        name: str

    @make_model
    class Child:
        parent: str
        __dataflow__ = {"indexes": [{"name": "ix_parent", "fields": ["parent"]}]}  # VARCHAR, as FKs need

    run_node("ParentCreateNode", {"id": "p", "name": "P"})
    run_node("ChildCountNode", {})
    raw_execute(db, f"ALTER TABLE `{Child.__tablename__}` ADD CONSTRAINT `fk_{Child.__tablename__}` "
                    f"FOREIGN KEY (`parent`) REFERENCES `{Parent.__tablename__}` (`id`)")
    run_node("ChildCreateNode", {"parent": "p"})
    with raises_df("DF-706"):
        run_node("ChildCreateNode", {"parent": "missing"})
    with raises_df("DF-706") as caught:
        run_node("ParentDeleteNode", {"id": "p"})
    assert isinstance(caught["error"].__cause__, pymysql.err.IntegrityError)

    model = db.models["Parent"]
    with pytest.raises(DataFlowError) as info:
        run_sync(db.dialect.run(Insert(model, ("id", "name"), [("q", None)])))
    assert info.value.code == "DF-705" and isinstance(info.value.__cause__, pymysql.err.MySQLError)

    raw_execute(db, f"DROP TABLE `{Child.__tablename__}`")
    with raises_df("DF-304"):
        run_node("ChildCountNode", {})


def test_lock_wait_timeout_is_df_508(make_model, run_node, db):
    @make_model
    class Counter:
        id: str
        n: int

    run_node("CounterCreateNode", {"id": "c", "n": 0})
    model = db.models["Counter"]
    where = parse_filter(model, {"id": "c"})

    async def wait() -> None:
        async with db.transaction() as waiter:
            await waiter.execute("SET SESSION innodb_lock_wait_timeout = 1", [])
            await db.dialect.run(Update(model, where, {"n": 2}), waiter)

    async def go() -> None:
        async with db.transaction() as holder:
            await db.dialect.run(Update(model, where, {"n": 1}), holder)
            # another task outside this transaction (a fresh context): a second transaction, which waits
            await asyncio.get_running_loop().create_task(wait(), context=contextvars.Context())

    with raises_df("DF-508"):
        run_sync(go())
    assert raw_rows(db, Counter, "`n`") == [(0,)]


@pytest.mark.parametrize(("code", "expected"), [
    (1062, "DF-704"), (1048, "DF-705"), (1364, "DF-705"), (1451, "DF-706"), (1452, "DF-706"),
    (1213, "DF-508"), (1205, "DF-508"), (2003, "DF-402"), (2006, "DF-402"), (2013, "DF-402"),
    (1146, "DF-304"), (1406, "DF-102"), (1064, "DF-503"),
])
def test_error_code_table(code, expected):
    error = translate(pymysql.err.OperationalError(code, "message"), "MariaDB")
    assert error.code == expected and "message" in error.message


def test_server_info_parsing():
    maria = ServerInfo.parse("10.11.19-MariaDB-0+deb12u1", 16777216, 1)
    assert maria.mariadb and maria.has_returning and maria.collation == "utf8mb4_nopad_bin"
    mysql = ServerInfo.parse("8.0.36", 67108864, 2)
    assert not mysql.mariadb and not mysql.has_returning and mysql.collation == "utf8mb4_0900_bin"
    assert not ServerInfo.parse("10.4.2-MariaDB", 1, 1).has_returning


def test_asyncio_cancellation_does_not_poison_the_pool(make_model, run_node, db):
    @make_model
    class Slow:
        n: int

    run_node("SlowCountNode", {})

    async def go() -> int:
        async def sleeper() -> None:
            async with db.connection() as conn:
                await conn.fetch("SELECT SLEEP(2)", [])

        task = asyncio.ensure_future(sleeper())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with db.connection() as conn:
            return int((await conn.fetch("SELECT 41 + 1", []))[0][0])

    assert run_sync(go()) == 42


def test_decimals_beyond_what_mariadb_compares_exactly_are_refused(make_model, run_node):
    @make_model
    class Ledger:
        amount: decimal.Decimal

    widest = "1" * 35 + "." + "5" * 30
    assert str(run_node("LedgerCreateNode", {"amount": decimal.Decimal(widest)})["amount"]) == widest
    for too_wide in ("1" * 36, "0." + "1" * 31):
        with raises_df("DF-102", match="digits"):
            run_node("LedgerCreateNode", {"amount": decimal.Decimal(too_wide)})
        rows = [{"amount": decimal.Decimal("1")}, {"amount": decimal.Decimal(too_wide)}]
        with raises_df("DF-102", match="digits"):
            run_node("LedgerBulkCreateNode", {"data": rows})
    assert run_node("LedgerCountNode", {})["count"] == 1
