"""Dialect resolution: the URL's scheme → the enabled plugin's dialect, or a DF-403 that says what to do.

The first ``DialectInfo`` (in plugin-name order) whose schemes contain the URL's scheme builds the
dialect; the plugins' filter operators are then merged into it. When nothing serves the scheme, the
error names the package to install, or the plugin to enable when it is installed but disabled.
"""

from __future__ import annotations

from collections.abc import Callable

from dataflow.dialect import SQLDialect
from dataflow.errors import DataFlowError, did_you_mean, redact_url
from dataflow.plugins import PluginManager
from dataflow.types import DialectInfo, DialectOptions
from dataflow.url import DatabaseURL

__all__ = ["FIRST_PARTY_PACKAGES", "dialect_infos", "resolve_dialect"]

FIRST_PARTY_PACKAGES = {
    "postgresql": "dataflow-postgresql", "postgres": "dataflow-postgresql", "mysql": "dataflow-mysql",
    "mariadb": "dataflow-mysql", "sqlite": "dataflow-sqlite", "duckdb": "dataflow-duckdb",
}
"""URL scheme → the package serving it, for the error when it is not installed."""


def dialect_infos(plugins: PluginManager) -> list[tuple[str, DialectInfo]]:
    """(plugin name, DialectInfo) for every dialect the enabled plugins offer."""
    return plugins.collect("dataflow_dialects")


def resolve_dialect(plugins: PluginManager, url: DatabaseURL, options: DialectOptions,
                    error: Callable[..., DataFlowError]) -> SQLDialect:
    """Build the dialect serving ``url`` with ``options``; ``error(code, message, **context)`` makes errors."""
    scheme = url.scheme
    infos = dialect_infos(plugins)
    for plugin, info in infos:
        if scheme not in info.schemes:
            continue
        if not info.available:
            raise error("DF-403",
                        f"The {info.name} dialect (plugin {plugin!r}) is installed but unavailable: {info.reason}.",
                        url=str(url), solutions=[f"Install its driver: pip install {info.package or plugin}."])
        dialect = info.factory(url, options)
        for _, compilers in plugins.call_isolated("dataflow_filter_operators", dialect=dialect):
            dialect.operators.update(compilers)
        return dialect
    package = FIRST_PARTY_PACKAGES.get(scheme)
    offered = sorted({s for _, info in infos for s in info.schemes})
    hint = f" Install {package} (pip install {package})." if package else did_you_mean(scheme, offered)
    solutions = [f"pip install {package or 'the plugin for ' + scheme}",
                 "Check `dataflow plugins list`: the plugin may be disabled."]
    disabled = [st for st in plugins.statuses.values()
                if st.status == "disabled" and package and st.distribution == package]
    if disabled:
        # Installed but switched off: installing again would not help, enabling would.
        off = disabled[0]
        hint = f" {package} is installed but its plugin {off.name!r} is disabled ({off.reason})."
        solutions = [f"Enable it where it was disabled ({off.reason}), e.g. `dataflow plugins enable {off.name}`."]
    raise error("DF-403", f"No installed, enabled plugin provides the {scheme!r} dialect.{hint}",
                url=redact_url(url.raw), offered=", ".join(offered) or "none", solutions=solutions)
