"""Native arrays on the PostgreSQL server: column types, every node, the operators, GIN, NULL and empty lists."""

from __future__ import annotations

from typing import Any

import pytest
from dataflow.testing import raises_df, raw_fetch

pytestmark = pytest.mark.postgresql

ROWS: list[dict[str, Any]] = [
    {"id": "a", "tags": ["medical", "urgent", "ai"], "scores": [85, 92, 78], "ratings": [4.5, 4.8, 4.2],
     "notes": ["x"]},
    {"id": "b", "tags": ["Medical"], "scores": [60], "ratings": [0.1], "notes": None},
    {"id": "c", "tags": [], "scores": [], "ratings": [], "notes": []},
    {"id": "d", "tags": ["urgent", "it's \"quoted\"", "{braces}", "a,b", "NULL"], "scores": [90, -2147483648],
     "ratings": [-1.5, 3.0e38], "notes": ["x", "y"]},
]


def memory_model(make_model: Any, **extra: Any) -> Any:
    class AgentMemory:
        id: str
        tags: list[str]
        scores: list[int]
        ratings: list[float]
        notes: list[str] | None = None
        __dataflow__ = {"use_native_arrays": True, **extra}

    return make_model(AgentMemory)


def column_types(db: Any, table: str) -> dict[str, tuple[str, str]]:
    rows = raw_fetch(db, "SELECT column_name, udt_name, is_nullable FROM information_schema.columns "
                         "WHERE table_name = $1 AND table_schema = current_schema()", [table])
    return {r[0]: (r[1], r[2]) for r in rows}


def ids(run_node: Any, model: Any, flt: Any) -> list[str]:
    out = run_node(f"{model.__name__}ListNode", {"filter": flt, "order_by": ["id"], "limit": 1000})
    return [r["id"] for r in out["records"]]


def strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("created_at", "updated_at", "found")}


def test_columns_are_native_arrays(make_model, run_node, db):
    model = memory_model(make_model)
    run_node(f"{model.__name__}CountNode", {})
    types = column_types(db, make_model.table(model))
    assert types["tags"] == ("_text", "NO")
    assert types["scores"] == ("_int4", "NO")
    assert types["ratings"] == ("_float4", "NO")
    assert types["notes"] == ("_text", "YES")


def test_create_read_list_round_trip_every_type(make_model, run_node):
    model = memory_model(make_model)
    name = model.__name__
    for row in ROWS:
        assert strip(run_node(f"{name}CreateNode", row)) == row
    for row in ROWS:
        assert strip(run_node(f"{name}ReadNode", {"id": row["id"]})) == row
    listed = run_node(f"{name}ListNode", {"order_by": ["id"]})["records"]
    assert [strip(r) for r in listed] == ROWS


def test_update_and_upsert_round_trip(make_model, run_node):
    model = memory_model(make_model)
    name = model.__name__
    run_node(f"{name}CreateNode", ROWS[0])
    out = run_node(f"{name}UpdateNode", {"filter": {"id": "a"}, "fields": {"tags": ["medical", "reviewed"],
                                                                            "notes": None, "scores": []}})
    assert out["tags"] == ["medical", "reviewed"] and out["notes"] is None and out["scores"] == []
    out = run_node(f"{name}UpsertNode", {"where": {"id": "a"}, "update": {"ratings": [1.25]},
                                         "create": ROWS[1] | {"id": "a"}})
    assert out["action"] == "updated" and out["record"]["ratings"] == [1.25]
    out = run_node(f"{name}UpsertNode", {"where": {"id": "z"}, "update": {}, "create": ROWS[3] | {"id": "z"}})
    assert out["action"] == "created" and strip(out["record"]) == ROWS[3] | {"id": "z"}


def test_bulk_nodes_round_trip_copy_included(make_model, run_node):
    model = memory_model(make_model)
    name = model.__name__
    # 200 rows: past the COPY threshold, so the binary COPY path carries the arrays.
    data = [{"id": f"r{i:03}", "tags": [f"t{i % 7}", "all"], "scores": [i, -i], "ratings": [i / 4],
             "notes": None if i % 3 == 0 else ([] if i % 3 == 1 else [str(i)])} for i in range(200)]
    assert run_node(f"{name}BulkCreateNode", {"data": data})["inserted"] == 200
    listed = run_node(f"{name}ListNode", {"order_by": ["id"], "limit": 1000})["records"]
    assert [strip(r) for r in listed] == data
    out = run_node(f"{name}BulkUpdateNode", {"filter": {"tags": {"$contains": "t3"}}, "fields": {"scores": [7777]}})
    assert out["updated"] == len([d for d in data if "t3" in d["tags"]])
    assert ids(run_node, model, {"scores": {"$contains": 7777}}) == [d["id"] for d in data if "t3" in d["tags"]]
    upserts = [{"id": "r000", "tags": ["changed"], "scores": [], "ratings": [], "notes": ["n"]},
               {"id": "new", "tags": ["fresh"], "scores": [1], "ratings": [2.5], "notes": None}]
    out = run_node(f"{name}BulkUpsertNode", {"data": upserts})
    assert (out["inserted"], out["updated"]) == (1, 1)
    assert strip(run_node(f"{name}ReadNode", {"id": "r000"})) == upserts[0]
    assert strip(run_node(f"{name}ReadNode", {"id": "new"})) == upserts[1]
    assert run_node(f"{name}BulkDeleteNode", {"filter": {"tags": {"$overlap": ["changed", "fresh"]}}})["deleted"] == 2


CASES = [
    ({"tags": {"$contains": "medical"}}, ["a"]),
    ({"tags": {"$contains": ["urgent", "ai"]}}, ["a"]),
    ({"tags": {"$contains": "it's \"quoted\""}}, ["d"]),
    ({"tags": {"$contains": []}}, ["a", "b", "c", "d"]),
    ({"tags": {"$overlap": ["Medical", "{braces}"]}}, ["b", "d"]),
    ({"tags": {"$overlap": []}}, []),
    ({"scores": {"$any": {"$gte": 90}}}, ["a", "d"]),
    ({"scores": {"$any": {"$gte": 80, "$lt": 90}}}, ["a"]),
    ({"scores": {"$any": {"$lt": 0}}}, ["d"]),
    ({"scores": {"$any": 60}}, ["b"]),
    ({"scores": {"$any": {"$ne": 60}}}, ["a", "d"]),
    ({"ratings": {"$any": {"$gt": 4.7}}}, ["a", "d"]),
    ({"ratings": {"$contains": 0.1}}, ["b"]),
    ({"tags": {"$any": {"$gt": "m"}}}, ["a", "d"]),
    ({"notes": {"$contains": []}}, ["a", "c", "d"]),
    ({"notes": {"$overlap": ["y"]}}, ["d"]),
    ({"notes": None}, ["b"]),
    ({"notes": []}, ["c"]),
    ({"tags": ["Medical"]}, ["b"]),
    ({"$not": {"notes": {"$contains": "x"}}}, ["b", "c"]),
]


@pytest.mark.parametrize(("flt", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_operators_on_native_arrays(make_model, run_node, flt, expected):
    model = memory_model(make_model)
    run_node(f"{model.__name__}BulkCreateNode", {"data": ROWS})
    assert ids(run_node, model, flt) == expected
    assert run_node(f"{model.__name__}CountNode", {"filter": flt}) == {"count": len(expected)}


def test_operators_compile_to_array_operators_with_bound_values(make_model, run_node, db):
    model = memory_model(make_model)
    spec = db.get_model(model.__name__)
    from dataflow.dialect import SQLBuilder
    from dataflow.query import parse_filter

    def sql(flt: dict[str, Any]) -> tuple[str, list[Any]]:
        b = SQLBuilder(db.dialect)
        return db.dialect.compile_expr(b, parse_filter(spec, flt, extra_operators=db.dialect.operators)), b.params

    assert sql({"tags": {"$contains": "medical"}}) == ('("tags" IS NOT NULL AND "tags" @> $1::text[])', [["medical"]])
    assert sql({"tags": {"$overlap": ["a", "b"]}}) == ('("tags" IS NOT NULL AND "tags" && $1::text[])', [["a", "b"]])
    assert sql({"scores": {"$any": {"$gte": 90}}}) == ('("scores" IS NOT NULL AND $1::integer <= ANY("scores"))', [90])


def test_gin_index(make_model, run_node, db):
    model = memory_model(make_model, indexes=[{"fields": ["tags"], "using": "gin"}])
    run_node(f"{model.__name__}BulkCreateNode", {"data": ROWS})
    table = make_model.table(model)
    (definition,) = [r[0] for r in raw_fetch(db, "SELECT indexdef FROM pg_indexes WHERE tablename = $1 "
                                                 "AND indexname LIKE 'ix_%'", [table])]
    assert "USING gin (tags)" in definition

    from dataflow.loop import run_sync

    async def plan() -> str:
        async with db.connection() as conn:
            await conn.execute("SET enable_seqscan = off", [])
            try:
                rows = await conn.fetch(f"EXPLAIN SELECT id FROM {table} WHERE tags @> $1::text[]", [["ai"]])
            finally:
                await conn.execute("RESET enable_seqscan", [])
        return "\n".join(r[0] for r in rows)

    assert f"ix_{table}_tags" in run_sync(plan())
    assert ids(run_node, model, {"tags": {"$contains": "ai"}}) == ["a"]


def test_gin_index_on_a_scalar_field_is_df610(make_model):
    class Scalar:
        id: str
        name: str
        __dataflow__ = {"indexes": [{"fields": ["name"], "using": "gin"}]}

    with raises_df("DF-610", match="GIN indexes list and JSON fields"):
        make_model(Scalar)


def test_values_out_of_the_column_range_are_df102(make_model, run_node):
    model = memory_model(make_model)
    name = model.__name__
    with raises_df("DF-102", match="INTEGER"):
        run_node(f"{name}CreateNode", ROWS[0] | {"scores": [2**31]})
    with raises_df("DF-102", match="REAL"):
        run_node(f"{name}CreateNode", ROWS[0] | {"ratings": [1e39]})
    with raises_df("DF-102"):
        run_node(f"{name}CreateNode", ROWS[0] | {"tags": ["ok", 5]})
    assert run_node(f"{name}CountNode", {}) == {"count": 0}


def test_other_element_types_stay_jsonb(make_model, run_node, db):
    class Mixed:
        id: str
        tags: list[str]
        docs: list[dict]
        nested: list[list[int]]
        __dataflow__ = {"use_native_arrays": True}

    model = make_model(Mixed)
    row = {"id": "m", "tags": ["a"], "docs": [{"k": 1}], "nested": [[1, 2], [3]]}
    assert strip(run_node(f"{model.__name__}CreateNode", row)) == row
    types = column_types(db, make_model.table(model))
    assert (types["tags"][0], types["docs"][0], types["nested"][0]) == ("_text", "jsonb", "jsonb")
    assert ids(run_node, model, {"docs": {"$contains": "x"}}) == []


def test_instance_option_makes_every_model_native(make_model, run_node):
    other = make_model.new_db(use_native_arrays=True)

    class Plain:
        id: str
        tags: list[str]

    class OptedOut:
        id: str
        tags: list[str]
        __dataflow__ = {"use_native_arrays": False}

    plain, opted_out = make_model(Plain, db=other), make_model(OptedOut, db=other)
    run_node(f"{plain.__name__}CountNode", {"db_instance": other})
    run_node(f"{opted_out.__name__}CountNode", {"db_instance": other})
    assert column_types(other, make_model.table(plain))["tags"][0] == "_text"
    assert column_types(other, make_model.table(opted_out))["tags"][0] == "jsonb"
