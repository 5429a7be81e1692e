"""The protect plugin's hooks: its options, ``db.protection`` / ``db.audit_context`` / ``db.audit``, the node
wrapper that checks (and audits) every write before it runs, the ``db.connection()`` wrapper and
``dataflow audit``.

Every write of a model node goes through ``dataflow_execute_node``: reads pass untouched; a write is
checked against the rules before its coroutine starts (so a refused write sends no SQL at all), then,
with ``audit_log=True``, runs in one transaction with its audit rows. The module's top level imports
only the hook markers and records, so ``dataflow --help`` does not pay for the rest.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dataflow.hookspecs import hookimpl
from dataflow.types import OptionInfo

if TYPE_CHECKING:
    from dataflow.nodes import Node, NodeContext

STATE_KEY = "protect"
"""Where the plugin keeps its state on an instance (``db.state``); ``dataflow_protect.state`` agrees."""
_FAST_READS = frozenset({"read", "list", "count", "export"})
"""Operations that never write: passed through at once."""


@hookimpl
def dataflow_options() -> Iterable[OptionInfo]:
    return [
        OptionInfo("write_protection", "Write-protection rules (a list of dicts: global, connection, model, "
                                       "operation, field and runtime levels).", None),
        OptionInfo("audit_log", "Record every written row in a hash-chained audit table (True / False).", False),
        OptionInfo("audit_table", "The audit trail's table (its chain head is <table>_head).", "dataflow_audit"),
    ]


@hookimpl
def dataflow_db_methods(db: Any) -> Mapping[str, Any]:
    from dataflow_protect.state import state_of

    state = state_of(db)
    return {"protection": state.protection, "audit_context": state.audit_context, "audit": state.audit}


@hookimpl
def dataflow_configure(db: Any) -> None:
    from dataflow.errors import DataFlowError

    from dataflow_protect.rules import invalid, make_rule
    from dataflow_protect.state import state_of

    state = state_of(db)
    rules = db.options["write_protection"]
    if rules is not None:
        if isinstance(rules, Mapping):
            rules = [rules]
        if not isinstance(rules, list | tuple):
            raise db.enhance(invalid(f"write_protection= takes a list of rules (dicts), got "
                                     f"{type(rules).__name__}.", option="write_protection"))
        try:
            for rule in rules:
                state.protection.add_rule(make_rule(rule, f"write_protection[{len(state.protection.rules)}]"))
        except DataFlowError as exc:
            raise db.enhance(exc) from exc.__cause__
    audit = db.options["audit_log"]
    if not isinstance(audit, bool):
        raise db.enhance(invalid(f"audit_log= takes True or False, got {audit!r}.", option="audit_log"))
    try:
        state.audit.use_table(db.options["audit_table"])
    except DataFlowError as exc:
        raise db.enhance(exc) from None
    state.audit.enabled = audit


@hookimpl(wrapper=True)
def dataflow_execute_node(node: Node, params: dict[str, Any], ctx: NodeContext) -> Generator[None, Any, Any]:
    hide_ids = False
    if node.operation == "bulk_create" and not params.get("return_ids"):
        # Before the node's coroutine is made: an audited bulk create whose rows do not all carry their
        # id (or that may skip some) needs the ids of the rows it inserted.
        owner = type(node).dataflow_instance
        found = owner.state.get(STATE_KEY) if owner is not None else None
        if found is not None and found.audit.enabled and not _rows_identified(params):
            params["return_ids"] = hide_ids = True
    coro = yield
    if node.operation in _FAST_READS:
        return coro
    db = type(node).dataflow_instance
    state = db.state.get(STATE_KEY) if db is not None else None
    try:
        if state is None or (not state.audit.enabled and not state.protection.active):
            return coro
    except BaseException:
        coro.close()  # a rule naming an unknown model (DF-411): nothing runs
        raise
    return state.run_write(node, params, ctx, coro, hide_ids)


def _idle(db: Any) -> bool:
    """True while no rule applies to ``db`` and it keeps no audit trail: the wrapper would hand every
    node back untouched, so the kernel runs them without the hook call. Asked before each node (rules
    added later count); a rule naming an unknown model raises its DF-411 here, before the node starts."""
    state = db.state.get(STATE_KEY)
    return state is None or (not state.audit.enabled and not state.protection.active)


# Reads are handed back untouched above, and every node while nothing is protected or audited: the
# kernel runs those without calling the hook at all.
dataflow_execute_node.passes_through = _FAST_READS  # type: ignore[attr-defined]
dataflow_execute_node.passes_through_when = _idle  # type: ignore[attr-defined]


@hookimpl
def dataflow_connection(connection: Any, db: Any) -> Any:
    state = db.state.get(STATE_KEY)
    if state is None or not state.protection.active:
        return None
    from dataflow_protect.guard import ProtectedConnection

    return ProtectedConnection(connection, db, state)


def _rows_identified(params: Mapping[str, Any]) -> bool:
    from dataflow_protect.audit import rows_identified

    return rows_identified(params)


@hookimpl
def dataflow_close(db: Any) -> None:
    state = db.state.get(STATE_KEY)
    if state is not None:
        state.protection.close()


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    from cyclopts import App

    audit = App(name="audit", help="The audit trail of dataflow-protect.")
    audit.command("dataflow_protect.cli:verify", name="verify", help="Check the audit trail's hash chain.")
    app.command(audit)
