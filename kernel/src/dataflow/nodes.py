"""Nodes: the base class every node type derives from, and the registry of node types by name.

A node declares its parameters; the runtime hands it resolved parameters and awaits ``run``, which
returns the node's output dict. Nodes generated for a model are bound to the DataFlow instance that
generated them (``dataflow_instance``), so several instances with the same model name stay apart:
the registry keeps every binding and ``db_instance`` chooses, the newest winning otherwise.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from dataflow.errors import DataFlowError, did_you_mean

if TYPE_CHECKING:
    from dataflow.facade import DataFlow
    from dataflow.models import ModelSpec

__all__ = ["Node", "NodeContext", "Param", "node_registry", "resolve_model_instance"]


@attrs.frozen
class Param:
    """A declared node parameter."""

    name: str
    type: Any = object
    required: bool = False
    default: Any = None
    description: str = ""


@attrs.define
class NodeContext:
    """What a running node knows about its run."""

    node_id: str
    run_id: str
    node_type: str
    inputs: Mapping[str, Any] = attrs.field(factory=dict)


COMMON_PARAMS = ("db_instance", "model_name")


class Node:
    """Base of every node type.

    Subclasses set ``parameters`` and implement ``async run(params, ctx) -> dict``. A node that
    accepts arbitrary keys (a create node takes the model's fields flat) sets ``open_parameters``.
    """

    type_name: ClassVar[str] = "Node"
    parameters: ClassVar[Mapping[str, Param]] = {}
    open_parameters: ClassVar[bool] = False
    dataflow_instance: ClassVar[DataFlow | None] = None
    model: ClassVar[ModelSpec | None] = None
    operation: ClassVar[str] = ""

    def __init__(self, node_id: str = "", **config: Any) -> None:
        self.node_id = node_id or self.type_name
        self.config = config

    @classmethod
    def describe(cls) -> str:
        return (cls.__doc__ or cls.type_name).strip().splitlines()[0]

    @classmethod
    def check_parameter_names(cls, names: Any, node_id: str) -> None:
        """DF-102 for a parameter this node does not take (with the closest valid name)."""
        if cls.open_parameters:
            return
        known = cls.__dict__.get("_known_parameters")
        if known is None:
            known = frozenset(cls.parameters) | frozenset(COMMON_PARAMS)
            cls._known_parameters = known  # type: ignore[attr-defined]
        for name in names:
            if name not in known:
                raise DataFlowError(
                    "DF-102",
                    f"{cls.type_name} has no parameter {name!r}.{did_you_mean(name, known)}",
                    context={"node_id": node_id, "node_type": cls.type_name, "parameter": name,
                             "parameters": ", ".join(sorted(known))},
                )

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        raise NotImplementedError


def resolve_model_instance(node: Node, params: dict[str, Any]) -> tuple[DataFlow, ModelSpec]:
    """The DataFlow instance and model a model node runs against, taking ``db_instance`` and
    ``model_name`` out of ``params``.

    ``db_instance`` (the DataFlow object or its ``name=``) picks another instance that registered the
    same node type; ``model_name`` must name the node's own model (DF-102 otherwise). The model spec
    returned is the instance's own registration (plugins may have amended it). Node plugins that
    generate per-model nodes call this first in ``run``, so every model node honours both parameters
    the same way.
    """
    db = node.dataflow_instance
    chosen = params.pop("db_instance", None)
    if chosen is not None and chosen is not db and not (isinstance(chosen, str) and db is not None
                                                        and chosen == db.name):
        db = node_registry.resolve(node.type_name, chosen, node.node_id).dataflow_instance
    model_name = params.pop("model_name", None)
    model = node.model
    if model is None or db is None:
        raise DataFlowError("DF-701", f"{node.type_name} is not a node generated for a model.",
                            context={"node": node.node_id, "node_type": node.type_name})
    if model_name is not None and model_name != model.name:
        raise DataFlowError(
            "DF-102",
            f"model_name={model_name!r} does not match {node.type_name}, a node of model {model.name!r}.",
            context={"node": node.node_id, "model": model.name, "parameter": "model_name"},
            solutions=[f"Use model_name={model.name!r}, or the {model_name}… node."],
        )
    return db, db.models.get(model.name, model)


class NodeRegistry:
    """Node types by name. Model nodes keep one binding per DataFlow instance; the newest wins."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._bound: dict[str, list[tuple[weakref.ref[Any], type[Node]]]] = {}
        self._global: dict[str, type[Node]] = {}
        self._global_loaded = False
        self._instances: weakref.WeakSet[Any] = weakref.WeakSet()
        self.loader: Callable[[Callable[[str, type[Node]], None]], None] | None = None

    def add(self, name: str, cls: type[Node], db: DataFlow | None = None) -> None:
        with self._lock:
            if db is None:
                self._global[name] = cls
                return
            entries = [e for e in self._bound.get(name, []) if e[0]() is not None and e[0]() is not db]
            entries.append((weakref.ref(db), cls))
            self._bound[name] = entries

    def add_instance(self, db: DataFlow) -> None:
        """Remember a live DataFlow instance (its name can then be told from an unknown label)."""
        self._instances.add(db)

    def instance_names(self) -> set[str]:
        return {db.name for db in list(self._instances)}

    def remove_instance(self, db: DataFlow) -> None:
        with self._lock:
            for name, entries in list(self._bound.items()):
                kept = [e for e in entries if e[0]() is not None and e[0]() is not db]
                if kept:
                    self._bound[name] = kept
                else:
                    del self._bound[name]

    def _ensure_global(self) -> None:
        if not self._global_loaded and self.loader is not None:
            self._global_loaded = True
            self.loader(lambda name, cls: self.add(name, cls))

    def names(self) -> list[str]:
        self._ensure_global()
        with self._lock:
            live = [n for n, entries in self._bound.items() if any(e[0]() is not None for e in entries)]
            return sorted(set(live) | set(self._global))

    def resolve(self, name: Any, db_instance: Any = None, node_id: str = "") -> type[Node]:
        """The node class called ``name`` (bound to ``db_instance`` when given); DF-701 if unknown."""
        if isinstance(name, type) and issubclass(name, Node):
            return name
        if not isinstance(name, str):
            raise DataFlowError("DF-701", f"A node type must be a name or a Node class, got {name!r}.",
                                context={"node_id": node_id})
        with self._lock:
            entries = [(ref(), cls) for ref, cls in self._bound.get(name, ())]
        entries = [(db, cls) for db, cls in entries if db is not None]
        if entries:
            if db_instance is None:
                return entries[-1][1]
            for db, cls in reversed(entries):
                if db is db_instance or (isinstance(db_instance, str) and db.name == db_instance):
                    return cls
            if isinstance(db_instance, str) and len(entries) == 1 and db_instance not in self.instance_names():
                # The spec's examples pass a label ("my_db") no instance was given: with one instance
                # to choose from, the label is taken as naming it. A real instance's name never is.
                return entries[0][1]
            raise DataFlowError(
                "DF-701",
                f"No DataFlow instance {_label(db_instance)} has registered {name}.",
                context={"node_id": node_id, "node_type": name,
                         "instances": ", ".join(_label(db) for db, _ in entries)},
                solutions=["Pass the DataFlow object itself as db_instance, or the name= it was given."],
            )
        self._ensure_global()
        cls = self._global.get(name)
        if cls is not None:
            return cls
        disabled, of_its_model = self._switched_off(name)
        off_causes = [f"Plugin {plugin!r} is not loaded ({reason})." for plugin, reason in disabled.items()]
        suggestion = did_you_mean(name, self.names())
        message = f"No node type named {name!r} is registered.{suggestion}"
        if disabled and (of_its_model or not suggestion):
            plugins = ", ".join(f"{plugin!r} ({reason})" for plugin, reason in disabled.items())
            message = (f"No node type named {name!r} is registered; switched off where it would come from: "
                       f"plugin {plugins}.{suggestion}")
        context = {"node_id": node_id, "node_type": name}
        if disabled:
            context["switched_off"] = ", ".join(disabled)
        raise DataFlowError(
            "DF-701",
            message,
            context=context,
            causes=[*off_causes,
                    "The model was not declared with @db.model, or its name is misspelled.",
                    "Node names follow ModelOperationNode, e.g. UserCreateNode."],
            solutions=[*(["Enable the plugin where it was switched off (the reason says where), or run "
                          "`dataflow plugins enable NAME`."] if disabled else []),
                       "Declare the model with @db.model before building the workflow.",
                       "Check the spelling and case of the node name."],
        )

    def _switched_off(self, name: str) -> tuple[dict[str, str], bool]:
        """Plugins (name → where they were switched off) not loaded on the live instances that could
        have made the node type ``name``: those with a model whose name ``name`` starts with, else all
        of them; and whether such a model was found. Empty when every plugin is loaded."""
        instances = [db for db in list(self._instances) if getattr(db, "plugins", None) is not None]
        owners = [db for db in instances if any(name.startswith(m) for m in getattr(db, "models", {}))]
        found: dict[str, str] = {}
        for db in owners or instances:
            for status in db.plugins.statuses.values():
                if status.status in ("disabled", "failed"):
                    found.setdefault(status.name, status.reason or status.status)
        return found, bool(owners)


def _label(db: Any) -> str:
    return repr(getattr(db, "name", None) or db)


node_registry = NodeRegistry()
"""The process-wide registry the WorkflowBuilder resolves names against."""
