"""Nodes: the base class every node type derives from, its contract, and the registry of node types.

A node type declares, once, everything the kernel needs to check and order it before it runs:

- ``parameters``: each a ``Param`` (type, default, allowed values, bounds). ``check_parameters`` checks
  values against these declarations through one cattrs converter; ``build()`` runs it on the static
  parameters and the node on its resolved parameters, so there is a single implementation.
- ``outputs``: the output names it produces (None when they depend on the run, as for code nodes),
  so ``build()`` refuses a connection from an output that can never exist.
- ``input_types()`` / ``output_types()`` / ``required_inputs()``: the type of each input and output
  (from the declarations by default; model nodes answer from their model's field types) and the
  inputs it cannot run without, so ``build()`` refuses a connection whose two ends can never match
  (``type_accepts``) and inspectors can say what a node needs and gives.
- ``touches(params)``: which DataFlow instance it uses and whether it writes (``Touch`` records), so
  the runtimes keep the order users wrote where it matters and overlap the rest.
- ``check_static(params, node_id)``: any further build-time check of static parameters (a model
  node checks field names there).

The runtime hands a node its resolved parameters and awaits ``run``, which returns the output dict.
Nodes generated for a model are bound to the DataFlow instance that generated them
(``dataflow_instance``), so several instances with the same model name stay apart: the registry keeps
every binding and ``db_instance`` chooses, the newest winning otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import threading
import types
import typing
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from dataflow.errors import DataFlowError, did_you_mean

if TYPE_CHECKING:
    from dataflow.facade import DataFlow
    from dataflow.models import ModelSpec

__all__ = [
    "COMMON_PARAMS",
    "SCAN_SHORTCUT",
    "TEMPLATE",
    "UNKNOWN",
    "Node",
    "NodeContext",
    "Param",
    "Touch",
    "check_parameters",
    "check_value",
    "describe_type",
    "holds_template",
    "may_hold_template",
    "node_registry",
    "remembered_scans",
    "resolve_model_instance",
    "type_accepts",
    "type_members",
    "without_templates",
]


@attrs.frozen
class Param:
    """A declared node parameter.

    :param name: the parameter's name.
    :param type: the accepted type (``int``, ``dict``, ``list``, ``int | None`` …; ``object``: anything).
        ``None`` given for a parameter whose type does not allow it means "not given".
    :param required: the node cannot run without it (DF-101).
    :param default: the value used when it is not given.
    :param description: one line for documentation and inspectors.
    :param choices: the allowed values, when only some are (DF-102 names them).
    :param minimum: the smallest allowed number.
    :param maximum: the largest allowed number.
    """

    name: str
    type: Any = object
    required: bool = False
    default: Any = None
    description: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    taken_as_is: frozenset[type] | None = attrs.field(init=False, eq=False, repr=False)
    """Value types ``check_value`` takes unchanged without asking the converter (None: any value, for
    ``object`` / ``Any``); computed once, since every node run checks its parameters."""

    def __attrs_post_init__(self) -> None:
        accepted = None if self.type is object or self.type is Any else _taken_as_is(self.type)
        object.__setattr__(self, "taken_as_is", accepted)


@attrs.frozen
class Touch:
    """One DataFlow instance a node uses, and whether it may write there.

    :param db: the instance; ``None`` stands for every instance (a node that cannot say which).
    :param writes: True when the node may change data (or the schema) of that instance.
    :param models: the model names it uses there, when it knows them (for plugins and inspectors;
        the ordering rule looks at the instance only, because a write to one table can change what
        a read of another returns through triggers, foreign keys or code).
    """

    db: Any
    writes: bool
    models: tuple[str, ...] = ()


@attrs.define
class NodeContext:
    """What a running node knows about its run.

    :param run: the runtime's state of this run (``dataflow.runtime.RunState``): the built workflow
        and the transactions the run holds; None when a node is invoked outside a workflow.
    """

    node_id: str
    run_id: str
    node_type: str
    inputs: Mapping[str, Any] = attrs.field(factory=dict)
    run: Any = None


COMMON_PARAMS = ("db_instance", "model_name", "input_data")
"""Accepted by every node: the instance to use, the model's name (checked), and ``input_data``, an
input whose value is ignored: connecting an upstream output to it only makes the node wait for that
node (Kailash users wire ``result`` → ``input_data`` to order nodes)."""


TEMPLATE = re.compile(r"\$\{\s*([^{}]+?)\s*\}|\{\{\s*([^{}]+?)\s*\}\}")
"""A template inside a parameter value: ``${name.path}`` (canonical) or ``{{name.path}}``."""


# ---- parameter checking -------------------------------------------------------------------------
def holds_template(value: Any, _depth: int = 0) -> bool:
    """True when ``value`` is, or contains, a ``${…}`` / ``{{…}}`` template (known only at run time).

    A value nested deeper than any parameter sensibly is counts as holding one: it is left to the
    node's own checks at run time, which refuse it with a DF code.
    """
    kind = type(value)
    if kind is str:
        return ("${" in value or "{{" in value) and TEMPLATE.search(value) is not None
    if kind in _SCALARS:
        return False  # the common case, answered before the (slower) abstract-class checks below
    if isinstance(value, str):
        return ("${" in value or "{{" in value) and TEMPLATE.search(value) is not None
    if _depth > _MAX_DEPTH:
        return isinstance(value, Mapping | list | tuple)
    if isinstance(value, Mapping):
        return any(holds_template(v, _depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        if len(value) > SCAN_SHORTCUT and _depth < _MAX_DEPTH and not may_hold_template(value):
            return False  # a bulk payload of flat rows: one flat pass, not a recursive walk of every value
        return any(holds_template(v, _depth + 1) for v in value)
    return False


_MAX_DEPTH = 64
_SCALARS = frozenset({int, float, bool, type(None), bytes})
SCAN_SHORTCUT = 32
"""A list longer than this is first given the flat pass of ``may_hold_template``."""
_PLAIN = frozenset({int, float, bool, type(None)})


_SCANS: contextvars.ContextVar[dict[int, tuple[Any, bool]] | None] = contextvars.ContextVar("_SCANS", default=None)
"""Within one ``remembered_scans()``: the payloads ``may_hold_template`` scanned, by id (each kept
alive beside its answer, so that its id cannot be reused meanwhile)."""


@contextlib.contextmanager
def remembered_scans() -> Iterator[None]:
    """While it lasts, ``may_hold_template`` scans each payload once (a build's template search and
    its parameter checks look at the same lists; nothing changes them in between)."""
    token = _SCANS.set({})
    try:
        yield
    finally:
        _SCANS.reset(token)


def may_hold_template(rows: list[Any] | tuple[Any, ...]) -> bool:
    """False only when no row can hold a template: a flat loop over a bulk payload's values.

    Every row a dict whose values are numbers, booleans, None or strings without a ``{``. Walking
    every row recursively costs seconds for 100,000 rows; this pass costs tens of ms.
    """
    scans = _SCANS.get()
    if scans is None:
        return _may_hold_template(rows)
    seen = scans.get(id(rows))
    if seen is None or seen[0] is not rows:
        seen = scans[id(rows)] = (rows, _may_hold_template(rows))
    return seen[1]


def _may_hold_template(rows: list[Any] | tuple[Any, ...]) -> bool:
    for row in rows:
        if type(row) is not dict:
            return True
        for value in row.values():
            kind = type(value)
            if kind is str:
                if "{" in value:
                    return True
            elif kind in _PLAIN:
                continue
            elif isinstance(value, Mapping | list | tuple):
                return True
    return False


def without_templates(value: Any) -> Any:
    """``value`` less the parts that hold templates (dict entries, list items), for build-time checks.

    A container left empty only because its contents were templates is dropped too, so that
    ``{"age": {"$lte": "${read.age}"}}`` becomes ``{}`` rather than a filter on an empty value; a
    value that is all templates gives None.
    """
    pruned = _prune(value)
    return None if pruned is _DROPPED else pruned


def _prune(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return _DROPPED
    if isinstance(value, Mapping):
        kept: dict[Any, Any] = {}
        for key, item in value.items():
            pruned = _prune(item, depth + 1)
            if pruned is not _DROPPED:
                kept[key] = pruned
        return _DROPPED if value and not kept else kept
    if isinstance(value, list | tuple):
        items = [p for p in (_prune(item, depth + 1) for item in value) if p is not _DROPPED]
        return _DROPPED if value and not items else items
    if isinstance(value, str) and holds_template(value):
        return _DROPPED
    return value


_DROPPED: Any = object()


def _exact(kind: type) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _type: Any) -> Any:
        if not isinstance(value, kind) or (kind is not bool and type(value) is bool):
            raise TypeError(kind.__name__)
        return value

    return structure


def _number(value: Any, _type: Any) -> Any:
    if type(value) is bool or not isinstance(value, int | float):
        raise TypeError("float")
    return value


def _any_of(kinds: tuple[type, ...], label: str) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _type: Any) -> Any:
        if not isinstance(value, kinds):
            raise TypeError(label)
        return value

    return structure


def _is_union(kind: Any) -> bool:
    return typing.get_origin(kind) in (typing.Union, types.UnionType)


@functools.cache
def _converter() -> Any:
    """The one cattrs converter at the node-parameter boundary: strict, never converting silently.

    A string is not an int, a bool is not a number, and lists and dicts pass through uncopied (a
    bulk node's ``data`` may hold 100,000 rows).
    """
    import cattrs

    converter = cattrs.Converter()
    for kind in (str, int, bool, bytes):
        converter.register_structure_hook(kind, _exact(kind))
    converter.register_structure_hook(float, _number)
    converter.register_structure_hook(dict, _any_of((Mapping,), "dict"))
    converter.register_structure_hook(list, _any_of((list, tuple), "list"))
    converter.register_structure_hook(object, lambda value, _type: value)
    converter.register_structure_hook(Any, lambda value, _type: value)

    def union(value: Any, kind: Any) -> Any:
        for member in typing.get_args(kind):
            if member is type(None):
                if value is None:
                    return None
                continue
            try:
                return converter.structure(value, member)
            except (TypeError, ValueError):
                continue
        raise TypeError(_type_label(kind))

    converter.register_structure_hook_func(_is_union, union)
    return converter


def _type_label(kind: Any) -> str:
    if _is_union(kind):
        return " or ".join(_type_label(k) for k in typing.get_args(kind))
    return "None" if kind is type(None) else getattr(kind, "__name__", str(kind))


@functools.lru_cache(maxsize=1024)
def describe_type(kind: Any) -> str:
    """A declared type as people write it: ``str``, ``int | None``, ``list[str]``, ``Any``."""
    if kind is object or kind is Any:
        return "Any"
    if _is_union(kind):
        return " | ".join(describe_type(k) for k in typing.get_args(kind))
    if kind is type(None):
        return "None"
    if typing.get_args(kind):
        origin = typing.get_origin(kind)
        return f"{getattr(origin, '__name__', origin)}[{', '.join(describe_type(a) for a in typing.get_args(kind))}]"
    return getattr(kind, "__name__", str(kind))


# ---- type compatibility of the two ends of a connection ---------------------------------------------
@functools.lru_cache(maxsize=1024)
def type_members(kind: Any) -> tuple[Any, ...]:
    """The plain classes a declared type stands for: a union's members, a generic's origin
    (``list[str]`` → ``list``); ``()`` for a type that says nothing (``object``, ``Any``)."""
    members = typing.get_args(kind) if _is_union(kind) else (kind,)
    found: list[Any] = []
    for member in members:
        if member is object or member is Any:
            return ()
        origin = typing.get_origin(member)
        if origin is not None:
            member = origin
        if isinstance(member, type):
            found.append(member)
        else:
            return ()  # a type form we cannot reason about: treat as unknown
    return tuple(found)


def _fits(source: type, target: type) -> bool:
    if source is bool:
        return target is bool  # a bool is never taken for a number (the checks are strict)
    if source is int and target is float:
        return True  # every float parameter and field takes an int
    if target is list and source is tuple:
        return True
    if target is dict:
        return issubclass(source, Mapping)
    return issubclass(source, target)


@functools.lru_cache(maxsize=4096)
def type_accepts(target: Any, source: Any) -> bool:
    """False when no value of type ``source`` can ever be accepted where ``target`` is declared.

    Used by ``build()`` on the two ends of a connection or whole-value template: a type that says
    nothing (``object``, ``Any``, an output not declared) accepts and fits everything, a union fits
    when one member does, and a source that may be None fits a target that does not allow None
    (only a None would fail, at run time). The conversions a node accepts (an ISO string for a
    datetime field) are part of its declared input type, so nothing is converted here.
    """
    targets, sources = type_members(target), type_members(source)
    if not targets or not sources:
        return True
    values = [s for s in sources if s is not type(None)]
    if not values:
        return type(None) in targets
    return any(_fits(s, t) for s in values for t in targets if t is not type(None))


def _allows_none(kind: Any) -> bool:
    return kind in (object, Any) or (_is_union(kind) and type(None) in typing.get_args(kind))


def _invalid(node_type: str, node_id: str, param: Param, value: Any, expected: str) -> DataFlowError:
    return DataFlowError(
        "DF-102",
        f"{node_type}: '{param.name}' must be {expected}, got {value!r}.",
        context={"node_id": node_id, "node_type": node_type, "parameter": param.name},
    )


@functools.cache
def _taken_as_is(kind: Any) -> frozenset[type]:
    """Value types the converter would return unchanged for ``kind``: checked with one set lookup."""
    members = typing.get_args(kind) if _is_union(kind) else (kind,)
    plain = {str, int, bool, bytes, dict, list, type(None)}
    return frozenset(m for m in members if m in plain) | (frozenset({int}) if float in members else frozenset())


def check_value(param: Param, value: Any, *, node_type: str, node_id: str) -> Any:
    """``value`` checked against ``param``'s type, allowed values and bounds; DF-102 when it does not fit."""
    taken = param.taken_as_is
    if taken is not None and type(value) not in taken:
        try:
            value = _converter().structure(value, param.type)
        except Exception:
            raise _invalid(node_type, node_id, param, value, _type_label(param.type)) from None
    if param.choices and value not in param.choices:
        allowed = " or ".join(repr(c) for c in param.choices)
        raise _invalid(node_type, node_id, param, value, f"one of {allowed}")
    if ((param.minimum is not None or param.maximum is not None) and isinstance(value, int | float)
            and not isinstance(value, bool)):
        if param.minimum is not None and value < param.minimum:
            raise _invalid(node_type, node_id, param, value, f"≥ {param.minimum:g}")
        if param.maximum is not None and value > param.maximum:
            raise _invalid(node_type, node_id, param, value, f"≤ {param.maximum:g}")
    return value


def check_parameters(
    node_cls: type[Node], params: Mapping[str, Any], *, node_id: str, partial: bool = False
) -> dict[str, Any]:
    """Check ``params`` against ``node_cls``'s declarations; return them with defaults filled in.

    The one implementation of parameter checking: ``build()`` calls it on a node's static parameters
    with ``partial=True`` (values holding templates, and required parameters not given yet, are left
    for run time, since connections, templates and per-run parameters may still supply them); a
    node calls it on its resolved parameters before it runs. Unknown names are DF-102 with the
    closest valid name (unless the node takes open parameters), a missing required one DF-101, a
    value of the wrong type, outside the allowed values or bounds DF-102.
    """
    node_cls.check_parameter_names(params, node_id)
    declared = node_cls.parameters
    node_type = node_cls.type_name
    checked = dict(params)
    for name, param in declared.items():
        value = params.get(name)
        if value is None and not (name in params and _allows_none(param.type)):
            if param.required and not partial:
                raise DataFlowError(
                    "DF-101",
                    f"{node_type} needs '{name}'.",
                    context={"node_id": node_id, "node_type": node_type, "missing": name},
                    solutions=[f"Pass '{name}' in the node's parameters, a connection or the run's parameters."],
                )
            if not partial:
                checked[name] = param.default
            continue
        if partial and holds_template(value):
            continue
        checked[name] = check_value(param, value, node_type=node_type, node_id=node_id)
    return checked


# ---- the node contract ---------------------------------------------------------------------------
class Node:
    """Base of every node type.

    Subclasses set ``parameters`` (and ``outputs`` when they are fixed) and implement
    ``async run(params, ctx) -> dict``. A node that accepts arbitrary keys (a create node takes the
    model's fields flat) sets ``open_parameters``. See the module docstring for the whole contract.
    """

    type_name: ClassVar[str] = "Node"
    parameters: ClassVar[Mapping[str, Param]] = {}
    open_parameters: ClassVar[bool] = False
    outputs: ClassVar[frozenset[str] | None] = None
    """The names of the node's outputs; None when they are not known before it runs."""
    dataflow_instance: ClassVar[DataFlow | None] = None
    model: ClassVar[ModelSpec | None] = None
    operation: ClassVar[str] = ""
    checks_at_run: ClassVar[bool] = False
    """True when ``run`` itself checks every parameter ``check_static`` would (the generated CRUD nodes):
    a direct call (``db.express``) then skips ``check_static``, which it runs on other nodes' parameters
    as ``build()`` would."""

    def __init__(self, node_id: str = "", **config: Any) -> None:
        self.node_id = node_id or self.type_name
        self.config = config

    @classmethod
    def describe(cls) -> str:
        return (cls.__doc__ or cls.type_name).strip().splitlines()[0]

    @classmethod
    def input_names(cls) -> frozenset[str] | None:
        """The parameter names a connection may feed; None when any name is accepted."""
        if cls.open_parameters:
            return None
        known = cls.__dict__.get("_known_parameters")
        if known is None:
            known = frozenset(cls.parameters) | frozenset(COMMON_PARAMS)
            cls._known_parameters = known  # type: ignore[attr-defined]
        return known

    @classmethod
    def output_names(cls) -> frozenset[str] | None:
        """The node's outputs (``outputs``); a node whose outputs depend on its model overrides this."""
        return cls.outputs

    @classmethod
    def input_types(cls) -> Mapping[str, Any]:
        """The type each input accepts (the declared parameters' types by default; ``object``: anything).

        A node taking open parameters adds those it knows (a create node: its model's fields).
        """
        return {name: param.type for name, param in cls.parameters.items()}

    @classmethod
    def output_types(cls) -> Mapping[str, Any]:
        """The type of each output; ``object`` where the node cannot say (the default)."""
        return dict.fromkeys(cls.output_names() or (), object)

    @classmethod
    def required_inputs(cls) -> tuple[tuple[str, ...], ...]:
        """What the node cannot run without: groups of input names, at least one of each group to be
        given (a read node needs ``id`` or ``filter``). By default the required declared parameters."""
        return tuple((name,) for name, param in cls.parameters.items() if param.required)

    @classmethod
    def check_parameter_names(cls, names: Iterable[str], node_id: str) -> None:
        """DF-102 for a parameter this node does not take (with the closest valid name)."""
        known = cls.input_names()
        if known is None:
            return
        for name in names:
            if name not in known:
                raise DataFlowError(
                    "DF-102",
                    f"{cls.type_name} has no parameter {name!r}.{did_you_mean(name, known)}",
                    context={"node_id": node_id, "node_type": cls.type_name, "parameter": name,
                             "parameters": ", ".join(sorted(known))},
                )

    @classmethod
    def check_static(cls, params: Mapping[str, Any], node_id: str) -> None:
        """Check the parameters known at ``build()`` (connected inputs excluded); raise a DF error.

        The default checks them against the declarations (``check_parameters`` with ``partial``);
        a node type with more to check (field names of its model) extends it.
        """
        check_parameters(cls, params, node_id=node_id, partial=True)

    @classmethod
    def touches(cls, params: Mapping[str, Any]) -> tuple[Touch, ...] | None:
        """What this node uses, from its static parameters; None declares nothing.

        ``params`` holds the static parameters; a parameter whose value is known only at run time
        (connected, or holding a template) maps to ``UNKNOWN``. Return ``()`` for a node that uses
        no database. A node that declares nothing counts as a writer to every instance: it keeps
        its place relative to every other node that uses a database.
        """
        return None

    async def run(self, params: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        raise NotImplementedError


def resolve_model_instance(node: Node, params: dict[str, Any]) -> tuple[DataFlow, ModelSpec]:
    """The DataFlow instance and model a model node runs against, taking ``db_instance`` and
    ``model_name`` out of ``params``.

    ``db_instance`` (the DataFlow object or its ``name=``) picks another instance that registered the
    same node type; ``model_name`` must name the node's own model (DF-102 otherwise). The model spec
    returned is the instance's own registration (plugins may have amended it). Node plugins that
    generate per-model nodes call this first in ``run``, so every model node honours both parameters
    the same way. The model's scopes (``dataflow_model_scope``) then amend ``params`` in place.
    """
    db = node.dataflow_instance
    chosen = params.pop("db_instance", None)
    if chosen is not None and chosen is not db and not (isinstance(chosen, str) and db is not None
                                                        and chosen == db.name):
        db = node_registry.resolve(node.type_name, chosen, node.node_id).dataflow_instance
    model_name = params.pop("model_name", None)
    params.pop("input_data", None)  # accepted by every node only to order it (COMMON_PARAMS)
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
    scopes = db.model_scopes.get(model.name)
    if scopes:
        scoped = params
        for scope in scopes:
            scoped = scope.node_params(node, scoped)
        if scoped is not params:
            params.clear()
            params.update(scoped)
    return db, db.models.get(model.name, model)


class _Unknown:
    """A parameter value known only at run time (connected, or holding a template)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
"""What ``Node.touches`` sees for a parameter whose value is known only at run time."""


# ---- the registry ------------------------------------------------------------------------------
def _installed_node_types(register: Callable[[str, type[Node]], None]) -> None:
    """Node types of the installed, enabled plugins (``dataflow_node_types``), loaded on first use."""
    from dataflow.runtime import default_manager

    default_manager().hook.dataflow_node_types(register=register)


class NodeRegistry:
    """Node types by name. Model nodes keep one binding per DataFlow instance; the newest wins.

    Node types that belong to no model (``PythonCodeNode`` …) come from the installed plugins the
    first time a name is not found among the bindings: ``loader`` (replaceable in tests) registers them.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # Both weak: a model node class refers to its instance (``dataflow_instance``), so a strong
        # reference here would keep every instance that ever declared a model alive for good.
        self._bound: dict[str, list[tuple[weakref.ref[Any], weakref.ref[type[Node]]]]] = {}
        self._global: dict[str, type[Node]] = {}
        self._global_loaded = False
        self._instances: weakref.WeakSet[Any] = weakref.WeakSet()
        self.loader: Callable[[Callable[[str, type[Node]], None]], None] | None = _installed_node_types

    def add(self, name: str, cls: type[Node], db: DataFlow | None = None) -> None:
        with self._lock:
            if db is None:
                self._global[name] = cls
                return
            entries = [e for e in self._bound.get(name, []) if e[0]() is not None and e[0]() is not db]
            entries.append((weakref.ref(db), weakref.ref(cls)))
            self._bound[name] = entries

    def add_instance(self, db: DataFlow) -> None:
        """Remember a live DataFlow instance (its name can then be told from an unknown label)."""
        self._instances.add(db)

    def instance_names(self) -> set[str]:
        return {db.name for db in list(self._instances)}

    def instance_named(self, name: str) -> DataFlow | None:
        """The live DataFlow instance given ``name=name``, or None."""
        return next((db for db in list(self._instances) if db.name == name), None)

    def remove_instance(self, db: DataFlow) -> None:
        with self._lock:
            for name, entries in list(self._bound.items()):
                kept = [e for e in entries if e[0]() is not None and e[0]() is not db]
                if kept:
                    self._bound[name] = kept
                else:
                    del self._bound[name]

    def _ensure_global(self) -> None:
        if self._global_loaded or self.loader is None:
            return
        with self._lock:
            if not self._global_loaded:
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
        entries = [(db, cls) for ref, cls_ref in self._bound.get(name, ())
                   if (db := ref()) is not None and (cls := cls_ref()) is not None]
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
