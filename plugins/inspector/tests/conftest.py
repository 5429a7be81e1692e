"""Fixtures of the inspector's tests: a real SQLite instance with two models, and workflow files."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DataFlow]:
    """``User(id: str, name, email, age=0, nickname=None)`` and ``Order(id: str, user_id, total=0.0)``."""
    instance = DataFlow(f"sqlite:///{tmp_path / 'inspect.db'}")
    suffix = uuid.uuid4().hex[:8]

    @instance.model
    class User:
        id: str
        name: str
        email: str
        age: int = 0
        nickname: str | None = None
        __tablename__ = f"users_{suffix}"

    @instance.model
    class Order:
        id: str
        user_id: str
        total: float = 0.0
        __tablename__ = f"orders_{suffix}"

    yield instance
    instance.close()


MODELS = '''
import os
import uuid
from typing import Optional

from dataflow import DataFlow, WorkflowBuilder

db = DataFlow(os.environ.get("INSPECT_URL", "sqlite:///inspect.db"))
_suffix = uuid.uuid4().hex[:8]


@db.model
class User:
    id: str
    name: str
    email: str
    age: int = 0
    nickname: Optional[str] = None
    __tablename__ = os.environ.get("INSPECT_TABLE") or f"users_{_suffix}"
'''
"""The head of every workflow file the command tests write: a DataFlow on ``INSPECT_URL`` and a model
(on the table ``INSPECT_TABLE`` when set, so a test on a server can drop it)."""


@pytest.fixture
def workflow_file(tmp_path: Path) -> Callable[..., Path]:
    """``workflow_file(body, name="flow.py")``: a workflow file of ``MODELS`` followed by ``body``."""

    def write(body: str, name: str = "flow.py") -> Path:
        path = tmp_path / name
        path.write_text(MODELS + textwrap.dedent(body), encoding="utf-8")
        return path

    return write


GOOD = '''
workflow = WorkflowBuilder()
workflow.add_node("UserCreateNode", "create", {"id": "u1", "name": "Ann", "email": "ann@example.com", "age": 41})
workflow.add_node("UserReadNode", "read", {})
workflow.add_connection("create", "id", "read", "id")
workflow.add_node("UserListNode", "adults", {"filter": {"age": {"$gte": 18}}})
workflow.add_node("UserCountNode", "count", {})
'''
"""A well-formed workflow: passes --strict."""

BROKEN = '''
workflow = WorkflowBuilder()
workflow.add_node("UserCreateNode", "create", {"id": "u1", "name": "Ann", "email": "ann@example.com"})
workflow.add_node("UserReadNode", "read", {})                                   # missing source
workflow.add_node("UserCreateNode", "typed", {"id": "u2", "email": "b@example.com"})
workflow.add_connection("create", "age", "typed", "name")                        # type mismatch
workflow.add_node("UserUpdateNode", "a", {"fields": {"age": 1}})
workflow.add_node("UserUpdateNode", "b", {"fields": {"age": 2}})
workflow.add_connection("a", "id", "b", "id")
workflow.add_connection("b", "id", "a", "id")                                    # cycle
workflow.add_node("UserReadNode", "after", {})
workflow.add_connection("b", "id", "after", "id")                                # unreachable
'''
"""One of each: a missing source, a type mismatch, a cycle, a node no run reaches."""


@pytest.fixture
def broken(db: DataFlow) -> Any:
    """``BROKEN`` as a WorkflowBuilder on the ``db`` fixture's models."""
    from dataflow import WorkflowBuilder

    namespace: dict[str, Any] = {"WorkflowBuilder": WorkflowBuilder}
    exec(BROKEN, namespace)
    return namespace["workflow"]


@pytest.fixture
def good_file(workflow_file: Callable[..., Path]) -> Path:
    return workflow_file(GOOD, "good.py")


@pytest.fixture
def broken_file(workflow_file: Callable[..., Path]) -> Path:
    return workflow_file(BROKEN, "broken.py")
