"""The transaction nodes of Kailash DataFlow 2.x: a transaction one node opens and another ends.

``TransactionScopeNode`` opens a transaction on a DataFlow instance for the rest of the run
(``RunState.begin``); every node of that instance that runs after it, until a
``TransactionCommitNode`` or ``TransactionRollbackNode``, runs inside it (the runtime activates the
run's transactions around each node). ``TransactionSavepointNode`` and
``TransactionRollbackToSavepointNode`` make and return to named savepoints in it. A scope still open
when the run ends is committed after the last node succeeds; after a failure it is rolled back
(``rollback_on_error``, the default) or keeps what the other nodes wrote (each node then runs in a
savepoint of its own, so the failing node's writes are undone alone).

Each declares that it writes to its instance (to every instance when ``db_instance`` is not given),
so the order rule keeps it in its place among the nodes added before and after it; each accepts
``input_data`` and outputs ``result``, as Kailash workflows wire them. Misuse (no scope open, one
already open, an instance that cannot be told) is DF-803.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dataflow.errors import DataFlowError
from dataflow.nodes import UNKNOWN, Node, NodeContext, Param, Touch, check_parameters, holds_template, node_registry
from dataflow.runtime import RunState, RunTransaction
from dataflow.transactions import isolation_level, savepoint_name

__all__ = [
    "TRANSACTION_NODES",
    "TransactionCommitNode",
    "TransactionRollbackNode",
    "TransactionRollbackToSavepointNode",
    "TransactionSavepointNode",
    "TransactionScopeNode",
]


def _misuse(message: str, node_id: str, **context: Any) -> DataFlowError:
    return DataFlowError("DF-803", message, context={"node_id": node_id, **context},
                         solutions=["Open the transaction first: a TransactionScopeNode added before this node.",
                                    "Name the instance with db_instance when the workflow uses several."])


class TransactionNode(Node):
    """What the five nodes share: the instance they act on, their ordering, their output."""

    parameters: ClassVar[Mapping[str, Param]] = {
        "db_instance": Param("db_instance", object, description="The DataFlow instance (or its name=)."),
    }
    outputs = frozenset({"result", "status", "transaction_id"})
    status: ClassVar[str] = ""

    @classmethod
    def touches(cls, params: Mapping[str, Any]) -> tuple[Touch, ...]:
        chosen = params.get("db_instance")
        db = _named(chosen) if isinstance(chosen, str) and not holds_template(chosen) else chosen
        return (Touch(None if db is UNKNOWN or not hasattr(db, "dialect") else db, True),)

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        params = check_parameters(type(self), params, node_id=self.node_id)
        state = ctx.run
        if not isinstance(state, RunState):
            raise _misuse(f"{self.type_name} runs inside a workflow (a runtime's execute()).", self.node_id)
        details = await self.act(state, params)
        return {"result": {"status": self.status, **details}, "status": self.status, **details}

    async def act(self, state: RunState, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # ---- which instance ------------------------------------------------------------------------
    def chosen_instance(self, params: Mapping[str, Any]) -> Any:
        """The instance ``db_instance`` names, or None when it is not given."""
        chosen = params.get("db_instance")
        if chosen is None:
            return None
        db = _named(chosen) if isinstance(chosen, str) else chosen
        if db is None or not hasattr(db, "dialect"):
            raise DataFlowError("DF-102", f"db_instance must be a DataFlow instance or its name, got {chosen!r}.",
                                context={"node_id": self.node_id, "parameter": "db_instance"})
        return db

    def held(self, state: RunState, params: Mapping[str, Any]) -> RunTransaction:
        """The transaction a scope node of this run opened and that is still open (DF-803 otherwise)."""
        db = self.chosen_instance(params)
        opened = [held for held in state.transactions.values() if held.opened_by]
        if db is not None:
            opened = [held for held in opened if held.db is db]
        if len(opened) == 1:
            return opened[0]
        if not opened:
            run_wide = [held for held in state.transactions.values() if not held.opened_by]
            if run_wide:
                raise _misuse(f"{self.type_name}: the workflow runs with transaction=True, which commits or "
                              "rolls back at its end; no TransactionScopeNode transaction is open.", self.node_id)
            raise _misuse(f"{self.type_name}: no transaction is open (no TransactionScopeNode ran before it, "
                          "or it was already committed or rolled back).", self.node_id)
        names = ", ".join(repr(held.db.name) for held in opened)
        raise _misuse(f"{self.type_name}: transactions are open on several instances ({names}); say which with "
                      "db_instance.", self.node_id, instances=names)


def _named(name: str) -> Any:
    return node_registry.instance_named(name)


class TransactionScopeNode(TransactionNode):
    """Open a transaction on a DataFlow instance for the nodes that follow it."""

    type_name: ClassVar[str] = "TransactionScopeNode"
    parameters: ClassVar[Mapping[str, Param]] = {
        **TransactionNode.parameters,
        "isolation_level": Param("isolation_level", str | None,
                                 description="READ_COMMITTED, REPEATABLE_READ or SERIALIZABLE (default: the "
                                             "database's own; SQLite is always SERIALIZABLE)."),
        "timeout": Param("timeout", float | None, minimum=0.001,
                         description="Seconds the transaction may stay open (DF-805 past it)."),
        "rollback_on_error": Param("rollback_on_error", bool, default=True,
                                   description="Roll everything back when a node fails (else only that node's "
                                               "writes are undone, the rest is committed)."),
    }
    outputs = frozenset({"result", "status", "transaction_id", "isolation_level"})
    status = "started"

    @classmethod
    def check_static(cls, params: Mapping[str, Any], node_id: str) -> None:
        super().check_static(params, node_id)
        level = params.get("isolation_level")
        if isinstance(level, str) and not holds_template(level):
            isolation_level(level)

    async def act(self, state: RunState, params: dict[str, Any]) -> dict[str, Any]:
        db = self.chosen_instance(params) or self._only_instance(state)
        open_already = state.transactions.get(db.dialect)
        if open_already is not None:
            by = f"node {open_already.opened_by!r}" if open_already.opened_by else "transaction=True"
            raise _misuse(f"A transaction is already open on {db.name!r} (opened by {by}); commit or roll it back "
                          "before opening another.", self.node_id, instance=db.name)
        held = await state.begin(db, isolation_level=params["isolation_level"], timeout=params["timeout"],
                                 rollback_on_error=params["rollback_on_error"], opened_by=self.node_id)
        return {"transaction_id": held.scope.tx.label, "isolation_level": held.scope.tx.isolation_level}

    def _only_instance(self, state: RunState) -> Any:
        instances = state.workflow.instances
        if len(instances) == 1:
            return instances[0]
        if not instances:
            raise _misuse("TransactionScopeNode: no node of this workflow says which DataFlow instance it uses; "
                          "pass db_instance.", self.node_id)
        names = ", ".join(repr(db.name) for db in instances)
        raise _misuse(f"TransactionScopeNode: the workflow's nodes use several DataFlow instances ({names}); "
                      "say which with db_instance.", self.node_id, instances=names)


class TransactionCommitNode(TransactionNode):
    """Commit the transaction a TransactionScopeNode opened."""

    type_name: ClassVar[str] = "TransactionCommitNode"
    status = "committed"

    async def act(self, state: RunState, params: dict[str, Any]) -> dict[str, Any]:
        held = self.held(state, params)
        await state.end(held, commit=True)
        return {"transaction_id": held.scope.tx.label}


class TransactionRollbackNode(TransactionNode):
    """Roll back the transaction a TransactionScopeNode opened: none of its writes are kept."""

    type_name: ClassVar[str] = "TransactionRollbackNode"
    status = "rolled_back"

    async def act(self, state: RunState, params: dict[str, Any]) -> dict[str, Any]:
        held = self.held(state, params)
        await state.end(held, commit=False)
        return {"transaction_id": held.scope.tx.label}


class TransactionSavepointNode(TransactionNode):
    """Make a named savepoint in the open transaction."""

    type_name: ClassVar[str] = "TransactionSavepointNode"
    parameters: ClassVar[Mapping[str, Param]] = {
        **TransactionNode.parameters,
        "name": Param("name", str, required=True, description="The savepoint's name (letters, digits, _)."),
    }
    outputs = frozenset({"result", "status", "transaction_id", "savepoint"})
    status = "savepoint_created"

    async def act(self, state: RunState, params: dict[str, Any]) -> dict[str, Any]:
        name = savepoint_name(params["name"])
        held = self.held(state, params)
        await held.scope.create_savepoint(name)
        return {"transaction_id": held.scope.tx.label, "savepoint": name}


class TransactionRollbackToSavepointNode(TransactionNode):
    """Undo what the open transaction did since a named savepoint; the transaction goes on."""

    type_name: ClassVar[str] = "TransactionRollbackToSavepointNode"
    parameters: ClassVar[Mapping[str, Param]] = {
        **TransactionNode.parameters,
        "savepoint": Param("savepoint", str, required=True, description="The savepoint to return to."),
    }
    outputs = frozenset({"result", "status", "transaction_id", "savepoint"})
    status = "rolled_back_to_savepoint"

    async def act(self, state: RunState, params: dict[str, Any]) -> dict[str, Any]:
        name = savepoint_name(params["savepoint"])
        held = self.held(state, params)
        await held.scope.rollback_to(name)
        return {"transaction_id": held.scope.tx.label, "savepoint": name}


TRANSACTION_NODES: tuple[type[TransactionNode], ...] = (
    TransactionScopeNode, TransactionCommitNode, TransactionRollbackNode, TransactionSavepointNode,
    TransactionRollbackToSavepointNode,
)
