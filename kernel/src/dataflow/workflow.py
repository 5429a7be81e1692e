"""Workflows: ``WorkflowBuilder`` collects nodes and connections; ``build()`` checks and freezes them.

``build()`` refuses, before anything runs: an unknown node type (DF-701), a static parameter or model
field a node does not take, or a value of the wrong type (DF-102, with the closest name), a managed
field (DF-104), a connection from an output the source node type never produces or into an input
the target does not take (DF-201), a duplicate id, an unknown node or a cycle (DF-801). Templates
whose root names no node are run inputs: ``check_inputs`` checks them when a run starts (DF-101).

A built ``Workflow`` knows each node's class, its static parameters, the templates inside them
(``${name}`` from the run's inputs, ``${node.path}`` from an upstream output; ``{{...}}`` means the
same), its incoming connections, and the order to run in:

- connections and templates come first (``depends_on``);
- beyond them, two nodes that touch the same DataFlow instance, at least one of which writes, keep
  the order they were added (``ordered_after``); nodes that only read, or touch different
  instances, may overlap. What a node touches comes from its type (``Node.touches``); a type that
  declares nothing counts as a writer to every instance.

Everything here is linear in the number of nodes and connections: the order edges are found with one
pass that remembers, per instance, the last writer and the readers since it.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from typing import Any

import attrs

from dataflow.errors import DataFlowError, did_you_mean
from dataflow.nodes import TEMPLATE, UNKNOWN, Node, Touch, node_registry

__all__ = ["TEMPLATE", "Connection", "NodeEntry", "Template", "Workflow", "WorkflowBuilder", "get_path", "set_path"]

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
    """One node of a built workflow.

    :param depends_on: nodes whose outputs it uses (connections and templates).
    :param ordered_after: nodes it waits for because of the order rule (the same instance, a writer).
    :param dependents: nodes that wait for this one, for either reason.
    :param touches: what its type declared it touches (None: nothing declared, a writer everywhere).
    :param index: its position in the order the nodes were added.
    """

    node_id: str
    type_name: str
    cls: type[Node]
    params: Mapping[str, Any]
    templates: tuple[Template, ...] = ()
    incoming: tuple[Connection, ...] = ()
    depends_on: frozenset[str] = frozenset()
    ordered_after: frozenset[str] = frozenset()
    dependents: tuple[str, ...] = ()
    touches: tuple[Touch, ...] | None = None
    index: int = 0

    @property
    def waits_for(self) -> frozenset[str]:
        """Every node that must finish before this one starts."""
        return self.depends_on | self.ordered_after


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
            if "${" not in item and "{{" not in item:
                continue
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


def _head(path: str) -> str:
    return path.partition(".")[0]


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
        """Check node types, parameters, connections, templates and cycles; return the frozen workflow."""
        try:
            return self._build()
        except DataFlowError as exc:
            # No DataFlow instance owns a workflow: hints come from the process-wide plugin set.
            if exc.effective_mode() != "DISABLED":
                from dataflow.runtime import default_manager

                default_manager().apply_error_hints(exc)
            raise

    def _build(self) -> Workflow:
        nodes = self._nodes
        incoming: dict[str, list[Connection]] = {i: [] for i in nodes}
        deps: dict[str, set[str]] = {i: set() for i in nodes}
        for conn in self._connections:
            for end in (conn.source, conn.target):
                if end not in nodes:
                    raise DataFlowError(
                        "DF-801",
                        f"The connection {conn.source}.{conn.source_output} → {conn.target}.{conn.target_input} "
                        f"names unknown node {end!r}.{did_you_mean(end, list(nodes))}",
                        context={"node_id": end},
                    )
            if conn.source == conn.target:
                raise DataFlowError("DF-801", f"Node {conn.source!r} is connected to itself.")
            incoming[conn.target].append(conn)
            deps[conn.target].add(conn.source)
        classes: dict[str, type[Node]] = {}
        templates: dict[str, tuple[Template, ...]] = {}
        touches: dict[str, tuple[Touch, ...] | None] = {}
        inputs: dict[str, list[tuple[str, str]]] = {}
        for node_id, (node_type, params) in nodes.items():
            connected = {_head(c.target_input) for c in incoming[node_id]}
            db_choice = params.get("db_instance")
            if "db_instance" in connected or (isinstance(db_choice, str) and TEMPLATE.search(db_choice)):
                db_choice = None
            cls = classes[node_id] = node_registry.resolve(node_type, db_choice, node_id)
            for name in connected:
                _check_input(cls, node_id, name)
            found: list[Template] = []
            _find_templates(params, (), found)
            templates[node_id] = tuple(found)
            late = set(connected)
            for template in found:
                late.add(template.location[0])
                for root, _rest in template.refs:
                    if root in nodes and root != node_id:
                        deps[node_id].add(root)
                    else:
                        inputs.setdefault(root, []).append((node_id, template.text))
            if late:
                cls.check_static({k: v for k, v in params.items() if k not in connected}, node_id)
                touches[node_id] = cls.touches({**{k: (UNKNOWN if k in late else v) for k, v in params.items()},
                                                **dict.fromkeys(connected, UNKNOWN)})
            else:
                cls.check_static(params, node_id)
                touches[node_id] = cls.touches(params)
        for conn in self._connections:
            _check_output(classes[conn.source], conn.source, conn.source_output,
                          f"connection {conn.source}.{conn.source_output} → {conn.target}.{conn.target_input}")
        for node_id, found_templates in templates.items():
            for template in found_templates:
                for root, rest in template.refs:
                    if root in nodes and root != node_id and rest:
                        _check_output(classes[root], root, rest, f"template '{template.text}' of node {node_id!r}")
        order = _topological_order(list(nodes), deps)
        after = _order_edges(order, touches)
        dependents: dict[str, list[str]] = {i: [] for i in nodes}
        for node_id in order:
            for upstream in deps[node_id] | after[node_id]:
                dependents[upstream].append(node_id)
        entries = {
            node_id: NodeEntry(node_id, getattr(classes[node_id], "type_name", classes[node_id].__name__),
                               classes[node_id], params, templates[node_id], tuple(incoming[node_id]),
                               frozenset(deps[node_id]), frozenset(after[node_id]), tuple(dependents[node_id]),
                               touches[node_id], index)
            for index, (node_id, (_type, params)) in enumerate(nodes.items())
        }
        instances = tuple(dict.fromkeys(t.db for ts in touches.values() if ts for t in ts if t.db is not None))
        return Workflow(entries, tuple(self._connections), _generations(order, entries), tuple(order),
                        instances, {k: tuple(v) for k, v in inputs.items()})


def _check_input(cls: type[Node], node_id: str, name: str) -> None:
    accepted = cls.input_names()
    if accepted is not None and name not in accepted:
        raise DataFlowError(
            "DF-201",
            f"A connection feeds '{name}' of node {node_id!r}, but {cls.type_name} does not take it."
            f"{did_you_mean(name, accepted)}",
            context={"node_id": node_id, "node_type": cls.type_name, "input": name,
                     "inputs": ", ".join(sorted(accepted))},
        )


def _check_output(cls: type[Node], node_id: str, path: str, where: str) -> None:
    produced = cls.output_names()
    head = _head(path)
    if produced is not None and head not in produced:
        raise DataFlowError(
            "DF-201",
            f"The {where} uses output '{head}' of node {node_id!r}, which {cls.type_name} never produces."
            f"{did_you_mean(head, produced)}",
            context={"node_id": node_id, "node_type": cls.type_name, "output": head,
                     "outputs": ", ".join(sorted(produced))},
        )


def _topological_order(ids: list[str], deps: Mapping[str, set[str]]) -> list[str]:
    """Kahn's algorithm, preferring the order nodes were added; DF-801 naming the nodes of a cycle."""
    position = {node_id: i for i, node_id in enumerate(ids)}
    waiting = {node_id: len(d) for node_id, d in deps.items()}
    downstream: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for node_id, upstream in deps.items():
        for source in upstream:
            downstream[source].append(node_id)
    ready = [position[n] for n in ids if not waiting[n]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node_id = ids[heapq.heappop(ready)]
        order.append(node_id)
        for nxt in downstream[node_id]:
            waiting[nxt] -= 1
            if not waiting[nxt]:
                heapq.heappush(ready, position[nxt])
    if len(order) < len(ids):
        raise _cycle_error({n for n in ids if waiting[n]}, deps, downstream)
    return order


def _cycle_error(stuck: set[str], deps: Mapping[str, set[str]], downstream: Mapping[str, list[str]]) -> DataFlowError:
    """The nodes on a cycle: the stuck nodes, less those that only hang below one (trimmed as sinks)."""
    remaining = set(stuck)
    outgoing = {n: sum(1 for d in downstream[n] if d in remaining) for n in remaining}
    sinks = [n for n, count in outgoing.items() if not count]
    while sinks:
        node_id = sinks.pop()
        remaining.discard(node_id)
        for upstream in deps[node_id]:
            if upstream in remaining:
                outgoing[upstream] -= 1
                if not outgoing[upstream]:
                    sinks.append(upstream)
    cycle = " → ".join(sorted(remaining))
    return DataFlowError("DF-801", f"The workflow has a cycle among: {cycle}.", context={"nodes": cycle},
                         solutions=["Remove one of the connections that closes the loop."])


def _order_edges(order: list[str], touches: Mapping[str, tuple[Touch, ...] | None]) -> dict[str, set[str]]:
    """The order rule's edges, in one pass over ``order``.

    Per instance: the last writer, and the readers since it. A writer waits for those readers (or, when
    there are none, for the last writer); a reader waits for the last writer. A node that touches every
    instance (declared nothing, or ``Touch(db=None)``) is a barrier: it waits for every node since the
    previous barrier, and every later node waits for it.
    Each node enters the "since" lists once and leaves them once, so the pass is linear.
    """
    after: dict[str, set[str]] = {node_id: set() for node_id in order}
    barrier: str | None = None
    since_barrier: list[str] = []
    last_writer: dict[int, str] = {}
    readers: dict[int, list[str]] = {}
    for node_id in order:
        declared = touches[node_id]
        waits = after[node_id]
        if declared is None or any(t.db is None for t in declared):
            waits.update(since_barrier)
            if barrier is not None:
                waits.add(barrier)
            barrier, since_barrier = node_id, []
            last_writer.clear()
            readers.clear()
            continue
        if not declared:
            continue
        writes: dict[int, bool] = {}
        for touch in declared:
            key = id(touch.db)
            writes[key] = writes.get(key, False) or touch.writes
        for key, writer in writes.items():
            since = readers.pop(key, None) if writer else None
            if since:
                waits.update(since)  # each of them already waits for the last writer
            else:
                previous = last_writer.get(key, barrier)
                if previous is not None:
                    waits.add(previous)
            if writer:
                last_writer[key] = node_id
            else:
                readers.setdefault(key, []).append(node_id)
        since_barrier.append(node_id)
    return after


def _generations(order: list[str], entries: Mapping[str, NodeEntry]) -> tuple[tuple[str, ...], ...]:
    """Nodes grouped by depth (a node's depth is one more than its deepest predecessor's)."""
    depth: dict[str, int] = {}
    levels: list[list[str]] = []
    for node_id in order:
        level = max((depth[d] + 1 for d in entries[node_id].waits_for), default=0)
        depth[node_id] = level
        if level == len(levels):
            levels.append([])
        levels[level].append(node_id)
    return tuple(tuple(level) for level in levels)


@attrs.frozen
class Workflow:
    """A built, validated workflow.

    :param nodes: the node entries, in the order they were added.
    :param generations: nodes grouped by depth: every node of a generation may run once the earlier
        generations are done (runtimes may start a node sooner, as soon as what it waits for is done).
    :param order: one order that respects every dependency, as close to the order added as the
        connections allow: how ``max_concurrency=1`` runs the workflow.
    :param instances: the DataFlow instances its nodes declare they touch, in order of first use.
    :param inputs: run inputs its templates read (``${name}``), each with the nodes and templates using it.
    """

    nodes: Mapping[str, NodeEntry]
    connections: tuple[Connection, ...]
    generations: tuple[tuple[str, ...], ...]
    order: tuple[str, ...] = ()
    instances: tuple[Any, ...] = ()
    inputs: Mapping[str, tuple[tuple[str, str], ...]] = attrs.field(factory=dict)

    def node_ids(self) -> list[str]:
        return list(self.nodes)

    def check_inputs(self, given: Mapping[str, Any]) -> None:
        """DF-101 for a template reading a run input that ``given`` lacks (checked before any node runs).

        A template inside a parameter that the run overrides for its node (``{node_id: {...}}``) is
        not needed.
        """
        for name, users in self.inputs.items():
            if name in given:
                continue
            for node_id, text in users:
                override = given.get(node_id)
                entry = self.nodes[node_id]
                if isinstance(override, Mapping) and all(
                    t.location[0] in override for t in entry.templates if any(r[0] == name for r in t.refs)
                ):
                    continue
                raise DataFlowError(
                    "DF-101",
                    f"Template '{text}' in node {node_id!r} names neither a node nor a run input."
                    f"{did_you_mean(name, [*self.nodes, *given])}",
                    context={"node_id": node_id, "template": name},
                    solutions=["Pass it in execute(..., parameters={...}) or name an upstream node."],
                )
