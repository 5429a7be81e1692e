"""Conformance: relations — foreign keys declared in ``__dataflow__["foreign_keys"]`` are real FOREIGN KEYs
(created, and added to an existing table by auto-migration), ``on_delete`` cascade / set_null / restrict,
DF-711 naming the relation a write breaks, and ``include`` loading related rows in one query per
relation — alike on every database."""

import pytest

from dataflow import DataFlowError
from dataflow.query import Select
from dataflow.testing.fixtures import raises_df, raw_rows
from dataflow.testing.suite._support import seed, strip, tests_in


def _blog(make_model, on_delete="restrict", editor="restrict"):
    @make_model
    class Author:
        name: str

    @make_model
    class Post:
        title: str
        author_id: int
        editor_id: int | None = None
        __dataflow__ = {"foreign_keys": {"author_id": {"model": "Author", "on_delete": on_delete},
                                         "editor_id": {"model": "Author", "on_delete": editor}}}

    @make_model
    class Comment:
        body: str
        post_id: int
        __dataflow__ = {"foreign_keys": {"post_id": "Post"}}

    return Author, Post, Comment


def _seeded(make_model, run_node, **options):
    author, post, comment = _blog(make_model, **options)
    ann, bob = seed(run_node, author, [{"name": "Ann"}, {"name": "Bob"}])
    posts = seed(run_node, post, [{"title": "a1", "author_id": ann, "editor_id": bob},
                                  {"title": "a2", "author_id": ann}, {"title": "b1", "author_id": bob}])
    seed(run_node, comment, [{"body": "c1", "post_id": posts[0]}, {"body": "c2", "post_id": posts[0]}])
    return (author, post, comment), {"ann": ann, "bob": bob}, posts


def test_a_write_to_a_missing_row_is_df711_naming_the_relation(make_model, run_node):
    (_author, post, _comment), ids, _posts = _seeded(make_model, run_node)
    before = raw_rows(make_model.db, post)
    with raises_df("DF-711") as caught:
        run_node("PostCreateNode", {"title": "x", "author_id": 404})
    assert caught["error"].context["relation"] == "author" and "Post.author" in caught["error"].message
    with raises_df("DF-711") as caught:
        run_node("PostUpdateNode", {"filter": {"title": "a2"}, "fields": {"editor_id": 404}})
    assert caught["error"].context["relation"] == "editor"
    with raises_df("DF-711"):
        run_node("PostBulkCreateNode", {"data": [{"title": "ok", "author_id": ids["ann"]},
                                                 {"title": "bad", "author_id": 404}]})
    with raises_df("DF-711"):
        run_node("PostBulkUpdateNode", {"filter": {}, "fields": {"author_id": 404}, "confirmed": True})
    assert raw_rows(make_model.db, post) == before


def test_on_delete_cascade_and_set_null(make_model, run_node):
    (_author, post, comment), ids, posts = _seeded(make_model, run_node, on_delete="cascade", editor="set_null")
    assert run_node("AuthorDeleteNode", {"id": ids["bob"]})["deleted"] is True
    left = run_node("PostListNode", {"order_by": ["title"], "fields": ["title", "editor_id"]})["records"]
    assert left == [{"title": "a1", "editor_id": None}, {"title": "a2", "editor_id": None}]
    with raises_df("DF-711") as caught:  # comments restrict the delete of their post
        run_node("PostDeleteNode", {"id": posts[0]})
    assert caught["error"].context["relation"] == "post" and "restrict" in caught["error"].message
    with raises_df("DF-711"):
        run_node("AuthorBulkDeleteNode", {"filter": {}, "confirmed": True})
    assert len(raw_rows(make_model.db, comment)) == 2 and len(raw_rows(make_model.db, post)) == 2


def test_on_delete_restrict(make_model, run_node):
    (author, _post, _comment), ids, _posts = _seeded(make_model, run_node)
    with raises_df("DF-711") as caught:
        run_node("AuthorDeleteNode", {"id": ids["ann"]})
    assert caught["error"].context["relation"] == "author"
    assert len(raw_rows(make_model.db, author)) == 2


def test_include_forward_and_reverse(make_model, run_node):
    (_author, _post, comment), ids, posts = _seeded(make_model, run_node)
    comments = make_model.table(comment)  # the reverse relation's name: the referencing model's table
    out = run_node("PostListNode", {"include": ["author", "editor"], "order_by": ["title"]})
    by_title = {r["title"]: r for r in out["records"]}
    assert strip(by_title["a1"]["author"]) == {"id": ids["ann"], "name": "Ann"}
    assert strip(by_title["a1"]["editor"]) == {"id": ids["bob"], "name": "Bob"}
    assert by_title["a2"]["editor"] is None
    read = run_node("PostReadNode", {"id": posts[0], "include": [comments], "fields": ["title"]})
    assert set(read) == {"title", comments, "found"}
    assert [c["body"] for c in read[comments]] == ["c1", "c2"]
    lonely = run_node("PostReadNode", {"id": posts[2], "include": comments})
    assert lonely[comments] == []


def test_include_is_one_query_per_relation(make_model, run_node):
    (_author, _post, comment), _ids, _posts = _seeded(make_model, run_node)
    dialect = make_model.db.dialect
    seen = []
    original = dialect.run

    async def counting(query, conn=None):
        if isinstance(query, Select):
            seen.append(query.model.name)
        return await original(query, conn)

    dialect.run = counting
    try:
        out = run_node("PostListNode", {"include": ["author", make_model.table(comment)], "fields": ["title"]})
    finally:
        del dialect.run
    assert sorted(seen) == ["Author", "Comment", "Post"]
    assert list(out["records"][0]) == ["title", "author", make_model.table(comment)]


def test_tables_are_made_in_the_order_relations_need(make_model, run_node):
    author, post, comment = _blog(make_model)
    with raises_df("DF-711"):  # the first node used is the child's: the parent table is made first
        run_node("PostCreateNode", {"title": "early", "author_id": 1})
    (ann,) = seed(run_node, author, [{"name": "Ann"}])
    (first,) = seed(run_node, post, [{"title": "t", "author_id": ann}])
    out = run_node("PostReadNode", {"id": first, "include": [make_model.table(comment)]})  # no comments table yet
    assert out[make_model.table(comment)] == []
    assert raw_rows(make_model.db, comment) == []


def test_relations_between_str_ids(make_model, run_node):
    @make_model
    class Team:
        id: str
        name: str

    @make_model
    class Player:
        id: str
        team_id: str | None = None
        __dataflow__ = {"foreign_keys": {"team_id": {"model": "Team", "on_delete": "set_null"}}}

    run_node("TeamCreateNode", {"id": "t1", "name": "Reds"})
    run_node("PlayerBulkCreateNode", {"data": [{"id": "p1", "team_id": "t1"}, {"id": "p2"}]})
    out = run_node("TeamReadNode", {"id": "t1", "include": [make_model.table(Player)]})
    assert [p["id"] for p in out[make_model.table(Player)]] == ["p1"]
    with raises_df("DF-711"):
        run_node("PlayerCreateNode", {"id": "p3", "team_id": "nope"})
    run_node("TeamDeleteNode", {"id": "t1"})
    assert run_node("PlayerReadNode", {"id": "p1"})["team_id"] is None


def test_auto_migration_adds_the_foreign_key_to_an_existing_table(make_model, run_node, db):
    if "migrate" not in db.plugins.statuses or db.plugins.statuses["migrate"].status not in ("active", "loaded"):
        pytest.skip("the basic schema manager adds columns only; foreign keys on existing tables need migrate")

    @make_model
    class Owner:
        name: str

    @make_model
    class Pet:
        name: str
        owner_id: int

    (owner,) = seed(run_node, Owner, [{"name": "o"}])
    seed(run_node, Pet, [{"name": "p", "owner_id": owner}])
    later = make_model.new_db()

    class Owner2:
        name: str

    class Pet2:
        name: str
        owner_id: int
        __dataflow__ = {"foreign_keys": {"owner_id": "Owner2"}}

    make_model(Owner2, db=later, table=make_model.table(Owner))
    make_model(Pet2, db=later, table=make_model.table(Pet))
    from dataflow import LocalRuntime, WorkflowBuilder

    def run_later(node, params):
        wf = WorkflowBuilder()
        wf.add_node(node, "n", dict(params, db_instance=later))
        return LocalRuntime().execute(wf.build())[0]["n"]

    with pytest.raises(DataFlowError) as info:
        run_later("Pet2CreateNode", {"name": "stray", "owner_id": 404})
    cause = info.value.__cause__ if info.value.code == "DF-802" else info.value
    assert getattr(cause, "code", None) == "DF-711"
    with pytest.raises(DataFlowError) as info:
        run_later("Owner2DeleteNode", {"id": owner})
    cause = info.value.__cause__ if info.value.code == "DF-802" else info.value
    assert getattr(cause, "code", None) == "DF-711"
    assert run_later("Pet2CountNode", {}) == {"count": 1}


@pytest.mark.parametrize("include", [["nope"], ["author_id"], ["Author"], [1], [None], [["author"]], {"author": 1},
                                     ["author; DROP TABLE x"], ["a" * 5000], ["author\x00"], ["author"] * 33, 7])
def test_bad_include_is_df102(make_model, run_node, include):
    (_author, post, _comment), _ids, posts = _seeded(make_model, run_node)
    before = raw_rows(make_model.db, post)
    with raises_df("DF-102"):
        run_node("PostListNode", {"include": include})
    with raises_df("DF-102"):
        run_node("PostReadNode", {"id": posts[0], "include": include})
    assert raw_rows(make_model.db, post) == before


def test_ambiguous_reverse_include_and_include_with_distinct(make_model, run_node):
    (_author, _post, _comment), ids, _posts = _seeded(make_model, run_node)
    with raises_df("DF-102", match="several fields"):
        run_node("AuthorReadNode", {"id": ids["ann"], "include": [make_model.table(_post)]})
    with raises_df("DF-102"):
        run_node("PostListNode", {"fields": ["title"], "distinct": True, "include": ["author"]})


@pytest.mark.parametrize("foreign_keys", [
    {"nope_id": "Target"},
    {"target_id": "Missing"},
    {"target_id": {"model": "Target", "on_delete": "explode"}},
    {"target_id": {"model": "Target", "on_delete": "set_null"}},
    {"target_id": {"model": "Target", "extra": 1}},
    {"target_id": 5},
    {"label": "Target"},
    {"target_id": "Target; DROP TABLE x"},
    ["target_id"],
])
def test_bad_foreign_key_declarations_are_refused(make_model, foreign_keys):
    @make_model
    class Target:
        name: str

    class Source:
        label: str
        target_id: int
        __dataflow__ = {"foreign_keys": foreign_keys}

    with pytest.raises(DataFlowError) as info:
        make_model(Source)
    assert info.value.code in ("DF-102", "DF-607")
    assert "Source" not in make_model.db.models


__all__ = tests_in(globals())
