"""``dataflow migrate status | plan | apply`` end to end, with --models files and --url."""

from __future__ import annotations

import json
import textwrap

from dataflow import DataFlow
from dataflow.cli import main
from dataflow.testing import raw_execute, unique_table

MODELS = '''
from typing import Optional
from dataflow import DataFlow

db = DataFlow("sqlite:///{home}/ignored.db")


@db.model
class Parcel:
    __tablename__ = "{table}"
    label: str
{extra}
'''


def write_models(tmp_path, table: str, extra: str = "") -> str:
    path = tmp_path / f"models_{unique_table('m')}.py"
    path.write_text(MODELS.format(home=tmp_path, table=table, extra=textwrap.indent(extra, "    ")))
    return str(path)


def cli_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["migrate", *args, "--json"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else {})


def test_plan_apply_status(dataflow_url, tmp_path, capsys):
    table = unique_table("t_parcel")
    db = DataFlow(dataflow_url)
    try:
        models = write_models(tmp_path, table, "weight: Optional[float] = None")
        code, planned = cli_json(capsys, "plan", "--url", dataflow_url, "--models", models)
        assert code == 0 and [s["kind"] for s in planned["steps"]] == ["create_table"]
        assert planned["steps"][0]["risk"] == "LOW"
        code, applied = cli_json(capsys, "apply", "--url", dataflow_url, "--models", models)
        assert code == 0 and applied["status"] == "applied" and applied["steps"] == 1
        code, status = cli_json(capsys, "status", "--url", dataflow_url, "--models", models)
        assert code == 0 and status["pending"]["steps"] == []
        assert any(row["id"] == applied["id"] for row in status["history"])

        # Dropping a field whose column holds data is risky: refused without --confirm, applied with it.
        # (On an empty table the risk plugin rates the drop MEDIUM: nothing is lost.)
        raw_execute(db, f"INSERT INTO {db.dialect.quote(table)} ({db.dialect.quote('label')}, "
                        f"{db.dialect.quote('weight')}) VALUES ('p1', 2.5)")
        fewer = write_models(tmp_path, table)
        # Without --drop-columns nothing is dropped, ever.
        code, planned = cli_json(capsys, "plan", "--url", dataflow_url, "--models", fewer)
        assert code == 0 and planned["steps"] == []
        code, applied = cli_json(capsys, "apply", "--url", dataflow_url, "--models", fewer, "--confirm")
        assert code == 0 and applied["status"] == "empty"
        assert "weight" in db.introspect_schema([table])[table].column_map
        code = main(["migrate", "apply", "--url", dataflow_url, "--models", fewer, "--drop-columns"])
        captured = capsys.readouterr()
        assert code == 2 and "DF-302" in captured.err
        assert "weight" in db.introspect_schema([table])[table].column_map
        code, applied = cli_json(capsys, "apply", "--url", dataflow_url, "--models", fewer, "--drop-columns",
                                 "--confirm")
        assert code == 0 and [s["kind"] for s in applied["plan"]["steps"]] == ["drop_column"]
        assert "weight" not in db.introspect_schema([table])[table].column_map
    finally:
        raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(table)}")
        db.close()


def test_rich_output_and_progress(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    models = write_models(tmp_path, unique_table("t_parcel"))
    assert main(["migrate", "plan", "--url", url, "--models", models]) == 0
    assert "create_table" in capsys.readouterr().out
    assert main(["migrate", "apply", "--url", url, "--models", models]) == 0
    assert "Applied 1 step" in capsys.readouterr().out
    assert main(["migrate", "status", "--url", url, "--models", models]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_models_module_without_url_uses_its_instance(tmp_path, capsys, monkeypatch):
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(MODELS.format(home=tmp_path, table=unique_table("t_parcel"), extra=""))
    monkeypatch.chdir(tmp_path)
    code, planned = cli_json(capsys, "plan", "--models", "shop.models")
    assert code == 0 and planned["dialect"] == "sqlite" and planned["steps"][0]["kind"] == "create_table"
