"""Conformance: raw SQL (``db.fetch`` / ``fetch_one`` / ``execute`` and their ``_sync`` twins), one way
on every database.

- ``:name`` placeholders everywhere, bound (never spliced); a ``:name`` inside a string, a quoted
  identifier or a comment is text, ``::`` is a cast, a name used twice is one value;
- rows as dicts; columns that are fields of a model the statement names decoded as the nodes decode
  them (bool, JSON, Decimal, aware UTC datetimes), so a raw row equals the node's record;
- inside ``db.transaction()`` (sync or async) the statements join it and roll back with it;
- DF-719 for parameters that do not match, DF-720 for a statement that is not one string or that the
  database refuses; the table is unchanged after every refused or hostile call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal

import pytest

from dataflow.testing.fixtures import raises_df
from dataflow.testing.suite._support import PEOPLE, person_model, seed, tests_in


class Gadget:
    name: str
    active: bool = False
    specs: dict = {}
    price: decimal.Decimal = decimal.Decimal("0")
    seen_at: dt.datetime | None = None


def _table(db, model) -> str:
    return db.dialect.quote(model.__dataflow_model__.table)


def test_raw_rows_are_dicts_decoded_as_the_nodes_decode_them(make_model, run_node):
    db = make_model.db
    gadget = make_model(Gadget)
    made = run_node("GadgetCreateNode", {"name": "g1", "active": True, "specs": {"w": [1, 2.5], "tag": "x"},
                                         "price": decimal.Decimal("12.50"),
                                         "seen_at": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)})
    table = _table(db, gadget)
    rows = db.fetch_sync(f"SELECT * FROM {table} WHERE {db.dialect.quote('id')} = :id", {"id": made["id"]})
    assert rows == [{k: v for k, v in run_node("GadgetReadNode", {"id": made["id"]}).items() if k != "found"}]
    row = rows[0]
    assert row["active"] is True and row["specs"] == {"w": [1, 2.5], "tag": "x"}
    assert row["price"] == decimal.Decimal("12.50") and isinstance(row["price"], decimal.Decimal)
    assert row["seen_at"] == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    assert db.fetch_one_sync(f"SELECT name AS label FROM {table} WHERE active = :on", {"on": True}) == {"label": "g1"}
    assert db.fetch_one_sync(f"SELECT name FROM {table} WHERE name = :n", {"n": "nobody"}) is None
    assert db.fetch_sync(f"SELECT COUNT(*) AS n FROM {table} WHERE seen_at < :t AND price > :p",
                         {"t": dt.datetime(2030, 1, 1), "p": decimal.Decimal("1")})[0]["n"] == 1


def test_placeholders_are_named_and_literals_left_alone(make_model, run_node):
    db = make_model.db
    person = person_model(make_model)
    seed(run_node, person, [{"name": "a:b 'quoted' %s ?", "age": 3}, {"name": "plain", "age": 3}])
    table = _table(db, person)
    q = db.dialect.quote
    rows = db.fetch_sync(
        f"SELECT {q('name')} AS \"n:x\", ':not_a_param' AS lit /* :nor_this */ FROM {table} "
        f"WHERE age = :age AND (name = :name OR name = :name) -- :or_this\n ORDER BY name", {"age": 3, "name": "plain"})
    assert rows == [{"n:x": "plain", "lit": ":not_a_param"}]
    found = db.fetch_sync(f"SELECT name FROM {table} WHERE name LIKE :pattern AND name LIKE '%quoted%'",
                          {"pattern": "a:b%"})
    assert found == [{"name": "a:b 'quoted' %s ?"}]
    assert db.fetch_sync(f"SELECT name FROM {table} WHERE name = :v", {"v": "a:b 'quoted' %s ?"})[0]["name"] \
        == "a:b 'quoted' %s ?"
    if db.dialect.name == "postgresql":
        assert db.fetch_one_sync("SELECT :n::int + 1 AS x, $$ :inside $$ AS d, E'it\\'s :e' AS e",
                                 {"n": 41}) == {"x": 42, "d": " :inside ", "e": "it's :e"}
        assert db.fetch_one_sync(f"SELECT COUNT(*) AS c FROM {table} WHERE age = ANY(:ages)", {"ages": [3, 4]}) \
            == {"c": 2}
    if db.dialect.name == "mysql":
        assert db.fetch_one_sync("SELECT 'it\\'s :e' AS e, 7 % :m AS r # :hash", {"m": 4}) == {"e": "it's :e", "r": 3}


def test_execute_returns_rows_changed_and_joins_transactions(make_model, run_node):
    db = make_model.db
    person = person_model(make_model)
    seed(run_node, person, PEOPLE)
    table = _table(db, person)
    assert db.execute_sync(f"UPDATE {table} SET city = :city WHERE age = :age", {"city": "Rome", "age": 25}) == 2
    with pytest.raises(RuntimeError), db.transaction():
        assert db.execute_sync(f"DELETE FROM {table} WHERE age > :a", {"a": 0}) == 5
        assert db.fetch_one_sync(f"SELECT COUNT(*) AS n FROM {table}") == {"n": 0}
        raise RuntimeError("undo")
    assert db.fetch_one_sync(f"SELECT COUNT(*) AS n FROM {table}") == {"n": 5}

    async def in_transaction() -> int:
        try:
            async with db.transaction():
                await db.execute(f"DELETE FROM {table} WHERE name = :n", {"n": "Alice"})
                seen = (await db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}"))["n"]
                raise RuntimeError(seen)
        except RuntimeError as exc:
            return int(exc.args[0])

    assert asyncio.run(in_transaction()) == 4
    assert asyncio.run(db.fetch(f"SELECT name FROM {table} WHERE city = :c ORDER BY name", {"c": "Rome"})) == [
        {"name": "Bob"}, {"name": "Dave"}]
    assert run_node("PersonCountNode", {})["count"] == 5


@pytest.mark.parametrize(("sql", "params", "code"), [
    ("SELECT name FROM {t} WHERE id = :id", {}, "DF-719"),
    ("SELECT name FROM {t}", {"id": 1}, "DF-719"),
    ("SELECT name FROM {t} WHERE id = :id", [1], "DF-719"),
    ("SELECT name FROM {t} WHERE id = :id", {"id": object()}, "DF-719"),
    ("SELECT name FROM {t} WHERE id = :id", {"id; DROP": 1}, "DF-719"),
    ("", None, "DF-720"),
    (None, None, "DF-720"),
    ("DELETE FROM {t}; DROP TABLE {t}", None, "DF-720"),
    ("SELEC name FROM {t}", None, "DF-720"),
    ("SELECT no_such_column FROM {t}", None, "DF-720"),
    ("DELETE FROM {t} WHERE name = :n", {"n": "x' OR '1'='1"}, None),
    ("DELETE FROM {t} WHERE name = :n", {"n": "'; DROP TABLE x; --"}, None),
])
def test_refused_and_hostile_statements_leave_the_table_unchanged(make_model, run_node, sql, params, code):
    db = make_model.db
    person = person_model(make_model)
    seed(run_node, person, PEOPLE)
    text = sql.replace("{t}", _table(db, person)) if isinstance(sql, str) else sql
    if code is None:
        assert db.execute_sync(text, params) == 0  # bound, so the quote is text: nothing matches
    else:
        with raises_df(code):
            db.execute_sync(text, params)
        with raises_df(code):
            db.fetch_sync(text, params)
    assert run_node("PersonCountNode", {})["count"] == 5


__all__ = tests_in(globals())
