"""MySQL / MariaDB under hostile input: values larger than the server's packet limit, regex limits."""

from __future__ import annotations

import pytest
from dataflow.testing import raises_df, raw_rows


def test_a_value_over_max_allowed_packet_is_df102_naming_it(db, make_model, run_node):
    @make_model
    class Blob:
        id: str
        doc: dict
        text: str = ""

    run_node("BlobCreateNode", {"id": "probe", "doc": {}})  # the pool is open: the server is known
    packet = db.dialect.server.max_allowed_packet
    huge = "x" * (packet + 1024)
    for node, params in (("BlobCreateNode", {"id": "j", "doc": {"k": huge}}),
                         ("BlobCreateNode", {"id": "t", "doc": {}, "text": huge}),
                         ("BlobBulkCreateNode", {"data": [{"id": "b", "doc": {"k": huge}}]})):
        with raises_df("DF-102", match="max_allowed_packet") as caught:
            run_node(node, params)
        assert caught["error"].context["max_allowed_packet"] == packet
    assert [row[0] for row in raw_rows(db, Blob, "id")] == ["probe"]
    assert run_node("BlobCountNode", {})["count"] == 1, "the connection pool is still usable"


@pytest.mark.parametrize("pattern", ["(a|aa)+$", "^(a|a?)+$"])
def test_regex_match_limit_is_df107_not_a_wrong_answer(make_model, run_node, pattern):
    @make_model
    class Word:
        id: str
        text: str

    run_node("WordCreateNode", {"id": "w", "text": "a" * 34 + "!"})
    with raises_df("DF-107", match="match limit"):
        run_node("WordCountNode", {"filter": {"text": {"$regex": pattern}}})
