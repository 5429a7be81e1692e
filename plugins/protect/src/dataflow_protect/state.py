"""What the protect plugin keeps on one instance (``db.state["protect"]``), and the checks of one write:
a node's (checked, then run with its audit rows when the trail is on) or a raw statement's."""

from __future__ import annotations

import re
from typing import Any

from dataflow.errors import DataFlowError
from dataflow.nodes import Node, NodeContext, resolve_model_instance

from dataflow_protect.audit import AuditTrail
from dataflow_protect.context import AuditContext
from dataflow_protect.guard import confirm_change, node_intent, raw_writes
from dataflow_protect.manager import ProtectionManager
from dataflow_protect.rules import WriteIntent

__all__ = ["STATE_KEY", "ProtectState", "state_of"]

STATE_KEY = "protect"


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
                    await db.ensure_ready(model)  # the read comparing stored values needs the table
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
