"""``dataflow analyze | debug | validate | perf``: workflow files, reports, ``--json`` and exit statuses.

In-process through ``dataflow.cli.main`` (as the console script runs it), in ``tmp_path`` with the
workflow files of ``conftest``; ``INSPECT_URL`` points the files at a SQLite file, or at the real
PostgreSQL and MariaDB servers for ``perf``. Exit status: 0 all passed, 1 problems found, 2 a usage error.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from dataflow import DataFlow
from dataflow.cli import main
from dataflow.testing.fixtures import DIALECTS, dialect_url, raw_execute

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``cli(*args) -> (exit status, stdout, stderr)``, run in ``tmp_path`` on a SQLite file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INSPECT_URL", f"sqlite:///{tmp_path / 'flow.db'}")
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_validate_passes_a_well_formed_workflow_even_strict(cli: Run, good_file: Path) -> None:
    code, out, _ = cli("validate", str(good_file), "--strict")
    assert code == 0, out
    for line in ("- Structure: PASSED", "- Connections: PASSED (1 connections", "- Parameters: PASSED",
                 "- Types: PASSED", "- Cycles: PASSED", "- Overall: PASSED ✓"):
        assert line in out


def test_validate_reports_every_problem_and_exits_1(cli: Run, broken_file: Path) -> None:
    code, out, _ = cli("validate", str(broken_file))
    assert code == 1
    assert "- Overall: FAILED" in out and "- Cycles: FAILED" in out and "- Types: FAILED" in out
    assert "Missing source" in out and "Type mismatch" in out and "never reached" in out
    code, out, _ = cli("validate", str(broken_file), "--json")
    report = json.loads(out)
    assert code == 1 and not report["is_valid"] and report["workflow"] == "workflow"
    assert {e["kind"] for e in report["errors"]} == {"cycle", "missing_source", "type", "unreachable"}


def test_strict_turns_warnings_into_failures(cli: Run, workflow_file: Callable[..., Path]) -> None:
    path = workflow_file('''
        workflow = WorkflowBuilder()
        workflow.add_node("UserCreateNode", "a", {"id": "a", "name": "A", "email": "a@x.io", "nickname": "Al"})
        workflow.add_node("UserCreateNode", "b", {"id": "b", "email": "b@x.io"})
        workflow.add_connection("a", "nickname", "b", "name")
    ''')
    code, out, _ = cli("validate", str(path))
    assert code == 0 and "may-be-none" in out and "--strict makes them failures" in out
    code, out, _ = cli("validate", str(path), "--strict")
    assert code == 1 and "- Types: FAILED (1 warning)" in out


def test_analyze_text_json_and_graphs(cli: Run, good_file: Path, broken_file: Path) -> None:
    code, out, _ = cli("analyze", str(good_file))
    assert code == 0
    for line in ("Workflow Analysis Report", "- Nodes: 4", "- Connections: 1", "- Cycles: 0", "- Validation: PASSED"):
        assert line in out
    code, out, _ = cli("analyze", str(broken_file), "--json")
    data = json.loads(out)
    assert code == 1 and data["summary"]["cycles"] == 1 and data["cycles"] == [["a", "b"]]
    assert set(data["unreachable"]) == {"a", "b", "after"}
    code, out, _ = cli("analyze", str(broken_file), "--format", "mermaid")
    assert code == 1 and out.startswith("flowchart TD") and '-->|"age → name"|' in out and "linkStyle" in out
    code, out, _ = cli("analyze", str(good_file), "--format", "dot")
    assert code == 0 and out.startswith("digraph workflow {") and '"create" -> "read" [label="id"];' in out


def test_debug_a_node(cli: Run, good_file: Path, broken_file: Path) -> None:
    code, out, _ = cli("debug", str(good_file), "--node", "read")
    assert code == 0
    for line in ("Node Debug Report: read", "- Type: UserReadNode (model User", "- Parameters: id",
                 "- Connections: 0 outgoing, 1 incoming", "- Validation: PASSED", "- Potential Issues: None"):
        assert line in out
    code, out, _ = cli("debug", str(broken_file), "--node", "typed")
    assert code == 1 and "Type mismatch" in out and "- Validation: FAILED" in out
    code, out, _ = cli("debug", str(broken_file), "--json")
    assert code == 1 and {n["node"] for n in json.loads(out)} == {"create", "read", "typed", "a", "b", "after"}
    code, _, err = cli("debug", str(good_file), "--node", "raed")
    assert code == 2 and "DF-807" in err and "Did you mean 'read'?" in err


def test_workflow_files_that_give_no_workflow_are_usage_errors(cli: Run, workflow_file: Callable[..., Path],
                                                               tmp_path: Path) -> None:
    code, _, err = cli("validate", str(tmp_path / "missing.py"))
    assert code == 2 and "DF-806" in err
    empty = workflow_file("x = 1\n", "empty.py")
    code, _, err = cli("validate", str(empty))
    assert code == 2 and "DF-806" in err and "workflow = WorkflowBuilder()" in err, "it says how to write one"
    several = workflow_file('''
        first = WorkflowBuilder()
        first.add_node("UserCountNode", "count", {})


        def nightly() -> WorkflowBuilder:
            wf = WorkflowBuilder()
            wf.add_node("UserListNode", "everyone", {})
            return wf
    ''', "several.py")
    code, _, err = cli("analyze", str(several))
    assert code == 2 and "several workflows: first, nightly" in err
    code, out, _ = cli("analyze", str(several), "--workflow", "nightly", "--json")
    assert code == 0 and json.loads(out)["execution_order"] == ["everyone"]
    code, _, err = cli("analyze", str(several), "--workflow", "nigthly")
    assert code == 2 and "Did you mean 'nightly'?" in err
    built_at_import = workflow_file('''
        wf = WorkflowBuilder()
        wf.add_node("UserCreatNode", "typo", {})
        built = wf.build()
    ''', "builds.py")
    code, _, err = cli("validate", str(built_at_import))
    assert code == 2 and "DF-806" in err and "raised DF-701" in err


def test_run_parameters_come_from_the_file(cli: Run, workflow_file: Callable[..., Path]) -> None:
    body = '''
        workflow = WorkflowBuilder()
        workflow.add_node("UserCreateNode", "create", {"id": "${uid}", "name": "Ann", "email": "a@x.io"})
    '''
    code, out, _ = cli("validate", str(workflow_file(body, "inputs.py")), "--strict")
    assert code == 1 and "run-input" in out
    given = workflow_file(textwrap.dedent(body) + 'parameters = {"uid": "u1"}\n', "given.py")
    code, out, _ = cli("validate", str(given), "--strict")
    assert code == 0, out


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return dialect_url(request.param, tmp_path / "perf.db")


# 10,000 rows, 111 of them matching: the list scans every row, more than SQLite runs in the event
# loop's thread (INLINE_STEPS), so it waits on the driver's thread as the count does, and the two
# reads overlap on every database.
PARALLEL = '''
workflow = WorkflowBuilder()
workflow.add_node("UserBulkCreateNode", "load", {"data": [
    {"id": f"u{i}", "name": f"n{i}", "email": f"e{i}@x.io", "age": i % 90} for i in range(10_000)]})
workflow.add_node("UserListNode", "older", {"filter": {"age": {"$gte": 89}}, "limit": 500})
workflow.add_node("UserCountNode", "count", {})
workflow.add_node("PythonCodeNode", "report", {"code": "result = len(records)"})
workflow.add_connection("older", "records", "report", "records")
workflow.add_node("UserUpsertNode", "mark", {"where": {"id": "u1"}, "update": {"age": 99},
                                             "create": {"name": "x", "email": "x@x.io"}})
'''


def test_perf_times_every_node_on_each_database(cli: Run, workflow_file: Callable[..., Path], database_url: str,
                                                monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    table = f"perf_users_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("INSPECT_URL", database_url)
    monkeypatch.setenv("INSPECT_TABLE", table)
    path = workflow_file(PARALLEL, "parallel.py")
    try:
        code, out, _ = cli("perf", str(path), "--profile", "--output", str(tmp_path / "report.json"))
        assert code == 0, out
        assert "Performance Analysis Report" in out and "- Bottleneck:" in out and "Where the time went" in out
        report = json.loads((tmp_path / "report.json").read_text())
        nodes = {n["node"]: n for n in report["nodes"]}
        assert set(nodes) == {"load", "older", "count", "report", "mark"} and report["error"] is None
        assert report["max_concurrency"] >= 2, "the two reads overlap"
        assert "count" in nodes["older"]["concurrent_with"]
        assert nodes["older"]["waited_for"] == {"node": "load", "why": "order"}
        assert nodes["report"]["waited_for"]["node"] in ("older", "count")
        assert report["critical_path"][0] == "load" and report["critical_path"][-1] == "mark"
        assert all(0 <= n["share"] <= 1 and n["start_s"] <= n["end_s"] for n in report["nodes"])
        assert report["profile"] and all({"function", "calls", "own_s"} <= set(r) for r in report["profile"])
        code, out, _ = cli("perf", str(path), "--output", str(tmp_path / "report.html"))
        assert code == 1, "the second run fails: the rows exist (DF-704), and perf says so"
        assert "The run failed" in out and "DF-802" in out
        page = (tmp_path / "report.html").read_text()
        assert "The run failed" in page and ">load</text>" in page
    finally:
        cleaner = DataFlow(database_url)
        try:
            raw_execute(cleaner, f"DROP TABLE IF EXISTS {cleaner.dialect.quote(table)}")
        finally:
            cleaner.close()


def test_the_html_report_is_self_contained(cli: Run, workflow_file: Callable[..., Path], tmp_path: Path) -> None:
    path = workflow_file(PARALLEL, "parallel.py")
    code, _, _ = cli("perf", str(path), "--output", str(tmp_path / "report.html"))
    assert code == 0
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<style>" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page and "url(http" not in page
    for node in ("load", "older", "count", "report", "mark"):
        assert f">{node}</text>" in page
    assert "critical path" in page and "bottleneck" in page


def test_perf_refuses_a_broken_workflow_and_a_wrong_report_name(cli: Run, broken_file: Path, good_file: Path,
                                                                tmp_path: Path) -> None:
    code, out, _ = cli("perf", str(broken_file))
    assert code == 1 and "cannot run: fix these first" in out and "Type mismatch" in out
    code, _, err = cli("perf", str(good_file), "--output", str(tmp_path / "report.txt"))
    assert code == 2 and "DF-713" in err
