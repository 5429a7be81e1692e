"""The plugin manager: finds plugins through the ``dataflow`` entry-point group, blocks before loading.

Order of work: add the hookspecs → register the kernel's essential built-ins → compute the blocked
set → ``set_blocked`` → load entry points (a plugin that fails to import is recorded as *failed*,
one whose driver is missing as *unavailable*; neither is fatal) → ``check_pending()``.

Which plugins load, strongest first: explicit ``plugins=`` / ``disable_plugins=`` arguments, then
the environment (``DATAFLOW_LOAD_PLUGINS`` is an allow-list — empty loads none —, and
``DATAFLOW_DISABLE_PLUGINS``), then the project file ``.dataflow/plugins.json`` in the working
directory, then the user file (``$XDG_CONFIG_HOME/dataflow/plugins.json``).

There is no module-global manager: each DataFlow instance and the CLI make their own.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy

from dataflow import hookspecs
from dataflow.errors import DataFlowError, did_you_mean
from dataflow.types import OptionInfo, RuntimeInfo

__all__ = [
    "ESSENTIAL",
    "EntryPointInfo",
    "OptionInfo",
    "PluginManager",
    "PluginState",
    "PluginStatus",
    "RuntimeInfo",
    "check_plugin_names",
    "entry_points",
    "lazy_exports",
    "project_state_file",
    "read_state",
    "user_state_file",
    "write_state",
]

log = logging.getLogger("dataflow.plugins")

GROUP = "dataflow"
BUILTIN = "builtin"
ESSENTIAL = frozenset({BUILTIN})


_HOOKABLE = (types.FunctionType, staticmethod, classmethod, types.MethodType)
"""What pluggy accepts as a hook implementation (its ``_static_hook_attr``)."""


class _Pluggy(pluggy.PluginManager):
    """pluggy's manager, answering quickly for the attributes of a plugin module.

    ``register`` asks ``parse_hookimpl_opts`` about every name in ``dir(plugin)``, and pluggy answers
    through ``inspect.getattr_static`` — about 10 µs a name, ~500 names over the installed plugins,
    paid by every new DataFlow instance. For a module's own attributes the answer is what pluggy would
    find without the search: nothing for what is not a function (an imported class, module or
    constant), and a plain function's marker options. Everything else goes to pluggy as before.
    """

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if isinstance(plugin, types.ModuleType):
            value = vars(plugin).get(name, _HOOKABLE)
            if type(value) is types.FunctionType:
                opts = getattr(value, self.project_name + "_impl", None)
                return opts if isinstance(opts, dict) else None
            if value is not _HOOKABLE and not isinstance(value, _HOOKABLE):
                return None
        return super().parse_hookimpl_opts(plugin, name)


@attrs.frozen
class EntryPointInfo:
    """One entry point of the ``dataflow`` group, read without importing it."""

    name: str
    value: str
    distribution: str
    version: str


@attrs.frozen
class PluginStatus:
    """What ``dataflow plugins list`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    status: str
    hooks: tuple[str, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, value_serializer=lambda _i, _a, v: list(v) if isinstance(v, tuple) else v)


@functools.cache
def _cached_entry_points() -> tuple[EntryPointInfo, ...]:
    found: dict[str, EntryPointInfo] = {}
    for folder in sys.path:
        try:
            names = sorted(n for n in os.listdir(folder or ".") if n.endswith(".dist-info"))
        except OSError:
            continue  # not a directory (a zip, a missing path entry)
        for name in names:
            dist_dir = os.path.join(folder or ".", name)
            try:
                with open(os.path.join(dist_dir, "entry_points.txt"), encoding="utf-8") as handle:
                    declared = _group_entries(handle.read(), GROUP)
            except OSError:
                continue
            if declared:
                distribution, version = _name_and_version(dist_dir, name)
                for ep_name, value in declared:
                    # The first distribution on sys.path wins, as with importlib.metadata.
                    found.setdefault(ep_name, EntryPointInfo(ep_name, value, distribution, version))
    return tuple(sorted(found.values(), key=lambda e: e.name))


def _group_entries(text: str, group: str) -> list[tuple[str, str]]:
    """``name = value`` lines of one ``[group]`` section of an ``entry_points.txt``."""
    entries, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
        elif inside and "=" in line:
            key, _, value = line.partition("=")
            entries.append((key.strip(), value.strip()))
    return entries


def _name_and_version(dist_dir: str, dir_name: str) -> tuple[str, str]:
    """The ``Name`` and ``Version`` headers of a distribution's METADATA (else from the folder name)."""
    name, _, version = dir_name.removesuffix(".dist-info").partition("-")
    headers: dict[str, str] = {}
    try:
        with open(os.path.join(dist_dir, "METADATA"), encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    break  # the headers end at the first blank line
                key, _, value = line.partition(":")
                if key in ("Name", "Version"):
                    headers[key] = value.strip()
    except OSError:
        pass
    return headers.get("Name", name.replace("_", "-")), headers.get("Version", version)


def entry_points(*, refresh: bool = False) -> tuple[EntryPointInfo, ...]:
    """Every plugin entry point, sorted by name (cached per process; ``refresh`` re-reads).

    The ``*.dist-info`` folders on ``sys.path`` are read directly: importing ``importlib.metadata``
    (and the email, zipfile and csv modules it pulls in) would cost every ``DataFlow()`` more than
    the scan itself.
    """
    if refresh:
        _cached_entry_points.cache_clear()
    return _cached_entry_points()


def project_state_file() -> Path:
    return Path.cwd() / ".dataflow" / "plugins.json"


def user_state_file() -> Path:
    base = os.environ.get("DATAFLOW_USER_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config"), "dataflow"
    )
    return Path(base) / "plugins.json"


@attrs.frozen
class PluginState:
    """The content of a plugin state file (``.dataflow/plugins.json``)."""

    enabled: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


@functools.cache
def _state_converter() -> Any:
    """The one cattrs converter for state files: unknown keys are errors, not silently dropped."""
    import cattrs

    return cattrs.Converter(forbid_extra_keys=True)


def read_state(path: Path) -> dict[str, list[str]]:
    """``{"enabled": [...], "disabled": [...]}`` from a state file; missing: empty; malformed: DF-401."""
    try:
        text = path.read_text()
    except OSError:
        return {"enabled": [], "disabled": []}
    import cattrs

    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        state = _state_converter().structure(data, PluginState)
    except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
        detail = "; ".join(cattrs.transform_error(exc)) if isinstance(exc, cattrs.BaseValidationError) else exc
        raise DataFlowError(
            "DF-401",
            f"The plugin state file {path} is malformed: {detail}.",
            context={"file": str(path)},
            solutions=['It holds {"enabled": [names], "disabled": [names]}: fix it, or delete it to reset.'],
        ) from None
    return {"enabled": list(state.enabled), "disabled": list(state.disabled)}


def write_state(path: Path, state: dict[str, list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: sorted(set(v)) for k, v in state.items()}, indent=2) + "\n")
    tmp.replace(path)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def blocked_names(
    names: Iterable[str], *, allow: Sequence[str] | None = None, disable: Sequence[str] = ()
) -> dict[str, str]:
    """Plugin name → why it is blocked, from arguments, environment and state files (strongest first)."""
    names = list(names)
    decided: dict[str, str | None] = {}  # name → reason if blocked, None if explicitly allowed

    def decide(name: str, reason: str | None) -> None:
        decided.setdefault(name, reason)

    for name in disable:
        decide(name, "disabled by disable_plugins=")
    if allow is not None:
        for name in names:
            decide(name, None if name in allow else "not in plugins=")
    for name in _split(os.environ.get("DATAFLOW_DISABLE_PLUGINS", "")):
        decide(name, "disabled by DATAFLOW_DISABLE_PLUGINS")
    env_allow = os.environ.get("DATAFLOW_LOAD_PLUGINS")
    if env_allow is not None:
        allowed = _split(env_allow)
        for name in names:
            decide(name, None if name in allowed else "not in DATAFLOW_LOAD_PLUGINS")
    for path, label in ((project_state_file(), "project"), (user_state_file(), "user")):
        state = read_state(path)
        for name in state["enabled"]:
            decide(name, None)
        for name in state["disabled"]:
            decide(name, f"disabled in the {label} file {path}")
    return {name: reason for name, reason in decided.items() if reason is not None and name not in ESSENTIAL}


def check_plugin_names(installed: Sequence[str], names: Iterable[str], where: str) -> None:
    """DF-401 naming the closest installed plugin when ``names`` (from ``where``: an argument or an
    environment variable) holds one that is not installed: a misspelt name would otherwise switch
    nothing off, silently. The essential built-in is accepted (and ignored) everywhere."""
    for name in names:
        if name not in installed and name not in ESSENTIAL:
            raise DataFlowError(
                "DF-401",
                f"{where} names the plugin {name!r}, but no plugin of that name is installed."
                f"{did_you_mean(name, installed)}",
                context={"setting": where, "plugin": name, "installed": ", ".join(installed)},
                solutions=[f"Fix the name in {where}; `dataflow plugins list` shows the installed plugins."],
            )


class PluginManager:
    """A pluggy manager for the ``dataflow`` project, with load status for every plugin.

    :param autoload: load the entry-point plugins (False in tests that register their own).
    :param plugins: an allow-list of plugin names, and/or plugin objects to register directly.
    :param disable: plugin names never to load.
    """

    def __init__(
        self,
        *,
        autoload: bool = True,
        plugins: Iterable[Any] | None = None,
        disable: Iterable[str] = (),
    ) -> None:
        self.pm = _Pluggy(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.hook = self.pm.hook
        self.statuses: dict[str, PluginStatus] = {}
        extra = [p for p in plugins or () if not isinstance(p, str)]
        allow = None if plugins is None else [p for p in plugins if isinstance(p, str)]
        if plugins is not None and not allow and extra:
            allow = None  # only plugin objects were given: they add to the normal set
        from dataflow import builtin

        self.pm.register(builtin, name=BUILTIN)
        self.statuses[BUILTIN] = PluginStatus(BUILTIN, "dataflow-kernel", _kernel_version(), "essential",
                                                self.hooks_of(BUILTIN))
        disable = list(disable)
        for name in disable:
            if name in ESSENTIAL:
                raise DataFlowError("DF-404", f"The plugin {name!r} is essential and cannot be disabled.")
        if autoload:
            self._load(allow, disable)
        for obj in extra:
            self.register(obj)
        self.pm.check_pending()

    def _load(self, allow: Sequence[str] | None, disable: Sequence[str]) -> None:
        eps = entry_points()
        names = [e.name for e in eps]
        check_plugin_names(names, allow or (), "plugins=")
        check_plugin_names(names, disable, "disable_plugins=")
        check_plugin_names(names, _split(os.environ.get("DATAFLOW_DISABLE_PLUGINS", "")), "DATAFLOW_DISABLE_PLUGINS")
        check_plugin_names(names, _split(os.environ.get("DATAFLOW_LOAD_PLUGINS", "")), "DATAFLOW_LOAD_PLUGINS")
        blocked = blocked_names([e.name for e in eps], allow=allow, disable=disable)
        for name in blocked:
            self.pm.set_blocked(name)
        for ep in eps:
            if ep.name in blocked:
                self.statuses[ep.name] = PluginStatus(ep.name, ep.distribution, ep.version, "disabled",
                                                      reason=blocked[ep.name])
                continue
            self._load_one(ep)

    def _load_one(self, ep: EntryPointInfo) -> None:
        module_name = ep.value.partition(":")[0]
        try:
            obj: Any = importlib.import_module(module_name)
            if ":" in ep.value:
                for attr in ep.value.partition(":")[2].split("."):
                    obj = getattr(obj, attr)
        except ModuleNotFoundError as exc:
            own = module_name.partition(".")[0]
            status = "failed" if (exc.name or "").partition(".")[0] == own else "unavailable"
            reason = (f"missing module {exc.name!r}" if status == "unavailable"
                      else f"{type(exc).__name__}: {exc}")
            self.statuses[ep.name] = PluginStatus(ep.name, ep.distribution, ep.version, status, reason=reason)
            return
        except Exception as exc:  # a broken plugin must never crash the host
            self.statuses[ep.name] = PluginStatus(ep.name, ep.distribution, ep.version, "failed",
                                                  reason=f"{type(exc).__name__}: {exc}")
            return
        try:
            self.pm.register(obj, name=ep.name)
        except Exception as exc:
            self.statuses[ep.name] = PluginStatus(ep.name, ep.distribution, ep.version, "failed",
                                                  reason=f"{type(exc).__name__}: {exc}")
            return
        problem = self._hook_problems(ep.name)
        if problem:
            # check_pending() would raise for the whole manager: one bad hook must not stop the host.
            self.pm.unregister(name=ep.name)
            self.statuses[ep.name] = PluginStatus(ep.name, ep.distribution, ep.version, "failed",
                                                  reason=problem)
            return
        self.statuses[ep.name] = PluginStatus(ep.name, ep.distribution, ep.version, "active",
                                              self.hooks_of(ep.name))

    def _hook_problems(self, name: str) -> str:
        """Why the plugin ``name`` cannot be used as written, or '': hooks no spec declares (misspelt
        names), and wrappers on hooks whose results are gathered plugin by plugin (a wrapper there
        would have no single result to wrap: pluggy would hand DataFlow the generator instead)."""
        plugin = self.pm.get_plugin(name)
        problems = []
        known = [n for n in vars(hookspecs) if n.startswith("dataflow_")]
        for caller in sorted(self.pm.get_hookcallers(plugin) or (), key=lambda c: c.name):
            own = [i for i in caller.get_hookimpls() if i.plugin is plugin]
            if not caller.has_spec() and any(not i.optionalhook for i in own):
                problems.append(f"unknown hook {caller.name!r}.{did_you_mean(caller.name, known)}")
            elif caller.name in hookspecs.PER_PLUGIN_HOOKS and any(i.wrapper or i.hookwrapper for i in own):
                problems.append(f"{caller.name} is a collection hook: each plugin's result is gathered on its "
                                "own, so it cannot be wrapped (drop wrapper=True and return your result)")
        return "; ".join(problems)

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object (a module or an instance with ``@hookimpl`` methods)."""
        try:
            registered = self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise DataFlowError("DF-404",
                                f"The plugin {name or plugin!r} cannot be registered: {exc}") from exc
        if registered is None:
            raise DataFlowError("DF-404", f"The plugin {name!r} is blocked and was not registered.")
        problem = self._hook_problems(registered)
        if problem:
            self.pm.unregister(name=registered)
            raise DataFlowError("DF-404", f"The plugin {registered!r} cannot be registered: {problem}",
                                solutions=["Check the hooks against docs/hooks.md."])
        self.statuses[registered] = PluginStatus(registered, _dist_of(plugin), "", "active",
                                                 self.hooks_of(registered))
        return registered

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.statuses.pop(name, None)

    def hooks_of(self, name: str) -> tuple[str, ...]:
        plugin = self.pm.get_plugin(name)
        callers = self.pm.get_hookcallers(plugin) if plugin is not None else None
        return tuple(sorted(c.name for c in callers or ()))

    def plugin(self, name: str) -> Any:
        return self.pm.get_plugin(name)

    def active_names(self) -> list[str]:
        return [n for n, s in self.statuses.items() if s.status in ("active", "essential")]

    def has_impls(self, hook_name: str) -> bool:
        """True when some plugin other than the kernel's built-ins implements ``hook_name``."""
        caller = getattr(self.hook, hook_name)
        return any(impl.plugin_name != BUILTIN for impl in caller.get_hookimpls())

    def operations_passed_through(self) -> frozenset[str]:
        """The node operations (``Node.operation``) that every plugin's ``dataflow_execute_node`` declares
        it passes through untouched (a ``passes_through`` set on the implementing function): nodes of
        these run without the hook call. An implementation that declares nothing wraps every node."""
        declared = [frozenset(getattr(impl.function, "passes_through", ()))
                    for impl in self.hook.dataflow_execute_node.get_hookimpls() if impl.plugin_name != BUILTIN]
        return frozenset.intersection(*declared) if declared else frozenset()

    def node_wrappers_idle_checks(self) -> tuple[Callable[[Any], bool], ...] | None:
        """The ``passes_through_when(db)`` predicates of every plugin's ``dataflow_execute_node`` (see
        ``hookspecs.dataflow_execute_node``), or None when some implementation declares none: while
        each returns True for an instance, its nodes run without the hook call."""
        checks: list[Callable[[Any], bool]] = []
        for impl in self.hook.dataflow_execute_node.get_hookimpls():
            if impl.plugin_name != BUILTIN:
                check = getattr(impl.function, "passes_through_when", None)
                if check is None:
                    return None
                checks.append(check)
        return tuple(checks) if checks else None

    def _each_plugin(self, hook_name: str, *, kernel_first: bool = False) -> list[tuple[str, pluggy.HookCaller]]:
        """(plugin name, a pluggy caller of that plugin's implementation alone), in plugin-name order.

        Calls go through pluggy (argument selection, tracing, its error handling) one plugin at a time,
        so each result keeps the name of the plugin that produced it.
        """
        caller = getattr(self.hook, hook_name)
        impls = caller.get_hookimpls()
        order = sorted(impls, key=lambda i: (kernel_first and i.plugin_name != BUILTIN, i.plugin_name))
        return [(impl.plugin_name,
                 self.pm.subset_hook_caller(hook_name, [i.plugin for i in impls if i.plugin is not impl.plugin]))
                for impl in order]

    def call_chain(self, hook_name: str, value: Any, **kwargs: Any) -> Any:
        """Call each implementation in turn, passing the previous result as the first argument."""
        first = getattr(self.hook, hook_name).spec.argnames[0]
        for _plugin, caller in self._each_plugin(hook_name):
            for result in caller(**{first: value, **kwargs}):
                if result is not None:
                    value = result
        return value

    def call_isolated(
        self, hook_name: str, *, on_error: Callable[[str, Exception], None] | None = None, **kwargs: Any
    ) -> list[tuple[str, Any]]:
        """Call each implementation separately (the kernel's first, then by plugin name); failures are skipped.

        Every failure is logged; ``on_error(plugin name, exception)`` is told about each one too, and
        may raise instead of letting the call go on (``db.<method>`` providers do).
        """
        results = []
        for plugin, caller in self._each_plugin(hook_name, kernel_first=True):
            try:
                found = caller(**kwargs)
            except Exception as exc:  # one failing provider never hides the error being reported
                log.warning("Plugin %r failed in %s: %s: %s", plugin, hook_name, type(exc).__name__, exc,
                            exc_info=log.isEnabledFor(logging.DEBUG))
                if on_error is not None:
                    on_error(plugin, exc)
                continue
            results += [(plugin, result) for result in found if result is not None]
        return results

    def apply_error_hints(self, error: DataFlowError) -> DataFlowError:
        """Fold every ``dataflow_error_hints`` provider's hints for ``error.code`` into it (once).

        Providers run in isolation (``call_isolated``): the kernel's first, then by plugin name, so on
        a clash of titles the first provider wins and a failing provider is skipped.
        """
        if error.enhanced:
            return error
        error.enhanced = True
        for _plugin, hints in self.call_isolated("dataflow_error_hints", error=error):
            for hint in hints:
                if getattr(hint, "code", None) == error.code:
                    error.add_hint(hint)
        return error

    def results(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """(plugin name, result) for each plugin's non-None result, in plugin-name order; a failure propagates."""
        out: list[tuple[str, Any]] = []
        for plugin, caller in self._each_plugin(hook_name):
            out += [(plugin, result) for result in caller(**kwargs) if result is not None]
        return out

    def collect(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """(plugin name, item) for every item of a collection hook, in plugin-name order."""
        out: list[tuple[str, Any]] = []
        for plugin, caller in self._each_plugin(hook_name):
            for result in caller(**kwargs):
                out += [(plugin, item) for item in result or ()]
        return out


def _kernel_version() -> str:
    from dataflow import __version__

    return __version__


def _dist_of(plugin: Any) -> str:
    module = plugin if isinstance(plugin, types.ModuleType) else sys.modules.get(type(plugin).__module__)
    return getattr(module, "__name__", "") or ""


def check_known_plugin(name: str, *, essential_ok: bool = False) -> EntryPointInfo | None:
    """The entry point called ``name`` (or the one plugin of the distribution called ``name``, as
    ``dataflow-crud``); DF-404 for an unknown name (with a suggestion) or an essential one."""
    if name in ESSENTIAL or (essential_ok and name == "dataflow-kernel"):
        if essential_ok:
            return None
        raise DataFlowError("DF-404", f"The plugin {name!r} is essential: it cannot be disabled or enabled.")
    eps = {e.name: e for e in entry_points()}
    of_distribution = [e for e in eps.values() if e.distribution == name]
    if name not in eps and len(of_distribution) == 1:
        return of_distribution[0]
    if name not in eps:
        known_distributions = [e.distribution for e in eps.values()]
        raise DataFlowError(
            "DF-404",
            f"No plugin named {name!r} is installed.{did_you_mean(name, [*eps, *known_distributions])}",
            context={"installed": ", ".join(eps)},
            solutions=["Run `dataflow plugins list` to see the installed plugins."],
        )
    return eps[name]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a plugin package whose public names load on first use.

    Loading a plugin imports ``<package>.plugin``, which first imports the package itself: a package
    ``__init__`` that imported its driver or rich would make every ``DataFlow()`` pay for it.

    Usage in ``dataflow_x/__init__.py``::

        __getattr__, __dir__ = lazy_exports(__name__, {"XDialect": "dataflow_x.dialect"})
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
