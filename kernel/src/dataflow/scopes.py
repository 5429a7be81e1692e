"""Model scopes: what a plugin puts between a model's callers and its table (tenancy, protection).

A plugin's ``dataflow_model_scope(model, db)`` hook returns a ``ModelScope`` for the models it guards.
The kernel then passes through it:

- ``node_params(node, params)``: the parameters of every node generated for the model, when the node
  resolves its instance (``dataflow.nodes.resolve_model_instance``), before it reads them;
- ``query(query)``: every query description the instance's dialect runs on the model's table
  (``db.dialect.run``), whoever built it: generated nodes, other plugins' nodes, user code.

The query path is the safety net: a plugin that must never let a query through unguarded (a tenant
filter, a read-only rule) relies on it, since nothing reaches the table without passing ``run``.
A model no plugin scopes costs nothing, and neither does an instance without scoped models.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataflow.dialect import SQLDialect
    from dataflow.nodes import Node
    from dataflow.query import Query

__all__ = ["ModelScope", "scope_queries"]


class ModelScope:
    """What ``dataflow_model_scope`` returns; override either method (the defaults change nothing).

    Either method may raise a ``DataFlowError`` to refuse: the node (or the statement) then does
    nothing at all.
    """

    def node_params(self, node: Node, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters ``node`` (a node of the scoped model) runs with: ``params`` amended, or a new dict.

        ``db_instance`` and ``model_name`` are already taken out; values are the caller's, not yet
        checked against the node's declarations (the node checks what this returns).
        """
        return params

    def query(self, query: Query) -> Query:
        """The query description to run instead of ``query`` (``Select``, ``Count``, ``Insert``,
        ``Update``, ``Delete`` or ``Upsert`` on the scoped model); return it unchanged to let it pass."""
        return query


_handed_on: contextvars.ContextVar[Any] = contextvars.ContextVar("dataflow_scoped_query", default=None)
"""The scoped query being run here: a transaction handing it on to ``run`` again is not scoped twice."""


def scope_queries(dialect: SQLDialect, scopes: Mapping[str, tuple[ModelScope, ...]]) -> None:
    """Make every query ``dialect`` runs on a model named in ``scopes`` pass through that model's scopes.

    ``scopes`` is read at each call (models registered later are covered). Installed once per
    dialect, on a subclass of its class made for it alone (same name), whose ``run`` scopes the
    query and then runs the class's own: dialects that override ``run`` are covered without
    cooperating. Whatever is assigned to ``run`` on the instance afterwards (instrumentation
    counting statements, a test's monkeypatch, even the unscoped ``run`` it saved before the first
    scoped model) is scoped too, and deleting it uncovers the scoped ``run`` again: ``run`` is a data
    descriptor of that class (``_ScopedRun``), so no assignment or ``del`` on the instance can take
    the scopes away.

    A statement that joins a transaction passes ``run`` twice (the transaction hands it on to the
    dialect with its connection): the second pass, in the same task, is recognised and not scoped
    again. (From another event loop, a held transaction's statement may be seen twice: a scope
    returns a query it already scoped unchanged.)
    """
    base = type(dialect)
    if vars(base).get("_dataflow_scopes") is not None:
        return
    scoped = type(base.__name__, (base,), {"run": _ScopedRun(scopes, base.run), "_dataflow_scopes": scopes,
                                           "__module__": base.__module__, "__qualname__": base.__qualname__,
                                           "__doc__": base.__doc__})
    own = vars(dialect).pop("run", None)
    dialect.__class__ = scoped
    if own is not None:
        dialect.run = own  # type: ignore[method-assign]  # a wrapper set before: scoped from now on


class _ScopedRun:
    """``run`` on a dialect with scoped models: the class's ``run`` with the scopes applied first, or
    what was assigned to ``run`` on the instance, with the scopes applied first too."""

    def __init__(self, scopes: Mapping[str, tuple[ModelScope, ...]], unscoped: Callable[..., Any]) -> None:
        self.scopes = scopes
        self.unscoped = unscoped
        self.__doc__ = unscoped.__doc__

    def __get__(self, dialect: Any, owner: Any = None) -> Any:
        if dialect is None:
            return self
        assigned = dialect.__dict__.get("run")
        if assigned is not None:
            return assigned
        return types.MethodType(self._run, dialect)

    def _run(self, dialect: Any, query: Any, conn: Any = None) -> Any:
        return _run_scoped(self.scopes, types.MethodType(self.unscoped, dialect), query, conn)

    def __set__(self, dialect: Any, run: Callable[..., Any]) -> None:
        scopes = self.scopes

        def scoped_run(query: Any, conn: Any = None) -> Any:
            return _run_scoped(scopes, run, query, conn)

        scoped_run.__wrapped__ = run  # type: ignore[attr-defined]
        dialect.__dict__["run"] = scoped_run

    def __delete__(self, dialect: Any) -> None:
        if dialect.__dict__.pop("run", None) is None:
            raise AttributeError("run")


async def _run_scoped(scopes: Mapping[str, tuple[ModelScope, ...]], run: Callable[[Any, Any], Awaitable[Any]],
                      query: Any, conn: Any) -> Any:
    """``await run(query, conn)``, the query passed through its model's scopes first."""
    model = getattr(query, "model", None)
    chain = scopes.get(model.name) if model is not None else None
    if not chain or _handed_on.get() is query:
        return await run(query, conn)
    for scope in chain:
        query = scope.query(query)
    token = _handed_on.set(query)
    try:
        return await run(query, conn)
    finally:
        _handed_on.reset(token)
