"""dataflow-tenancy: rows (or PostgreSQL schemas) that belong to one tenant, and a current tenant
every generated node and every query on a tenant model is scoped to.

``DataFlow(url, multi_tenant=True)`` (or ``__dataflow__ = {"multi_tenant": True}`` on a model), then
``with db.tenant_context.switch("acme"):`` or ``runtime.execute(wf, tenant_id="acme")``.
"""

from dataflow_tenancy.context import RUN_KEYWORD, TenantContext

__all__ = ["RUN_KEYWORD", "TenantContext"]
