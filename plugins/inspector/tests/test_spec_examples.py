"""The spec's Inspector examples run with ``from dataflow_inspector import Inspector``.

They are read from the spec itself (the copy the compatibility plugin's tests keep): every Python
block that makes or uses an ``Inspector``. The spec writes ``from dataflow.platform.inspector import Inspector``
(a path the kailash-compat plugin serves) and ``kailash.workflow.builder``; here they become this
plugin's and the kernel's imports, nothing else changes. Fragments use ``Inspector`` (imported once,
earlier in the spec), a ``workflow`` and an ``inspector`` they do not make: they are given, the
workflow a broken one, so what they print is checked too.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from dataflow import DataFlow, WorkflowBuilder

SPEC = Path(__file__).resolve().parents[3] / "plugins-contrib" / "kailash-compat" / "tests" / "spec" / \
    "seed-dataflow-specialist.md"


IMPORTS = {
    "from dataflow.platform.inspector import Inspector": "from dataflow_inspector import Inspector",
    "from kailash.workflow.builder import WorkflowBuilder": "from dataflow import WorkflowBuilder",
}
"""The spec's import lines and the ones used here instead."""


def _examples() -> list[tuple[int, str]]:
    if not SPEC.exists():
        return []
    text = SPEC.read_text(encoding="utf-8")
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```", text, re.S | re.M)
    found = []
    for _indent, code in blocks:
        if "Inspector(" in code or "inspector." in code:
            line = text.count("\n", 0, text.index(code)) + 1
            for spec_import, ours in IMPORTS.items():
                code = code.replace(spec_import, ours)
            found.append((line, code))
    return found


EXAMPLES = _examples()


def test_the_spec_has_its_inspector_examples() -> None:
    if not SPEC.exists():
        pytest.skip(f"the spec copy {SPEC} is not in this checkout")
    assert len(EXAMPLES) >= 10, "the spec shows at least ten Inspector examples"


def _broken_workflow() -> WorkflowBuilder:
    workflow = WorkflowBuilder()
    workflow.add_node("UserCreateNode", "create", {"id": "user-123", "name": "Alice", "email": "a@example.com"})
    workflow.add_node("UserCreateNode", "typed", {"id": "user-124", "email": "b@example.com"})
    workflow.add_connection("create", "age", "typed", "name")
    workflow.add_node("UserReadNode", "a", {})
    workflow.add_node("UserReadNode", "b", {})
    workflow.add_connection("a", "id", "b", "id")
    workflow.add_connection("b", "id", "a", "id")
    return workflow


@pytest.mark.parametrize("line, code", EXAMPLES, ids=[f"spec-line-{line}" for line, _ in EXAMPLES])
def test_spec_inspector_example_runs(line: int, code: str, tmp_path: Path) -> None:
    db = DataFlow(f"sqlite:///{tmp_path / 'spec.db'}")
    try:
        @db.model
        class User:
            id: str
            name: str
            email: str
            age: int = 0

        from dataflow_inspector import Inspector

        workflow = _broken_workflow()
        namespace = {"__name__": f"spec_example_{line}", "workflow": workflow, "db": db,
                     "WorkflowBuilder": WorkflowBuilder, "Inspector": Inspector, "inspector": Inspector(workflow)}
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"spec line {line}", "exec"), namespace)
    finally:
        db.close()
    out = printed.getvalue()
    if "find_broken_connections" in code:
        assert "Broken: create.age → typed.name" in out and "Type mismatch" in out
    if "detect_cycles" in code:
        assert "Found 1 circular dependencies:" in out and "Cycle: a → b" in out
    if 'error["expected_type"]' in code or "Expected: {error['expected_type']}" in code:
        assert "create.age" in out and "str" in out and "int" in out
    if "trace.show()" in code:
        assert "create.id → read.id" in out
    if 'trace_parameter("target_node", "missing_param")' in code:
        assert "Parameter not connected!" in out
