"""Hostile conditions across plugins: misspelt plugin switches, disabled plugins, forgotten close().

A misspelt plugin name in ``plugins=``, ``disable_plugins=``, ``DATAFLOW_DISABLE_PLUGINS`` or
``DATAFLOW_LOAD_PLUGINS`` is DF-401 naming the closest installed one (it used to switch nothing off,
silently); a node type whose plugin is switched off is DF-701 saying which plugin and where; an
instance nobody closed is released at interpreter exit without noise, on every database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from dataflow import DataFlow, WorkflowBuilder
from dataflow.errors import DataFlowError
from dataflow.testing.fixtures import DIALECTS, dialect_url


@pytest.fixture(autouse=True)
def clean_switches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATAFLOW_USER_DIR", str(tmp_path / "user"))
    for name in ("DATAFLOW_LOAD_PLUGINS", "DATAFLOW_DISABLE_PLUGINS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("where", ["plugins=", "disable_plugins=", "DATAFLOW_DISABLE_PLUGINS",
                                   "DATAFLOW_LOAD_PLUGINS"])
def test_misspelt_plugin_names_are_refused(make_db: Callable[..., DataFlow], monkeypatch: pytest.MonkeyPatch,
                                           where: str) -> None:
    options: dict[str, object] = {}
    if where == "plugins=":
        options["plugins"] = ["sqlite", "crud", "runtime", "rsik"]
    elif where == "disable_plugins=":
        options["disable_plugins"] = ["rsik"]
    else:
        monkeypatch.setenv(where, "sqlite,crud,runtime,riskk" if where == "DATAFLOW_LOAD_PLUGINS" else "riskk")
    with pytest.raises(DataFlowError) as info:
        make_db(**options)
    assert info.value.code == "DF-401"
    assert "Did you mean 'risk'?" in info.value.message
    assert where in info.value.message


@pytest.mark.parametrize("where", ["disable_plugins=", "DATAFLOW_DISABLE_PLUGINS"])
def test_a_node_of_a_disabled_plugin_says_which_and_where(make_db: Callable[..., DataFlow],
                                                          monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    if where == "disable_plugins=":
        db = make_db(disable_plugins=["crud"])
    else:
        monkeypatch.setenv("DATAFLOW_DISABLE_PLUGINS", "crud")
        db = make_db()
    model = f"Gadget{uuid.uuid4().hex[:6]}"
    db.model(type(model, (), {"__annotations__": {"id": str}}))
    wf = WorkflowBuilder()
    wf.add_node(f"{model}UpsertNode", "up", {})
    with pytest.raises(DataFlowError) as info:
        wf.build()
    error = info.value
    assert error.code == "DF-701"
    assert "'crud'" in error.message and where in error.message
    assert "crud" in error.causes[0] and where in error.causes[0], "the cause that fits comes first"


_FORGETFUL = """
import sys, uuid
from dataflow import AsyncLocalRuntime, DataFlow, LocalRuntime, WorkflowBuilder

db = DataFlow(sys.argv[1])
name = "Forgot" + uuid.uuid4().hex[:6]
db.model(type(name, (), {"__annotations__": {"id": str}, "__tablename__": "t_" + name.lower()}))
wf = WorkflowBuilder()
wf.add_node(name + "CountNode", "c", {})
LocalRuntime().execute(wf.build())

async def main():
    await AsyncLocalRuntime().execute_workflow_async(wf.build(), inputs={})

import asyncio
asyncio.run(main())
with open(sys.argv[2], "w") as marker:
    marker.write("t_" + name.lower())
print("done")
# no db.close(): the interpreter exits with pools open on two loops
"""


@pytest.mark.parametrize("dialect", DIALECTS)
def test_forgotten_close_exits_quietly(dialect: str, tmp_path: Path) -> None:
    url = dialect_url(dialect, tmp_path / "forgot.db")
    script = tmp_path / "forgetful.py"
    script.write_text(textwrap.dedent(_FORGETFUL))
    marker = tmp_path / "table.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")}
    done = subprocess.run([sys.executable, str(script), url, str(marker)], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    try:
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "done"
        assert done.stderr == "", f"noise at exit:\n{done.stderr}"
    finally:
        if marker.exists():
            db = DataFlow(url)
            try:
                from dataflow.testing.fixtures import raw_execute

                raw_execute(db, f"DROP TABLE IF EXISTS {db.dialect.quote(marker.read_text())}")
            finally:
                db.close()


def test_full_mode_prints_an_error_once_in_about_30_lines(make_db: Callable[..., DataFlow]) -> None:
    import traceback

    from dataflow import LocalRuntime

    db = make_db(error_enhancement_mode="FULL")
    model = f"Shown{uuid.uuid4().hex[:6]}"
    db.model(type(model, (), {"__annotations__": {"id": str, "name": str}}))
    wf = WorkflowBuilder()
    # The value is a template, so the misspelt field is found when the node runs (a DF-802), not by build().
    wf.add_node(f"{model}ListNode", "ls", {"filter": {"nmae": "${who}"}})
    with pytest.raises(DataFlowError) as info:
        LocalRuntime().execute(wf.build(), parameters={"who": "x"})
    printed = "".join(traceback.format_exception(info.value))
    assert printed.count("Causes:") == 1 and printed.count("Solutions:") == 1, printed
    assert printed.count("Did you mean 'name'?") == 2  # the cause's one line, and the DF-802 in full
    shown = str(info.value).splitlines()
    assert len(shown) <= 32, "\n".join(shown)
    assert info.value.causes[0].startswith("A misspelled field"), "the cause's own causes come first"
    assert info.value.context["field"] == "nmae"


def test_bulk_upsert_names_the_row_clashing_on_another_unique_field(make_db: Callable[..., DataFlow]) -> None:
    from dataflow.testing.helpers import run_nodes

    db = make_db()
    model = f"Account{uuid.uuid4().hex[:6]}"
    db.model(type(model, (), {"__annotations__": {"id": str, "email": str},
                              "__dataflow__": {"indexes": [{"fields": ["email"], "unique": True}]}}))
    run_nodes((f"{model}CreateNode", "a", {"id": "a0", "email": "taken@x"}))
    rows = [{"id": "a0", "email": "taken@x"}, {"id": "a1", "email": "new@x"}, {"id": "a2", "email": "taken@x"}]
    with pytest.raises(DataFlowError) as info:
        run_nodes((f"{model}BulkUpsertNode", "up", {"data": rows}))
    error = info.value.__cause__
    assert isinstance(error, DataFlowError) and error.code == "DF-704"
    assert error.context["row"] == 2, "row 0 updates its own stored row: not a clash"
