"""The ``dataflow`` command line: plugin management, plus every command plugins add.

``dataflow plugins list | info | enable | disable`` live here; plugins add theirs (``demo``,
``migrate``, ``errors`` …) through ``dataflow_register_commands``. Help comes from docstrings.
The plugin listing reads the entry points itself, so disabled plugins are shown without being
imported; enabling and disabling write the project file ``.dataflow/plugins.json`` of the working
directory (``--user`` for the user-wide file). ``-p no:NAME`` (anywhere on the line, repeatable)
disables a plugin for one command, as ``DATAFLOW_DISABLE_PLUGINS`` would.

Start-up stays cheap: plugins register their commands by import path (``app.command("pkg.mod:func",
name=..., help=...)``), so a command's module loads only when it runs, and the top-level ``--help``
is rendered as plain text (no Markdown renderer to import). A command that a plugin which is not
installed, or is disabled, would provide is DF-408 naming the plugin (``KNOWN_PLUGIN_COMMANDS``).
"""

from __future__ import annotations

import importlib
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
    check_plugin_names,
    entry_points,
    project_state_file,
    read_state,
    user_state_file,
    write_state,
)

__all__ = ["KNOWN_PLUGIN_COMMANDS", "ModelsOption", "check_command", "import_models", "main", "make_app",
           "open_instance"]

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
        hooks = "\n".join(r.hooks)
        table_rows.append((r.name, r.distribution, r.version, status, hooks))
    _print_table("DataFlow plugins", ("Name", "Distribution", "Version", "Status", "Hooks"), table_rows)


def _summary(distribution: str) -> str:
    """The distribution's one-line summary, read from its metadata (nothing is imported)."""
    import importlib.metadata  # the email parser under it costs every command start-up otherwise

    try:
        return importlib.metadata.metadata(distribution)["Summary"] or ""
    except importlib.metadata.PackageNotFoundError:
        return ""


def plugins_info(name: str, *, json_output: Annotated[bool, Parameter(name="--json")] = False) -> None:
    """Show one plugin: description, status, hooks, the options it adds and where it came from.

    Parameters
    ----------
    name
        The plugin's name (see ``dataflow plugins list``) or its distribution (``dataflow-crud``).
    json_output
        Print a JSON object instead of a table.
    """
    ep = check_known_plugin(name, essential_ok=True)
    name = ep.name if ep is not None else next(iter(ESSENTIAL))
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
    ep = check_known_plugin(name)
    name = ep.name if ep is not None else name
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
PluginName = Annotated[str, Parameter(help="The plugin's name, or its distribution (dataflow-risk).")]
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


KNOWN_PLUGIN_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("crud", "dataflow-crud"),
    "errors": ("errors", "dataflow-errors"),
    "migrate": ("migrate", "dataflow-migrate"),
    "risk": ("risk", "dataflow-risk"),
    "analyze": ("inspector", "dataflow-inspector"),
    "debug": ("inspector", "dataflow-inspector"),
    "validate": ("inspector", "dataflow-inspector"),
    "perf": ("inspector", "dataflow-inspector"),
    "generate": ("inspector", "dataflow-inspector"),
    "export": ("export", "dataflow-export"),
    "import": ("export", "dataflow-export"),
    "compat": ("kailash-compat", "dataflow-kailash-compat"),
    "audit": ("protect", "dataflow-protect"),
}
"""Commands of first-party and contributed plugins: command → (plugin, distribution). Known without
the plugin installed, so ``dataflow errors`` in a minimal install says what to install."""


def check_command(app: App, argv: Sequence[str], manager: PluginManager) -> None:
    """DF-408 when ``argv`` asks for a command the app does not have but a known plugin provides
    (not installed, disabled, or failed to load: the error says which and how to fix it)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is None or command not in KNOWN_PLUGIN_COMMANDS:
        return
    if command in set(app):  # the names alone: a lazily registered command stays unimported
        return
    plugin, distribution = KNOWN_PLUGIN_COMMANDS[command]
    status = manager.statuses.get(plugin)
    if status is None:
        why = f"the plugin {plugin!r} ({distribution}) is not installed"
        fix = f"pip install {distribution}"
    elif status.status == "disabled":
        why = f"the plugin {plugin!r} ({distribution}) is {status.reason or 'disabled'}"
        fix = f"dataflow plugins enable {plugin}  (or drop what disables it: {status.reason})"
    else:
        why = f"the plugin {plugin!r} ({distribution}) is {status.status}: {status.reason}"
        fix = f"pip install --force-reinstall {distribution}"
    raise DataFlowError(
        "DF-408",
        f"`dataflow {command}` comes from a plugin that is not available here: {why}.",
        context={"command": command, "plugin": plugin, "distribution": distribution},
        solutions=[fix, "Run `dataflow plugins list` to see every plugin and its status."],
    )


def _split_plugin_switches(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(argv without them, plugin names) for every ``-p no:NAME``, ``-pno:NAME``, ``--plugin no:NAME``
    and ``--plugin=no:NAME``; DF-401 for ``-p`` without ``no:`` (only disabling is supported)."""
    rest: list[str] = []
    names: list[str] = []
    items = iter(argv)
    for arg in items:
        if arg in ("-p", "--plugin"):
            value = next(items, "")
        elif arg.startswith("--plugin="):
            value = arg.partition("=")[2]
        elif arg.startswith("-p") and not arg.startswith("--"):
            value = arg[2:]
        else:
            rest.append(arg)
            continue
        if not value.startswith("no:") or not value[3:]:
            raise DataFlowError("DF-401", f"-p takes no:NAME (a plugin to disable for this command), got {value!r}.",
                                solutions=["dataflow -p no:risk migrate plan",
                                           "Enable a plugin with `dataflow plugins enable NAME`."])
        names.append(value[3:])
    return rest, names


def _full_help_for(app: App, argv: Sequence[str]) -> None:
    """Let the command being run show its whole docstring in its ``--help``: the summary a plugin gives
    when registering by import path is for the listing of commands, where it replaces the docstring.
    Followed down sub-command groups (``migrate plan``)."""
    current = app
    for token in (a for a in argv if not a.startswith("-")):
        if token not in set(current):
            return
        current = current[token]  # loads the command's module, which is about to run anyway
        if current.default_command is not None:
            current.help = None


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
    saved = os.environ.get("DATAFLOW_DISABLE_PLUGINS")
    manager: PluginManager | None = None
    try:
        args, disabled = _split_plugin_switches(argv if argv is not None else sys.argv[1:])
        if disabled:
            check_plugin_names([e.name for e in entry_points()], disabled, "-p no:NAME")
            # Every plugin manager of this command (the CLI's, each DataFlow a command makes) honours it.
            os.environ["DATAFLOW_DISABLE_PLUGINS"] = ",".join(filter(None, [saved, *disabled]))
        manager = PluginManager()
        app = make_app(manager)
        check_command(app, args, manager)
        _full_help_for(app, args)
        if not [a for a in args if a not in ("--help", "-h")]:
            app.help_format = "plaintext"  # the listing of commands needs no Markdown renderer
        result = app(args, result_action="return_value")
    except DataFlowError as exc:
        if manager is not None and not exc.enhanced and exc.effective_mode() != "DISABLED":
            manager.apply_error_hints(exc)  # the catalogue's title and fixes, when the errors plugin is on
        print(str(exc), file=sys.stderr)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except BrokenPipeError:
        # The reader went away (``dataflow plugins list --json | head``): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if saved is None:
            os.environ.pop("DATAFLOW_DISABLE_PLUGINS", None)
        else:
            os.environ["DATAFLOW_DISABLE_PLUGINS"] = saved
    # A command may return its exit status (1: it found problems); anything else is success.
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


if __name__ == "__main__":
    raise SystemExit(main())
