"""The Inspector: what a workflow is made of, where each value comes from, and what is wrong with it.

``Inspector(workflow)`` takes a ``WorkflowBuilder`` or a built ``Workflow``. Everything rests on
``WorkflowBuilder.check()``, the very checks ``build()`` runs, returned as data instead of raised: so
the inspector answers for a workflow that ``build()`` refuses (that is when one needs it) and never
disagrees with it. On top of those findings it reports what only a run would otherwise reveal:

- a required input that no static value, connection or template provides ("missing source", DF-101
  when the node runs), and run inputs (``${name}``) the run must pass;
- nodes no run can reach: on a cycle, or waiting for a node that is on one, does not exist, or
  whose type is unknown;
- warnings (``--strict`` makes them failures): a connection that replaces a static value, an input
  fed twice, an output that may be None feeding an input that does not take None, a run input the
  workflow file does not supply.

Types at each end of a connection come from the node contract: the declared parameters and outputs
(``Node.input_types`` / ``output_types``), which generated nodes answer from their model's fields.
"""

from __future__ import annotations

import functools
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from dataflow.errors import DataFlowError, did_you_mean, short_repr
from dataflow.nodes import COMMON_PARAMS, describe_type, holds_template, type_members
from dataflow.workflow import (
    CYCLE,
    INPUT,
    NODE_TYPE,
    OUTPUT,
    PARAMETER,
    SELF_CONNECTION,
    TYPE,
    UNKNOWN_NODE,
    Finding,
    Workflow,
    WorkflowBuilder,
    WorkflowCheck,
    input_type,
    output_type,
)

__all__ = [
    "CATEGORIES",
    "WARNINGS",
    "ConnectionInfo",
    "Inspector",
    "NodeInfo",
    "ParameterInfo",
    "ParameterTrace",
    "Problem",
]

CATEGORIES = ("structure", "connections", "parameters", "types", "cycles")
"""The headings of a validation report, in the order it prints them."""

_CATEGORY_OF_KIND = {
    UNKNOWN_NODE: "connections", SELF_CONNECTION: "cycles", NODE_TYPE: "structure", PARAMETER: "parameters",
    INPUT: "connections", OUTPUT: "connections", TYPE: "types", CYCLE: "cycles",
}

WARNINGS: dict[str, str] = {
    "overridden-value": "A connection feeds a parameter that also has a static value: the connection replaces it.",
    "fed-twice": "Two connections or templates feed the same input: the one applied last wins.",
    "may-be-none": "An output that may be None feeds an input that does not take None: the node fails "
                   "when the value is None.",
    "run-input": "A template reads a run input (``${name}``) that the workflow file's ``parameters`` do not "
                 "give: every run must pass it.",
}
"""Every warning, by name, with what it means (``--strict`` turns each into a failure)."""


@attrs.frozen
class Problem:
    """One thing wrong (``severity="error"``) or suspicious (``"warning"``) in a workflow.

    :param category: ``structure``, ``connections``, ``parameters``, ``types`` or ``cycles``.
    :param kind: the build finding's kind (``dataflow.workflow``), ``missing_source``, ``missing_input``,
        ``unreachable``, or a warning's name (``WARNINGS``).
    :param code: the DF code ``build()`` or the run raises for it (None for warnings).
    :param node_id: the node it is about, if one.
    :param connection: the connection or template it is about, if one.
    :param cycle: for a cycle, its nodes in order.
    """

    severity: str
    category: str
    kind: str
    message: str
    code: str | None = None
    node_id: str | None = None
    connection: ConnectionInfo | None = None
    expected_type: str | None = None
    actual_type: str | None = None
    solutions: tuple[str, ...] = ()
    cycle: tuple[str, ...] = ()

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every node it concerns: the node, the two ends of its connection, the nodes of its cycle."""
        found = [self.node_id] if self.node_id else []
        if self.connection is not None:
            found += [self.connection.source, self.connection.target]
        return tuple(dict.fromkeys([*found, *self.cycle]))

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "category": self.category, "kind": self.kind, "code": self.code,
                "message": self.message, "node": self.node_id, "nodes": list(self.nodes),
                "connection": self.connection.label if self.connection else None,
                "expected_type": self.expected_type, "actual_type": self.actual_type,
                "solutions": list(self.solutions)}


@attrs.frozen
class ConnectionInfo:
    """One flow of a value between two nodes: a connection, or a ``${node.output}`` template.

    :param kind: ``connection`` or ``template``.
    :param template: the template's text, for a template.
    :param source_type: the type the source output gives (None when it is not declared).
    :param target_type: the type the target input accepts (None when it is not declared).
    :param problems: why it is broken (empty when it is fine).
    """

    source: str
    source_output: str
    target: str
    target_input: str
    kind: str = "connection"
    template: str | None = None
    source_type: str | None = None
    target_type: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def is_valid(self) -> bool:
        return not self.problems

    # The names Kailash DataFlow's inspector gave the four ends.
    source_node = property(lambda self: self.source)
    source_parameter = property(lambda self: self.source_output)
    target_node = property(lambda self: self.target)
    target_parameter = property(lambda self: self.target_input)

    @property
    def source_path(self) -> str:
        return f"{self.source}.{self.source_output}" if self.source_output else self.source

    @property
    def target_path(self) -> str:
        return f"{self.target}.{self.target_input}"

    @property
    def label(self) -> str:
        return f"{self.source_path} → {self.target_path}"

    def show(self) -> str:
        """``✓ create.id → read.id (str → str)``, or ``✗`` and why it is broken."""
        known = self.source_type or self.target_type
        types = f" ({self.source_type or '?'} → {self.target_type or '?'})" if known else ""
        via = f" via template '{self.template}'" if self.template else ""
        if self.is_valid:
            return f"✓ {self.label}{types}{via}"
        return f"✗ {self.label}{types}{via}: {'; '.join(self.problems)}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "source_output": self.source_output, "target": self.target,
                "target_input": self.target_input, "kind": self.kind, "template": self.template,
                "source_type": self.source_type, "target_type": self.target_type, "is_valid": self.is_valid,
                "problems": list(self.problems)}


@attrs.frozen
class ParameterTrace:
    """Where the value of one node parameter comes from.

    :param source: the upstream ``node.output`` that feeds it (the origin of a chain of them), or None
        when no node feeds it (a static value, a run input, a default, or nothing at all).
    :param origin: ``connection``, ``template``, ``run input``, ``static``, ``default``, ``missing`` or
        ``unknown node``.
    :param path: the hops from the origin to the parameter (``("create.id", "read.id")``).
    :param value: the value known before the run: the static value, or the static value the origin
        node was given under the same name (a create node returns the fields it was given).
    :param feeds: every connection or template feeding the parameter or a part of it.
    """

    node: str
    parameter: str
    source: str | None
    origin: str
    path: tuple[str, ...] = ()
    value: Any = None
    has_value: bool = False
    note: str = ""
    feeds: tuple[ConnectionInfo, ...] = ()

    @property
    def target(self) -> str:
        return f"{self.node}.{self.parameter}"

    @property
    def source_node(self) -> str | None:
        """The node at the origin (None when no node feeds the parameter)."""
        return self.source.partition(".")[0] if self.source else None

    @property
    def source_parameter(self) -> str | None:
        """The output at the origin (None when no node feeds the parameter)."""
        return self.source.partition(".")[2] if self.source else None

    def show(self) -> str:
        """``create.id → read.id``, then the value when it is known before the run, or why nothing flows."""
        head = f"{self.target}: {self.note}" if self.note else self.target
        lines = [" → ".join(self.path) if self.path else head]
        if self.path and self.note:
            lines.append(self.note)
        if self.has_value:
            lines.append(f"Value: {short_repr(self.value)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "parameter": self.parameter, "source": self.source, "origin": self.origin,
                "path": list(self.path), "value": short_repr(self.value) if self.has_value else None,
                "note": self.note, "feeds": [f.to_dict() for f in self.feeds]}


@attrs.frozen
class ParameterInfo:
    """One input of a node: its declaration and where its value comes from."""

    name: str
    type: str | None
    required: bool
    default: Any
    description: str
    origin: str
    """``static``, ``connection``, ``template``, ``run input``, ``run parameters``, ``default``, ``not given``
    (an optional input nothing gives) or ``missing`` (a required one)."""
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, value_serializer=lambda _i, _a, v: short_repr(v) if _a and _a.name == "default"
                            and v is not None else v)


@attrs.frozen
class NodeInfo:
    """Everything known about one node before it runs."""

    node_id: str
    type_name: str
    description: str
    model: str | None
    instance: str | None
    operation: str
    touches: str
    parameters: tuple[ParameterInfo, ...]
    outputs: Mapping[str, str | None]
    incoming: tuple[ConnectionInfo, ...]
    outgoing: tuple[ConnectionInfo, ...]
    waits_for: tuple[str, ...]
    unused_outputs: tuple[str, ...]
    problems: tuple[Problem, ...]

    def show(self) -> str:
        given = [p.name for p in self.parameters if p.origin != "missing" and p.origin != "default"]
        lines = [f"Node Debug Report: {self.node_id}",
                 f"- Type: {self.type_name}" + (f" (model {self.model})" if self.model else ""),
                 f"- Parameters: {', '.join(given) or 'none given'}",
                 f"- Connections: {len(self.outgoing)} outgoing, {len(self.incoming)} incoming",
                 f"- Validation: {'PASSED' if not any(p.severity == 'error' for p in self.problems) else 'FAILED'}",
                 f"- Potential Issues: {'; '.join(p.message for p in self.problems) or 'None'}"]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node_id, "type": self.type_name, "description": self.description, "model": self.model,
                "instance": self.instance, "operation": self.operation, "touches": self.touches,
                "parameters": [p.to_dict() for p in self.parameters], "outputs": dict(self.outputs),
                "incoming": [c.to_dict() for c in self.incoming], "outgoing": [c.to_dict() for c in self.outgoing],
                "waits_for": list(self.waits_for), "unused_outputs": list(self.unused_outputs),
                "problems": [p.to_dict() for p in self.problems]}


def _as_builder(workflow: Any) -> WorkflowBuilder:
    if isinstance(workflow, WorkflowBuilder):
        return workflow
    if isinstance(workflow, Workflow):
        builder = WorkflowBuilder()
        for node_id, entry in workflow.nodes.items():
            builder.add_node(entry.cls, node_id, dict(entry.params))
        for conn in workflow.connections:
            builder.add_connection(conn.source, conn.source_output, conn.target, conn.target_input)
        return builder
    raise DataFlowError("DF-807", f"The Inspector takes a WorkflowBuilder or a built workflow, got "
                        f"{type(workflow).__name__}.",
                        solutions=["Pass the WorkflowBuilder itself: Inspector(workflow)."])


def _location_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(step) for step in location)


def _type_or_none(kind: Any) -> str | None:
    return describe_type(kind) if type_members(kind) else None


def _output_of(cls: Any, path: str) -> Any:
    """The type ``cls`` gives at output ``path`` (``object``: unknown, or no node class)."""
    return output_type(cls, path) if cls is not None and path else object


def _allows_none(kind: Any) -> bool:
    members = type_members(kind)
    return not members or type(None) in members


def _quoted(names: Iterable[str], limit: int = 3) -> str:
    names = list(names)
    shown = " or ".join(f"'{n}'" for n in names[:limit])
    return shown + (" (or another of its fields, passed flat)" if len(names) > limit else "")


class Inspector:
    """Introspection of one workflow: connections, parameter sources, order, problems.

    :param workflow: a ``WorkflowBuilder`` (as it stands now) or a built ``Workflow``.
    :param db: a DataFlow instance: node types resolve as bound to it where a node names no
        ``db_instance`` (useful when several instances declare the same model).
    :param parameters: the run's parameters (``execute(..., parameters=...)``), when known: run inputs
        the templates read are then checked, and per-node parameters count as provided. None: unknown.
    """

    def __init__(self, workflow: Any, db: Any = None, *, parameters: Mapping[str, Any] | None = None) -> None:
        self.workflow = workflow
        self.db = db
        self.parameters = dict(parameters) if parameters is not None else None
        self.check: WorkflowCheck = _as_builder(workflow).check(db=db)

    # ---- the graph -------------------------------------------------------------------------------
    @property
    def node_ids(self) -> list[str]:
        return list(self.check.params)

    def _require_node(self, node_id: str) -> None:
        if node_id not in self.check.params:
            raise DataFlowError(
                "DF-807",
                f"The workflow has no node {node_id!r}.{did_you_mean(node_id, self.check.params)}",
                context={"node_id": node_id, "nodes": ", ".join(self.check.params)},
                solutions=["Use one of the node ids given to add_node (`dataflow analyze FILE` lists them)."],
            )

    @functools.cached_property
    def _connection_infos(self) -> tuple[ConnectionInfo, ...]:
        return tuple(info for info, _given, _expected in self._flows)

    @functools.cached_property
    def _flows(self) -> list[tuple[ConnectionInfo, Any, Any]]:
        """Every connection and template, with the declared types at its two ends (``object``: unknown)."""
        check = self.check
        problems: dict[Any, list[str]] = {}
        for finding in check.findings:
            key = self._finding_key(finding)
            if key is not None:
                problems.setdefault(key, []).append(finding.message)
        on_cycle = {}
        for cycle in check.cycles:
            for a, b in zip(cycle, (*cycle[1:], cycle[0]), strict=True):
                on_cycle[(a, b)] = " → ".join((*cycle, cycle[0]))
        # Every type known and no cycle (the common case): no flow has a problem of its ends.
        ends_known = not on_cycle and len(check.classes) == len(check.params)
        classes = check.classes
        # The types at the two ends depend only on the two node types and the two names: a workflow of
        # many nodes of few types describes each pair once.
        ends: dict[tuple[Any, ...], tuple[Any, Any, str | None, str | None]] = {}
        flows: list[tuple[ConnectionInfo, Any, Any]] = []
        for conn in check.connections:
            source_cls, target_cls = classes.get(conn.source), classes.get(conn.target)
            key = (source_cls, conn.source_output, target_cls, conn.target_input)
            types = ends.get(key)
            if types is None:
                given = _output_of(source_cls, conn.source_output)
                expected = input_type(target_cls, conn.target_input) if target_cls is not None else object
                types = ends[key] = (given, expected, _type_or_none(given), _type_or_none(expected))
            reasons = problems.get(id(conn), [])
            if not ends_known:
                reasons = reasons + self._end_problems(conn.source, conn.target, on_cycle)
            flows.append((ConnectionInfo(conn.source, conn.source_output, conn.target, conn.target_input,
                                         "connection", None, types[2], types[3],
                                         tuple(dict.fromkeys(reasons)) if reasons else ()), types[0], types[1]))
        for node_id, templates in check.templates.items():
            for template in templates:
                for root, rest in template.refs:
                    if root not in check.params or root == node_id:
                        continue  # a run input, not a flow between nodes
                    target_input = _location_path(template.location)
                    reasons = list(problems.get((node_id, template.location, root, rest), ()))
                    reasons += self._end_problems(root, node_id, on_cycle)
                    # A template inside a longer string renders as text.
                    given = _output_of(classes.get(root), rest) if template.whole else str
                    expected = self._input(node_id, target_input) if len(template.location) == 1 else object
                    flows.append((ConnectionInfo(root, rest, node_id, target_input, "template", template.text,
                                                 _type_or_none(given), _type_or_none(expected),
                                                 tuple(dict.fromkeys(reasons))), given, expected))
        return flows

    @functools.cached_property
    def _info_by_connection(self) -> dict[int, ConnectionInfo]:
        """Each connection's description, by the identity of the ``Connection`` that ``check()`` listed
        (its findings name those very objects). ``_flows`` lists the connections first, in that order."""
        connections = self.check.connections
        infos = [info for info, _given, _expected in self._flows[:len(connections)]]
        return {id(conn): info for conn, info in zip(connections, infos, strict=True)}

    @staticmethod
    def _finding_key(finding: Finding) -> Any:
        if finding.connection is not None:
            return id(finding.connection)  # the very object check() lists: hashed by identity, cheaply
        if finding.template is not None and finding.node_id is not None:
            context = finding.error.context
            if finding.kind == OUTPUT:
                root = str(context.get("node_id"))
                rest = next((r for n, r in finding.template.refs if n == root and r.partition(".")[0]
                             == context.get("output")), "")
            else:
                root, _, rest = str(context.get("source", "")).partition(".")
            return (finding.node_id, finding.template.location, root, rest)
        return None

    def _end_problems(self, source: str, target: str, on_cycle: Mapping[tuple[str, str], str]) -> list[str]:
        if not on_cycle and len(self.check.classes) == len(self.check.params):
            return []  # every type known and no cycle: the common case, checked once per flow
        reasons = []
        for end in (source, target):
            if end in self.check.params and end not in self.check.classes:
                reasons.append(f"node {end!r} has an unknown type ({self.type_label(end)}): nothing about it can "
                               "be checked")
        if (source, target) in on_cycle:
            reasons.append(f"part of the cycle {on_cycle[(source, target)]}")
        return reasons

    def type_label(self, node_id: str) -> str:
        """The node's type name (as given to ``add_node`` when it did not resolve)."""
        cls = self.check.classes.get(node_id)
        if cls is not None:
            return str(cls.type_name)
        node_type = self.check.node_types[node_id]
        return node_type if isinstance(node_type, str) else getattr(node_type, "__name__", repr(node_type))

    def _input(self, node_id: str, path: str) -> Any:
        cls = self.check.classes.get(node_id)
        return input_type(cls, path) if cls is not None else object

    def connections(self, node: str | None = None) -> list[ConnectionInfo]:
        """Every connection, then every ``${node.output}`` template, in the order added; with ``node``,
        those into or out of it. Each knows the types at its two ends and whether it is broken."""
        infos = self._connection_infos
        if node is None:
            return list(infos)
        return [c for c in infos if node in (c.source, c.target)]

    def connection_chain(self, node: str, to: str | None = None) -> list[ConnectionInfo]:
        """The connections that bring values into ``node``, transitively, in the order they flow; with
        ``to``, the shortest chain of connections from ``node`` to ``to`` (empty when none leads there)."""
        self._require_node(node)
        infos = self._connection_infos
        if to is not None:
            self._require_node(to)
            out: dict[str, list[ConnectionInfo]] = {}
            for info in infos:
                out.setdefault(info.source, []).append(info)
            came: dict[str, ConnectionInfo] = {}
            queue = deque([node])
            while queue:
                current = queue.popleft()
                if current == to:
                    chain = []
                    while current != node:
                        chain.append(came[current])
                        current = came[current].source
                    return chain[::-1]
                for info in out.get(current, ()):
                    if info.target not in came and info.target != node:
                        came[info.target] = info
                        queue.append(info.target)
            return []
        into: dict[str, list[ConnectionInfo]] = {}
        for info in infos:
            into.setdefault(info.target, []).append(info)
        seen, stack, chain = {node}, [node], []
        while stack:
            for info in into.get(stack.pop(), ()):
                chain.append(info)
                if info.source not in seen:
                    seen.add(info.source)
                    stack.append(info.source)
        position = {node_id: i for i, node_id in enumerate(self._order_with_stuck)}
        return sorted(chain, key=lambda c: (position.get(c.source, 0), position.get(c.target, 0)))

    @functools.cached_property
    def _order_with_stuck(self) -> list[str]:
        order = list(self.check.order)
        placed = set(order)
        return order + [n for n in self.check.params if n not in placed]

    @functools.cached_property
    def built(self) -> Workflow | None:
        """The built workflow, when ``build()`` accepts it (None otherwise)."""
        return self.check.freeze() if self.check.ok else None

    def waits_for(self, node: str) -> dict[str, str]:
        """What ``node`` waits for before it starts, each with why: ``data`` (a connection or template
        brings its output) or ``order`` (the order rule: the same instance, one of them writes)."""
        self._require_node(node)
        waits = dict.fromkeys(sorted(self.check.depends_on[node]), "data")
        if self.built is not None:
            waits.update((n, "order") for n in sorted(self.built.nodes[node].ordered_after) if n not in waits)
        return waits

    def execution_order(self) -> list[str]:
        """The nodes in the order a one-at-a-time run (``max_concurrency=1``) takes them: the order added,
        as far as connections and templates allow. Nodes no run can reach are left out."""
        return list(self.check.order)

    # ---- parameters --------------------------------------------------------------------------------
    def _run_overrides(self, node_id: str) -> Mapping[str, Any]:
        given = (self.parameters or {}).get(node_id)
        return given if isinstance(given, Mapping) else {}

    def trace_parameter(self, node: str, parameter: str) -> ParameterTrace:
        """Where ``node``'s ``parameter`` gets its value: the connection or template feeding it (followed
        upstream while each source passes on an input of the same name), a run input, its static value,
        its default, or nothing (``source`` None). Never raises: an unknown node is said in the trace."""
        check = self.check
        if node not in check.params:
            return ParameterTrace(node, parameter, None, "unknown node",
                                  note=f"no node {node!r} in the workflow.{did_you_mean(node, check.params)}")
        feeds = tuple(c for c in self._connection_infos if c.target == node
                      and (c.target_input == parameter or c.target_input.startswith(parameter + ".")
                           or parameter.startswith(c.target_input + ".")))
        exact = [c for c in feeds if c.target_input == parameter]
        if exact:
            # The runtime applies templates, then connections in the order added: the last one wins.
            winner = next((c for c in reversed(exact) if c.kind == "connection"), exact[-1])
            path, value, has_value = self._upstream(winner)
            note = f"via template '{winner.template}'" if winner.template else ""
            if len(exact) > 1:
                note = (note + "; " if note else "") + f"fed {len(exact)} times: the last connection wins"
            return ParameterTrace(node, parameter, path[0], winner.kind, path, value, has_value, note, feeds)
        params = check.params[node]
        head = parameter.partition(".")[0]
        overrides = self._run_overrides(node)
        if head in overrides:
            return ParameterTrace(node, parameter, None, "run parameters", value=overrides[head], has_value=True,
                                  note="given by the run's parameters for this node", feeds=feeds)
        for template in check.templates.get(node, ()):
            if _location_path(template.location) == parameter:
                inputs = [root for root, _rest in template.refs if root not in check.params or root == node]
                if inputs:
                    return ParameterTrace(node, parameter, None, "run input", feeds=feeds,
                                          note=f"from run input {_quoted(inputs)} (template '{template.text}')")
        if parameter in params and not holds_template(params[parameter]):
            note = "static value" + ("; connections also feed parts of it" if feeds else "")
            return ParameterTrace(node, parameter, None, "static", value=params[parameter], has_value=True,
                                  note=note, feeds=feeds)
        if feeds:
            parts = ", ".join(f.label for f in feeds)
            return ParameterTrace(node, parameter, None, "connection", note=f"parts come from {parts}", feeds=feeds)
        cls = check.classes.get(node)
        declared = cls.parameters.get(parameter) if cls is not None else None
        if declared is not None and declared.default is not None:
            return ParameterTrace(node, parameter, None, "default", value=declared.default, has_value=True,
                                  note="not given: the default applies")
        return ParameterTrace(node, parameter, None, "missing",
                              note="nothing provides it (no connection, template, static value or run parameter)")

    def _upstream(self, info: ConnectionInfo) -> tuple[tuple[str, ...], Any, bool]:
        """The chain of hops ending at ``info``: followed upstream while the source node's input of the
        same name as its output is itself fed by one connection; and the static value at its origin."""
        path = [info.target_path, info.source_path]
        seen = {info.target}
        current = info
        while True:
            name, node = current.source_output, current.source
            if not name or "." in name or node in seen:
                break
            seen.add(node)
            fed = [c for c in self._connection_infos if c.target == node and c.target_input == name]
            if len(fed) != 1:
                break
            current = fed[0]
            path.append(current.source_path)
        params = self.check.params.get(current.source, {})
        name = current.source_output
        has_value = name in params and not holds_template(params[name])
        return tuple(reversed(path)), params.get(name) if has_value else None, has_value

    @functools.cached_property
    def _connected_inputs(self) -> dict[str, set[str]]:
        """Per node, the top-level inputs connections feed (from nodes that do not exist too: such a
        connection is reported as broken, not its target as missing a source)."""
        found: dict[str, set[str]] = {}
        for conn in self.check.connections:
            found.setdefault(conn.target, set()).add(conn.target_input.partition(".")[0])
        return found

    def _provided(self, node_id: str) -> set[str]:
        """Top-level parameter names something provides before the node runs."""
        given = {k for k, v in self.check.params[node_id].items() if v is not None}
        given.update(self._connected_inputs.get(node_id, ()))
        given.update(str(t.location[0]) for t in self.check.templates[node_id])
        given.update(self._run_overrides(node_id))
        return given

    @functools.cached_property
    def _missing(self) -> list[tuple[str, tuple[str, ...]]]:
        missing = []
        required: dict[Any, tuple[tuple[str, ...], ...]] = {}  # per node type: many nodes, few types
        for node_id, cls in self.check.classes.items():
            groups = required.get(cls)
            if groups is None:
                groups = required[cls] = cls.required_inputs()
            if not groups:
                continue
            provided = self._provided(node_id)
            for group in groups:
                if not provided.intersection(group):
                    missing.append((node_id, tuple(group)))
        return missing

    def missing_parameters(self) -> list[dict[str, Any]]:
        """Required inputs that nothing provides: ``{"node", "parameters", "message"}`` each (the node
        would fail with DF-101 when it runs)."""
        return [{"node": node_id, "parameters": list(group), "message": self._missing_message(node_id, group)}
                for node_id, group in self._missing]

    def _missing_message(self, node_id: str, group: tuple[str, ...]) -> str:
        return (f"Missing source: {self.type_label(node_id)} '{node_id}' needs {_quoted(group)}, and no static "
                "value, connection, template or run parameter provides it.")

    def run_inputs(self) -> dict[str, list[str]]:
        """Run inputs the templates read (``${name}``), each with the nodes reading it."""
        return {name: list(dict.fromkeys(node_id for node_id, _text in users))
                for name, users in self.check.inputs.items()}

    def unused_outputs(self) -> dict[str, list[str]]:
        """Per node, the declared outputs no connection or template uses (a leaf's outputs are the
        run's results: informative, not a problem)."""
        used: dict[str, set[str]] = {}
        for info in self._connection_infos:
            used.setdefault(info.source, set()).add(info.source_output.partition(".")[0])
        unused = {}
        for node_id, cls in self.check.classes.items():
            names = cls.output_names()
            if names:
                unused[node_id] = sorted(n for n in names if n not in used.get(node_id, ()))
        return unused

    # ---- reachability and cycles -------------------------------------------------------------------
    def detect_cycles(self) -> list[list[str]]:
        """Each cycle once, its nodes in the order they wait for each other (the first waits for the
        last); a node connected to itself is a cycle of one."""
        selfs = [[f.node_id] for f in self.check.findings if f.kind == SELF_CONNECTION and f.node_id]
        cycles = [list(cycle) for cycle in self.check.cycles]
        unique_selfs = [c for i, c in enumerate(selfs) if c not in selfs[:i]]
        return cycles + unique_selfs

    @functools.cached_property
    def _unreachable(self) -> dict[str, str]:
        check = self.check
        reasons: dict[str, str] = {}
        for cycle in check.cycles:
            path = " → ".join((*cycle, cycle[0]))
            for node_id in cycle:
                reasons[node_id] = f"it is on the cycle {path}"
        blocked = dict(reasons)
        for node_id in check.params:
            if node_id not in check.classes:
                blocked[node_id] = f"its type {self.type_label(node_id)} is unknown"
        for finding in check.findings:
            if finding.kind == UNKNOWN_NODE and finding.connection is not None \
                    and finding.node_id == finding.connection.source and finding.connection.target in check.params:
                target = finding.connection.target
                if target in check.classes:
                    reasons.setdefault(target, f"it waits for node {finding.node_id!r}, which does not exist")
                    blocked.setdefault(target, reasons[target])
        downstream: dict[str, list[str]] = {}
        for node_id, upstream in check.depends_on.items():
            for source in upstream:
                downstream.setdefault(source, []).append(node_id)
        queue = deque(blocked)
        while queue:
            node_id = queue.popleft()
            for nxt in downstream.get(node_id, ()):
                if nxt not in blocked:
                    blocked[nxt] = f"it waits for {node_id!r}, which never runs ({blocked[node_id]})"
                    if nxt in check.classes:  # a node of unknown type is reported as such, not as unreached
                        reasons[nxt] = blocked[nxt]
                    queue.append(nxt)
        return reasons

    def unreachable_nodes(self) -> dict[str, str]:
        """Nodes no run can reach, each with why: on a cycle, or waiting (through connections and
        templates) for a node that is on one, does not exist or has an unknown type."""
        return dict(self._unreachable)

    # ---- problems ------------------------------------------------------------------------------------
    @functools.cached_property
    def _problems(self) -> tuple[Problem, ...]:
        problems: list[Problem] = []
        for finding in self.check.findings:
            context = finding.error.context
            info: ConnectionInfo | None = None
            if finding.connection is not None:
                info = self._info_by_connection.get(id(finding.connection))
            elif finding.template is not None:
                key = self._finding_key(finding)
                info = next((c for c in self._connection_infos if c.kind == "template"
                             and (c.target, _location_path(finding.template.location), c.source, c.source_output)
                             == (key[0], _location_path(key[1]), key[2], key[3])), None)
            problems.append(Problem(
                "error", _CATEGORY_OF_KIND.get(finding.kind, "structure"), finding.kind, finding.message,
                finding.code, finding.node_id, info, context.get("expected_type"), context.get("actual_type"),
                tuple(finding.error.solutions), finding.cycle,
            ))
        for node_id, group in self._missing:
            problems.append(Problem("error", "parameters", "missing_source", self._missing_message(node_id, group),
                                    "DF-101", node_id,
                                    solutions=(f"Give {_quoted(group)} a static value, or connect an output to it: "
                                               f"workflow.add_connection(source_node, 'output', '{node_id}', "
                                               f"'{group[0]}')",)))
        on_cycle = {n for cycle in self.check.cycles for n in cycle}
        for node_id, reason in self._unreachable.items():
            if node_id not in on_cycle:
                problems.append(Problem("error", "structure", "unreachable",
                                        f"Node '{node_id}' is never reached: {reason}.", "DF-801", node_id))
        problems += self._input_problems()
        problems += self._warnings()
        return tuple(problems)

    def _input_problems(self) -> list[Problem]:
        """Run inputs the templates read: a warning when the run's parameters are unknown, an error when
        they are known and lack one (once per input and node; a per-node override of the parameter
        holding the template makes it unneeded, as at run time)."""
        found = []
        for name, users in self.check.inputs.items():
            if self.parameters is not None and name in self.parameters:
                continue
            texts: dict[str, list[str]] = {}
            for node_id, text in users:
                overrides = self._run_overrides(node_id)
                if name in overrides or any(t.text == text and str(t.location[0]) in overrides
                                            for t in self.check.templates[node_id]):
                    continue
                texts.setdefault(node_id, []).append(f"'{text}'")
            for node_id, shown in texts.items():
                where = f"{'Templates' if len(shown) > 1 else 'Template'} {', '.join(shown)} of node '{node_id}'"
                if self.parameters is None:
                    found.append(Problem("warning", "parameters", "run-input",
                                         f"{where} read{'' if len(shown) > 1 else 's'} run input '{name}': every run "
                                         f"must pass it (execute(..., parameters={{'{name}': ...}})).", None, node_id))
                else:
                    found.append(Problem("error", "parameters", "missing_input",
                                         f"{where} read{'' if len(shown) > 1 else 's'} run input '{name}', which the "
                                         f"run's parameters do not give.{did_you_mean(name, self.parameters)}",
                                         "DF-101", node_id))
        return found

    def _warnings(self) -> list[Problem]:
        found = []
        fed: dict[tuple[str, str], list[ConnectionInfo]] = {}
        for info in self._connection_infos:
            fed.setdefault((info.target, info.target_input), []).append(info)
        for (target, target_input), infos in fed.items():
            if len(infos) > 1:
                found.append(Problem("warning", "connections", "fed-twice",
                                     f"{target}.{target_input} is fed {len(infos)} times "
                                     f"({', '.join(i.source_path for i in infos)}): the one applied last wins.",
                                     None, target, infos[-1]))
        params = self.check.params
        for info in self._connection_infos:
            if info.kind != "connection" or "." in info.target_input:
                continue
            static = params.get(info.target, {})
            if static and info.target_input in static and info.target_input not in COMMON_PARAMS:
                found.append(Problem("warning", "parameters", "overridden-value",
                                     f"The connection {info.label} replaces the static value "
                                     f"{short_repr(static[info.target_input], 40)} of {info.target_path}.",
                                     None, info.target, info))
        may_be_none: dict[tuple[Any, Any], bool] = {}  # by the pair of types: few pairs, many flows
        for info, given, expected in self._flows:
            if info.problems:
                continue
            verdict = may_be_none.get((given, expected))
            if verdict is None:
                verdict = may_be_none[(given, expected)] = bool(
                    type_members(given) and type_members(expected) and type(None) in type_members(given)
                    and not _allows_none(expected))
            if verdict:
                found.append(Problem("warning", "types", "may-be-none",
                                     f"{info.source_path} may be None ({describe_type(given)}), but "
                                     f"{info.target_path} does not take None ({describe_type(expected)}).",
                                     None, info.target, info, describe_type(expected), describe_type(given)))
        return found

    def problems(self) -> list[Problem]:
        """Every error and warning, errors first in the order ``build()`` meets them."""
        return sorted(self._problems, key=lambda p: p.severity != "error")

    def errors_by_node(self) -> dict[str, list[Problem]]:
        """The errors about each node (a connection's or template's belong to the node it feeds)."""
        found: dict[str, list[Problem]] = {}
        for problem in self.errors:
            node_id = problem.connection.target if problem.connection is not None else problem.node_id
            if node_id is not None and node_id in self.check.params:
                found.setdefault(node_id, []).append(problem)
        return found

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self._problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self._problems if p.severity == "warning"]

    def is_valid(self, *, strict: bool = False) -> bool:
        """No error (and, with ``strict``, no warning)."""
        return not self.errors and not (strict and self.warnings)

    # ---- the spec's reports ---------------------------------------------------------------------------
    def validate_connections(self) -> dict[str, Any]:
        """``{"is_valid": bool, "errors": [...], "warnings": [...]}`` about how values flow between nodes.

        Each error is a dict: ``reason``, ``from_node``, ``from_param``, ``to_node``, ``to_param``,
        ``expected_type``, ``actual_type`` (a type mismatch's reason starts with "Type mismatch"),
        plus ``code`` and ``kind``. Connections and templates that are broken or touch a node of
        unknown type, cycles, and required inputs nothing provides ("Missing source") are errors.
        """
        errors = []
        for problem in self.errors:
            if problem.kind in (PARAMETER, NODE_TYPE, "unreachable") and problem.connection is None:
                continue
            errors.append(self._flow_dict(problem))
        classes = self.check.classes
        every_type_known = len(classes) == len(self.check.params)
        for info in () if every_type_known else self._connection_infos:
            unknown = [end for end in (info.source, info.target) if end in self.check.params and end not in classes]
            if unknown:
                errors.append({"reason": "; ".join(info.problems), "from_node": info.source,
                               "from_param": info.source_output, "to_node": info.target,
                               "to_param": info.target_input, "expected_type": info.target_type,
                               "actual_type": info.source_type, "code": "DF-701", "kind": "unknown_type"})
        warnings = [self._flow_dict(p) for p in self.warnings if p.category in ("connections", "types")]
        return {"is_valid": not errors, "errors": errors, "warnings": warnings}

    def _flow_dict(self, problem: Problem) -> dict[str, Any]:
        info = problem.connection
        from_node = info.source if info else None
        from_param = info.source_output if info else None
        to_node = info.target if info else problem.node_id
        to_param = info.target_input if info else None
        if problem.kind == CYCLE:
            cycle = next((c for c in self.check.cycles if c[0] == problem.node_id), ())
            from_node, to_node = (cycle[-1], cycle[0]) if cycle else (None, problem.node_id)
        if problem.kind == "missing_source":
            to_param = next((group[0] for node_id, group in self._missing if node_id == problem.node_id
                             and problem.message == self._missing_message(node_id, group)), None)
        return {"reason": problem.message, "from_node": from_node, "from_param": from_param, "to_node": to_node,
                "to_param": to_param, "expected_type": problem.expected_type or (info.target_type if info else None),
                "actual_type": problem.actual_type or (info.source_type if info else None), "code": problem.code,
                "kind": problem.kind}

    def find_broken_connections(self) -> list[dict[str, Any]]:
        """``[{"source": "create.id", "target": "read.id", "error": reason}, ...]``: every connection or
        template that names something missing, has ends whose types never match, is part of a cycle,
        or touches a node whose type is unknown."""
        return [{"source": c.source_path, "target": c.target_path, "error": "; ".join(c.problems), "kind": c.kind}
                for c in self._connection_infos if c.problems]

    def node_info(self, node: str) -> NodeInfo:
        """Type, model, parameters (and where each value comes from), outputs, connections in and out,
        what it waits for, and its problems. DF-807 for a node the workflow does not have."""
        self._require_node(node)
        check = self.check
        cls = check.classes.get(node)
        incoming = tuple(c for c in self._connection_infos if c.target == node)
        outgoing = tuple(c for c in self._connection_infos if c.source == node)
        problems = tuple(p for p in self._problems if node in p.nodes)
        if cls is None:
            return NodeInfo(node, self.type_label(node), "unknown node type", None, None, "", "unknown",
                            tuple(ParameterInfo(k, None, False, None, "", "static", short_repr(v))
                                  for k, v in check.params[node].items()),
                            {}, incoming, outgoing, tuple(sorted(check.depends_on[node])), (), problems)
        model = getattr(cls, "model", None)
        instance = getattr(cls, "dataflow_instance", None)
        return NodeInfo(
            node, str(cls.type_name), cls.describe(), getattr(model, "name", None),
            getattr(instance, "name", None), str(getattr(cls, "operation", "") or ""),
            self.touches_label(node), self._parameter_infos(node, cls),
            {name: _type_or_none(kind) for name, kind in cls.output_types().items()}
            or dict.fromkeys(sorted(cls.output_names() or ())),
            incoming, outgoing, tuple(sorted(check.depends_on[node])),
            tuple(self.unused_outputs().get(node, ())), problems,
        )

    def touches_label(self, node_id: str) -> str:
        """What the node declares it uses: which models it reads or writes, on which instance."""
        touches = self.check.touches.get(node_id)
        if touches is None:
            return "declares nothing (ordered like a writer)"
        if not touches:
            return "no database"
        parts = []
        for touch in touches:
            what = "writes" if touch.writes else "reads"
            where = ", ".join(touch.models) or "every instance" if touch.db is None else ", ".join(touch.models)
            instance = getattr(touch.db, "name", None) if touch.db is not None else "any instance"
            parts.append(f"{what} {where or 'its instance'} on {instance}")
        return "; ".join(parts)

    def _parameter_infos(self, node_id: str, cls: Any) -> tuple[ParameterInfo, ...]:
        types = cls.input_types()
        declared = cls.parameters
        required = {name for group in cls.required_inputs() for name in group if len(group) == 1}
        fields = getattr(getattr(cls, "model", None), "field_map", {})
        names = list(dict.fromkeys([*declared, *types, *self.check.params[node_id]]))
        infos = []
        for name in names:
            param = declared.get(name)
            trace = self.trace_parameter(node_id, name)
            value = short_repr(trace.value) if trace.has_value else (" → ".join(trace.path) if trace.path else None)
            origin = trace.origin
            default = param.default if param is not None else None
            field = fields.get(name) if param is None else None
            if origin == "missing" and field is not None and not field.required:
                origin, default = "default", field.default_value()  # the model field's default applies
                value = short_repr(default)
            elif origin == "missing" and name not in required:
                origin = "not given"
            infos.append(ParameterInfo(
                name, _type_or_none(types.get(name, object)), name in required, default,
                param.description if param is not None else ("a field of the model" if field else ""),
                origin, value,
            ))
        return tuple(infos)

    def workflow_summary(self) -> dict[str, Any]:
        """Counts and shape: nodes, connections, templates, node types, models, run inputs, levels and
        the widest level (how many nodes may run at once), cycles, errors and warnings."""
        check = self.check
        infos = self._connection_infos
        depth: dict[str, int] = {}
        for node_id in check.order:
            depth[node_id] = max((depth[d] + 1 for d in check.depends_on[node_id] if d in depth), default=0)
        widths = Counter(depth.values())
        models = sorted({m.name for cls in check.classes.values() if (m := getattr(cls, "model", None)) is not None})
        sources = {c.source for c in infos}
        return {
            "nodes": len(check.params),
            "connections": sum(1 for c in infos if c.kind == "connection"),
            "templates": sum(1 for c in infos if c.kind == "template"),
            "node_types": dict(Counter(self.type_label(n) for n in check.params)),
            "models": models,
            "run_inputs": sorted(check.inputs),
            "roots": [n for n in check.order if not check.depends_on[n]],
            "leaves": [n for n in check.order if n not in sources],
            "levels": max(depth.values(), default=-1) + 1,
            "widest_level": max(widths.values(), default=0),
            "cycles": len(self.detect_cycles()),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "is_valid": self.is_valid(),
        }

    def validate(self, *, strict: bool = False) -> dict[str, Any]:
        """The whole report, by category (``structure``, ``connections``, ``parameters``, ``types``,
        ``cycles``): ``{"is_valid", "strict", "categories": {name: {"passed", "errors", "warnings"}},
        "errors": [...], "warnings": [...]}``. With ``strict``, warnings fail too."""
        categories = {}
        for name in CATEGORIES:
            errors = [p.to_dict() for p in self.errors if p.category == name]
            warnings = [p.to_dict() for p in self.warnings if p.category == name]
            categories[name] = {"passed": not errors and not (strict and warnings), "errors": errors,
                                "warnings": warnings}
        return {"is_valid": self.is_valid(strict=strict), "strict": strict, "categories": categories,
                "errors": [p.to_dict() for p in self.errors], "warnings": [p.to_dict() for p in self.warnings]}

    def show(self) -> str:
        """A short text report: the summary, then each problem."""
        summary = self.workflow_summary()
        lines = ["Workflow Analysis Report", f"- Nodes: {summary['nodes']}",
                 f"- Connections: {summary['connections']}" + (f" (+ {summary['templates']} templates)"
                                                              if summary["templates"] else ""),
                 f"- Cycles: {summary['cycles']}",
                 f"- Validation: {'PASSED' if summary['is_valid'] else 'FAILED'}"]
        lines += [f"  {p.severity}: {p.message}" for p in self.problems()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Inspector of {len(self.check.params)} nodes, {len(self.errors)} errors>"
