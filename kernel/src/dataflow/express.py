"""Direct calls: ``db.express`` (async) and ``db.express_sync`` run one generated node without a workflow.

``await db.express.create("User", {"name": "Alice"})`` runs ``UserCreateNode`` with those parameters
and returns its output, exactly as a one-node workflow would (same parameter checks, same DF-coded
errors, same plugins around the node through ``dataflow.runtime.invoke_node``), but without building
or scheduling a workflow. Inside ``db.transaction()`` the call joins that transaction.

Every node generated for a model is callable: the named methods (``create``, ``read`` …) take the
arguments Kailash DataFlow's express API took, positionally, and any node parameter by keyword;
``db.express.call("User", "aggregate", {...})`` — or ``db.express.<operation>("User", ...)`` for an
operation a plugin adds — runs ``User<Operation>Node`` with ``params`` as they are.

Fast path: the node class of each (model, operation) is looked up once and kept; the call itself is
``invoke_node`` with a prepared ``NodeContext`` (no workflow build, no run state, no templates).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from dataflow.errors import DataFlowError, did_you_mean, short_repr
from dataflow.nodes import Node, NodeContext
from dataflow.runtime import invoke_node

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["Express", "ExpressSync", "operation_node_suffix"]

_MISSING: Any = object()
_OPERATION = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
"""An operation name as a method name: ``bulk_create`` → ``BulkCreate``."""


def operation_node_suffix(operation: str) -> str:
    """``"bulk_create"`` → ``"BulkCreate"`` (the part of a node name after the model's name)."""
    return "".join(part.title() for part in operation.split("_"))


def _operation_name(suffix: str) -> str:
    """``"BulkCreate"`` → ``"bulk_create"``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", suffix).lower()


class Express:
    """``db.express``: each generated node of each model as an async call returning the node's output.

    The first argument is the model: its name (``"User"``) or the decorated class itself.
    """

    __slots__ = ("_db", "_nodes")

    def __init__(self, db: DataFlow) -> None:
        self._db = db
        self._nodes: dict[tuple[Any, str], tuple[type[Node], NodeContext]] = {}

    # ---- the generic call ---------------------------------------------------------------------
    async def call(self, model: Any, operation: str, params: Mapping[str, Any] | None = None, /,
                   **more: Any) -> Any:
        """Run ``<model><Operation>Node`` with ``params`` (and keyword parameters); its output.

        ``operation`` is the node's operation in snake case (``"bulk_upsert"``) or as in its name
        (``"BulkUpsert"``).
        """
        cls, ctx = self._node(model, operation)
        return await self._invoke(cls, ctx, self._params(cls, params, more))

    def _node(self, model: Any, operation: Any) -> tuple[type[Node], NodeContext]:
        """The node class and call context of (model, operation), looked up once."""
        try:
            return self._nodes[(model, operation)]
        except (KeyError, TypeError):  # TypeError: an unhashable model argument, refused below
            pass
        name = self._model_name(model)
        if not isinstance(operation, str) or not operation:
            raise self._db.error("DF-415", f"An operation must be a name such as 'create', got "
                                           f"{short_repr(operation)}.", model=name, operation=short_repr(operation))
        suffix = operation if operation[:1].isupper() else operation_node_suffix(operation)
        node_name = f"{name}{suffix}Node"
        cls = self._db._nodes.get(node_name)
        if cls is None or getattr(cls, "model", None) is None:
            raise self._unavailable(name, operation)
        found = (cls, NodeContext(node_name, "express", node_name))
        if len(self._nodes) < 4096:  # keyed by the caller's arguments: bounded whatever they pass
            self._nodes[(model, operation)] = found
        return found

    def _model_name(self, model: Any) -> str:
        spec = getattr(model, "__dataflow_model__", None)
        if spec is not None and self._db.models.get(spec.name) is not None:
            return str(spec.name)
        if not isinstance(model, str):
            raise self._db.error(
                "DF-605", f"The first argument must name a model (such as 'User') or be its class, got "
                          f"{short_repr(model)}.", model=short_repr(model),
                solutions=[f"Models of this instance: {', '.join(self._db.models) or 'none yet'}."])
        self._db.get_model(model)  # DF-605 with the closest name when unknown
        return model

    def _unavailable(self, model: str, operation: str) -> DataFlowError:
        prefix, suffix = model, "Node"
        offered = sorted(_operation_name(n[len(prefix):-len(suffix)]) for n, c in self._db._nodes.items()
                         if n.startswith(prefix) and n.endswith(suffix) and getattr(c.model, "name", None) == model)
        return self._db.error(
            "DF-415",
            f"Model {model!r} has no {operation!r} operation on this instance "
            f"(no node {model}{operation_node_suffix(operation) if operation[:1].islower() else operation}Node)."
            f"{did_you_mean(operation, offered)}",
            model=model, operation=operation, operations=", ".join(offered),
            solutions=[f"Operations of {model}: {', '.join(offered) or 'none'}.",
                       "An operation another plugin generates needs that plugin installed and enabled "
                       "(`dataflow plugins list`)."],
        )

    def _params(self, cls: type[Node], params: Any, more: Mapping[str, Any]) -> dict[str, Any]:
        """The node's parameters: the mapping given, then the keyword parameters (DF-102 when both name one)."""
        if params is None:
            return dict(more)
        if not isinstance(params, Mapping):
            raise self._db.error("DF-102", f"{cls.type_name}'s parameters must be a dict, got {short_repr(params)}.",
                                 node_type=cls.type_name, parameter="params")
        merged = dict(params)
        for key, value in more.items():
            if key in merged:
                raise self._db.error("DF-102", f"{cls.type_name}: {key!r} is given twice (in the dict and as a "
                                               f"keyword).", node_type=cls.type_name, parameter=key)
            merged[key] = value
        return merged

    def _run(self, model: Any, operation: str, params: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        cls, ctx = self._node(model, operation)
        return self._invoke(cls, ctx, params)

    def _invoke(self, cls: type[Node], ctx: NodeContext, params: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        """The node's run through the plugins' wrappers; its parameters first checked as ``build()``
        would, unless the node checks them itself when it runs."""
        if not cls.checks_at_run:
            try:
                cls.check_static(params, ctx.node_id)
            except DataFlowError as exc:
                raise self._db.enhance(exc) from exc.__cause__
        return invoke_node(cls, ctx.node_id, params, ctx)

    def _put(self, params: dict[str, Any], name: str, value: Any, node: str) -> dict[str, Any]:
        """``params`` with a positional argument's value under ``name`` (DF-102 if also given by keyword)."""
        if value is _MISSING:
            return params
        if name in params:
            raise self._db.error("DF-102", f"{node}: {name!r} is given twice (positionally and as a keyword).",
                                 parameter=name)
        params[name] = value
        return params

    # ---- the named operations (Kailash DataFlow's express signatures) ---------------------------
    async def create(self, model: Any, data: Mapping[str, Any] | None = None, /, **fields: Any) -> Any:
        """Create one row from ``data`` (and/or fields by keyword); the stored row."""
        cls, _ = self._node(model, "create")
        return await self._run(model, "create", self._params(cls, data, fields))

    async def read(self, model: Any, id: Any = _MISSING, /, **params: Any) -> Any:
        """Read one row by ``id`` (or ``filter=``); DF-703 when none matches, unless
        ``raise_on_not_found=False`` (then ``{"found": False}``)."""
        return await self._run(model, "read", self._put(params, "id", id, "read"))

    async def update(self, model: Any, id: Any = _MISSING, fields: Mapping[str, Any] | None = None, /,
                     **params: Any) -> Any:
        """Update the row ``id`` (or ``filter=``) with ``fields``; the updated row with ``updated``."""
        self._put(params, "id", id, "update")
        return await self._run(model, "update", self._put(params, "fields", _MISSING if fields is None else fields,
                                                          "update"))

    async def delete(self, model: Any, id: Any = _MISSING, /, **params: Any) -> Any:
        """Delete the row ``id`` (or ``filter=``); ``{"id", "deleted"}``."""
        return await self._run(model, "delete", self._put(params, "id", id, "delete"))

    async def list(self, model: Any, filter: Mapping[str, Any] | None = None, /, **params: Any) -> Any:
        """Rows matching ``filter`` (``order_by=``, ``limit=``, ``offset=`` …); ``{"records", "count", …}``."""
        return await self._run(model, "list", self._put(params, "filter", _MISSING if filter is None else filter,
                                                        "list"))

    async def count(self, model: Any, filter: Mapping[str, Any] | None = None, /, **params: Any) -> Any:
        """How many rows match ``filter``; ``{"count": n}``."""
        return await self._run(model, "count", self._put(params, "filter", _MISSING if filter is None else filter,
                                                         "count"))

    async def upsert(self, model: Any, data: Mapping[str, Any] | None = None, /, **params: Any) -> Any:
        """Insert or update one row.

        The node's parameters (``where=``, ``create=``, ``update=``, ``conflict_on=``), or Kailash's
        short form ``upsert("User", data, conflict_on=["email"])``: ``where`` is ``data``'s values
        of the conflict fields (default ``["id"]``), the rest is created, or updated when the row exists.
        """
        if data is not None:
            if not isinstance(data, Mapping):
                raise self._db.error("DF-102", f"upsert's data must be a dict, got {short_repr(data)}.",
                                     parameter="data")
            for name in ("where", "create", "update"):
                if name in params:
                    raise self._db.error("DF-102", f"upsert takes either data or {name}=, not both.", parameter=name)
            keys = params.get("conflict_on") or ["id"]
            keys = [keys] if isinstance(keys, str) else keys
            if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
                raise self._db.error("DF-102", f"'conflict_on' must be a list of field names, got {short_repr(keys)}.",
                                     parameter="conflict_on")
            params["conflict_on"] = list(keys)
            params["where"] = {k: data[k] for k in keys if k in data}
            params["create"] = {k: v for k, v in data.items() if k not in params["where"]}
            params["update"] = dict(params["create"]) or None
        return await self._run(model, "upsert", params)

    async def bulk_create(self, model: Any, data: Any = _MISSING, /, **params: Any) -> Any:
        """Insert the rows ``data`` in one transaction; ``{"inserted", …}`` (``return_ids=True`` adds ``ids``)."""
        return await self._run(model, "bulk_create", self._put(params, "data", data, "bulk_create"))

    async def bulk_update(self, model: Any, data: Any = _MISSING, /, **params: Any) -> Any:
        """Update each row of ``data`` by its id, or every row of ``filter=`` with ``fields=``."""
        return await self._run(model, "bulk_update", self._put(params, "data", data, "bulk_update"))

    async def bulk_delete(self, model: Any, ids: Any = _MISSING, /, **params: Any) -> Any:
        """Delete the rows whose id is in ``ids`` (or every row of ``filter=``)."""
        return await self._run(model, "bulk_delete", self._put(params, "ids", ids, "bulk_delete"))

    async def bulk_upsert(self, model: Any, data: Any = _MISSING, /, **params: Any) -> Any:
        """Insert or update the rows ``data`` on ``conflict_on=`` (default the id)."""
        return await self._run(model, "bulk_upsert", self._put(params, "data", data, "bulk_upsert"))

    async def aggregate(self, model: Any, /, **params: Any) -> Any:
        """Group and aggregate (``<Model>AggregateNode``): ``filter=``, ``group_by=``, ``aggregates=`` …"""
        return await self._run(model, "aggregate", params)

    # ---- operations other plugins generate ------------------------------------------------------
    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or not _OPERATION.fullmatch(name):
            raise AttributeError(f"'Express' object has no attribute {name!r}")

        async def operation(model: Any, params: Mapping[str, Any] | None = None, /, **more: Any) -> Any:
            return await self.call(model, name, params, **more)

        operation.__name__ = operation.__qualname__ = name
        operation.__doc__ = f"Run <Model>{operation_node_suffix(name)}Node; its output."
        return operation

    def __repr__(self) -> str:
        return f"<express calls of {self._db!r}>"


_NAMED = ("call", "create", "read", "update", "delete", "list", "count", "upsert", "bulk_create", "bulk_update",
          "bulk_delete", "bulk_upsert", "aggregate")


class ExpressSync:
    """``db.express_sync``: ``db.express``'s calls from synchronous code (run on DataFlow's background loop,
    inside the caller's ``with db.transaction():`` when there is one)."""

    __slots__ = ("_express",)

    def __init__(self, express: Express) -> None:
        self._express = express

    def __getattr__(self, name: str) -> Callable[..., Any]:
        target = getattr(self._express, name)  # AttributeError for what express does not offer
        return _synchronous(target)

    def __repr__(self) -> str:
        return f"<express_sync calls of {self._express._db!r}>"


def _synchronous(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    from dataflow.loop import run_sync

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return run_sync(fn(*args, **kwargs))

    return call


def _sync_property(name: str) -> property:
    def get(self: ExpressSync) -> Callable[..., Any]:
        return _synchronous(getattr(self._express, name))

    return property(get, doc=f"``db.express.{name}`` from synchronous code.")


for _name in _NAMED:  # real attributes, so that help(db.express_sync) and completion list them
    setattr(ExpressSync, _name, _sync_property(_name))
