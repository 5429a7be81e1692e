"""Every risk rule on every database where it applies, on real tables holding data."""

from __future__ import annotations

import pytest
from dataflow import DataFlow
from dataflow.errors import DataFlowError
from dataflow.migration import MigrationPlan, MigrationStep, RiskLevel
from dataflow.schema import compare_types
from dataflow.types import ServerInfo
from dataflow_risk.assess import assess_steps, refuse_if_risky
from dataflow_risk.rules import StepFacts, evaluate

pytestmark = pytest.mark.anyio
L = RiskLevel


async def users(env, rows=3, nulls=False):
    data = [(f"u{i}", None if nulls and i == 0 else i) for i in range(rows)]
    return await env.table("name VARCHAR(40), n INTEGER", data, "name, n")


async def findings(env, step):
    return {f.rule: f for f in await assess_steps([step], env.db)}


def by_kind(env, **levels):
    return levels.get(env.kind, levels.get("other"))


async def test_adding_required_field(env):
    t = await users(env)
    found = await findings(
        env, MigrationStep("add_column", t, "status", details={"type": "VARCHAR(20)", "nullable": False})
    )
    assert found["adding-required-field"].level == by_kind(env, mysql=L.HIGH, other=L.CRITICAL)
    assert found["adding-required-field"].category == "integrity"
    if env.kind != "mysql":  # the claim holds: the real statement fails
        with pytest.raises(DataFlowError):
            await env.catalog.execute([f"ALTER TABLE {env.q(t)} ADD COLUMN status VARCHAR(20) NOT NULL"])
    empty = await users(env, rows=0)
    found = await findings(env, MigrationStep("add_column", empty, "status", details={"nullable": False}))
    assert found["adding-required-field"].level == L.MEDIUM  # the dialect's own DDL (SQLite: a rebuild) works
    raw = f"ALTER TABLE {env.q(empty)} ADD COLUMN status VARCHAR(20) NOT NULL"
    found = await findings(env, MigrationStep("add_column", empty, "status", sql=(raw,), details={"nullable": False}))
    assert found["adding-required-field"].level == by_kind(env, sqlite=L.CRITICAL, other=L.MEDIUM)
    safe = MigrationStep("add_column", t, "status", details={"nullable": False, "default": "active"})
    assert "adding-required-field" not in await findings(env, safe)


async def test_volatile_default(env):
    t = await users(env)
    expr = {"postgresql": "random()", "mysql": "(RAND())", "sqlite": "(random())"}[env.kind]
    found = await findings(env, MigrationStep("add_column", t, "r", details={"default_expression": expr}))
    assert found["adding-field-with-volatile-default"].level == L.MEDIUM  # rewrites (SQLite: rebuilds) 3 rows
    raw = f"ALTER TABLE {env.q(t)} ADD COLUMN r INTEGER DEFAULT {expr}"
    found = await findings(env, MigrationStep("add_column", t, "r", sql=(raw,), details={"default_expression": expr}))
    rule = found["adding-field-with-volatile-default"]
    assert rule.level == by_kind(env, sqlite=L.CRITICAL, other=L.MEDIUM)
    constant = await findings(env, MigrationStep("add_column", t, "c", details={"default": 5}))
    assert not constant  # PostgreSQL 11+, MariaDB 10.3+ / MySQL 8.0.12+ add it instantly; SQLite accepts it


def dialect_of(url: str):
    """A dialect of the kind ``url`` names (no connection is made: costs need none)."""
    with DataFlow(url) as instance:
        return instance.dialect


async def test_default_rewrite_is_version_aware():
    step = MigrationStep("add_column", "t", "c", details={"default": 1, "nullable": False})
    pg, my = dialect_of("postgresql://root@127.0.0.1/test"), dialect_of("mysql://root@127.0.0.1/test")
    for dialect, version, fires in (
        (pg, "10.4", True),
        (pg, "15.2", False),
        (my, "10.2.40-MariaDB", True),
        (my, "10.11.6-MariaDB", False),
        (my, "8.0.11", True),
        (my, "8.0.30", False),
    ):
        server = ServerInfo.parse(dialect.name, version)
        facts = StepFacts(dialect.change_cost(step, None, server, 50_000), dialect.capabilities, server, rows=50_000)
        rules = {f.rule: f for f in evaluate(step, facts)}
        assert ("adding-field-with-default-rewrites" in rules) is fires, (dialect.name, version)
        if fires:
            assert rules["adding-field-with-default-rewrites"].level == L.HIGH


async def test_setting_not_null(env):
    with_nulls = await users(env, nulls=True)
    found = await findings(env, MigrationStep("alter_nullability", with_nulls, "n", details={"nullable": False}))
    assert (
        found["setting-not-null"].level == L.CRITICAL
        and "1 existing rows hold NULL" in found["setting-not-null"].reason
    )
    clean = await users(env)
    found = await findings(env, MigrationStep("alter_nullability", clean, "n", details={"nullable": False}))
    assert found["setting-not-null"].level == L.MEDIUM and found["setting-not-null"].category == "locking"


async def test_dropping_not_null(env):
    t = await users(env)
    found = await findings(env, MigrationStep("alter_nullability", t, "name", details={"nullable": True}))
    assert found["dropping-not-null"].level == L.MEDIUM
    assert found["dropping-not-null"].category == "backward_compatibility"


async def test_changing_column_type(env):
    t = await users(env)
    widen = await findings(env, MigrationStep("alter_type", t, "name", details={"new_type": "VARCHAR(60)"}))
    narrow = await findings(env, MigrationStep("alter_type", t, "name", details={"new_type": "VARCHAR(5)"}))
    bigint = await findings(env, MigrationStep("alter_type", t, "n", details={"new_type": "BIGINT"}))
    if env.kind == "sqlite":  # affinity is kept, but SQLite rebuilds the table to change a declared type
        assert widen["changing-column-type"].level == L.MEDIUM
        assert bigint["changing-column-type"].level == L.MEDIUM
    else:
        assert widen["changing-column-type"].level == L.LOW
        assert narrow["changing-column-type"].level == L.CRITICAL
        assert narrow["changing-column-type"].category == "locking"
        assert bigint["changing-column-type"].level == L.MEDIUM


def test_type_changes_are_judged_by_each_dialect():
    assert compare_types("character varying(50)", "varchar(100)") == "safe"
    assert compare_types("numeric(10,2)", "numeric(12,2)") == "safe"
    assert compare_types("numeric(10,2)", "numeric(8,2)") == "narrowing"
    assert compare_types("integer", "bigint") == "rewrite"
    assert compare_types("bigint", "integer") == "narrowing"
    assert compare_types("INT", "BIGINT", by_affinity=True) == "same"
    assert compare_types("TEXT", "INTEGER", by_affinity=True) == "rewrite"

    def cost(url: str, old: str, new: str):
        dialect = dialect_of(url)
        step = MigrationStep("alter_type", "t", "c", details={"from": old, "to": new})
        return dialect.change_cost(step, None, ServerInfo(dialect.name, (15,)), 10)

    pg, my = "postgresql://root@127.0.0.1/test", "mysql://root@127.0.0.1/test"
    assert cost(pg, "varchar(50)", "text").effect.value == "instant"
    assert cost(pg, "numeric(10,2)", "numeric(8,2)").narrows
    assert cost(my, "varchar(40)", "varchar(60)").effect.value == "instant"
    assert cost(my, "varchar(40)", "varchar(100)").effect.value == "rewrite"  # the length prefix grows
    assert cost("sqlite:///:memory:", "INT", "BIGINT").effect.value == "rewrite"  # SQLite rebuilds the table


async def test_dropping_column(env):
    t = await users(env)
    assert (await findings(env, MigrationStep("drop_column", t, "n")))["dropping-column"].level == L.HIGH
    await env.view(f"SELECT name FROM {env.q(t)}")
    found = (await findings(env, MigrationStep("drop_column", t, "name")))["dropping-column"]
    assert found.level == L.CRITICAL and "view" in found.reason and found.category == "data_loss"
    empty = await users(env, rows=0)
    assert (await findings(env, MigrationStep("drop_column", empty, "n")))["dropping-column"].level == L.MEDIUM


async def test_dropping_table(env):
    parent = await users(env)
    await env.table(f"owner INTEGER REFERENCES {env.q(parent)}(id)", [(1,)], "owner", prefix="c")
    found = (await findings(env, MigrationStep("drop_table", parent)))["dropping-table"]
    assert found.level == L.CRITICAL and "foreign key" in found.reason
    empty = await users(env, rows=0)
    assert (await findings(env, MigrationStep("drop_table", empty)))["dropping-table"].level == L.HIGH


async def test_renaming(env):
    t = await users(env)
    col = await findings(env, MigrationStep("rename_column", t, "name", details={"new_name": "title"}))
    assert col["renaming"].level == L.HIGH and col["renaming"].category == "backward_compatibility"
    await env.view(f"SELECT name FROM {env.q(t)}")
    table = await findings(env, MigrationStep("rename_table", t, details={"new_name": "people"}))
    assert table["renaming"].level == by_kind(env, mysql=L.CRITICAL, other=L.HIGH)


async def test_index_without_concurrently(env):
    t = await users(env)
    plain = await findings(
        env, MigrationStep("add_index", t, "n", details={"columns": ["n"]}, sql=(f"CREATE INDEX ix ON {t} (n)",))
    )
    concurrent = await findings(
        env, MigrationStep("add_index", t, "n", sql=(f"CREATE INDEX CONCURRENTLY ix ON {t} (n)",))
    )
    if env.kind == "postgresql":
        assert plain["require-concurrent-index-creation"].level == L.MEDIUM
        assert "require-concurrent-index-creation" not in concurrent
    else:  # MySQL builds indexes online; SQLite only matters on large tables
        assert "require-concurrent-index-creation" not in plain


async def test_large_table_raises_lock_risk(env):
    if env.kind != "postgresql":
        pytest.skip("CONCURRENTLY is PostgreSQL's")
    t = await env.table("n INTEGER", [(i,) for i in range(10_000)], "n")
    found = await findings(env, MigrationStep("add_index", t, "n"))
    assert found["require-concurrent-index-creation"].level == L.HIGH


async def test_unique_constraint(env):
    dup = await env.table("email VARCHAR(40)", [("a@x",), ("a@x",), ("b@x",)], "email")
    found = await findings(env, MigrationStep("add_unique", dup, "email", details={"columns": ["email"]}))
    assert found["unique-on-duplicate-values"].level == L.CRITICAL
    clean = await env.table("email VARCHAR(40)", [("a@x",), ("b@x",)], "email")
    found = await findings(env, MigrationStep("add_unique", clean, "email", details={"columns": ["email"]}))
    assert "unique-on-duplicate-values" not in found
    assert found["disallowed-unique-constraint"].level == L.MEDIUM


async def test_constraint_missing_not_valid(env):
    parent = await users(env)
    child = await env.table("owner INTEGER", [(1,), (2,), (99,)], "owner", prefix="c")
    fk = MigrationStep("add_foreign_key", child, "owner", details={"columns": ["owner"], "ref_table": parent})
    found = await findings(env, fk)
    assert (
        found["constraint-missing-not-valid"].level == L.CRITICAL
        and "1 existing rows" in found["constraint-missing-not-valid"].reason
    )
    await env.sql(f"DELETE FROM {env.q(child)} WHERE owner = 99")
    found = await findings(env, fk)
    assert found["constraint-missing-not-valid"].level == L.MEDIUM
    if env.kind == "postgresql":
        not_valid = MigrationStep(
            "add_foreign_key",
            child,
            "owner",
            details={"columns": ["owner"], "ref_table": parent},
            sql=("ALTER TABLE c ADD CONSTRAINT fk FOREIGN KEY (owner) REFERENCES p (id) NOT VALID",),
        )
        assert "constraint-missing-not-valid" not in await findings(env, not_valid)
    check = await findings(env, MigrationStep("add_check", parent, details={"expression": "n < 2"}))
    assert check["constraint-missing-not-valid"].level == L.CRITICAL


async def test_dropping_constraints(env):
    t = await env.table("email VARCHAR(40)", [("a",)], "email")
    await env.sql(f"CREATE UNIQUE INDEX {env.q('ux_' + t)} ON {env.q(t)} (email)")
    found = await findings(env, MigrationStep("drop_index", t, details={"name": "ux_" + t}))
    assert found["dropping-constraint"].level == L.MEDIUM and found["dropping-constraint"].category == "integrity"
    if env.kind == "postgresql":
        assert found["require-concurrent-index-deletion"].level == L.MEDIUM
    fk = await findings(env, MigrationStep("drop_foreign_key", t, details={"name": "fk"}))
    assert fk["dropping-constraint"].level == L.LOW


async def test_changing_default(env):
    t = await users(env)
    found = await findings(env, MigrationStep("alter_default", t, "n", details={"default": 7}))
    assert found["changing-default"].level == by_kind(env, sqlite=L.MEDIUM, other=L.LOW)


async def test_trigger_is_a_dependent(env):
    t = await users(env)
    trigger = env.name("tr")
    if env.kind == "sqlite":
        await env.sql(
            f"CREATE TRIGGER {env.q(trigger)} AFTER INSERT ON {env.q(t)} BEGIN "
            f"UPDATE {env.q(t)} SET n = 0 WHERE id = NEW.id AND NEW.n IS NULL; END"
        )
    elif env.kind == "mysql":
        await env.sql(
            f"CREATE TRIGGER {env.q(trigger)} BEFORE INSERT ON {env.q(t)} FOR EACH ROW SET NEW.n = COALESCE(NEW.n, 0)"
        )
    else:
        fn = env.name("fn")
        await env.sql(
            f"CREATE FUNCTION {env.q(fn)}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN NEW.n := COALESCE(NEW.n, 0); RETURN NEW; END$$",
            f"CREATE TRIGGER {env.q(trigger)} BEFORE INSERT ON {env.q(t)} FOR EACH ROW EXECUTE FUNCTION {env.q(fn)}()",
        )
    found = (await findings(env, MigrationStep("drop_table", t)))["dropping-table"]
    assert f"trigger {trigger}" in found.reason


async def test_hook_and_gate(env):
    t = await users(env)
    plan = MigrationPlan(
        env.kind,
        [MigrationStep("add_column", t, "ok", details={"nullable": True}), MigrationStep("drop_column", t, "n")],
    )
    results = env.db.plugins.hook.dataflow_assess_migration(plan=plan, db=env.db)
    for result in results:
        plan.findings.extend(await result)
    assert plan.level == L.HIGH and plan.findings[0].step_index == 1 and plan.findings[0].mitigation
    with pytest.raises(DataFlowError) as info:
        refuse_if_risky(env.db, plan)
    assert info.value.code == "DF-302"
    refuse_if_risky(env.db, plan, confirmed=True)
