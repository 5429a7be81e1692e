"""Conformance: hostile identifiers, huge and deep inputs, and secrets — refused alike on every database.

Every name a model declares must be storable identically everywhere (DF-607 otherwise; DF-608 for two
names that differ only in letter case, which SQLite and MySQL / MariaDB would confuse). Filters are
bounded in depth and size (DF-102 naming the limit) and large ``$or`` / ``$in`` forms answer fast.
JSON values are bounded in depth, text never holds a NUL character, and no password shows in any
output, however the URL is written.
"""

import itertools
import os
import threading
import time
import traceback
import uuid

import pytest

from dataflow import DataFlow, DataFlowError
from dataflow.models import MAX_IDENTIFIER_LENGTH
from dataflow.query import MAX_FILTER_DEPTH
from dataflow.testing.fixtures import raises_df, raw_fetch, raw_rows, unique_table
from dataflow.testing.suite._support import seed, tests_in
from dataflow.url import parse_url
from dataflow.values import MAX_JSON_DEPTH


def _load_factor():
    """How much slower than a quiet machine wall-clock waits are now (runnable processes per core)."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def _nested(leaf, depth, key="$not"):
    value = leaf
    for _ in range(depth):
        value = {key: value}
    return value


# ---- identifiers --------------------------------------------------------------------------------
@pytest.mark.parametrize("annotations, table", [
    ({"id": str, "name\n": str}, None),
    ({"id": str, "na\x00me": str}, None),
    ({"id": str, "tab\tbed": str}, None),
    ({"id": str, "a b": str}, None),
    ({"id": str, "x" * (MAX_IDENTIFIER_LENGTH + 1): str}, None),
    ({"id": str}, "users\n"),
    ({"id": str}, "t" * (MAX_IDENTIFIER_LENGTH + 1)),
    ({"id": str}, "bad\x1bname"),
])
def test_hostile_identifiers_are_df607(db, annotations, table):
    attrs = {"__annotations__": annotations, "__tablename__": table or unique_table("t_hostile")}
    with raises_df("DF-607"):
        db.model(type(f"H{uuid.uuid4().hex[:6]}", (), attrs))
    assert not db.models


def test_hostile_index_and_model_names_are_df607(db):
    cls = type(f"I{uuid.uuid4().hex[:6]}", (), {
        "__annotations__": {"id": str, "email": str}, "__tablename__": unique_table("t_ix"),
        "__dataflow__": {"indexes": [{"name": "ix\nemail", "fields": ["email"]}]}})
    with raises_df("DF-607"):
        db.model(cls)
    with raises_df("DF-607"):
        db.model(type("Bad\nName", (), {"__annotations__": {"id": str}}))


def test_names_differing_only_in_case_are_df608(db, make_model):
    with raises_df("DF-608", match="'A'"):
        db.model(type(f"C{uuid.uuid4().hex[:6]}", (), {"__annotations__": {"id": str, "a": int, "A": int},
                                                       "__tablename__": unique_table("t_case")}))

    class First:
        id: str
        email: str
        __dataflow__ = {"indexes": [{"name": f"ix_mail_{uuid.uuid4().hex[:8]}", "fields": ["email"]}]}

    make_model(First)
    table = make_model.table(First)
    with raises_df("DF-608"):
        db.model(type("Second", (), {"__annotations__": {"id": str}, "__tablename__": table.upper()}))
    clash = db.models["First"].indexes[0].name.upper()
    with raises_df("DF-608"):
        db.model(type("Third", (), {"__annotations__": {"id": str, "email": str},
                                    "__tablename__": unique_table("t_other"),
                                    "__dataflow__": {"indexes": [{"name": clash, "fields": ["email"]}]}}))


def test_longest_names_work_end_to_end(make_model, run_node):
    field = "f" * MAX_IDENTIFIER_LENGTH
    stem = unique_table("t_long")
    table = stem + "x" * (MAX_IDENTIFIER_LENGTH - len(stem))
    cls = type("LongNames", (), {"__annotations__": {"id": str, field: str, "other_" + "o" * 40: int},
                                 "__dataflow__": {"indexes": [{"fields": [field, "other_" + "o" * 40]}]}})
    make_model(cls, table=table)
    index_name = make_model.db.models["LongNames"].indexes[0].name
    assert len(index_name) <= MAX_IDENTIFIER_LENGTH  # a generated name too long is shortened with a digest
    run_node("LongNamesCreateNode", {"id": "a", field: "v", "other_" + "o" * 40: 1})
    assert run_node("LongNamesListNode", {"filter": {field: "v"}})["count"] == 1


# ---- filters --------------------------------------------------------------------------------------
def _item(make_model):
    class Item:
        id: str
        name: str
        k: int = 0
        doc: dict = {}

    return make_model(Item)


@pytest.mark.parametrize("shape", ["logical", "field"])
def test_deep_filters_are_df102_naming_the_limit(make_model, run_node, shape):
    _item(make_model)
    deep = _nested({"name": "x"}, 1000) if shape == "logical" else {"name": _nested({"$eq": "x"}, 1000)}
    with raises_df("DF-102", match=str(MAX_FILTER_DEPTH)):
        run_node("ItemListNode", {"filter": deep})
    just_enough = _nested({"name": "x"}, MAX_FILTER_DEPTH - 1)
    assert run_node("ItemCountNode", {"filter": just_enough})["count"] == 0


def test_huge_filter_keys_are_refused_fast(make_model, run_node):
    _item(make_model)
    started = time.perf_counter()
    with raises_df("DF-102"):
        run_node("ItemListNode", {"filter": {"k" * 100_000: 1}})
    assert time.perf_counter() - started < 1.0 * _load_factor()


def test_large_or_and_in_answer_fast(make_model, run_node):
    item = _item(make_model)
    seed(run_node, item, [{"id": f"r{i}", "name": f"n{i}", "k": i} for i in range(5000)])
    started = time.perf_counter()
    wide_or = {"$or": [{"k": i} for i in range(0, 20000, 2)]}  # 10,000 equalities on one field
    assert run_node("ItemCountNode", {"filter": wide_or})["count"] == 2500
    mixed = {"$or": [{"id": f"r{i}"} for i in range(3000)] + [{"k": {"$gte": 4990}}]}
    assert run_node("ItemCountNode", {"filter": mixed})["count"] == 3010
    many = list(range(0, 80000, 2))  # 40,000 values: more than SQLite's placeholders per statement
    assert run_node("ItemCountNode", {"filter": {"k": {"$in": many}}})["count"] == 2500
    assert run_node("ItemCountNode", {"filter": {"k": {"$nin": many}}})["count"] == 2500
    assert time.perf_counter() - started < 20 * _load_factor()  # seconds for 10,000-clause filters took minutes before


# ---- values ---------------------------------------------------------------------------------------
def test_json_depth_is_bounded_alike(make_model, run_node):
    _item(make_model)
    deepest = _nested([1], MAX_JSON_DEPTH - 1, key="a")
    made = run_node("ItemCreateNode", {"id": "ok", "name": "n", "doc": deepest})
    assert made["doc"] == deepest
    for depth in (MAX_JSON_DEPTH + 1, 10_000):
        with raises_df("DF-102", match=str(MAX_JSON_DEPTH)):
            run_node("ItemCreateNode", {"id": f"d{depth}", "name": "n", "doc": _nested(1, depth, key="a")})
    assert run_node("ItemCountNode", {})["count"] == 1


def test_nul_characters_in_text_are_df102(db, make_model, run_node):
    item = _item(make_model)
    run_node("ItemCreateNode", {"id": "a", "name": "clean"})
    before = raw_rows(db, item)
    attempts = [
        ("ItemCreateNode", {"id": "b", "name": "nul\x00inside"}),
        ("ItemCreateNode", {"id": "c", "name": "n", "doc": {"k": "nul\x00"}}),
        ("ItemCreateNode", {"id": "d", "name": "n", "doc": {"nul\x00key": 1}}),
        ("ItemBulkCreateNode", {"data": [{"id": "e", "name": "ok"}, {"id": "f", "name": "\x00"}]}),
        ("ItemBulkUpsertNode", {"data": [{"id": "g", "name": "\x00"}]}),
        ("ItemUpdateNode", {"filter": {"id": "a"}, "fields": {"name": "x\x00"}}),
        ("ItemListNode", {"filter": {"name": "x\x00"}}),
        ("ItemListNode", {"filter": {"name": {"$like": "%\x00%"}}}),
    ]
    for node, params in attempts:
        with raises_df("DF-102", match="NUL"):
            run_node(node, params)
    assert raw_rows(db, item) == before


def test_bulk_errors_name_the_row(db, make_model, run_node):
    class Member:
        id: str
        email: str
        age: int = 0
        __dataflow__ = {"indexes": [{"fields": ["email"], "unique": True}]}

    member = make_model(Member)
    run_node("MemberCreateNode", {"id": "m0", "email": "taken@x"})
    before = raw_rows(db, member)
    rows = [{"id": f"m{i}", "email": f"e{i}@x", "age": i} for i in range(1, 6)]
    cases = [
        ("MemberBulkCreateNode", {"data": [*rows[:3], {**rows[3], "age": "old"}, rows[4]]}, "DF-102", 3),
        ("MemberBulkCreateNode", {"data": [*rows[:4], {**rows[4], "email": "\x00"}]}, "DF-102", 4),
        ("MemberBulkCreateNode", {"data": [*rows[:2], {**rows[2], "id": "m1"}, *rows[3:]]}, "DF-704", 2),
        ("MemberBulkCreateNode", {"data": [*rows[:3], {**rows[3], "email": "taken@x"}]}, "DF-704", 3),
    ]
    for node, params, code, index in cases:
        with raises_df(code) as caught:
            run_node(node, params)
        error = caught["error"]
        assert error.context.get("row") == index, (node, error.message)
        assert f"Row {index} of 'data'" in error.message
    assert raw_rows(db, member) == before


# ---- regular expressions and statement time --------------------------------------------------------
def test_invalid_regex_is_df107(make_model, run_node):
    _item(make_model)
    run_node("ItemCreateNode", {"id": "a", "name": "abc"})
    with raises_df("DF-107"):
        run_node("ItemListNode", {"filter": {"name": {"$regex": "["}}})


def test_pathological_regex_answers_or_is_refused_fast(make_model, run_node):
    """A catastrophic pattern answers right or is DF-107 (never a silently wrong answer), quickly,
    and never stops other threads (SQLite matches in Python, under a per-value budget)."""
    item = _item(make_model)
    seed(run_node, item, [{"id": f"r{i}", "name": "a" * 34 + "!"} for i in range(3)])
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.01)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        for pattern in ("^(a+)+$", "(a|aa)+$", "^(a|a?)+$"):
            started = time.perf_counter()
            try:
                assert run_node("ItemCountNode", {"filter": {"name": {"$regex": pattern}}})["count"] == 0
            except DataFlowError as exc:
                assert getattr(exc.__cause__, "code", exc.code) == "DF-107", exc
            assert time.perf_counter() - started < 2.0 * _load_factor(), pattern
    finally:
        stop.set()
        ticker.join()
    assert max((b - a for a, b in itertools.pairwise(ticks)), default=0) < _load_factor(), "a thread was frozen"


def test_statement_timeout_stops_long_statements(make_model, run_node):
    item = _item(make_model)
    seed(run_node, item, [{"id": f"r{i}", "name": "n"} for i in range(1000)])
    impatient = make_model.new_db(statement_timeout=0.5)
    table = impatient.dialect.quote(make_model.table(item))
    started = time.perf_counter()
    with pytest.raises(Exception) as info:
        # Four copies: 10^12 rows, long on every engine (DuckDB counts three copies in well under a second).
        raw_fetch(impatient, f"SELECT COUNT(*) FROM {table} a, {table} b, {table} c, {table} d")
    error = info.value if isinstance(info.value, DataFlowError) else impatient.dialect.translate_error(info.value)
    assert error.code == "DF-512", error
    assert time.perf_counter() - started < 10 * _load_factor()
    assert DataFlow(make_model.url).options["statement_timeout"] == 300.0  # the documented default


# ---- secrets --------------------------------------------------------------------------------------
def _everything_shown(error: BaseException, db: DataFlow | None = None) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if isinstance(error, DataFlowError):
        parts += [str(error.to_dict()), str(error.context)]
    cause = error.__cause__
    if isinstance(cause, DataFlowError):
        parts += [str(cause.to_dict()), str(cause.context)]
    if db is not None:
        parts += [repr(db), str(db.url), repr(db.url)]
    return "\n".join(parts)


def test_no_password_in_any_output(dataflow_url, run_node):
    url = parse_url(dataflow_url)
    if url.host is None:
        pytest.skip("this dialect's URLs carry no password")
    scheme, _, rest = dataflow_url.partition("://")
    host_part = rest.rpartition("@")[2]
    host, _, _ = host_part.partition("/")
    secret_db = f"missing_{uuid.uuid4().hex[:8]}"
    for user_info, query in ((f"{url.username or 'root'}:hunter@2secret@", ""),
                             (f"{url.username or 'root'}@", "?password=s3cretQ")):
        bad = f"{scheme}://{user_info}{host}/{secret_db}{query}"
        instance = DataFlow(bad)
        try:
            instance.model(type("Vault", (), {"__annotations__": {"id": str}, "__tablename__": unique_table("t_v")}))
            with pytest.raises(DataFlowError) as info:
                run_node("VaultListNode", {"db_instance": instance})
            shown = _everything_shown(info.value, instance)
        finally:
            instance.close()
        for secret in ("hunter", "2secret", "s3cretQ"):
            assert secret not in shown, f"{secret!r} leaked:\n{shown}"


__all__ = tests_in(globals())
