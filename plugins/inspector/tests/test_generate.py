"""``dataflow generate``: a typed module per model, that mypy uses to catch a misspelt node, field or parameter."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dataflow.cli import main

MODELS = '''
import datetime
from decimal import Decimal
from typing import List, Optional

from dataflow import DataFlow

db = DataFlow("sqlite:///generate.db")


@db.model
class User:
    id: str
    name: str
    email: str
    age: int = 0
    nickname: Optional[str] = None
    tags: List[str] = []
    joined: Optional[datetime.datetime] = None
    balance: Decimal = Decimal("0")


@db.model
class AgentMemory:
    content: str
'''


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models.py").write_text(MODELS, encoding="utf-8")
    assert main(["generate", "--models", "models.py", "--output", "nodes"]) == 0
    assert "Wrote nodes/user.py" in capsys.readouterr().out
    (tmp_path / "nodes" / "__init__.py").touch()
    return tmp_path / "nodes"


def _load(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_module_per_model_with_constants_and_typed_dicts(generated: Path) -> None:
    assert sorted(p.name for p in generated.glob("*.py")) == ["__init__.py", "agent_memory.py", "user.py"]
    user = _load(generated / "user.py")
    assert user.UserCreateNode == "UserCreateNode" and "UserBulkUpsertNode" in user.NODES  # type: ignore[attr-defined]
    params = user.UserCreateNodeParams  # type: ignore[attr-defined]
    assert params.__required_keys__ >= {"id", "name", "email"} and "age" in params.__optional_keys__
    text = (generated / "user.py").read_text()
    assert "joined: datetime.datetime | datetime.date | str | None" in text, "what the field accepts, ISO strings too"
    assert "balance: decimal.Decimal" in text and "tags: list[str]" in text
    assert "class UserReadNodeOutput(TypedDict, total=False):" in text and "    found: bool" in text
    assert "def add_user_create(workflow: WorkflowBuilder, node_id: str, params: UserCreateNodeParams) -> str:" in text


def test_the_generated_helpers_build_a_workflow_that_runs(generated: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(tmp_path))
    try:
        spec = importlib.util.spec_from_file_location("gen_models", tmp_path / "models.py")
        assert spec is not None and spec.loader is not None
        models = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(models)
        user = _load(generated / "user.py")
        from dataflow import LocalRuntime, WorkflowBuilder

        wf = WorkflowBuilder()
        user.add_user_create(wf, "create", {"id": "u1", "name": "Ann", "email": "a@x.io",  # type: ignore[attr-defined]
                                            "joined": "2024-05-01T10:00:00Z"})
        user.add_user_read(wf, "read", {"id": "u1"})  # type: ignore[attr-defined]
        results, _ = LocalRuntime().execute(wf.build())
        assert user.user_read_output(results, "read")["name"] == "Ann"  # type: ignore[attr-defined]
        models.db.close()
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed in this environment")
def test_mypy_flags_misspelt_fields_parameters_and_nodes(generated: Path, tmp_path: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent('''
        from dataflow import LocalRuntime, WorkflowBuilder
        from nodes.user import UserCreateNode, UserCreateNodeParams, add_user_create, add_user_read, user_read_output

        wf = WorkflowBuilder()
        good: UserCreateNodeParams = {"id": "u1", "name": "Ann", "email": "a@x.io", "age": 3}
        misspelt_field: UserCreateNodeParams = {"id": "u1", "name": "Ann", "emial": "a@x.io"}
        add_user_read(wf, "read", {"id": "u1", "raise_on_not_found": "yes"})
        wf.add_node(UserCreatNode, "c", good)
        results, _ = LocalRuntime().execute(wf.build())
        print(user_read_output(results, "read")["nmae"])
    '''), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--ignore-missing-imports",
                           "client.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 1, out
    assert 'client.py:7: error: Extra key "emial" for TypedDict "UserCreateNodeParams"' in out
    assert 'client.py:7: error: Missing key "email"' in out
    assert 'client.py:8: error: Incompatible types' in out and '"raise_on_not_found" has type "bool"' in out
    assert 'client.py:9: error: Name "UserCreatNode" is not defined' in out
    assert 'client.py:11: error: TypedDict "UserReadNodeOutput" has no key "nmae"' in out
    assert out.count("error:") == 5, "the correct lines pass"


def test_unknown_model_and_missing_models_option(generated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "Usr", "--models", "models.py", "--output", "nodes"]) == 2
    err = capsys.readouterr().err
    assert "DF-605" in err and "Did you mean 'User'?" in err
    assert main(["generate", "User", "--output", "nodes"]) == 2
    assert "needs --models" in capsys.readouterr().err
