"""Who is writing: ``db.audit_context``, a context variable (right across threads and asyncio tasks).

``with db.audit_context.actor("alice"):`` (or ``async with``) names the actor of every write made inside
the block; a workflow run may name it as a run parameter instead
(``runtime.execute(wf, parameters={"audit_actor": "alice"})``), which wins inside that run. The actor
is what the audit trail records as ``actor`` and what runtime rules see as ``ctx.actor``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

from dataflow_protect.rules import invalid

__all__ = ["RUN_PARAMETER", "AuditContext"]

RUN_PARAMETER = "audit_actor"
"""The run parameter that names the actor of a workflow run."""
_MAX_ACTOR = 200


def check_actor(actor: Any) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > _MAX_ACTOR or "\x00" in actor:
        raise invalid(f"The audit actor must be a non-empty string of at most {_MAX_ACTOR} characters, "
                      f"got {actor!r}.", key="actor")
    return actor


class _ActorBlock:
    """One ``actor(...)`` block, usable with ``with`` and ``async with``."""

    def __init__(self, var: contextvars.ContextVar[str | None], name: str) -> None:
        self._var = var
        self._name = name
        self._tokens: list[contextvars.Token[str | None]] = []

    def __enter__(self) -> str:
        self._tokens.append(self._var.set(self._name))
        return self._name

    def __exit__(self, *exc: object) -> None:
        self._var.reset(self._tokens.pop())

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()


class AuditContext:
    """``db.audit_context``: sets and tells the current actor."""

    def __init__(self) -> None:
        self._actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("dataflow_audit_actor",
                                                                                  default=None)

    def actor(self, name: str) -> _ActorBlock:
        """``with db.audit_context.actor("alice"):`` — writes inside the block are made by alice.

        Works with ``async with`` too; blocks nest, the innermost wins.
        """
        return _ActorBlock(self._actor, check_actor(name))

    def set_actor(self, name: str | None) -> contextvars.Token[str | None]:
        """Set the actor for the rest of this context (a request handler); ``reset(token)`` undoes it."""
        return self._actor.set(None if name is None else check_actor(name))

    def reset(self, token: contextvars.Token[str | None]) -> None:
        self._actor.reset(token)

    @property
    def current(self) -> str | None:
        """The actor set here, or None."""
        return self._actor.get()

    def for_run(self, inputs: Mapping[str, Any] | None) -> str | None:
        """The actor of a node run: the run's ``audit_actor`` parameter, else the context's."""
        if inputs:
            given = inputs.get(RUN_PARAMETER)
            if given is not None:
                return check_actor(given)
        return self._actor.get()
