"""The single-row update's read-back on MariaDB: ``START TRANSACTION; UPDATE; SELECT; COMMIT`` sent as
one text and its replies parsed from the stream without a cursor (``MySQLConnection.exchange``), and
the pool's free-connection fast path it runs on.

The reply parser is also fed hand-made streams: every chunking of a reply, a payload the server
splits at 16 MiB (a row that large needs a server limit above the test server's), error packets and
packets out of sequence.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import types
from decimal import Decimal
from typing import Any, Optional

import pymysql.err
import pytest
from dataflow import DataFlow
from dataflow.testing import raises_df
from dataflow.testing.helpers import ScalarFields
from dataflow_mysql import pool as mysql_pool
from dataflow_mysql.pool import _COLUMN_CONVERTERS, _Replies

UTC = dt.UTC


@pytest.fixture
def dataflow_options() -> dict[str, Any]:
    """One connection per pool: concurrent work waits for it."""
    return {"pool_size": 1, "max_overflow": 0, "pool_timeout": 10}


def _everything(make_model: Any) -> Any:
    class Everything(ScalarFields):
        doc: dict
        items: list
        maybe: Optional[str] = None  # noqa: UP045
        code: str = ""
        __dataflow__ = {"indexes": [{"name": "ix_everything_code", "fields": ["code"], "unique": True}]}

    return make_model(Everything)


FIRST = {
    "s": "before", "i": 1, "f": 1.5, "b": False, "when": dt.datetime(2020, 1, 1, tzinfo=UTC),
    "day": dt.date(2020, 1, 1), "amount": Decimal("1.10"), "blob": b"\x00", "doc": {}, "items": [],
    "maybe": "set", "code": "c1",
}
# Every field changed: NULL, 4-byte characters, a text long enough to arrive in several reads,
# bytes of every value, a datetime with microseconds, a decimal with its written zeros, floats that
# print with all their digits.
SECOND = {
    "s": "après 🎉 " + "x" * 200_000, "i": -(2**63), "f": 0.1, "b": True,
    "when": dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC), "day": dt.date(9999, 12, 31),
    "amount": Decimal("-12345.678900"), "blob": bytes(range(256)) * 300,
    "doc": {"a": [1, 2.5, None, True], "é": {"deep": "🎉"}}, "items": [1, "two", {"three": 3}],
    "maybe": None, "code": "c2",
}


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("id", "found", "updated", "created_at", "updated_at")}


def test_every_field_changed_comes_back_as_stored(make_model, run_node):
    _everything(make_model)
    rid = run_node("EverythingCreateNode", FIRST)["id"]
    updated = run_node("EverythingUpdateNode", {"id": rid, "fields": SECOND})
    read = run_node("EverythingReadNode", {"id": rid})
    assert updated["updated"] is True
    assert _strip(updated) == _strip(read) == SECOND
    assert updated["updated_at"] == read["updated_at"] and updated["created_at"] == read["created_at"]
    assert type(updated["f"]) is float and type(updated["b"]) is bool and type(updated["amount"]) is Decimal
    assert run_node("EverythingUpdateNode", {"id": rid, "fields": {"f": 1e300}})["f"] == 1e300
    # The same values again: the row is matched but not changed, and still comes back.
    again = run_node("EverythingUpdateNode", {"id": rid, "fields": {"s": SECOND["s"], "i": SECOND["i"]}})
    assert again["updated"] is True and again["s"] == SECOND["s"]


def test_an_update_matching_nothing_returns_no_row(make_model, run_node):
    _everything(make_model)
    rid = run_node("EverythingCreateNode", FIRST)["id"]
    assert run_node("EverythingUpdateNode", {"id": rid + 1000, "fields": {"s": "x"}}) == {"updated": False}
    # The row exists but the rest of the filter does not hold: nothing matched, nothing returned.
    missed = run_node("EverythingUpdateNode", {"filter": {"id": rid, "s": "other"}, "fields": {"s": "x"}})
    assert missed == {"updated": False}
    assert run_node("EverythingReadNode", {"id": rid})["s"] == "before"


def test_a_failed_update_leaves_a_usable_connection_outside_any_transaction(make_model, run_node):
    _everything(make_model)
    first = run_node("EverythingCreateNode", FIRST)["id"]
    second = run_node("EverythingCreateNode", {**FIRST, "code": "c2"})["id"]
    with raises_df("DF-704"):  # the unique code of the other row
        run_node("EverythingUpdateNode", {"id": second, "fields": {"code": "c1", "s": "lost"}})
    for _ in range(3):  # the pool's connections: none is left in the failed statement's transaction
        assert run_node("EverythingUpdateNode", {"id": first, "fields": {"i": 7}})["i"] == 7
    assert run_node("EverythingReadNode", {"id": second})["s"] == "before"


@pytest.mark.anyio
async def test_an_update_inside_a_transaction_joins_it(make_model):
    _everything(make_model)
    db: DataFlow = make_model.db
    rid = (await db.express.create("Everything", FIRST))["id"]
    with pytest.raises(RuntimeError):
        async with db.transaction():
            inside = await db.express.update("Everything", rid, {"s": "inside", "maybe": None})
            assert inside["s"] == "inside" and inside["maybe"] is None
            assert (await db.express.read("Everything", rid))["s"] == "inside"
            raise RuntimeError("roll back")
    after = await db.express.read("Everything", rid)
    assert after["s"] == "before" and after["maybe"] == "set"
    async with db.transaction():
        await db.express.update("Everything", rid, {"s": "kept"})
        await db.express.update("Everything", rid, {"i": 9})
    after = await db.express.read("Everything", rid)
    assert (after["s"], after["i"]) == ("kept", 9)


@pytest.mark.anyio
async def test_concurrent_updates_on_a_pool_of_one_all_complete(make_model):
    """Tasks waiting for the only connection are woken when it is given back (the fast paths step
    aside while anyone waits)."""
    _everything(make_model)
    db: DataFlow = make_model.db
    rid = (await db.express.create("Everything", FIRST))["id"]
    done = await asyncio.gather(*(db.express.update("Everything", rid, {"i": n}) for n in range(20)))
    assert sorted(r["i"] for r in done) == list(range(20))
    assert [pool.connections for pool in db.dialect.list_pools()] == [1]


# ---- the reply parser on hand-made streams ----------------------------------------------------------
_STATUS = 0x0002  # autocommit
_MORE = 0x0008  # more results follow
_SHAPE = (b"a hand-made column definition",)


def _eof(status: int) -> bytes:
    return b"\xfe\x00\x00" + status.to_bytes(2, "little")


def _ok(affected: int, status: int, info: bytes = b"") -> bytes:
    return b"\x00" + bytes([affected, 0]) + status.to_bytes(2, "little") + b"\x00\x00" + info


def _row(value: bytes) -> bytes:
    size = len(value)
    prefix = bytes([size]) if size < 251 else b"\xfe" + size.to_bytes(8, "little")
    return prefix + value


def _framed(payloads: list[bytes], seq: int = 1) -> bytes:
    """Packets as the server numbers them after a command (from 1 after a command sent as one packet),
    payloads of 16 MiB and more split."""
    out = bytearray()
    for payload in payloads:
        while True:
            piece, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
            out += len(piece).to_bytes(3, "little") + bytes([seq & 0xFF]) + piece
            seq += 1
            if len(piece) < 0xFFFFFF:
                break
    return bytes(out)


def _parser(next_seq: int = 1) -> _Replies:
    _COLUMN_CONVERTERS[_SHAPE] = ((None, None),)  # one column, bytes as they are
    raw = types.SimpleNamespace(server_status=0, closed=False, _next_seq_id=next_seq)
    raw.close = lambda: setattr(raw, "closed", True)
    return _Replies(types.SimpleNamespace(raw=raw))  # type: ignore[arg-type]


def _feed(parser: _Replies, stream: bytes, sizes: list[int]) -> int:
    at = 0
    need = 4
    for size in sizes:
        need = parser.feed(stream[at : at + size])
        at += size
    assert at == len(stream)
    return need


def _result(values: list[bytes], status: int) -> list[bytes]:
    return [b"\x01", *_SHAPE, _eof(status | 0), *map(_row, values), _eof(status)]


def test_replies_parse_whatever_the_chunks():
    stream = _framed([_ok(0, _STATUS | 0x0001 | _MORE), _ok(1, 0x0001 | _MORE, b"Rows matched: 1  Changed: 1"),
                      *_result([b"one", b"two" * 100], 0x0001 | _MORE), _ok(0, _STATUS)])
    for sizes in ([len(stream)], [1] * len(stream), [3, 5, 200, len(stream) - 208]):
        parser = _parser()
        assert _feed(parser, stream, sizes) == 0
        begin, update, select, commit = parser.replies
        assert begin.rows is None and begin.affected == 0
        assert update.affected == 1 and update.message == b"Rows matched: 1  Changed: 1"
        assert select.rows == [(b"one",), (b"two" * 100,)] and select.affected == 2
        assert commit.rows is None and not parser.leftover
        assert parser.conn.raw.server_status == _STATUS


def test_replies_ask_for_what_is_missing_and_note_bytes_after_the_end():
    stream = _framed([_ok(0, _STATUS)])
    parser = _parser()
    assert parser.feed(stream[:2]) == 2  # the rest of the header
    assert parser.feed(stream[2:5]) == len(stream) - 5  # the rest of the packet
    goodbye = _framed([b"\xff" + (1927).to_bytes(2, "little") + b"#70100Connection was killed"])
    assert parser.feed(stream[5:] + goodbye) == 0 and parser.leftover


def test_a_payload_split_at_16_mib_is_joined():
    big = bytes(range(256)) * (0x1000000 // 256) + b"tail"
    stream = _framed(_result([big, b"small"], _STATUS))
    parser = _parser()
    assert _feed(parser, stream, [1000, len(stream) - 2000, 1000]) == 0
    (select,) = parser.replies
    assert select.rows == [(big,), (b"small",)]


def test_replies_after_a_command_sent_in_several_packets_are_numbered_on_from_it():
    # A statement of 16 MiB or more goes out as several packets (a server allowing more than 16 MiB
    # takes it): the reply's first packet follows the command's last, not packet 0.
    parser = _parser(next_seq=3)
    assert parser.feed(_framed([_ok(1, _STATUS, b"Rows matched: 1  Changed: 1")], seq=3)) == 0
    assert parser.replies[0].affected == 1 and parser.seq == 4


def test_an_error_packet_raises_the_drivers_error():
    stream = _framed([_ok(0, _STATUS | _MORE),
                      b"\xff" + (1062).to_bytes(2, "little") + b"#23000Duplicate entry 'c1' for key 'code'"])
    parser = _parser()
    with pytest.raises(pymysql.err.IntegrityError) as caught:
        parser.feed(stream)
    assert caught.value.args[0] == 1062 and not parser.conn.raw.closed


def test_a_packet_out_of_sequence_closes_the_connection():
    stream = bytearray(_framed([_ok(0, _STATUS)]))
    stream[3] = 5
    parser = _parser()
    with pytest.raises(pymysql.err.InternalError, match="sequence"):
        parser.feed(bytes(stream))
    assert parser.conn.raw.closed
    stream[3] = 0  # what a MySQL 8 server sends at shutdown
    parser = _parser()
    with pytest.raises(pymysql.err.OperationalError) as caught:
        parser.feed(bytes(stream))
    assert caught.value.args[0] == 2013 and parser.conn.raw.closed


def test_lost_and_out_of_sequence_errors_read_as_lost_sessions():
    from dataflow_mysql.errors import lost_connection

    raw = types.SimpleNamespace(close=lambda: None)
    assert lost_connection(mysql_pool._lost(raw, ConnectionResetError("reset")))  # type: ignore[arg-type]
    assert lost_connection(mysql_pool._lost(raw, None))  # type: ignore[arg-type]
