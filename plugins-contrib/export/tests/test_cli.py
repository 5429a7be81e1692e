"""``dataflow export`` / ``dataflow import`` on each database: JSON summaries, the progress bar, errors, help."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from dataflow.cli import main
from dataflow.testing import unique_table

MODELS = '''
from dataflow import DataFlow

db = DataFlow({url!r})


@db.model
class Gadget:
    id: str
    name: str
    price: float = 0.0
    __tablename__ = {table!r}
'''


@pytest.fixture
def project(make_model: Any, run_node: Any, tmp_path: Path, dataflow_url: str) -> Path:
    """A models file declaring ``Gadget`` on the test database, with three rows in its table."""
    table = unique_table("gadgets")

    class Gadget:
        id: str
        name: str
        price: float = 0.0

    make_model(Gadget, table=table)
    run_node("GadgetBulkCreateNode", {"data": [{"id": f"g{i}", "name": f"gadget {i}", "price": i * 1.5}
                                               for i in range(3)]})
    models = tmp_path / "models.py"
    models.write_text(MODELS.format(url=dataflow_url, table=table))
    return models


def test_export_then_import_from_the_command_line(project, run_node, tmp_path, capsys):
    path = tmp_path / "gadgets.csv"
    assert main(["export", "Gadget", str(path), "--models", str(project), "--order-by=-price", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["exported"] == 3 and summary["format"] == "csv"
    assert path.read_text().splitlines()[1].startswith("g2,gadget 2,3.0,")
    run_node("GadgetBulkDeleteNode", {"filter": {}, "confirmed": True})
    assert main(["import", "Gadget", str(path), "--models", str(project), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inserted"] == 3
    assert run_node("GadgetCountNode", {})["count"] == 3


def test_the_table_name_works_too_and_rich_output_shows_progress(project, tmp_path, capsys):
    table = project.read_text().split("__tablename__ = ")[1].strip().strip("'")
    path = tmp_path / "g.jsonl"
    assert main(["export", table, str(path), "--models", str(project), "--filter", '{"price": {"$gt": 1}}']) == 0
    out = capsys.readouterr()
    assert "Exported 2 rows" in out.out and "Exporting Gadget" in out.err
    assert len(path.read_text().splitlines()) == 2


def test_a_bad_file_exits_2_with_the_df_code_and_line(project, run_node, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("id,name,price\nn1,new,1\nn2,new,cheap\n")
    assert main(["import", "Gadget", str(path), "--models", str(project), "--json"]) == 2
    err = capsys.readouterr().err
    assert "DF-712" in err and "Line 3" in err
    assert run_node("GadgetCountNode", {})["count"] == 3


@pytest.mark.parametrize("command", ["export", "import"])
def test_help_explains_the_commands(command, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps narrower help; keep option names whole
    assert main([command, "--help"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert ("keyset" if command == "export" else "DF-712") in out
    assert "--models" in out and "--json" in out and "--empty" not in out


def test_without_models_the_table_is_read_from_the_database(project, tmp_path, dataflow_url, capsys):
    """No --models: with the migrate plugin the live table is discovered; without it, DF-407 names the plugin."""
    table = project.read_text().split("__tablename__ = ")[1].strip().strip("'")
    path = tmp_path / "discovered.jsonl"
    code = main(["export", table, str(path), "--url", dataflow_url, "--order-by=id", "--json"])
    if importlib.util.find_spec("dataflow_migrate") is None:
        assert code == 2 and "DF-407" in capsys.readouterr().err
        return
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["id"], r["name"], r["price"]) for r in rows] == [("g0", "gadget 0", 0.0), ("g1", "gadget 1", 1.5),
                                                                ("g2", "gadget 2", 3.0)]
