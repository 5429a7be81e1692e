"""``PythonCodeNode`` and ``AsyncPythonCodeNode``: run a snippet of Python inside a workflow.

Inputs arrive as variables. ``result = …`` gives ``{"result": value}`` (a dict result's keys are
also outputs, so ``${node.key}`` works); without ``result``, every new top-level variable is an output.
``AsyncPythonCodeNode`` allows top-level ``await``. The code is the workflow author's own: it runs
with full Python, as in any script.
"""

from __future__ import annotations

import ast
import types
from typing import Any, ClassVar

import anyio
from dataflow.errors import DataFlowError
from dataflow.nodes import Node, NodeContext, Param

__all__ = ["AsyncPythonCodeNode", "PythonCodeNode"]


def _compile(code: Any, node_id: str, *, allow_await: bool) -> types.CodeType:
    if not isinstance(code, str) or not code.strip():
        raise DataFlowError("DF-101", f"Node {node_id!r} needs 'code', a string of Python.",
                            context={"node": node_id, "missing": "code"})
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if allow_await else 0
    try:
        return compile(code, f"<{node_id}>", "exec", flags=flags, dont_inherit=True)
    except SyntaxError as exc:
        raise DataFlowError("DF-709", f"The code of node {node_id!r} does not compile: {exc.msg} (line {exc.lineno}).",
                            context={"node": node_id, "line": exc.lineno}) from exc


def _outputs(namespace: dict[str, Any], before: set[str]) -> dict[str, Any]:
    if "result" in namespace:
        value = namespace["result"]
        out: dict[str, Any] = {}
        if isinstance(value, dict):
            out.update({k: v for k, v in value.items() if isinstance(k, str)})
        out["result"] = value
        return out
    return {
        name: value
        for name, value in namespace.items()
        if name not in before and not name.startswith("_")
        and not isinstance(value, types.ModuleType | types.FunctionType | type)
    }


class PythonCodeNode(Node):
    """Run Python code; its inputs are variables, ``result`` (or its new variables) the outputs."""

    type_name: ClassVar[str] = "PythonCodeNode"
    open_parameters = True
    parameters = {"code": Param("code", str, required=True)}
    allow_await: ClassVar[bool] = False

    def _prepare(self, params: dict[str, Any]) -> tuple[types.CodeType, dict[str, Any], set[str]]:
        params = dict(params)
        code = _compile(params.pop("code", None), self.node_id, allow_await=self.allow_await)
        namespace: dict[str, Any] = {"__builtins__": __builtins__, **params}
        return code, namespace, set(namespace)

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        code, namespace, before = self._prepare(params)
        await anyio.to_thread.run_sync(exec, code, namespace)
        return _outputs(namespace, before)


class AsyncPythonCodeNode(PythonCodeNode):
    """Like PythonCodeNode, with top-level ``await`` allowed."""

    type_name: ClassVar[str] = "AsyncPythonCodeNode"
    allow_await = True

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        code, namespace, before = self._prepare(params)
        outcome = eval(code, namespace)
        if outcome is not None and hasattr(outcome, "__await__"):
            await outcome
        return _outputs(namespace, before)
