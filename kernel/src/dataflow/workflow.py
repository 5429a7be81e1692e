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
from dataflow.nodes import (
    SCAN_SHORTCUT,
    TEMPLATE,
    UNKNOWN,
    Node,
    Touch,
    describe_type,
    may_hold_template,
    node_registry,
    remembered_scans,
    type_accepts,
)

__all__ = [
    "TEMPLATE",
    "Connection",
    "Finding",
    "NodeEntry",
    "Template",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowCheck",
    "get_path",
    "input_type",
    "output_type",
    "set_path",
]

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
            if len(item) > SCAN_SHORTCUT and not may_hold_template(item):
                continue  # a bulk payload without a template: skip walking every row in Python
            stack.extend((child, (*where, index)) for index, child in reversed(list(enumerate(item))))


_PLAIN_TYPES = frozenset({int, float, bool, type(None)})
_NONE: frozenset[str] = frozenset()


def _plain_params(params: Mapping[str, Any]) -> bool:
    """True when no value of ``params`` can hold a template (numbers, booleans, None, strings without
    ``${`` or ``{{``): most nodes' parameters, answered without walking them."""
    for value in params.values():
        kind = type(value)
        if kind is str:
            if "${" in value or "{{" in value:
                return False
        elif kind not in _PLAIN_TYPES:
            return False
    return True


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
        merged = {**params, **kwargs} if params else kwargs
        for key in merged:
            if type(key) is not str and not isinstance(key, str):
                raise DataFlowError("DF-102", f"Parameter names are strings, got {key!r}.",
                                    context={"node_id": node_id})
        self._nodes[node_id] = (node_type, merged)
        return node_id

    def add_connection(self, source: str, source_output: str, target: str, target_input: str) -> WorkflowBuilder:
        """Connect ``source``'s output (a dotted path such as ``result.filter``) to ``target``'s input."""
        if not (type(source) is type(source_output) is type(target) is type(target_input) is str
                and source and source_output and target and target_input):
            for label, value in (("source", source), ("source_output", source_output),
                                 ("target", target), ("target_input", target_input)):
                if not isinstance(value, str) or not value:
                    raise DataFlowError("DF-201",
                                        f"add_connection: {label} must be a non-empty string, got {value!r}.")
        self._connections.append(Connection(source, source_output, target, target_input))
        return self

    connect = add_connection

    def build(self) -> Workflow:
        """Check node types, parameters, connections, templates and cycles; return the frozen workflow.

        The checks are those of ``check()``: the first problem it finds is raised.
        """
        checked = self.check()
        if checked.findings:
            error = checked.findings[0].error
            # No DataFlow instance owns a workflow: hints come from the process-wide plugin set.
            if error.effective_mode() != "DISABLED":
                from dataflow.runtime import default_manager

                default_manager().apply_error_hints(error)
            raise error
        return checked.freeze()

    def check(self, *, db: Any = None) -> WorkflowCheck:
        """Every problem that would stop ``build()``, as data, and what is known of the graph despite them.

        The one implementation of the build checks: ``build()`` raises the first finding, inspectors
        report them all. Each finding carries the DataFlowError ``build()`` would raise. ``db`` (a
        DataFlow instance) resolves node types as bound to it where a node names no ``db_instance``.
        """
        with remembered_scans():  # a bulk payload is scanned for templates once, not once per check
            return self._check(db)

    def _check(self, db: Any) -> WorkflowCheck:
        nodes = self._nodes
        findings: list[Finding] = []
        incoming: dict[str, list[Connection]] = {i: [] for i in nodes}
        deps: dict[str, set[str]] = {i: set() for i in nodes}
        for conn in self._connections:
            if conn.source in nodes and conn.target in nodes:
                unknown: tuple[str, ...] = ()
            else:
                unknown = tuple(end for end in (conn.source, conn.target) if end not in nodes)
            for end in unknown:
                findings.append(Finding(UNKNOWN_NODE, DataFlowError(
                    "DF-801",
                    f"The connection {conn.source}.{conn.source_output} → {conn.target}.{conn.target_input} "
                    f"names unknown node {end!r}.{did_you_mean(end, list(nodes))}",
                    context={"node_id": end},
                ), end, conn))
            if unknown:
                continue
            if conn.source == conn.target:
                findings.append(Finding(SELF_CONNECTION, DataFlowError(
                    "DF-801", f"Node {conn.source!r} is connected to itself.", context={"node_id": conn.source},
                    solutions=["Connect the output to another node, or compute the value inside the node."],
                ), conn.source, conn))
                continue
            incoming[conn.target].append(conn)
            deps[conn.target].add(conn.source)
        classes: dict[str, type[Node]] = {}
        templates: dict[str, tuple[Template, ...]] = {}
        touches: dict[str, tuple[Touch, ...] | None] = {}
        inputs: dict[str, list[tuple[str, str]]] = {}
        passed: set[tuple[Any, ...]] = set()  # static parameters check_static accepted (see _static_key)
        for node_id, (node_type, params) in nodes.items():
            into = incoming[node_id]
            connected = {c.target_input.partition(".")[0] for c in into} if into else _NONE
            found: list[Template] = []
            if not _plain_params(params):
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
            db_choice = params.get("db_instance", db)
            if db_choice is not None and ("db_instance" in connected
                                          or (isinstance(db_choice, str) and TEMPLATE.search(db_choice))):
                db_choice = None
            try:
                cls = node_registry.resolve(node_type, db_choice, node_id)
            except DataFlowError as exc:
                findings.append(Finding(NODE_TYPE, exc, node_id))
                touches[node_id] = None
                continue
            classes[node_id] = cls
            if into:
                accepted = cls.input_names()
                for conn in into:
                    name = _head(conn.target_input)
                    if accepted is not None and name not in accepted:
                        findings.append(Finding(INPUT, _input_error(cls, node_id, name, accepted), node_id, conn))
            static = {k: v for k, v in params.items() if k not in connected} if connected else params
            key = _static_key(cls, static)
            if key is None or key not in passed:
                problems = _static_problems(cls, static, node_id)
                if problems:
                    findings += [Finding(PARAMETER, exc, node_id) for exc in problems]
                elif key is not None:
                    passed.add(key)
            if late:
                touches[node_id] = cls.touches({**{k: (UNKNOWN if k in late else v) for k, v in params.items()},
                                                **dict.fromkeys(connected, UNKNOWN)})
            else:
                touches[node_id] = cls.touches(params)
        # Whether an output fits an input depends only on the two classes and the two names: a chain of
        # nodes of the same types asks the same question once ("output": never produced; "type": the
        # types never fit; "": fine).
        verdicts: dict[tuple[type[Node], str, type[Node], str], str] = {}
        for conn in self._connections:
            source_cls, target_cls = classes.get(conn.source), classes.get(conn.target)
            if source_cls is None or target_cls is None or conn.source == conn.target:
                continue
            key = (source_cls, conn.source_output, target_cls, conn.target_input)
            verdict = verdicts.get(key)
            if verdict is None:
                if not _produces(source_cls, conn.source_output):
                    verdict = OUTPUT
                elif not type_accepts(input_type(target_cls, conn.target_input),
                                      output_type(source_cls, conn.source_output)):
                    verdict = TYPE
                else:
                    verdict = ""
                verdicts[key] = verdict
            if verdict == OUTPUT:
                findings.append(Finding(OUTPUT, _output_error(source_cls, conn.source, conn.source_output,
                                                              _describe(conn)), conn.source, conn))
            elif verdict == TYPE:
                given = output_type(source_cls, conn.source_output)
                expected = input_type(target_cls, conn.target_input)
                findings.append(Finding(TYPE, _type_error(given, expected, f"{conn.source}.{conn.source_output}",
                                                          conn.target, conn.target_input, _describe(conn)),
                                        conn.target, conn))
        for node_id, found_templates in templates.items():
            for template in found_templates:
                for root, rest in template.refs:
                    if root not in classes or root == node_id or not rest:
                        continue
                    where = f"template '{template.text}' of node {node_id!r}"
                    if not _produces(classes[root], rest):
                        findings.append(Finding(OUTPUT, _output_error(classes[root], root, rest, where), node_id,
                                                template=template))
                        continue
                    if node_id not in classes or len(template.location) != 1:
                        continue  # inside a parameter: no declared type to compare with
                    # A template inside a longer string renders as text.
                    given = output_type(classes[root], rest) if template.whole else str
                    target_input = str(template.location[0])
                    expected = input_type(classes[node_id], target_input)
                    if not type_accepts(expected, given):
                        findings.append(Finding(TYPE, _type_error(given, expected, f"{root}.{rest}", node_id,
                                                                  target_input, where), node_id, template=template))
        order, cycles = _topological_order(list(nodes), deps)
        for cycle in cycles:
            path = " → ".join((*cycle, cycle[0]))
            findings.append(Finding(CYCLE, DataFlowError(
                "DF-801", f"The workflow has a cycle: {path}.", context={"nodes": path},
                solutions=["Remove one of the connections that closes the loop."],
            ), cycle[0], cycle=cycle))
        return WorkflowCheck(
            tuple(findings), {node_id: node_type for node_id, (node_type, _p) in nodes.items()},
            {node_id: params for node_id, (_t, params) in nodes.items()}, classes, tuple(self._connections),
            {k: tuple(v) for k, v in incoming.items()}, templates, {k: frozenset(v) for k, v in deps.items()},
            touches, {k: tuple(v) for k, v in inputs.items()}, tuple(order), tuple(cycles),
        )


# ---- what check() finds --------------------------------------------------------------------------
UNKNOWN_NODE = "unknown_node"
"""A connection names a node id the workflow does not have (DF-801)."""
SELF_CONNECTION = "self_connection"
"""A node is connected to itself (DF-801)."""
NODE_TYPE = "node_type"
"""A node's type is not registered (DF-701)."""
INPUT = "input"
"""A connection feeds an input the target's type does not take (DF-201)."""
PARAMETER = "parameter"
"""A static parameter is unknown, invalid or managed (DF-102 / DF-101 / DF-104, from ``check_static``)."""
OUTPUT = "output"
"""A connection or template uses an output the source's type never produces (DF-201)."""
TYPE = "type"
"""The type an output gives can never be accepted by the input it feeds (DF-201)."""
CYCLE = "cycle"
"""Nodes wait for each other in a loop (DF-801)."""


@attrs.frozen
class Finding:
    """One problem that stops a workflow from building, as data.

    :param kind: what kind of problem (``UNKNOWN_NODE``, ``NODE_TYPE``, ``PARAMETER``, ``INPUT``,
        ``OUTPUT``, ``TYPE``, ``SELF_CONNECTION``, ``CYCLE``).
    :param error: the DataFlowError ``build()`` raises for it.
    :param node_id: the node it is about (the target of a connection; the unknown id itself).
    :param connection: the connection it is about, if any.
    :param template: the template it is about, if any.
    :param cycle: for a cycle, its nodes in order (each waits for the one before, the first for the last).
    """

    kind: str
    error: DataFlowError = attrs.field(eq=False)
    node_id: str | None = None
    connection: Connection | None = None
    template: Template | None = None
    cycle: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def message(self) -> str:
        return self.error.message


@attrs.frozen
class WorkflowCheck:
    """What ``WorkflowBuilder.check()`` found, and the graph as far as it could be understood.

    :param findings: every problem, in the order ``build()`` meets them (it raises the first).
    :param node_types: each node's type as given to ``add_node`` (a name or a class).
    :param params: each node's static parameters.
    :param classes: the node classes of the nodes whose type resolved.
    :param incoming: per node, the connections into it (those naming unknown nodes left out).
    :param depends_on: per node, the nodes it waits for through connections and templates.
    :param inputs: run inputs the templates read, each with the nodes and templates using it.
    :param order: the nodes in an order that respects every dependency; nodes on a cycle, or waiting
        for one, are left out.
    :param cycles: each cycle once, its nodes in order.
    """

    findings: tuple[Finding, ...]
    node_types: Mapping[str, Any]
    params: Mapping[str, Mapping[str, Any]]
    classes: Mapping[str, type[Node]]
    connections: tuple[Connection, ...]
    incoming: Mapping[str, tuple[Connection, ...]]
    templates: Mapping[str, tuple[Template, ...]]
    depends_on: Mapping[str, frozenset[str]]
    touches: Mapping[str, tuple[Touch, ...] | None]
    inputs: Mapping[str, tuple[tuple[str, str], ...]]
    order: tuple[str, ...]
    cycles: tuple[tuple[str, ...], ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def freeze(self) -> Workflow:
        """The built workflow (only when nothing was found: ``build()`` calls it)."""
        order = list(self.order)
        after = _order_edges(order, self.touches)
        dependents: dict[str, list[str]] = {i: [] for i in self.params}
        depends_on = self.depends_on
        for node_id in order:
            upstream = depends_on[node_id]
            for source in upstream:
                dependents[source].append(node_id)
            for source in after[node_id]:
                if source not in upstream:
                    dependents[source].append(node_id)
        entries = {
            node_id: NodeEntry(node_id, getattr(self.classes[node_id], "type_name", self.classes[node_id].__name__),
                               self.classes[node_id], params, self.templates[node_id], self.incoming[node_id],
                               self.depends_on[node_id], frozenset(after[node_id]), tuple(dependents[node_id]),
                               self.touches[node_id], index)
            for index, (node_id, params) in enumerate(self.params.items())
        }
        touched = (t.db for ts in self.touches.values() if ts for t in ts if t.db is not None)
        return Workflow(entries, self.connections, _generations(order, depends_on, after), self.order,
                        tuple(dict.fromkeys(touched)), self.inputs)


def _static_key(cls: type[Node], params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What ``check_static``'s verdict on ``params`` depends on, when every value is a plain scalar
    (``None`` otherwise): nodes of one type given the same values are checked once per ``check()``.

    Each value goes with its exact type, since ``1``, ``1.0`` and ``True`` are equal but a parameter
    may take only one of them. Only an acceptance is remembered: a refusal names its node, so each
    refused node is checked (and reported) on its own.
    """
    items = []
    for name, value in params.items():
        kind = type(value)
        if kind is not str and kind not in _PLAIN_TYPES:
            return None
        items.append((name, kind, value))
    return (cls, *items)


def _static_problems(cls: type[Node], params: Mapping[str, Any], node_id: str) -> list[DataFlowError]:
    """What ``cls.check_static`` refuses in ``params``: nothing, or its error followed by those it raises
    for each parameter on its own (so one run of ``check()`` reports every bad parameter of a node).

    The per-parameter pass runs only once the whole set has failed: a valid node costs one call.
    """
    try:
        cls.check_static(params, node_id)
        return []
    except DataFlowError as exc:
        problems = [exc]
    if len(params) > 1:
        seen = {problems[0].message}
        for name, value in params.items():
            try:
                cls.check_static({name: value}, node_id)
            except DataFlowError as other:
                if other.message not in seen:
                    seen.add(other.message)
                    problems.append(other)
    return problems


def _input_error(cls: type[Node], node_id: str, name: str, accepted: frozenset[str]) -> DataFlowError:
    """DF-201: a connection feeds ``name``, which ``cls`` (taking only ``accepted``) does not take."""
    return DataFlowError(
        "DF-201",
        f"A connection feeds '{name}' of node {node_id!r}, but {cls.type_name} does not take it."
        f"{did_you_mean(name, accepted)}",
        context={"node_id": node_id, "node_type": cls.type_name, "input": name,
                 "inputs": ", ".join(sorted(accepted))},
    )


def _describe(conn: Connection) -> str:
    return f"connection {conn.source}.{conn.source_output} → {conn.target}.{conn.target_input}"


def _produces(cls: type[Node], path: str) -> bool:
    """Whether ``cls`` may produce the output ``path`` starts with (always, when it declares none)."""
    produced = cls.output_names()
    return produced is None or path.partition(".")[0] in produced


def _output_error(cls: type[Node], node_id: str, path: str, where: str) -> DataFlowError:
    produced = cls.output_names() or frozenset()
    head = _head(path)
    return DataFlowError(
        "DF-201",
        f"The {where} uses output '{head}' of node {node_id!r}, which {cls.type_name} never produces."
        f"{did_you_mean(head, produced)}",
        context={"node_id": node_id, "node_type": cls.type_name, "output": head,
                 "outputs": ", ".join(sorted(produced))},
    )


def output_type(cls: type[Node], path: str) -> Any:
    """The declared type of ``cls``'s output at ``path`` (``object`` below its first step, or when
    undeclared)."""
    return cls.output_types().get(path, object) if "." not in path else object


def input_type(cls: type[Node], path: str) -> Any:
    """The declared type of ``cls``'s input at ``path`` (``object`` inside a parameter, or when undeclared)."""
    return cls.input_types().get(path, object) if "." not in path else object


def _type_error(given: Any, expected: Any, source: str, target: str, target_input: str, where: str
                ) -> DataFlowError:
    """DF-201: a value of type ``given`` (from ``source``) can never be accepted by ``target_input``."""
    return DataFlowError(
        "DF-201",
        f"Type mismatch in the {where}: {source} gives {describe_type(given)}, but {target}.{target_input} "
        f"expects {describe_type(expected)}.",
        context={"node_id": target, "source": source, "target": f"{target}.{target_input}",
                 "expected_type": describe_type(expected), "actual_type": describe_type(given)},
        solutions=["Connect an output of the expected type, or convert the value in a PythonCodeNode between them."],
    )


def _topological_order(ids: list[str], deps: Mapping[str, set[str]]) -> tuple[list[str], list[tuple[str, ...]]]:
    """Kahn's algorithm, preferring the order nodes were added; and the cycles that stop it.

    The order holds every node not on a cycle nor waiting for one.
    """
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
    if len(order) == len(ids):
        return order, []
    stuck = [n for n in ids if waiting[n]]
    return order, _cycles(stuck, downstream, position)


def _cycles(stuck: list[str], downstream: Mapping[str, list[str]], position: Mapping[str, int]
            ) -> list[tuple[str, ...]]:
    """One cycle per strongly connected group of ``stuck`` nodes (Tarjan's algorithm, without
    recursion), each starting at its earliest added node; nodes that only wait for a cycle are left out."""
    inside = set(stuck)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for root in stuck:
        if root in index:
            continue
        work = [(root, iter(downstream[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node_id, children = work[-1]
            for child in children:
                if child not in inside:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(downstream[child])))
                    break
                if child in on_stack:
                    low[node_id] = min(low[node_id], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node_id])
                if low[node_id] == index[node_id]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node_id:
                            break
                    if len(group) > 1:
                        groups.append(group)
    cycles = [_cycle_through(min(group, key=position.__getitem__), set(group), downstream) for group in groups]
    return sorted(cycles, key=lambda cycle: position[cycle[0]])


def _cycle_through(start: str, group: set[str], downstream: Mapping[str, list[str]]) -> tuple[str, ...]:
    """The shortest loop from ``start`` back to it inside one strongly connected ``group`` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node_id in frontier:
            for child in downstream[node_id]:
                if child == start:
                    path = [node_id]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return tuple(reversed(path))
                if child in group and child not in came_from and child != start:
                    came_from[child] = node_id
                    following.append(child)
        frontier = following
    return (start,)  # unreachable for a strongly connected group of two or more


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
        if declared is None or (declared[0].db is None if len(declared) == 1
                                else any(t.db is None for t in declared)):
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


def _generations(order: list[str], depends_on: Mapping[str, frozenset[str]], after: Mapping[str, set[str]]
                 ) -> tuple[tuple[str, ...], ...]:
    """Nodes grouped by depth (a node's depth is one more than its deepest predecessor's)."""
    depth: dict[str, int] = {}
    levels: list[list[str]] = []
    for node_id in order:
        level = 0
        for waits in (depends_on[node_id], after[node_id]):
            for upstream in waits:
                if depth[upstream] >= level:
                    level = depth[upstream] + 1
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
