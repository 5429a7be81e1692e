"""dataflow-tenancy: rows (or PostgreSQL schemas) that belong to one tenant, and a current tenant
every generated node and every query on a tenant model is scoped to.

``DataFlow(url, multi_tenant=True)`` (or ``__dataflow__ = {"multi_tenant": True}`` on a model), then
``with db.tenant_context.switch("acme"):`` or ``runtime.execute(wf, tenant_id="acme")``.

Names load on first use, so that loading the plugin (``dataflow --help`` loads them all) stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RUN_KEYWORD", "TenantContext"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dataflow_tenancy import context

        return getattr(context, name)
    raise AttributeError(f"module 'dataflow_tenancy' has no attribute {name!r}")
