"""The ``dataflow`` command line: plugin management, plus every command plugins add.

``dataflow plugins list | info | enable | disable`` live here; plugins add theirs (``demo``,
``migrate``, ``errors`` …) through ``dataflow_register_commands``. Help comes from docstrings.
The plugin listing reads the entry points itself, so disabled plugins are shown without being
imported; enabling and disabling write the project file ``.dataflow/plugins.json`` of the working
directory (``--user`` for the user-wide file).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from cyclopts import App, Parameter

from dataflow.errors import DataFlowError
from dataflow.plugins import (
    ESSENTIAL,
    PluginManager,
    PluginStatus,
    blocked_names,
    check_known_plugin,
    entry_points,
    project_state_file,
    read_state,
    user_state_file,
    write_state,
)

__all__ = ["ModelsOption", "import_models", "main", "make_app", "open_instance"]

_COLOURS = {"active": "green", "essential": "cyan", "disabled": "yellow", "failed": "red", "unavailable": "red"}


def _statuses() -> list[PluginStatus]:
    """One row per installed plugin (and the kernel's essential one), sorted by name."""
    manager = PluginManager()
    installed = {e.name for e in entry_points()} | ESSENTIAL
    return [status for name, status in sorted(manager.statuses.items()) if name in installed]


def _print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, header: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=header)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def plugins_list(*, json_output: Annotated[bool, Parameter(name="--json")] = False) -> None:
    """List installed plugins with their status and the hooks they implement.

    Disabled plugins are shown without being imported.

    Parameters
    ----------
    json_output
        Print a JSON array (name, distribution, version, status, hooks, reason).
    """
    rows = _statuses()
    if json_output:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    table_rows = []
    for r in rows:
        status = f"[{_COLOURS.get(r.status, 'white')}]{r.status}[/]"
        if r.reason:
            status += f"\n[dim]{r.reason}[/]"
        hooks = "\n".join(h.removeprefix("dataflow_") for h in r.hooks)
        table_rows.append((r.name, r.distribution, r.version, status, hooks))
    _print_table("DataFlow plugins", ("Name", "Distribution", "Version", "Status", "Hooks"), table_rows)


def _summary(distribution: str) -> str:
    """The distribution's one-line summary, read from its metadata (nothing is imported)."""
    try:
        return importlib.metadata.metadata(distribution)["Summary"] or ""
    except importlib.metadata.PackageNotFoundError:
        return ""


def plugins_info(name: str, *, json_output: Annotated[bool, Parameter(name="--json")] = False) -> None:
    """Show one plugin: description, status, hooks, the options it adds and where it came from.

    Parameters
    ----------
    name
        The plugin's entry-point name (see ``dataflow plugins list``).
    json_output
        Print a JSON object instead of a table.
    """
    ep = check_known_plugin(name, essential_ok=True)
    manager = PluginManager()
    status = manager.statuses.get(name)
    plugin = manager.plugin(name)
    options = []
    if plugin is not None and hasattr(plugin, "dataflow_options"):
        options = [o.name for o in plugin.dataflow_options() or ()]
    doc = (getattr(plugin, "__doc__", None) or "").strip()
    distribution = ep.distribution if ep else "dataflow-kernel"
    info: dict[str, Any] = {
        "name": name,
        "description": doc.splitlines()[0] if doc else _summary(distribution),
        "status": status.status if status else "unknown",
        "reason": status.reason if status else "",
        "hooks": list(status.hooks) if status else [],
        "options": options,
        "distribution": distribution,
        "version": ep.version if ep else (status.version if status else ""),
        "entry_point": ep.value if ep else "dataflow.builtin",
        "location": getattr(plugin, "__file__", "") or "",
    }
    if json_output:
        print(json.dumps(info, indent=2))
        return
    rows = [(key, ", ".join(value) if isinstance(value, list) else str(value)) for key, value in info.items()]
    _print_table(f"Plugin {name}", ("key", "value"), rows, header=False)


def _toggle(name: str, *, enable: bool, user: bool) -> None:
    check_known_plugin(name)
    path = user_state_file() if user else project_state_file()
    state = read_state(path)
    add, remove = ("enabled", "disabled") if enable else ("disabled", "enabled")
    state[remove] = [n for n in state[remove] if n != name]
    if name not in state[add]:
        state[add].append(name)
    write_state(path, state)
    print(f"{'Enabled' if enable else 'Disabled'} plugin {name!r} in {path}")
    # A stronger switch (the environment, or the project file over the user file) may still decide.
    reason = blocked_names([name]).get(name)
    if enable and reason:
        print(f"Note: {name!r} stays disabled: {reason}.", file=sys.stderr)
    elif not enable and reason is None:
        print(f"Note: {name!r} stays enabled: a stronger setting enables it.", file=sys.stderr)


# enable and disable take the same arguments; their help text is declared once.
PluginName = Annotated[str, Parameter(help="The plugin's entry-point name.")]
UserFlag = Annotated[bool, Parameter(help="Write the user-wide file instead of the project file.")]


def plugins_enable(name: PluginName, *, user: UserFlag = False) -> None:
    """Enable a plugin (persisted in ``.dataflow/plugins.json`` of the working directory)."""
    _toggle(name, enable=True, user=user)


def plugins_disable(name: PluginName, *, user: UserFlag = False) -> None:
    """Disable a plugin: it is no longer imported (persisted like ``enable``)."""
    _toggle(name, enable=False, user=user)


# ---- shared by plugins' commands that work on a project's models -----------------------------------
ModelsOption = Annotated[str | None, Parameter(
    help="A module (pkg.models) or file (models.py) declaring models on a DataFlow instance.")]
"""The ``--models`` option of commands that need a project's models (migrate, export, …)."""


def import_models(target: str) -> Any:
    """Import ``pkg.module`` or ``path/to/file.py`` (a project's models) and return the module; DF-401 if
    it cannot be found."""
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise DataFlowError("DF-401", f"No models file {target!r}.", solutions=["Give a .py path or pkg.module."])
        spec = importlib.util.spec_from_file_location(f"_dataflow_models_{abs(hash(str(path.resolve())))}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise DataFlowError("DF-401", f"Cannot import the models module {target!r}: {exc}.",
                            solutions=["Run from the project root, or pass a path to the .py file."]) from exc


def open_instance(url: str | None, models: str | None) -> Any:
    """The DataFlow instance a command works on: the one ``models`` creates, or a new one on ``url``
    with the models of every instance ``models`` creates registered on it; DF-401 when neither says."""
    from dataflow.facade import DataFlow

    instances: list[Any] = []
    if models:
        module = import_models(models)
        instances = [v for v in vars(module).values() if isinstance(v, DataFlow)]
        if not instances:
            raise DataFlowError("DF-401", f"{models!r} creates no DataFlow instance to take models from.",
                                solutions=["Declare the models with @db.model on a DataFlow made in that module."])
    if url is None:
        if len(instances) == 1:
            return instances[0]
        raise DataFlowError("DF-401", "Give --url (or a --models module with exactly one DataFlow instance).")
    db = DataFlow(url)
    for instance in instances:
        for spec in instance.models.values():
            if spec.name not in db.models:
                db.register_model(spec)
    return db


def _report_failed_command(plugin: str, exc: Exception) -> None:
    print(f"warning: plugin {plugin!r} could not add its commands: {type(exc).__name__}: {exc}", file=sys.stderr)


def make_app(manager: PluginManager | None = None) -> App:
    """The CLI app with the kernel's commands and every enabled plugin's."""
    from dataflow import __version__

    app = App(name="dataflow", help="DataFlow: workflow-native database framework.", version=__version__)
    plugins = App(name="plugins", help="List, inspect, enable and disable DataFlow plugins.")
    plugins.command(plugins_list, name="list")
    plugins.command(plugins_info, name="info")
    plugins.command(plugins_enable, name="enable")
    plugins.command(plugins_disable, name="disable")
    app.command(plugins)
    manager = manager or PluginManager()
    manager.call_isolated("dataflow_register_commands", on_error=_report_failed_command, app=app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dataflow`` script: DF errors are printed, with a non-zero exit."""
    try:
        app = make_app()
        app(argv if argv is not None else sys.argv[1:], result_action="return_value")
    except DataFlowError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except BrokenPipeError:
        # The reader went away (``dataflow plugins list --json | head``): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
