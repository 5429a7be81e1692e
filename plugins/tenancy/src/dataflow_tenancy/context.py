"""The current tenant of an instance: ``db.tenant_context``.

It lives in a context variable, so it follows the code that set it: each thread starts without one,
each asyncio task inherits its creator's at creation and keeps its own changes to itself, and a
workflow's nodes see the tenant of the code that ran the workflow (``LocalRuntime`` runs them in the
caller's context). A run keyword (``runtime.execute(wf, tenant_id="acme")``) names the tenant of that
run and wins over the surrounding one.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import AsyncIterator
from typing import Any

from dataflow.errors import DataFlowError, short_repr
from dataflow.runtime import run_context

__all__ = ["MAX_SCHEMA_TENANT_LENGTH", "MAX_TENANT_LENGTH", "RUN_KEYWORD", "TenantBlock", "TenantContext",
           "check_tenant_id"]

RUN_KEYWORD = "tenant_id"
"""The run keyword naming a run's tenant: ``runtime.execute(wf, tenant_id="acme")``."""
MAX_TENANT_LENGTH = 64
"""The longest tenant id (it is stored in an indexed column on every database, and may name a schema)."""
MAX_SCHEMA_TENANT_LENGTH = 56
"""The longest tenant id with schemas per tenant: ``tenant_<id>`` must fit PostgreSQL's 63-byte names."""
_SCHEMA_SAFE = re.compile(r"[A-Za-z0-9_]+\Z")


def check_tenant_id(value: Any, *, schema_safe: bool = False) -> str:
    """``value`` when it can identify a tenant; DF-102 otherwise.

    A tenant id is a non-empty string of at most 64 characters without NUL; with schemas per tenant it
    also becomes part of a schema name, so only ASCII letters, digits and ``_`` are allowed there.
    """
    problem = None
    if not isinstance(value, str):
        problem = f"a tenant id is a string, got {type(value).__name__}"
    elif not value:
        problem = "a tenant id cannot be empty"
    elif len(value) > MAX_TENANT_LENGTH:
        problem = f"a tenant id has at most {MAX_TENANT_LENGTH} characters, got {len(value)}"
    elif "\x00" in value:
        problem = "a tenant id cannot hold a NUL character"
    elif schema_safe and not _SCHEMA_SAFE.match(value):
        problem = "with tenant_isolation='schema' a tenant id names a schema: use ASCII letters, digits and '_'"
    elif schema_safe and len(value) > MAX_SCHEMA_TENANT_LENGTH:
        problem = f"with tenant_isolation='schema' a tenant id has at most {MAX_SCHEMA_TENANT_LENGTH} characters"
    if problem is not None:
        raise DataFlowError("DF-102", f"Invalid tenant id {short_repr(value, 40)}: {problem}.",
                            context={"tenant_id": short_repr(value, 40)},
                            solutions=["Use a short, stable key for the tenant, such as its slug: 'acme'."])
    return value


class TenantContext:
    """``db.tenant_context``: which tenant the code running now acts for.

    :param instance_name: the instance's name (in error messages).
    :param schema_safe: tenant ids must be usable in a schema name (``tenant_isolation="schema"``).
    """

    def __init__(self, instance_name: str, *, schema_safe: bool = False) -> None:
        self.instance_name = instance_name
        self.schema_safe = schema_safe
        self._current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            f"dataflow_tenant_{instance_name}", default=None)
        self.isolation: Any = None
        """The instance's ``SchemaIsolation`` with ``tenant_isolation="schema"``, else None."""

    def current(self) -> str | None:
        """The tenant the code running here acts for (the run's ``tenant_id=``, else the innermost
        ``switch``), or None."""
        run_tenant = run_context().get(RUN_KEYWORD)
        return run_tenant if run_tenant is not None else self._current.get()

    get_current_tenant = current

    def require(self, model: str, what: str = "") -> str:
        """The current tenant; DF-714 when there is none (a tenant model is never read unfiltered)."""
        run_tenant = run_context().get(RUN_KEYWORD)
        if run_tenant is None:
            tenant = self._current.get()
            if tenant is None:
                raise no_tenant(model, what)
            return tenant  # checked when it was switched to
        # A run keyword: checked where it is used.
        return check_tenant_id(run_tenant, schema_safe=self.schema_safe)

    def switch(self, tenant_id: str) -> TenantBlock:
        """``with db.tenant_context.switch("acme"):`` — act for ``tenant_id`` inside the block (nested
        blocks stack; leaving one restores the tenant before it, even after an exception)."""
        return TenantBlock(self._current, check_tenant_id(tenant_id, schema_safe=self.schema_safe))

    def aswitch(self, tenant_id: str) -> TenantBlock:
        """``async with db.tenant_context.aswitch("acme"):`` — ``switch`` for async code (the tenant is
        the task's own: tasks started inside the block inherit it, other tasks never see it)."""
        return self.switch(tenant_id)

    # ---- schemas per tenant (tenant_isolation="schema") ------------------------------------------
    def _schemas(self, what: str) -> Any:
        if self.isolation is None:
            raise DataFlowError("DF-410", f"db.tenant_context.{what} needs tenant_isolation='schema' (PostgreSQL): "
                                          f"with a tenant column, raw SQL cannot be scoped to a tenant.",
                                context={"instance": self.instance_name},
                                solutions=["Use the generated nodes, which add the tenant filter themselves."])
        return self.isolation

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """``async with db.tenant_context.connection() as conn``: raw SQL in the current tenant's schema
        (a transaction whose search path starts with it; made on first use). Schema isolation only."""
        from dataflow_tenancy.schemas import schema_name

        isolation = self._schemas("connection()")
        tenant = self.require("raw SQL", "connection()")
        await isolation.provision(tenant)
        dialect = isolation.db.dialect
        async with dialect.transaction() as conn:
            await conn.execute(f"SET LOCAL search_path TO {dialect.quote(schema_name(tenant))}, public", [])
            yield conn

    def schema_of(self, tenant_id: str) -> str:
        """The PostgreSQL schema holding ``tenant_id``'s tables. Schema isolation only."""
        from dataflow_tenancy.schemas import schema_name

        self._schemas("schema_of()")
        return schema_name(check_tenant_id(tenant_id, schema_safe=True))

    async def adrop_tenant(self, tenant_id: str) -> None:
        """Drop ``tenant_id``'s schema and every table in it (its data is gone). Schema isolation only."""
        await self._schemas("drop_tenant()").drop(check_tenant_id(tenant_id, schema_safe=True))

    def drop_tenant(self, tenant_id: str) -> None:
        """``adrop_tenant`` for synchronous code."""
        from dataflow.loop import run_sync

        run_sync(self.adrop_tenant(tenant_id))

    def __repr__(self) -> str:
        return f"TenantContext(instance={self.instance_name!r}, current={self.current()!r})"


class TenantBlock:
    """One ``switch`` / ``aswitch`` block (``with`` and ``async with`` alike).

    A plain class rather than ``contextlib`` generators: a request that switches tenant around each
    workflow run pays about a microsecond for it, not ten.
    """

    __slots__ = ("_tokens", "_var", "tenant")

    def __init__(self, var: contextvars.ContextVar[str | None], tenant: str) -> None:
        self._var = var
        self.tenant = tenant
        self._tokens: list[contextvars.Token[str | None]] = []

    def __enter__(self) -> str:
        self._tokens.append(self._var.set(self.tenant))
        return self.tenant

    def __exit__(self, *exc: object) -> None:
        self._var.reset(self._tokens.pop())

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()


def no_tenant(model: str, what: str = "") -> DataFlowError:
    """DF-714: a tenant model used with no current tenant."""
    doing = f" ({what})" if what else ""
    return DataFlowError(
        "DF-714",
        f"No current tenant for the tenant model {model}{doing}: its rows are only ever read or written "
        f"for one tenant.",
        context={"model": model},
        solutions=['Wrap the call in `with db.tenant_context.switch("acme"):` (async: `aswitch`).',
                   'Or name the run\'s tenant: runtime.execute(workflow, tenant_id="acme").',
                   'A table shared by every tenant: __dataflow__ = {"multi_tenant": False} on its model.'],
    )
