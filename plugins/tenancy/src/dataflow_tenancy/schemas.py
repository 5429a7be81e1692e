"""Schema isolation (``tenant_isolation="schema"``): each tenant's tables in a PostgreSQL schema of its own.

Tenant models keep their declared shape (no tenant column); tenant ``acme`` has the schema
``tenant_acme`` holding a table for each tenant model. Every node of a tenant model runs in a
transaction (a savepoint of an open one) whose ``search_path`` starts with the current tenant's schema,
so its statements reach that tenant's tables only. A tenant's schema and tables are made on its first
use (and a model's table in every schema already made, on the model's first use there), under an
advisory lock so that concurrent first uses do not race.

The same API as row isolation: ``db.tenant_context.switch("acme")``, ``runtime.execute(wf,
tenant_id="acme")``, DF-714 without a tenant. A query on a tenant model that does not come from one of
its nodes (and so has no tenant schema set) is refused, never run against the shared ``public`` table.
"""

from __future__ import annotations

import contextvars
from collections.abc import Coroutine
from typing import Any

from dataflow.builtin import BasicSchemaManager
from dataflow.errors import DataFlowError
from dataflow.hookspecs import hookimpl
from dataflow.scopes import ModelScope

from dataflow_tenancy.context import TenantContext

__all__ = ["SCHEMA_PREFIX", "SchemaIsolation", "SchemaScope", "check_schema_isolation", "schema_name"]

SCHEMA_PREFIX = "tenant_"

_in_schema: contextvars.ContextVar[tuple[Any, str] | None] = contextvars.ContextVar("dataflow_tenant_schema",
                                                                                     default=None)
"""(dialect, tenant) whose schema the node running here set as its search path."""


def schema_name(tenant: str) -> str:
    """The schema of ``tenant`` (a schema-safe id: letters, digits, ``_``; short enough, see
    ``context.MAX_SCHEMA_TENANT_LENGTH``)."""
    return f"{SCHEMA_PREFIX}{tenant}"


def check_schema_isolation(db: Any) -> None:
    """DF-410 unless the instance's database can keep a schema per tenant (PostgreSQL)."""
    if db.dialect.name != "postgresql":
        raise db.error("DF-410", f"tenant_isolation='schema' needs PostgreSQL; this instance is on "
                                 f"{db.dialect.name}.", option="tenant_isolation", dialect=db.dialect.name,
                       solutions=["Use tenant_isolation='row' (the default) on this database."])


class SchemaIsolation:
    """The per-instance plugin object of schema isolation: runs each tenant model's node in its tenant's
    schema, making the schema and its tables on first use.

    :param db: the instance.
    :param context: its ``db.tenant_context``.
    :param models: tenant model name → tenant column (the plugin's registry; read at each node).
    """

    def __init__(self, db: Any, context: TenantContext, models: dict[str, str]) -> None:
        self.db = db
        self.context = context
        self.models = models
        self.ready: set[tuple[str, str]] = set()
        """(tenant, model) pairs whose table is known to exist in the tenant's schema."""

    @hookimpl(wrapper=True)
    def dataflow_execute_node(self, node: Any, params: dict[str, Any], ctx: Any) -> Any:
        inner = yield
        model = getattr(node, "model", None)
        if model is None or model.name not in self.models or node.dataflow_instance is not self.db:
            return inner
        return self._in_schema(model.name, node.type_name, inner)

    async def _in_schema(self, model: str, node_type: str, inner: Coroutine[Any, Any, Any]) -> Any:
        try:
            tenant = self.context.require(model, node_type)
            await self.provision(tenant)
        except BaseException:
            inner.close()  # never started: close it, so that no "never awaited" warning follows
            raise
        dialect = self.db.dialect
        async with dialect.transaction() as conn:
            await conn.execute(f"SET LOCAL search_path TO {dialect.quote(schema_name(tenant))}, public", [])
            token = _in_schema.set((dialect, tenant))
            try:
                return await inner
            finally:
                _in_schema.reset(token)

    async def provision(self, tenant: str) -> None:
        """Make ``tenant``'s schema and the tables of every tenant model in it (those not made yet)."""
        missing = [m for m in self.models if (tenant, m) not in self.ready]
        if not missing:
            return
        db = self.db
        dialect = db.dialect
        schema = dialect.quote(schema_name(tenant))
        models = [db.models[m] for m in missing]
        for spec in models:
            await db.ensure_ready(spec)  # the shared table first: the kernel's schema cache stays right
        async with dialect.connection() as conn, dialect.transaction(connection=conn) as tx:
            # One first use at a time per tenant, across processes: CREATE SCHEMA IF NOT EXISTS races.
            await tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", [f"dataflow-tenant:{tenant}"])
            await tx.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}", [])
            await tx.execute(f"SET LOCAL search_path TO {schema}", [])
            await BasicSchemaManager().ensure(db, models)  # joins this transaction: the tables go in the schema
        self.ready.update((tenant, m) for m in missing)

    async def drop(self, tenant: str) -> None:
        """Drop ``tenant``'s schema and everything in it."""
        dialect = self.db.dialect
        async with dialect.connection() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {dialect.quote(schema_name(tenant))} CASCADE", [])
        self.ready = {pair for pair in self.ready if pair[0] != tenant}


class SchemaScope(ModelScope):
    """Refuses a query on a tenant model that does not run inside one of its nodes, in the current
    tenant's schema (it would reach the shared ``public`` table)."""

    def __init__(self, context: TenantContext, model: Any, db: Any) -> None:
        self.context = context
        self.model_name = model.name
        self.dialect = db.dialect

    def query(self, query: Any) -> Any:
        tenant = self.context.require(self.model_name)
        active = _in_schema.get()
        if active is None or active[0] is not self.dialect or active[1] != tenant:
            raise DataFlowError(
                "DF-714",
                f"A query on the tenant model {self.model_name} ran outside its nodes: with tenant_isolation="
                f"'schema' only its nodes reach a tenant's schema (tenant {tenant!r}).",
                context={"model": self.model_name, "tenant": tenant},
                solutions=[f"Use the {self.model_name}… nodes, or db.tenant_context.connection() for raw SQL."],
            )
        return query

