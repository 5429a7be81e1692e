"""dataflow-migrate: introspection, diff, plan, apply, schema history and existing_schema_mode.

Replaces the kernel's basic schema manager with planned, locked, recorded migrations, adds the
migration and discovery methods to every instance, and the ``dataflow migrate`` commands to the CLI.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from dataflow.hookspecs import hookimpl

# The planner, the DDL and the database layer load with the first DataFlow instance, not with the
# plugin: ``dataflow --help`` and plugin listings do not pay for them.


def _async_methods() -> dict[str, Callable[..., Any]]:
    from dataflow_migrate import api, discovery, registry

    return {
        "discover_schema": discovery.discover_schema,
        "register_schema_as_models": discovery.register_schema_as_models,
        "reconstruct_models_from_registry": registry.reconstruct_models_from_registry,
        "introspect_schema": api.introspect_schema,
        "migrate_plan": api.migrate_plan,
        "migrate_apply": api.migrate_apply,
        "migrate_status": api.migrate_status,
        "migration_history": api.migration_history,
        "migrate_resume": api.migrate_resume,
        "migrate_reverse": api.migrate_reverse,
        "migrate_require": api.migrate_require,
    }


@hookimpl
def dataflow_schema_manager(db: Any) -> Any:
    from dataflow_migrate.manager import MigrateSchemaManager

    return MigrateSchemaManager()


@hookimpl
def dataflow_db_methods(db: Any) -> Mapping[str, Any]:
    """Each method twice: ``db.name(...)`` for plain code and ``db.name_async(...)`` for async code."""
    from dataflow.facade import run_in_background

    methods: dict[str, Any] = {}
    for name, fn in _async_methods().items():
        bound = functools.partial(fn, db)
        functools.update_wrapper(bound, fn)
        methods[f"{name}_async"] = bound
        methods[name] = run_in_background(bound)
    return methods


_COMMANDS = {
    "status": "Show pending steps for the models and the recent migration history.",
    "plan": "Show the steps that would bring the database to the models, with their risk.",
    "apply": "Apply the plan under the migration lock (risky plans need --confirm).",
    "require": "Make a column NOT NULL: backfill its NULLs, then SET NOT NULL as a locked, recorded migration.",
}
"""The ``migrate`` commands (``dataflow_migrate.cli:<name>``) and their one-line summaries."""


@hookimpl
def dataflow_register_commands(app: Any) -> None:
    """The ``migrate`` group, its commands registered by import path: the planner loads when one runs."""
    from cyclopts import App

    group = App(name="migrate", help="Plan, apply and inspect schema migrations.")
    for name, summary in _COMMANDS.items():
        group.command(f"dataflow_migrate.cli:{name}", name=name, help=summary)
    app.command(group)
