"""The meta-path finder that serves the Kailash import paths, and the modules it makes.

Rules it keeps:

- It answers only for the names in ``aliases.ALIASES``; every other import goes on to the normal
  finders untouched. It sits first on ``sys.meta_path`` so that its ``kailash`` wins over a real
  Kailash SDK installed in the same environment (the two cannot be mixed: see README.md).
- An alias module resolves its exports on first access, so ``import dataflow.platform.inspector``
  works before the inspector plugin exists, and ``from dataflow.platform.inspector import Inspector``
  then raises an ``ImportError`` that is also a DF-407 ``DataFlowError`` naming the package to install.
- When the plugin is disabled (``dataflow plugins disable kailash-compat``, ``DATAFLOW_DISABLE_PLUGINS``,
  an allow-list without it), importing an alias raises that error saying so.
- Nothing at module level imports ``dataflow``: this module is imported at interpreter start-up.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

from dataflow_kailash_compat.aliases import ALIASES, PROVIDERS, SERVED_BY_PLUGIN, Alias

__all__ = ["PLUGIN_NAME", "AliasFinder", "install", "missing_component", "uninstall"]

PLUGIN_NAME = "kailash-compat"
DISTRIBUTION = "dataflow-kailash-compat"
_lock = threading.Lock()


def missing_component(message: str, package: str, module: str | None = None) -> ImportError:
    """DF-407 as an ``ImportError`` (see ``errors.MissingComponentError``), made only when raised."""
    from dataflow_kailash_compat.errors import missing_component as make

    return make(message, package, module)


def _provider(module: str) -> str:
    return PROVIDERS.get(module.partition(".")[0], module.partition(".")[0].replace("_", "-"))


def _resolve(alias_name: str, target: str) -> Any:
    """``"module:attr"`` (or a module name) → the object; DF-407 (an ImportError) when its package is absent."""
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.partition(".")[0]
        if exc.name is None or exc.name.partition(".")[0] != top:
            raise  # something the provider itself needs is missing: show that error as it is
        package = _provider(module_name)
        raise missing_component(
            f"{alias_name} is served by {package}, which is not installed: pip install {package}.",
            package, alias_name) from exc
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise missing_component(
            f"{alias_name}.{attribute} needs {_provider(module_name)} to offer {module_name}.{attribute}, which "
            "this version does not.", _provider(module_name), alias_name) from None
    except ImportError:
        raise
    except Exception as exc:
        # dataflow.LocalRuntime and friends come from a plugin: DF-403 when it is missing or disabled.
        if getattr(exc, "code", None) != "DF-403":
            raise
        package = PROVIDERS.get(SERVED_BY_PLUGIN.get(target, ""), "dataflow-runtime")
        raise missing_component(f"{alias_name}.{attribute}: {getattr(exc, 'message', exc)}", package,
                                alias_name) from exc


# The loader and the finder follow importlib's protocols without subclassing ``importlib.abc``: that
# module pulls in ``importlib.resources`` (tens of milliseconds), and this file loads at the start of
# every Python process of the environment.
class AliasLoader:
    """Fills an alias module: lazy exports or delegation, ``__all__``, ``__dir__``."""

    def __init__(self, alias: Alias) -> None:
        self.alias = alias

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        alias, name = self.alias, module.__name__
        module.__doc__ = alias.doc or f"Kailash import path {name}, served by DataFlow (dataflow-kailash-compat)."
        exports = dict(alias.exports)

        def __getattr__(attribute: str) -> Any:
            if attribute in exports:
                value = _resolve(name, exports[attribute])
                setattr(module, attribute, value)
                return value
            if alias.delegate is not None and not attribute.startswith("__"):
                return getattr(_resolve(name, alias.delegate), attribute)
            if alias.delegate is not None and attribute == "__all__":
                target = _resolve(name, alias.delegate)
                return list(getattr(target, "__all__", [n for n in dir(target) if not n.startswith("_")]))
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")

        def __dir__() -> list[str]:
            names = set(exports)
            if alias.delegate is not None:
                names.update(n for n in dir(_resolve(name, alias.delegate)) if not n.startswith("_"))
            return sorted(names)

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        module.__dir__ = __dir__  # type: ignore[method-assign]
        if exports:
            module.__dict__["__all__"] = sorted(exports)


class AliasFinder:
    """Finds the modules of ``ALIASES`` (and nothing else)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        alias = ALIASES.get(fullname)
        if alias is None:
            return None
        reason = _disabled_reason()
        if reason is not None:
            raise missing_component(
                f"{fullname} is served by the {PLUGIN_NAME} plugin ({DISTRIBUTION}), which is installed but "
                f"disabled ({reason}).", DISTRIBUTION, fullname)
        loader: Any = AliasLoader(alias)  # the protocol (create_module, exec_module), not its ABC
        return importlib.util.spec_from_loader(fullname, loader, is_package=alias.package)


def _disabled_reason() -> str | None:
    """Why the plugin is switched off (the same rules as every plugin), or None."""
    from dataflow.plugins import blocked_names

    return blocked_names([PLUGIN_NAME]).get(PLUGIN_NAME)


def install() -> None:
    """Put one ``AliasFinder`` first on ``sys.meta_path``; calling again changes nothing."""
    with _lock:
        if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, AliasFinder())


def uninstall() -> None:
    with _lock:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, AliasFinder)]
