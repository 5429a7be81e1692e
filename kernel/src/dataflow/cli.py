"""The ``dataflow`` command line: plugin management, plus every command plugins add.

``dataflow plugins list | info | enable | disable`` live here; plugins add theirs (``demo``,
``migrate``, ``errors`` …) through ``dataflow_register_commands``. Help comes from docstrings.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

from cyclopts import App, Parameter

from dataflow.errors import DataFlowError
from dataflow.plugins import (
    ESSENTIAL,
    PluginManager,
    PluginStatus,
    check_known_plugin,
    entry_points,
    project_state_file,
    read_state,
    user_state_file,
    write_state,
)

__all__ = ["app", "main", "make_app"]


def _statuses() -> list[PluginStatus]:
    manager = PluginManager()
    eps = {e.name: e for e in entry_points()}
    rows = []
    for name, status in sorted(manager.statuses.items()):
        if name not in eps and name not in ESSENTIAL:
            continue
        rows.append(status)
    return rows


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
    from rich.console import Console
    from rich.table import Table

    table = Table(title="DataFlow plugins")
    for column in ("Name", "Distribution", "Version", "Status", "Hooks"):
        table.add_column(column)
    colours = {"active": "green", "essential": "cyan", "disabled": "yellow", "failed": "red", "unavailable": "red"}
    for r in rows:
        status = f"[{colours.get(r.status, 'white')}]{r.status}[/]" + (f"\n[dim]{r.reason}[/]" if r.reason else "")
        table.add_row(r.name, r.distribution, r.version, status, "\n".join(h.removeprefix("dataflow_") for h in r.hooks))
    Console().print(table)


def plugins_info(name: str, *, json_output: Annotated[bool, Parameter(name="--json")] = False) -> None:
    """Show one plugin: description, status, hooks, the options it adds and where it came from.

    Parameters
    ----------
    name
        The plugin's entry-point name (see ``dataflow plugins list``).
    """
    ep = check_known_plugin(name, essential_ok=True)
    manager = PluginManager()
    status = manager.statuses.get(name)
    plugin = manager.plugin(name)
    options = []
    if plugin is not None and hasattr(plugin, "dataflow_options"):
        options = [o.name for o in plugin.dataflow_options() or ()]
    doc = (getattr(plugin, "__doc__", None) or "").strip()
    info: dict[str, Any] = {
        "name": name,
        "description": doc.splitlines()[0] if doc else "",
        "status": status.status if status else "unknown",
        "reason": status.reason if status else "",
        "hooks": list(status.hooks) if status else [],
        "options": options,
        "distribution": ep.distribution if ep else "dataflow-kernel",
        "version": ep.version if ep else (status.version if status else ""),
        "entry_point": ep.value if ep else "dataflow.builtin",
        "location": getattr(plugin, "__file__", "") or "",
    }
    if json_output:
        print(json.dumps(info, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Plugin {name}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in info.items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    Console().print(table)


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


def plugins_enable(name: str, *, user: bool = False) -> None:
    """Enable a plugin (persisted in ``.dataflow/plugins.json`` of the working directory).

    Parameters
    ----------
    name
        The plugin's entry-point name.
    user
        Write the user-wide file instead of the project file.
    """
    _toggle(name, enable=True, user=user)


def plugins_disable(name: str, *, user: bool = False) -> None:
    """Disable a plugin: it is no longer imported (persisted like ``enable``).

    Parameters
    ----------
    name
        The plugin's entry-point name.
    user
        Write the user-wide file instead of the project file.
    """
    _toggle(name, enable=False, user=user)


def make_app(manager: PluginManager | None = None) -> App:
    """The CLI app with the kernel's commands and every enabled plugin's."""
    app = App(name="dataflow", help="DataFlow: workflow-native database framework.")
    plugins = App(name="plugins", help="List, inspect, enable and disable DataFlow plugins.")
    plugins.command(plugins_list, name="list")
    plugins.command(plugins_info, name="info")
    plugins.command(plugins_enable, name="enable")
    plugins.command(plugins_disable, name="disable")
    app.command(plugins)
    manager = manager or PluginManager()
    for _plugin, _ in manager.call_isolated("dataflow_register_commands", app=app):
        pass
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dataflow`` script: DF errors are printed, with a non-zero exit."""
    app = make_app()
    try:
        app(argv if argv is not None else sys.argv[1:], result_action="return_value")
    except DataFlowError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0




if __name__ == "__main__":
    raise SystemExit(main())
