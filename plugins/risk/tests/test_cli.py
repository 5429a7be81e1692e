"""``dataflow migrate assess`` on every database: one command, clear help, never a made-up database or a
rating of a table that does not exist."""

from __future__ import annotations

import json

import pytest
from dataflow.cli import main

pytestmark = pytest.mark.anyio


def test_assess_without_a_url_never_creates_a_database(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code = main(["migrate", "assess", "drop_column", "customers", "--column", "email"])
    err = capsys.readouterr().err
    assert code == 2 and "DF-304" in err and "customers" in err
    assert list(tmp_path.iterdir()) == [], "assessing created a database file"


async def test_assess_refuses_a_table_that_does_not_exist(env, capsys):
    missing = env.name("missing")
    code = main(["migrate", "assess", "drop_column", missing, "--column", "x", "--url", env.db.url.raw])
    err = capsys.readouterr().err
    assert code == 2 and "DF-304" in err and missing in err


async def test_assess_reports_a_real_table(env, capsys):
    table = await env.table("name VARCHAR(40)", [("a",), ("b",)], "name")
    code = main(["migrate", "assess", "drop_column", table, "--column", "name", "--url", env.db.url.raw, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["overall_risk_level"] == "HIGH" and report["facts"]["row_count"] == 2


def test_one_assess_command_with_help_for_every_flag(capsys):
    assert main(["risk", "assess", "--rules"]) != 0, "the command exists once, under migrate"
    capsys.readouterr()
    for command in (["migrate", "assess"], ["migrate", "plan"], ["migrate", "apply"], ["migrate", "status"],
                    ["migrate", "require"]):
        assert main([*command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "--empty-" not in text and "--no-json" not in text, command
        json_line = next(line for line in text.splitlines() if "--json" in line)
        assert "JSON" in json_line, f"{command}: --json has no description"
