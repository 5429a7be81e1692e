"""Conformance: the same answer on every database, where databases disagree by default.

Each test pins a rule of API.md's "The same answer on every database" that at least one database
breaks unless its dialect takes care: where NULLs sort, ids never reused, the digits of a Decimal,
the type of a JSON number, the one escape rule of ``$like`` / ``$ilike``, upserts decided by
``conflict_on`` alone.
"""

import logging
import uuid
from decimal import Decimal

import pytest

from dataflow import LocalRuntime, WorkflowBuilder
from dataflow.testing.fixtures import raises_df
from dataflow.testing.suite._support import names, strip, tests_in

# ---- ordering: NULLs last ascending, first descending ------------------------------------------


def _scores(make_model, run_node):
    @make_model
    class Score:
        name: str
        score: int | None = None

    rows = [{"name": "a", "score": 2}, {"name": "b", "score": None}, {"name": "c", "score": 1},
            {"name": "d", "score": None}, {"name": "e", "score": 3}]
    run_node("ScoreBulkCreateNode", {"data": rows})
    return Score


def _ordered(run_node, order_by):
    return names(run_node("ScoreListNode", {"order_by": order_by})["records"])


def test_null_ordering_in_every_order_by_form(make_model, run_node):
    _scores(make_model, run_node)
    assert _ordered(run_node, ["score", "name"]) == ["c", "a", "e", "b", "d"]
    assert _ordered(run_node, [{"score": 1}, {"name": 1}]) == ["c", "a", "e", "b", "d"]
    assert _ordered(run_node, ["-score", "name"]) == ["b", "d", "e", "a", "c"]
    assert _ordered(run_node, [{"score": -1}, {"name": -1}]) == ["d", "b", "e", "a", "c"]


def test_nulls_placement_can_be_chosen(make_model, run_node):
    _scores(make_model, run_node)
    assert _ordered(run_node, [{"score": 1, "nulls": "first"}, "name"]) == ["b", "d", "c", "a", "e"]
    assert _ordered(run_node, [{"score": -1, "nulls": "last"}, "name"]) == ["e", "a", "c", "b", "d"]
    assert _ordered(run_node, [{"score": 1, "nulls": "last"}, "name"]) == ["c", "a", "e", "b", "d"]
    page = run_node("ScoreListNode", {"order_by": [{"score": 1, "nulls": "first"}, "name"], "limit": 2, "offset": 1})
    assert names(page["records"]) == ["d", "c"]
    with raises_df("DF-102", match="nulls"):
        run_node("ScoreListNode", {"order_by": [{"score": 1, "nulls": "middle"}]})


# ---- generated ids ---------------------------------------------------------------------------


def test_generated_ids_are_never_reused(make_model, run_node):
    @make_model
    class Ticket:
        title: str

    first = [run_node("TicketCreateNode", {"title": f"t{i}"})["id"] for i in range(3)]
    run_node("TicketDeleteNode", {"id": first[-1]})
    after_delete = run_node("TicketCreateNode", {"title": "t3"})["id"]
    assert after_delete > max(first)
    run_node("TicketBulkDeleteNode", {"filter": {}, "confirmed": True})
    after_emptying = run_node("TicketBulkCreateNode", {"data": [{"title": "t4"}], "return_ids": True})["ids"]
    assert after_emptying[0] > after_delete


# ---- decimals: the written digits, compared as numbers ----------------------------------------

AMOUNTS = ["1.10", "0.500", "-3.000", "100", "9.5", "1.1", "0.0000001", "-0.25",
           "12345678901234567890123456789012345.123456789012345678901234567890"]


def _prices(make_model, run_node):
    @make_model
    class Price:
        label: str
        amount: Decimal
        maybe: Decimal | None = None

    data = [{"label": text, "amount": Decimal(text)} for text in AMOUNTS]
    run_node("PriceBulkCreateNode", {"data": data})
    return Price


def test_decimals_read_back_with_their_digits(make_model, run_node):
    _prices(make_model, run_node)
    records = run_node("PriceListNode", {"limit": 100})["records"]
    assert sorted(str(r["amount"]) for r in records) == sorted(str(Decimal(t)) for t in AMOUNTS)
    created = run_node("PriceCreateNode", {"label": "x", "amount": Decimal("2.50"), "maybe": Decimal("-0.00")})
    assert str(created["amount"]) == "2.50" and str(created["maybe"]) == "0.00"
    read = run_node("PriceReadNode", {"id": created["id"]})
    assert (str(read["amount"]), str(read["maybe"])) == ("2.50", "0.00")
    # An exponent is written out: 1E+2 is stored, and read back, as 100 everywhere.
    updated = run_node("PriceUpdateNode", {"filter": {"id": created["id"]}, "fields": {"amount": Decimal("1E+2")}})
    assert str(updated["amount"]) == "100"
    assert str(run_node("PriceReadNode", {"id": created["id"]})["amount"]) == "100"


def test_decimals_compare_and_sort_as_numbers(make_model, run_node):
    _prices(make_model, run_node)

    def labels(flt, order=("amount", "label")):
        return [r["label"] for r in run_node("PriceListNode", {"filter": flt, "order_by": list(order)})["records"]]

    ascending = ["-3.000", "-0.25", "0.0000001", "0.500", "1.1", "1.10", "9.5", "100", AMOUNTS[-1]]
    assert labels({}) == ascending
    assert labels({}, ("-amount", "label"))[:3] == [AMOUNTS[-1], "100", "9.5"]
    assert labels({"amount": Decimal("1.1")}) == ["1.1", "1.10"]
    assert labels({"amount": {"$gt": Decimal("1.1"), "$lt": Decimal("100.000")}}) == ["9.5"]
    assert labels({"amount": {"$gte": Decimal("1.10")}})[:2] == ["1.1", "1.10"]
    assert labels({"amount": {"$in": [Decimal("0.5"), Decimal("-3")]}}) == ["-3.000", "0.500"]
    assert labels({"amount": {"$ne": Decimal("1.100")}}) == [x for x in ascending if x not in ("1.1", "1.10")]
    assert labels({"amount": {"$lt": 0}}) == ["-3.000", "-0.25"]


# ---- JSON numbers keep their type --------------------------------------------------------------


def test_json_numbers_keep_their_type(make_model, run_node):
    @make_model
    class Reading:
        doc: dict

    doc = {"huge": 1e300, "big": -2.5e20, "e16": 1e16, "tiny": 1e-300, "one": 1.0, "int": 10**20,
           "small_int": 3, "nested": [1e22, {"x": 5e300}], "text": "1e+300"}
    created = run_node("ReadingCreateNode", {"doc": doc})
    for record in (created, run_node("ReadingReadNode", {"id": created["id"]})):
        assert record["doc"] == doc
        got = record["doc"]
        assert [type(got[k]) for k in ("huge", "big", "e16", "tiny", "one", "int", "small_int")] == \
            [float, float, float, float, float, int, int]
        assert type(got["nested"][0]) is float and type(got["nested"][1]["x"]) is float


# ---- $like / $ilike: one escape rule -------------------------------------------------------------


def _paths(make_model, run_node):
    @make_model
    class Path:
        text: str

    values = ["x\\y", "xy", "100%", "1000", "a_b", "axb", "a\\%b", "École", "école", "a!b"]
    run_node("PathBulkCreateNode", {"data": [{"text": v} for v in values]})
    return Path


def _matching(run_node, op, pattern):
    out = run_node("PathListNode", {"filter": {"text": {op: pattern}}, "order_by": ["text"]})
    return sorted(r["text"] for r in out["records"])


def test_like_escape_rule(make_model, run_node):
    _paths(make_model, run_node)
    # A backslash before anything but %, _ or a backslash is an ordinary character.
    assert _matching(run_node, "$like", "x\\y") == ["x\\y"]
    # \% and \_ are a literal % and _; \\ is one backslash.
    assert _matching(run_node, "$like", "100\\%") == ["100%"]
    assert _matching(run_node, "$like", "100%") == ["100%", "1000"]
    assert _matching(run_node, "$like", "a\\_b") == ["a_b"]
    assert _matching(run_node, "$like", "a_b") == ["a!b", "a_b", "axb"]
    assert _matching(run_node, "$like", "a\\\\\\%b") == ["a\\%b"]
    assert _matching(run_node, "$like", "a!b") == ["a!b"]
    assert _matching(run_node, "$ilike", "X\\Y") == ["x\\y"]
    assert _matching(run_node, "$ilike", "100\\%") == ["100%"]


def test_ilike_folds_every_letter(make_model, run_node):
    _paths(make_model, run_node)
    assert _matching(run_node, "$ilike", "ÉCOLE") == ["École", "école"]
    assert _matching(run_node, "$ilike", "é%") == ["École", "école"]
    assert _matching(run_node, "$like", "É%") == ["École"]


# ---- upserts: a conflict is decided by conflict_on alone ---------------------------------------


def _members(make_model, run_node):
    @make_model
    class Member:
        id: str
        email: str
        handle: str
        name: str = ""
        __dataflow__ = {"indexes": [{"fields": ["email"], "unique": True}, {"fields": ["handle"], "unique": True}]}

    run_node("MemberBulkCreateNode", {"data": [{"id": "1", "email": "a@x", "handle": "alice", "name": "Alice"},
                                               {"id": "2", "email": "b@x", "handle": "bob", "name": "Bob"}]})
    return Member


def _stored(run_node):
    return [strip(r) for r in run_node("MemberListNode", {"order_by": ["id"]})["records"]]


BEFORE = [{"id": "1", "email": "a@x", "handle": "alice", "name": "Alice"},
          {"id": "2", "email": "b@x", "handle": "bob", "name": "Bob"}]


def test_upsert_never_updates_a_row_matched_by_another_unique_column(make_model, run_node):
    _members(make_model, run_node)
    clash = {"id": "3", "email": "c@x", "handle": "alice", "name": "Carol"}  # "alice" is row 1's handle
    with raises_df("DF-704"):
        run_node("MemberBulkUpsertNode", {"data": [clash]})
    with raises_df("DF-704"):
        run_node("MemberBulkUpsertNode", {"data": [clash], "conflict_resolution": "skip"})
    with raises_df("DF-704"):
        run_node("MemberUpsertNode", {"where": {"id": "mallory"},
                                      "create": {"name": "Mallory", "email": "a@x", "handle": "m"}})
    with raises_df("DF-704"):
        run_node("MemberUpsertNode", {"where": {"id": "3"}, "create": clash, "update": {"name": "Carol"}})
    assert _stored(run_node) == BEFORE


def test_upsert_conflict_is_decided_by_conflict_on_alone(make_model, run_node):
    _members(make_model, run_node)
    # The email is row 1's; the id given is row 2's: the row with that email is the one updated.
    out = run_node("MemberUpsertNode", {"where": {"email": "a@x"}, "create": {"id": "2", "handle": "alice"},
                                        "update": {"name": "Alicia"}})
    assert (out["action"], out["record"]["id"], out["record"]["name"]) == ("updated", "1", "Alicia")
    bulk = run_node("MemberBulkUpsertNode", {"conflict_on": ["email"], "data": [
        {"id": "1", "email": "b@x", "handle": "bob", "name": "Bobby"},
        {"id": "5", "email": "e@x", "handle": "eve", "name": "Eve"}]})
    assert (bulk["inserted"], bulk["updated"]) == (1, 1)
    assert _stored(run_node) == [{"id": "1", "email": "a@x", "handle": "alice", "name": "Alicia"},
                                 {"id": "2", "email": "b@x", "handle": "bob", "name": "Bobby"},
                                 {"id": "5", "email": "e@x", "handle": "eve", "name": "Eve"}]
    skipped = run_node("MemberBulkUpsertNode", {"conflict_resolution": "skip", "data": [
        {"id": "5", "email": "e@x", "handle": "eve", "name": "changed"},
        {"id": "6", "email": "f@x", "handle": "fay", "name": "Fay"}]})
    assert (skipped["inserted"], skipped["skipped"]) == (1, 1)
    assert run_node("MemberReadNode", {"id": "5"})["name"] == "Eve"


def test_bulk_upsert_counts_inserted_and_updated_by_the_conflict_key(make_model, run_node):
    @make_model
    class Slot:
        team: str
        code: int
        label: str = ""
        __dataflow__ = {"indexes": [{"fields": ["team", "code"], "unique": True}]}

    run_node("SlotBulkCreateNode", {"data": [{"team": "a", "code": 1, "label": "old"},
                                             {"team": "b", "code": 1, "label": "old"}]})
    # Two fields: ("a", 1) is stored, ("a", 2) and ("b", 2) are new, ("a", 2) comes twice (the last wins).
    out = run_node("SlotBulkUpsertNode", {"conflict_on": ["team", "code"], "data": [
        {"team": "a", "code": 1, "label": "x"}, {"team": "a", "code": 2, "label": "y"},
        {"team": "b", "code": 2, "label": "z"}, {"team": "a", "code": 2, "label": "last"}]})
    assert (out["processed"], out["inserted"], out["updated"]) == (4, 2, 1)
    stored = {(r["team"], r["code"]): r["label"] for r in run_node("SlotListNode", {"limit": 10})["records"]}
    assert stored == {("a", 1): "x", ("b", 1): "old", ("a", 2): "last", ("b", 2): "z"}
    # Past the size where key lists are sent differently (SQLite: a JSON array), and on the primary key.
    many = [{"id": i, "team": "c", "code": i, "label": "n"} for i in range(1, 3001)]
    run_node("SlotBulkDeleteNode", {"filter": {}, "confirmed": True})
    run_node("SlotBulkCreateNode", {"data": many[:1000]})
    out = run_node("SlotBulkUpsertNode", {"data": [{**r, "label": "m"} for r in many]})
    assert (out["inserted"], out["updated"]) == (2000, 1000)
    assert run_node("SlotCountNode", {"filter": {"label": "m"}})["count"] == 3000


BULK_ROWS = 100_000


@pytest.mark.slow
def test_bulk_upsert_of_100000_rows_is_one_transaction(make_model, run_node):
    @make_model
    class Contact:
        id: str
        email: str
        score: int = 0
        __dataflow__ = {"indexes": [{"fields": ["email"], "unique": True}]}

    half = BULK_ROWS // 2
    run_node("ContactBulkCreateNode", {"data": [{"id": f"c{i}", "email": f"{i}@x"} for i in range(half)]})
    data = [{"id": f"c{i}", "email": f"{i}@x", "score": 1} for i in range(BULK_ROWS)]
    out = run_node("ContactBulkUpsertNode", {"data": data})
    assert (out["inserted"], out["updated"]) == (half, half)
    assert run_node("ContactCountNode", {"filter": {"score": 1}})["count"] == BULK_ROWS
    # Half existing, half new; row 50,000 (a new one) repeats the email of stored row c7: the whole
    # upsert fails with DF-704 and changes nothing (c7 above all).
    data = [{"id": f"c{i}", "email": f"{i}@x", "score": 2} for i in range(half, half + BULK_ROWS)]
    data[half]["email"] = "7@x"
    with raises_df("DF-704"):
        run_node("ContactBulkUpsertNode", {"data": data})
    assert run_node("ContactCountNode", {})["count"] == BULK_ROWS
    assert run_node("ContactCountNode", {"filter": {"score": 1}})["count"] == BULK_ROWS
    assert strip(run_node("ContactReadNode", {"id": "c7"}), "found") == {"id": "c7", "email": "7@x", "score": 1}


# ---- SQL logging ----------------------------------------------------------------------------------


def _sql_records(caplog):
    return [r for r in caplog.records if r.name == "dataflow.sql"]


def _log_some_work(make_model, db):
    @make_model(db=db)
    class Vault:
        label: str
        secret: str

    secret = f"s3cret-{uuid.uuid4().hex}"
    wf = WorkflowBuilder()
    wf.add_node("VaultCreateNode", "create", {"label": "a", "secret": secret, "db_instance": db})
    wf.add_node("VaultUpdateNode", "update", {"fields": {"label": "b"}, "db_instance": db})
    wf.add_connection("create", "id", "update", "filter.id")
    wf.add_node("VaultBulkCreateNode", "bulk", {"data": [{"label": "c", "secret": secret}] * 3, "db_instance": db})
    wf.add_node("VaultListNode", "list", {"filter": {"secret": secret}, "db_instance": db})
    wf.add_connection("bulk", "inserted", "list", "offset")
    LocalRuntime().execute(wf.build())
    return secret


def test_every_statement_is_logged_without_its_values(make_model, caplog):
    caplog.set_level(logging.DEBUG, logger="dataflow.sql")
    db = make_model.new_db()
    secret = _log_some_work(make_model, db)
    records = _sql_records(caplog)
    statements = [r.sql for r in records]
    assert any(s.lstrip().upper().startswith("INSERT") for s in statements)
    assert any(s.lstrip().upper().startswith("UPDATE") for s in statements)
    assert any(s.lstrip().upper().startswith("SELECT") and "LIMIT" in s.upper() for s in statements)
    assert any(s.strip().upper() in ("COMMIT", "END") for s in statements)  # the update's transaction
    for record in records:
        assert record.levelno == logging.DEBUG
        assert isinstance(record.duration_ms, float) and record.duration_ms >= 0
        assert isinstance(record.params, int) and record.params >= 0
        message = record.getMessage()
        assert "ms" in message and "params" in message
        assert secret not in message
    listing = next(r for r in records if "OFFSET" in r.sql.upper() and r.sql.upper().startswith("SELECT"))
    assert listing.params == 3  # the secret, the limit and the offset


def test_echo_values_shows_the_values(make_model, caplog):
    caplog.set_level(logging.DEBUG, logger="dataflow.sql")
    logger = logging.getLogger("dataflow.sql")
    level, handlers = logger.level, list(logger.handlers)
    try:
        db = make_model.new_db(echo="values")
        secret = _log_some_work(make_model, db)
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers
    assert any(secret in r.getMessage() for r in _sql_records(caplog))


def test_slow_queries_are_warnings(make_model, caplog):
    caplog.set_level(logging.WARNING, logger="dataflow.sql")
    db = make_model.new_db(slow_query_ms=0)
    secret = _log_some_work(make_model, db)
    records = _sql_records(caplog)
    assert records and all(r.levelno == logging.WARNING for r in records)
    assert all("slow query" in r.getMessage() and secret not in r.getMessage() for r in records)
    with raises_df("DF-401", match="slow_query_ms"):
        make_model.new_db(slow_query_ms=-1)
    with raises_df("DF-401", match="echo"):
        make_model.new_db(echo="loud")


def test_echo_attaches_a_stderr_handler_when_the_logger_has_none(make_model, capsys):
    logger = logging.getLogger("dataflow.sql")
    level, handlers = logger.level, list(logger.handlers)
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    try:
        db = make_model.new_db(echo=True)
        assert logger.level == logging.DEBUG
        assert [type(h) for h in logger.handlers] == [logging.StreamHandler]
        _log_some_work(make_model, db)
        make_model.new_db(echo=True)
        assert len(logger.handlers) == 1  # never a second handler
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers
    assert "INSERT" in capsys.readouterr().err.upper()


__all__ = tests_in(globals())
