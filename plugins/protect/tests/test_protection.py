"""Write protection end to end on SQLite, PostgreSQL and MariaDB: every level, every writing node, raw
writes through ``db.connection()``, rules added and removed at run time, and a refused write changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from dataflow import DataFlow, DataFlowError
from dataflow.loop import run_sync
from dataflow.testing import raises_df, raw_fetch

WRITES: list[tuple[str, dict[str, Any]]] = [
    ("InvoiceCreateNode", {"id": "new", "total": 1.0}),
    ("InvoiceUpdateNode", {"id": "i1", "fields": {"total": 9.0}}),
    ("InvoiceDeleteNode", {"id": "i1"}),
    ("InvoiceUpsertNode", {"where": {"id": "i1"}, "update": {"total": 9.0}, "create": {"total": 9.0}}),
    ("InvoiceBulkCreateNode", {"data": [{"id": "b1"}, {"id": "b2"}]}),
    ("InvoiceBulkUpdateNode", {"filter": {}, "fields": {"total": 9.0}, "confirmed": True}),
    ("InvoiceBulkDeleteNode", {"filter": {}, "confirmed": True}),
    ("InvoiceBulkUpsertNode", {"data": [{"id": "i1", "total": 9.0}, {"id": "b3", "total": 3.0}]}),
]
"""One call of every generated writing node of ``Invoice``, each of which would change the table."""


def invoices(db: DataFlow) -> list[tuple[Any, ...]]:
    table = db.models["Invoice"].table
    return [(r[0], float(r[1])) for r in raw_fetch(db, f"SELECT id, total FROM {db.dialect.quote(table)} ORDER BY id")]


def seed(one: Any) -> None:
    one("InvoiceBulkCreateNode", {"data": [{"id": "i1", "total": 1.0}, {"id": "i2", "total": 2.0}]})
    one("UserCreateNode", {"id": "u1", "email": "ann@example.com", "name": "Ann"})


@pytest.mark.parametrize(("node_type", "params"), WRITES, ids=[w[0] for w in WRITES])
@pytest.mark.parametrize("rule", [
    {"level": "global", "read_only": True},
    {"level": "connection", "read_only": True},
    {"level": "model", "model": "Invoice", "read_only": True},
    {"level": "operation", "model": "Invoice", "operations": ["write"]},
    {"level": "runtime", "when": lambda ctx: True},
], ids=["global", "connection", "model", "operation", "runtime"])
def test_every_writing_node_is_refused_and_changes_nothing(make: Any, one: Any, rule: dict[str, Any],
                                                           node_type: str, params: dict[str, Any]) -> None:
    db = make()
    seed(one)
    before = invoices(db)
    db.protection.add_rule(rule)
    with raises_df("DF-716") as caught:
        one(node_type, params)
    assert caught["error"].context["level"] == rule["level"]
    assert f"db.protection.remove_rule({caught['error'].context['rule']})" in caught["error"].message
    assert invoices(db) == before
    assert one("InvoiceReadNode", {"id": "i1"})["total"] == 1.0  # reads are never refused
    assert one("InvoiceCountNode", {})["count"] == 2


def test_rules_given_at_construction_and_the_issue_examples(make: Any, one: Any) -> None:
    db = make(write_protection=[
        {"level": "model", "model": "Invoice", "read_only": True},
        {"level": "operation", "model": "User", "operations": ["delete"]},
        {"level": "field", "model": "User", "field": "email", "immutable": True},
        {"level": "runtime", "when": lambda ctx: ctx.now.hour >= 25},  # never true
    ])
    assert [r["level"] for r in db.protection.list_rules()] == ["model", "operation", "field", "runtime"]
    one("UserCreateNode", {"id": "u1", "email": "ann@example.com"})
    with raises_df("DF-716"):
        one("InvoiceCreateNode", {"id": "i1"})
    with raises_df("DF-716"):
        one("UserDeleteNode", {"id": "u1"})
    with raises_df("DF-716"):  # 'delete' covers the bulk delete too
        one("UserBulkDeleteNode", {"filter": {"id": "u1"}})
    assert one("UserUpdateNode", {"id": "u1", "fields": {"name": "Ann"}})["name"] == "Ann"


def test_a_more_specific_allow_overrides_a_broader_refusal(make: Any, one: Any) -> None:
    db = make(write_protection=[{"level": "global", "read_only": True},
                                {"level": "model", "model": "User", "allow": True}])
    one("UserCreateNode", {"id": "u1", "email": "a@x"})
    with raises_df("DF-716", match="global level"):
        one("InvoiceCreateNode", {"id": "i1"})
    # An operation-level allow lets creates through under a model read-only (append-only invoices).
    db.protection.clear()
    db.protection.add_rule(level="model", model="Invoice", read_only=True)
    db.protection.add_rule(level="operation", model="Invoice", operations=["create"], allow=True)
    one("InvoiceCreateNode", {"id": "i1"})
    with raises_df("DF-716", match="model level"):
        one("InvoiceUpdateNode", {"id": "i1", "fields": {"total": 2.0}})
    # A field rule is more specific than a model allow.
    db.protection.clear()
    db.protection.add_rule(level="model", model="User", allow=True)
    db.protection.add_rule(level="field", model="User", field="email", immutable=True)
    with raises_df("DF-716", match="field level"):
        one("UserUpdateNode", {"id": "u1", "fields": {"email": "b@x"}})


def test_immutable_field_every_path_that_could_change_it(make: Any, one: Any) -> None:
    db = make(write_protection=[{"level": "field", "model": "User", "field": "email", "immutable": True}])
    one("UserCreateNode", {"id": "u1", "email": "a@x", "name": "A"})
    one("UserBulkCreateNode", {"data": [{"id": "u2", "email": "b@x"}, {"id": "u3", "email": "c@x"}]})
    attempts = [
        ("UserUpdateNode", {"id": "u1", "fields": {"email": "new@x"}}),
        ("UserUpdateNode", {"filter": {"id": "u1"}, "email": "new@x"}),
        ("UserUpsertNode", {"where": {"id": "u1"}, "update": {"email": "new@x"}, "create": {"email": "new@x"}}),
        ("UserBulkUpdateNode", {"filter": {"name": ""}, "fields": {"email": "same@x"}}),
        ("UserBulkUpdateNode", {"data": [{"id": "u2", "email": "b@x"}, {"id": "u3", "email": "other@x"}]}),
        ("UserBulkUpsertNode", {"data": [{"id": "u9", "email": "n@x"}, {"id": "u2", "email": "changed@x"}]}),
    ]
    table = db.models["User"].table
    before = raw_fetch(db, f"SELECT id, email, name FROM {db.dialect.quote(table)} ORDER BY id")
    for node_type, params in attempts:
        with raises_df("DF-716", match="immutable"):
            one(node_type, params)
    assert raw_fetch(db, f"SELECT id, email, name FROM {db.dialect.quote(table)} ORDER BY id") == before
    # Writes that leave the field as it is go through.
    assert one("UserUpdateNode", {"id": "u1", "fields": {"email": "a@x", "name": "B"}})["name"] == "B"
    one("UserBulkUpdateNode", {"data": [{"id": "u2", "email": "b@x", "name": "two"}]})
    one("UserBulkUpsertNode", {"data": [{"id": "u3", "email": "c@x", "name": "three"}, {"id": "u4", "email": "d@x"}]})
    one("UserUpsertNode", {"where": {"id": "u5"}, "create": {"email": "e@x"}, "update": {"email": "e@x"}})
    one("UserDeleteNode", {"id": "u5"})
    assert one("UserCountNode", {})["count"] == 4


def test_runtime_rules_windows_and_context(make: Any, one: Any) -> None:
    db = make()
    seen: list[Any] = []

    def after_hours(ctx: Any) -> bool:
        seen.append(ctx)
        return ctx.model == "Invoice"

    rule = db.protection.add_rule(level="runtime", when=after_hours)
    one("UserCreateNode", {"id": "u1", "email": "a@x"})
    with raises_df("DF-716", match="runtime level"):
        one("InvoiceCreateNode", {"id": "i1"})
    assert seen[0].operation == "create" and seen[0].now.tzinfo is not None and seen[0].node_id == "n"
    db.protection.remove_rule(rule)
    now = dt.datetime.now(dt.UTC)
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[now.weekday()]
    inside = f"{day} 00:00-23:59" if now.time() < dt.time(23, 59) else f"{day} 23:59-00:00"
    window = db.protection.add_rule(level="runtime", window=inside, tz="UTC", allow_inside=True)
    one("InvoiceCreateNode", {"id": "i1"})
    db.protection.remove_rule(window)
    db.protection.add_rule(level="runtime", window=inside, allow_inside=False, model="Invoice")
    with raises_df("DF-716"):
        one("InvoiceCreateNode", {"id": "i2"})
    one("UserCreateNode", {"id": "u2", "email": "b@x"})


def test_rules_added_and_removed_at_run_time(make: Any, one: Any) -> None:
    db = make()
    rule = db.protection.add_rule(level="model", model="Invoice", read_only=True)
    assert db.protection.list_rules() == [{"id": rule.id, "level": "model", "model": "Invoice", "read_only": True}]
    with raises_df("DF-716"):
        one("InvoiceCreateNode", {"id": "i1"})
    assert db.protection.remove_rule(rule.id) is rule
    one("InvoiceCreateNode", {"id": "i1"})
    with raises_df("DF-411"):
        db.protection.remove_rule(rule.id)


def test_rules_added_after_allowed_writes_apply_to_the_next_one(make: Any, one: Any) -> None:
    """The rules covering a (model, operation) are worked out once; any rule change anywhere redoes it."""
    db = make(write_protection=[{"level": "operation", "model": "Invoice", "operations": ["delete"]}])
    one("InvoiceCreateNode", {"id": "i1"})
    one("InvoiceCreateNode", {"id": "i2"})  # the same (model, operation): its rules, as worked out before
    rule = db.protection.add_rule(level="model", model="Invoice", read_only=True)
    with raises_df("DF-716", match="model level"):
        one("InvoiceCreateNode", {"id": "i3"})
    db.protection.remove_rule(rule)
    one("InvoiceCreateNode", {"id": "i3"})
    other = make(models=False)
    rule = other.protection.add_rule(level="global", read_only=True)  # another instance, the same database
    with raises_df("DF-716", match="global level"):
        one("InvoiceCreateNode", {"id": "i4"})
    other.protection.remove_rule(rule)
    one("InvoiceCreateNode", {"id": "i4"})


def test_a_refused_write_rolls_back_a_transactional_workflow(make: Any, run: Any, one: Any) -> None:
    db = make(write_protection=[{"level": "operation", "model": "Invoice", "operations": ["delete"]}])
    one("InvoiceCreateNode", {"id": "keep", "total": 1.0})
    with raises_df("DF-716"):
        run(("InvoiceCreateNode", "a", {"id": "i1", "total": 1.0}),
            ("InvoiceUpdateNode", "b", {"id": "keep", "fields": {"total": 5.0}}),
            ("InvoiceDeleteNode", "c", {"id": "keep"}), transaction=True)
    assert invoices(db) == [("keep", 1.0)]


def test_global_rules_protect_every_instance_on_the_database_connection_rules_only_their_own(make: Any,
                                                                                            one: Any) -> None:
    first = make(models=False)
    first.protection.add_rule(level="connection", read_only=True)
    second = make(models=False)
    make.models(second)
    one("InvoiceCreateNode", {"id": "i1", "db_instance": second})  # the first instance's rule is its own
    rule = first.protection.add_rule(level="global", read_only=True)
    with raises_df("DF-716", match="global level"):
        one("InvoiceCreateNode", {"id": "i2", "db_instance": second})
    with raises_df("DF-716") as caught:
        one("InvoiceCreateNode", {"id": "i2"})
    assert "instance that added it" in caught["error"].message
    first.protection.remove_rule(rule)
    one("InvoiceCreateNode", {"id": "i2"})


def test_raw_writes_through_db_connection_are_checked(make: Any, one: Any) -> None:
    db = make()
    seed(one)
    q = db.dialect.quote
    invoice, user = q(db.models["Invoice"].table), q(db.models["User"].table)
    p = db.dialect.placeholder

    async def raw(sql: str, params: list[Any] | None = None, fetch: bool = False) -> Any:
        async with db.connection() as conn:
            return await (conn.fetch if fetch else conn.execute)(sql, params or [])

    db.protection.add_rule(level="model", model="Invoice", read_only=True)
    db.protection.add_rule(level="field", model="User", field="email", immutable=True)
    for sql in (f"DELETE FROM {invoice}", f"UPDATE {invoice} SET total = 0",
                f"INSERT INTO {invoice} (id, total) VALUES ('x', 1)", f"DROP TABLE {invoice}",
                f"/* hidden */ delete from {invoice} where id = 'i1'", f"UPDATE {user} SET email = 'z'"):
        with raises_df("DF-716"):
            run_sync(raw(sql))
    # Reads, writes elsewhere, and a keyword inside a string are fine.
    assert len(run_sync(raw(f"SELECT id FROM {invoice} WHERE id <> 'DELETE FROM {invoice}'", fetch=True))) == 2
    run_sync(raw(f"UPDATE {user} SET name = {p(1)} WHERE email = {p(2)}", ["Annie", "ann@example.com"]))
    assert one("UserReadNode", {"id": "u1"})["name"] == "Annie"
    # The raw SQL API: db.execute / db.fetch (a write with RETURNING is a write too).
    with raises_df("DF-716"):
        db.execute_sync(f"DELETE FROM {invoice} WHERE id = :id", {"id": "i1"})
    with raises_df("DF-716"):
        db.fetch_sync(f"UPDATE {invoice} SET total = 0 WHERE id = 'i1' RETURNING id")
    assert len(db.fetch_sync(f"SELECT id FROM {invoice}")) == 2
    db.protection.clear()
    run_sync(raw(f"DELETE FROM {invoice} WHERE id = 'i2'"))
    assert [r[0] for r in invoices(db)] == ["i1"]


def test_disabled_or_absent_plugin_never_leaves_writes_silently_unprotected(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'off.db'}"
    with raises_df("DF-401", match="dataflow-protect"):
        DataFlow(url, disable_plugins=["protect"], write_protection=[{"level": "global", "read_only": True}])
    with raises_df("DF-401", match="dataflow-protect"):
        DataFlow(url, disable_plugins=["protect"], audit_log=True)
    with DataFlow(url, disable_plugins=["protect"]) as db:  # the rest works without it
        db.model(type("Note", (), {"__annotations__": {"id": str}}))
        with pytest.raises(AttributeError, match="dataflow-protect"):
            db.protection  # noqa: B018
        async def raw() -> None:
            async with db.connection() as conn:
                await conn.execute("CREATE TABLE t_off (id TEXT)", [])
        run_sync(raw())


@pytest.mark.parametrize(("rules", "match"), [
    ("read only", "list of rules"),
    ([{"level": "galaxy"}], "'level' must be one of"),
    ([{"level": "model", "model": "Invoice", "readonly": True}], "takes no 'readonly'"),
    ([{"level": "model", "model": "Invoice", "read_only": "yes"}], "True or False"),
    ([{"level": "model", "read_only": True}], "needs 'model'"),
    ([{"level": "operation", "model": "Invoice", "operations": []}], "non-empty list"),
    ([{"level": "field", "model": "User", "field": "email"}], "immutable"),
    ([{"level": "runtime"}], "either 'when'"),
    ([{"level": "runtime", "when": 3}], "must be a function"),
    ([{"level": "runtime", "window": "Mon-Fri 9-5"}], "must look like"),
    ([{"level": "runtime", "window": "Mon-Fru 09:00-17:00"}], "not a day"),
    ([{"level": "runtime", "window": "09:00-25:00"}], "not a time of day"),
    ([{"level": "runtime", "window": "09:00-17:00", "tz": "Mars/Olympus"}], "unknown time zone"),
    ([{"level": "model", "model": "Invoice", "read_only": True, "allow": True}], "both"),
    ([3], "is a dict"),
])
def test_invalid_rules_are_df_411(tmp_path: Any, rules: Any, match: str) -> None:
    with raises_df("DF-411", match=match):
        DataFlow(f"sqlite:///{tmp_path / 'bad.db'}", write_protection=rules)


def test_a_rule_naming_an_unknown_model_or_field_fails_closed(make: Any, one: Any) -> None:
    db = make()
    db.protection.add_rule(level="model", model="Invoce", read_only=True)
    with raises_df("DF-411", match="Did you mean 'Invoice'"):
        one("InvoiceCreateNode", {"id": "i1"})
    db.protection.clear()
    db.protection.add_rule(level="field", model="User", field="mail", immutable=True)
    with raises_df("DF-411", match="email"):
        one("UserCreateNode", {"id": "u1", "email": "a@x"})
    db.protection.clear()
    db.protection.add_rule(level="runtime", when=lambda ctx: 1 / 0)
    with raises_df("DF-411", match="ZeroDivisionError"):
        one("UserCreateNode", {"id": "u1", "email": "a@x"})
    assert one("UserCountNode", {})["count"] == 0


def test_add_rule_arguments(make: Any) -> None:
    db = make()
    with raises_df("DF-411"):
        db.protection.add_rule({"level": "global", "read_only": True}, level="global")
    rule = db.protection.add_rule({"level": "global", "read_only": True, "name": "freeze", "reason": "migration"})
    assert "freeze" in rule.describe()
    with pytest.raises(DataFlowError, match="migration"):
        async def go() -> None:
            await db.protection.check(__import__("dataflow_protect").WriteIntent("Invoice", "create"))
        run_sync(go())


def test_writing_nodes_of_other_plugins_are_covered(make: Any, one: Any, tmp_path: Any) -> None:
    pytest.importorskip("dataflow_export")
    db = make()
    seed(one)
    path = tmp_path / "invoices.jsonl"
    one("InvoiceExportNode", {"path": str(path)})  # a read: never checked
    db.protection.add_rule(level="model", model="Invoice", read_only=True)
    one("InvoiceExportNode", {"path": str(path)})
    with raises_df("DF-716", match="import on Invoice"):
        one("InvoiceImportNode", {"path": str(path), "conflict_resolution": "update"})
    db.protection.clear()
    db.protection.add_rule(level="operation", model="Invoice", operations=["import"])
    with raises_df("DF-716"):
        one("InvoiceImportNode", {"path": str(path), "conflict_resolution": "update"})
    db.protection.clear()
    db.protection.add_rule(level="field", model="Invoice", field="total", immutable=True)
    with raises_df("DF-716", match="immutable"):  # it cannot say which fields it changes
        one("InvoiceImportNode", {"path": str(path), "conflict_resolution": "update"})
