"""``PythonCodeNode`` and ``AsyncPythonCodeNode``: run a snippet of Python inside a workflow.

Inputs arrive as variables. ``result = …`` gives ``{"result": value}`` (a dict result's keys are
also outputs, so ``${node.key}`` works); without ``result``, every new top-level variable is an output.
``AsyncPythonCodeNode`` allows top-level ``await``. The code is the workflow author's own: it runs
with full Python, as in any script.

Where it runs: short code runs on the event loop's own thread (handing a few lines to a worker thread
and back costs far more than running them). Code that blocks runs in a worker thread, so other nodes
keep going meanwhile: ``run_in_thread=True`` asks for that, and code that calls something known to
block (``time.sleep``, ``open``, ``input``, ``subprocess``, sockets, HTTP clients, database drivers) gets
it without asking. ``run_in_thread=False`` keeps even such code on the loop. Long pure computations
and code calling DataFlow's synchronous methods (``LocalRuntime().execute`` …) need
``run_in_thread=True``.

Neither node declares what it touches (``Node.touches``): the code may use any DataFlow instance,
so it keeps its place relative to every node that uses a database.
"""

from __future__ import annotations

import ast
import functools
import types
from typing import Any, ClassVar

import anyio
from dataflow.errors import DataFlowError
from dataflow.nodes import Node, NodeContext, Param, check_parameters

__all__ = ["AsyncPythonCodeNode", "PythonCodeNode"]


_BLOCKING_CALLS = frozenset({"sleep", "open", "input", "urlopen", "system", "popen", "check_output",
                             "check_call", "communicate", "recv", "sendall", "getaddrinfo", "execute"})
_BLOCKING_MODULES = frozenset({"requests", "httpx", "urllib", "http", "socket", "subprocess", "smtplib",
                               "ftplib", "sqlite3", "psycopg", "psycopg2", "pymysql", "shutil"})


def _compile(code: Any, node_id: str, *, allow_await: bool) -> types.CodeType:
    if not isinstance(code, str) or not code.strip():
        raise DataFlowError("DF-101", f"Node {node_id!r} needs 'code', a string of Python.",
                            context={"node": node_id, "missing": "code"})
    return _compiled(code, node_id, allow_await)


@functools.lru_cache(maxsize=512)
def _compiled(code: str, node_id: str, allow_await: bool) -> types.CodeType:
    """Compiled once per text: a workflow run many times compiles its snippets once."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if allow_await else 0
    try:
        return compile(code, f"<{node_id}>", "exec", flags=flags, dont_inherit=True)
    except SyntaxError as exc:
        raise DataFlowError("DF-709", f"The code of node {node_id!r} does not compile: {exc.msg} (line {exc.lineno}).",
                            context={"node": node_id, "line": exc.lineno}) from exc


@functools.lru_cache(maxsize=512)
def may_block(code: str) -> bool:
    """True when ``code`` calls something known to block, or imports a module that does I/O."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in _BLOCKING_CALLS:
                return True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m.partition(".")[0] in _BLOCKING_MODULES for m in modules):
                return True
    return False


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
    parameters = {
        "code": Param("code", str, required=True, description="The Python to run."),
        "run_in_thread": Param("run_in_thread", bool | None,
                               description="Run in a worker thread (default: only code that blocks)."),
    }
    allow_await: ClassVar[bool] = False

    def _prepare(self, params: dict[str, Any]) -> tuple[types.CodeType, dict[str, Any], set[str]]:
        params = dict(params)
        code = _compile(params.pop("code", None), self.node_id, allow_await=self.allow_await)
        params.pop("run_in_thread", None)
        namespace: dict[str, Any] = {"__builtins__": __builtins__, **params}
        return code, namespace, set(namespace)

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        params = check_parameters(type(self), params, node_id=self.node_id)
        threaded = params["run_in_thread"]
        code, namespace, before = self._prepare(params)
        if threaded or (threaded is None and may_block(params["code"])):
            await anyio.to_thread.run_sync(exec, code, namespace)
        else:
            exec(code, namespace)
        return _outputs(namespace, before)


class AsyncPythonCodeNode(PythonCodeNode):
    """Like PythonCodeNode, with top-level ``await`` allowed."""

    type_name: ClassVar[str] = "AsyncPythonCodeNode"
    allow_await = True

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        code, namespace, before = self._prepare(check_parameters(type(self), params, node_id=self.node_id))
        outcome = eval(code, namespace)
        if outcome is not None and hasattr(outcome, "__await__"):
            await outcome
        return _outputs(namespace, before)
