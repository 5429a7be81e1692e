"""The protect plugin's hooks: its options, ``db.protection`` / ``db.audit_context``, the node wrapper that
checks (and audits) every write before it runs, the ``db.connection()`` wrapper and ``dataflow audit``.

Every write of a model node goes through ``dataflow_execute_node``: reads pass untouched; a write is
checked against the rules before its coroutine starts (so a refused write sends no SQL at all), then,
with ``audit_log=True``, runs in one transaction with its audit rows.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Mapping
from typing import Any

from dataflow.errors import DataFlowError
from dataflow.hookspecs import hookimpl
from dataflow.nodes import Node, NodeContext, resolve_model_instance
from dataflow.types import OptionInfo

from dataflow_protect.audit import AuditTrail, rows_identified
from dataflow_protect.context import AuditContext
from dataflow_protect.guard import READS, ProtectedConnection, confirm_change, node_intent, raw_writes
from dataflow_protect.manager import ProtectionManager
from dataflow_protect.rules import WriteIntent, invalid, make_rule

STATE_KEY = "protect"
_FAST_READS = READS - {""}


class ProtectState:
    """What the plugin keeps on one instance (``db.state["protect"]``)."""

    def __init__(self, db: Any) -> None:
        self.protection = ProtectionManager(db)
        self.audit_context = AuditContext()
        self.audit = AuditTrail(db)

    async def run_write(self, node: Node, params: dict[str, Any], ctx: NodeContext, coro: Any,
                        hide_ids: bool = False) -> Any:
        """Check the node's write, then run it (with its audit rows when the trail is on)."""
        try:
            db, model = resolve_model_instance(node, dict(params))
        except DataFlowError:
            return await coro  # the node refuses the same parameters itself, before any SQL
        state: ProtectState = db.state.get(STATE_KEY) or self
        if not node.operation and not any(t.writes for t in (type(node).touches(params) or ())):
            return await coro
        try:
            actor = state.audit_context.for_run(ctx.inputs)
            if state.protection.active:
                intent = node_intent(node, model, params, actor)

                async def confirm(field: str) -> bool:
                    return await confirm_change(db, model, node, params, field)

                await state.protection.check(intent, confirm)
        except DataFlowError as exc:
            coro.close()
            exc.context.setdefault("node", node.node_id)
            raise db.enhance(exc) from exc.__cause__
        except BaseException:
            coro.close()
            raise
        if not state.audit.enabled:
            return await coro
        return await state.audit.record(db, model, node, params, coro, actor, hide_ids)

    async def check_raw(self, db: Any, sql: str) -> None:
        """DF-716 when a raw statement through ``db.connection()`` writes where the rules refuse it."""
        writes = raw_writes(sql)
        if not writes:
            return
        by_table = {spec.table.lower(): spec for spec in db.models.values()}
        actor = self.audit_context.current
        for operation, table, set_part in writes:
            # A target that cannot be told (a procedure call, a DO block …): every model's rules must allow it.
            targets = [None, *db.models.values()] if table is None else [by_table.get(table)]
            for spec in targets:
                fields = None if spec is None or operation in ("write", "schema") else frozenset(
                    name for name in spec.field_map if _assigned(name, set_part))
                intent = WriteIntent(spec.name if spec is not None else None, operation, fields, None, actor)
                try:
                    await self.protection.check(intent)
                except DataFlowError as exc:
                    raise db.enhance(exc) from None


def _assigned(field: str, set_part: str) -> bool:
    return re.search(rf"(?<![\w$])[`\"\[]?{re.escape(field)}[`\"\]]?\s*=", set_part, re.I) is not None


def state_of(db: Any) -> ProtectState:
    state = db.state.get(STATE_KEY)
    if state is None:
        state = db.state[STATE_KEY] = ProtectState(db)
    return state


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
    state = state_of(db)
    return {"protection": state.protection, "audit_context": state.audit_context, "audit": state.audit}


@hookimpl
def dataflow_configure(db: Any) -> None:
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
        if found is not None and found.audit.enabled and not rows_identified(params):
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


@hookimpl
def dataflow_connection(connection: Any, db: Any) -> Any:
    state = db.state.get(STATE_KEY)
    if state is None or not state.protection.active:
        return None
    return ProtectedConnection(connection, db, state)


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
