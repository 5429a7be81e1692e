"""Workflows: ``WorkflowBuilder`` collects nodes and connections; ``build()`` checks and freezes them.

A built ``Workflow`` knows each node's class, its static parameters, the templates inside them
(``${name}`` from the run's inputs, ``${node.path}`` from an upstream output; ``{{...}}`` means the
same), its incoming connections, and the order to run in: generations of nodes whose inputs are all
ready, so a runtime may run each generation concurrently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from dataflow.errors import DataFlowError, did_you_mean
from dataflow.nodes import Node, node_registry

__all__ = ["TEMPLATE", "Connection", "NodeEntry", "Template", "Workflow", "WorkflowBuilder", "get_path", "set_path"]

TEMPLATE = re.compile(r"\$\{\s*([^{}]+?)\s*\}|\{\{\s*([^{}]+?)\s*\}\}")
_ID = re.compile(r"^[A-Za-z0-9_.\-:]{1,200}$")


@attrs.frozen
class Connection:
    """``source.source_output → target.target_input``; both sides may be dotted paths."""

    source: str
    source_output: str
    target: str
    target_input: str


@attrs.frozen
class Template:
    """A template found at ``location`` (a path of keys / indexes) inside a node's parameters."""

    location: tuple[Any, ...]
    text: str
    whole: bool
    refs: tuple[tuple[str, str], ...]
    """(root name, dotted rest) per ``${...}``; the root is a node id or a run input."""


@attrs.frozen
class NodeEntry:
    node_id: str
    type_name: str
    cls: type[Node]
    params: Mapping[str, Any]
    templates: tuple[Template, ...] = ()
    incoming: tuple[Connection, ...] = ()
    depends_on: frozenset[str] = frozenset()


def get_path(value: Any, path: str) -> Any:
    """Walk a dotted path through dicts, lists and attributes; KeyError when a step is missing."""
    if not path:
        return value
    for step in path.split("."):
        if isinstance(value, Mapping):
            value = value[step]
        elif isinstance(value, list | tuple) and step.lstrip("-").isdigit():
            value = value[int(step)]
        elif hasattr(value, step) and not step.startswith("_"):
            value = getattr(value, step)
        else:
            raise KeyError(step)
    return value


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted path, creating dicts along the way."""
    steps = path.split(".")
    for step in steps[:-1]:
        nxt = target.get(step)
        if not isinstance(nxt, dict):
            nxt = {} if nxt is None else dict(nxt) if isinstance(nxt, Mapping) else {}
            target[step] = nxt
        target = nxt
    target[steps[-1]] = value


def _find_templates(value: Any, location: tuple[Any, ...], found: list[Template]) -> None:
    # An explicit stack, not recursion: parameters nested 1,000 levels deep (a hostile filter) are
    # walked like any others, and the node refuses them with its own DF code when it runs.
    stack = [(value, location)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            matches = list(TEMPLATE.finditer(item))
            if matches:
                refs = tuple(_split_ref(m.group(1) or m.group(2)) for m in matches)
                whole = len(matches) == 1 and matches[0].span() == (0, len(item))
                found.append(Template(where, item, whole, refs))
        elif isinstance(item, Mapping):
            stack.extend((child, (*where, key)) for key, child in reversed(list(item.items())))
        elif isinstance(item, list | tuple):
            if len(item) > _SCAN_SHORTCUT and not _may_hold_template(item):
                continue  # a bulk payload without a template: skip walking every row in Python
            stack.extend((child, (*where, index)) for index, child in reversed(list(enumerate(item))))


_SCAN_SHORTCUT = 32
_PLAIN = (int, float, bool, type(None))


def _may_hold_template(rows: list[Any] | tuple[Any, ...]) -> bool:
    """False only when no row can hold a template: a flat loop over a bulk payload's values.

    Walking every row recursively costs seconds for 100,000 rows; this pass costs tens of ms.
    """
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


def _split_ref(text: str) -> tuple[str, str]:
    root, _, rest = text.strip().partition(".")
    return root, rest


class WorkflowBuilder:
    """Collects nodes and connections; ``build()`` validates them into a frozen ``Workflow``."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._connections: list[Connection] = []

    def add_node(self, node_type: Any, node_id: str | None = None, params: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> str:
        """Add a node of ``node_type`` (a name such as ``"UserCreateNode"`` or a Node class).

        Returns the node id. A duplicate id is DF-801.
        """
        if node_id is None:
            node_id = f"node_{len(self._nodes) + 1}"
        if not isinstance(node_id, str) or not _ID.match(node_id):
            raise DataFlowError("DF-801", f"Node ids are short strings of letters, digits, '_-.:'; got {node_id!r}.",
                                context={"node_id": node_id})
        if node_id in self._nodes:
            raise DataFlowError("DF-801", f"A node with id {node_id!r} was already added to this workflow.",
                                context={"node_id": node_id},
                                solutions=["Give every node a unique id."])
        if params is not None and not isinstance(params, Mapping):
            raise DataFlowError("DF-102", f"Node parameters must be a dict, got {type(params).__name__}.",
                                context={"node_id": node_id})
        merged = {**(params or {}), **kwargs}
        for key in merged:
            if not isinstance(key, str):
                raise DataFlowError("DF-102", f"Parameter names are strings, got {key!r}.",
                                    context={"node_id": node_id})
        self._nodes[node_id] = (node_type, merged)
        return node_id

    def add_connection(self, source: str, source_output: str, target: str, target_input: str) -> WorkflowBuilder:
        """Connect ``source``'s output (a dotted path such as ``result.filter``) to ``target``'s input."""
        for label, value in (("source", source), ("source_output", source_output),
                             ("target", target), ("target_input", target_input)):
            if not isinstance(value, str) or not value:
                raise DataFlowError("DF-201", f"add_connection: {label} must be a non-empty string, got {value!r}.")
        self._connections.append(Connection(source, source_output, target, target_input))
        return self

    connect = add_connection

    def build(self) -> Workflow:
        """Check node types, connections, templates and cycles; return the frozen workflow."""
        try:
            return self._build()
        except DataFlowError as exc:
            # No DataFlow instance owns a workflow: hints come from the process-wide plugin set.
            if exc.effective_mode() != "DISABLED":
                from dataflow.runtime import default_manager

                default_manager().apply_error_hints(exc)
            raise

    def _build(self) -> Workflow:
        ids = list(self._nodes)
        incoming: dict[str, list[Connection]] = {i: [] for i in ids}
        deps: dict[str, set[str]] = {i: set() for i in ids}
        for conn in self._connections:
            for end in (conn.source, conn.target):
                if end not in self._nodes:
                    raise DataFlowError(
                        "DF-801",
                        f"The connection {conn.source}.{conn.source_output} → {conn.target}.{conn.target_input} "
                        f"names unknown node {end!r}.{did_you_mean(end, ids)}",
                        context={"node_id": end},
                    )
            if conn.source == conn.target:
                raise DataFlowError("DF-801", f"Node {conn.source!r} is connected to itself.")
            incoming[conn.target].append(conn)
            deps[conn.target].add(conn.source)
        entries: dict[str, NodeEntry] = {}
        for node_id, (node_type, params) in self._nodes.items():
            db_choice = params.get("db_instance")
            cls = node_registry.resolve(node_type, None if isinstance(db_choice, str) and "${" in db_choice
                                        else db_choice, node_id)
            connected = {c.target_input.partition(".")[0] for c in incoming[node_id]}
            cls.check_parameter_names([k for k in params if k not in connected], node_id)
            found: list[Template] = []
            _find_templates(params, (), found)
            for template in found:
                deps[node_id].update(root for root, _ in template.refs if root in self._nodes and root != node_id)
            entries[node_id] = NodeEntry(node_id, getattr(cls, "type_name", cls.__name__), cls, params,
                                         tuple(found), tuple(incoming[node_id]), frozenset(deps[node_id]))
        return Workflow(entries, tuple(self._connections), _generations(deps))


def _generations(deps: dict[str, set[str]]) -> tuple[tuple[str, ...], ...]:
    """Kahn's algorithm by levels; DF-801 naming the nodes of a cycle."""
    remaining = {k: set(v) for k, v in deps.items()}
    levels: list[tuple[str, ...]] = []
    while remaining:
        ready = tuple(n for n, d in remaining.items() if not d)
        if not ready:
            cycle = " → ".join(sorted(remaining))
            raise DataFlowError("DF-801", f"The workflow has a cycle among: {cycle}.",
                                context={"nodes": cycle},
                                solutions=["Remove one of the connections that closes the loop."])
        levels.append(ready)
        for n in ready:
            del remaining[n]
        for d in remaining.values():
            d.difference_update(ready)
    return tuple(levels)


@attrs.frozen
class Workflow:
    """A built, validated workflow: node entries, connections and the generations to run in."""

    nodes: Mapping[str, NodeEntry]
    connections: tuple[Connection, ...]
    generations: tuple[tuple[str, ...], ...]

    def node_ids(self) -> list[str]:
        return list(self.nodes)
