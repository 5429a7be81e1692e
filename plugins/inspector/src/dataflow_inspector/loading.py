"""Workflow files: a Python file that defines a workflow for the inspector's commands to load.

A workflow file defines, at module level, a ``WorkflowBuilder`` or a built workflow (``wf =
WorkflowBuilder()`` …), or a function taking no arguments that returns one and says so
(``def make() -> WorkflowBuilder``). Several are fine: ``--workflow NAME`` picks one. It may also
define ``parameters``, a dict of the run's parameters (``${name}`` run inputs, per-node overrides),
which ``perf`` passes to the run and ``validate`` checks the templates against. It configures its own
database: the DataFlow instance it creates is the one ``perf`` runs against.

A file that cannot give a workflow is DF-806, saying how to write one.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from dataflow.errors import DataFlowError, did_you_mean
from dataflow.workflow import Workflow, WorkflowBuilder

__all__ = ["HOW_TO", "LoadedWorkflow", "load_workflow"]

HOW_TO = """\
# my_workflow.py
from dataflow import DataFlow, WorkflowBuilder

db = DataFlow("sqlite:///app.db")

@db.model
class User:
    id: str
    name: str

workflow = WorkflowBuilder()
workflow.add_node("UserCreateNode", "create", {"id": "u1", "name": "Ann"})
parameters = {}          # optional: the run's parameters"""
"""The example every "no workflow here" error shows."""

_RETURNS = ("WorkflowBuilder", "Workflow")


@attrs.frozen
class LoadedWorkflow:
    """A workflow taken from a file.

    :param name: the module-level name it was found under (a function's name for a factory).
    :param workflow: the ``WorkflowBuilder`` or built ``Workflow``.
    :param parameters: the file's ``parameters`` (None when it defines none).
    :param module: the imported module (its DataFlow instances configure the database).
    """

    path: Path
    name: str
    workflow: WorkflowBuilder | Workflow
    parameters: Mapping[str, Any] | None
    module: Any = attrs.field(eq=False, repr=False)

    @property
    def instances(self) -> list[Any]:
        """The DataFlow instances the file made (to close once a command is done with them)."""
        from dataflow.facade import DataFlow

        return [value for value in vars(self.module).values() if isinstance(value, DataFlow)]


def _error(message: str, path: Path | str, **context: Any) -> DataFlowError:
    return DataFlowError("DF-806", message, context={"file": str(path), **context},
                         solutions=[f"A workflow file defines a WorkflowBuilder at module level:\n{HOW_TO}"])


def _import(path: Path) -> Any:
    module_name = f"_dataflow_workflow_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise _error(f"{path} cannot be imported as Python.", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(path.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)  # the file may import its neighbours (models.py …)
    try:
        spec.loader.exec_module(module)
    except DataFlowError as exc:
        sys.modules.pop(module_name, None)
        raise _error(f"Importing {path.name} raised {exc.code}: {exc.message}", path, cause=exc.code) from exc
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise _error(f"Importing {path.name} failed: {type(exc).__name__}: {exc}", path) from exc
    finally:
        if added:
            sys.path.remove(folder)
    return module


def _is_workflow(value: Any) -> bool:
    return isinstance(value, WorkflowBuilder | Workflow)


def _is_factory(value: Any, module: Any, *, annotated: bool = True) -> bool:
    """A function of this module, callable without arguments, annotated to return a workflow (unless
    ``annotated`` is False: a function named by ``--workflow`` need not say it)."""
    if not inspect.isfunction(value) or value.__module__ != module.__name__:
        return False
    returns = value.__annotations__.get("return")
    label = returns if isinstance(returns, str) else getattr(returns, "__name__", "")
    if annotated and label.rpartition(".")[2] not in _RETURNS:
        return False
    signature = inspect.signature(value)
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in signature.parameters.values())


def load_workflow(path: str | Path, name: str | None = None) -> LoadedWorkflow:
    """Import ``path`` and take its workflow (``name`` picks one of several); DF-806 when it has none,
    several and no ``name``, or no workflow called ``name``."""
    file = Path(path)
    if not file.is_file():
        raise _error(f"No workflow file {str(path)!r}.", file)
    module = _import(file.resolve())
    found = {key: value for key, value in vars(module).items()
             if not key.startswith("_") and (_is_workflow(value) or _is_factory(value, module))}
    if name is not None:
        named = getattr(module, name, None)
        if named is not None and _is_factory(named, module, annotated=False):
            found[name] = named
        if name not in found:
            known = [k for k in vars(module) if not k.startswith("_")]
            raise _error(f"{file.name} defines no workflow called {name!r}.{did_you_mean(name, found or known)}"
                         + (f" It defines: {', '.join(found)}." if found else ""), file, workflow=name)
        chosen = name
    elif len(found) == 1:
        chosen = next(iter(found))
    elif not found:
        raise _error(f"{file.name} defines no WorkflowBuilder or built workflow at module level (nor a function "
                     "annotated to return one).", file)
    else:
        raise _error(f"{file.name} defines several workflows: {', '.join(found)}. Pick one with --workflow NAME.",
                     file, workflows=", ".join(found))
    value = found[chosen]
    if not _is_workflow(value):
        try:
            value = value()
        except Exception as exc:
            raise _error(f"{chosen}() in {file.name} failed: {type(exc).__name__}: {exc}", file) from exc
        if not _is_workflow(value):
            raise _error(f"{chosen}() in {file.name} returned {type(value).__name__}, not a workflow.", file)
    parameters = getattr(module, "parameters", None)
    if parameters is not None and not isinstance(parameters, Mapping):
        raise _error(f"'parameters' in {file.name} must be a dict of the run's parameters, got "
                     f"{type(parameters).__name__}.", file)
    return LoadedWorkflow(file, chosen, value, parameters, module)
