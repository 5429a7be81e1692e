"""``dataflow generate``: a typed Python module per model, so editors complete node names, parameters
and outputs, and mypy catches a misspelt node, field or parameter before anything runs.

For each node the model has (the eleven CRUD nodes, and those other plugins generate), the module
holds: the node name as a constant (``UserCreateNode``), a ``TypedDict`` of its parameters
(``UserCreateNodeParams``: required ones ``Required[...]``, types as the node declares them, so a
datetime field takes ``datetime | date | str``), a ``TypedDict`` of its outputs
(``UserCreateNodeOutput``), ``add_user_create(workflow, node_id, params)`` which adds the node with
checked parameters, and ``user_create_output(results, node_id)`` which gives a run's output typed.
Everything comes from the node contract (``input_types``, ``output_types``, ``required_inputs``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import keyword
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dataflow.errors import DataFlowError, did_you_mean
from dataflow.models import ModelSpec
from dataflow.nodes import COMMON_PARAMS, Node, node_registry

__all__ = ["module_name", "module_source", "write_modules"]

_COMMON_TYPES = {"db_instance": "Any", "model_name": "str", "input_data": "Any"}


def module_name(model: ModelSpec) -> str:
    """``User`` → ``user``, ``AgentMemory`` → ``agent_memory``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", model.name).lower()


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class _Types:
    """Renders declared types as annotations, remembering which imports they need."""

    def __init__(self) -> None:
        self.imports: set[str] = set()

    def render(self, kind: Any) -> str:
        if kind is object or kind is Any:
            return "Any"
        if kind is type(None):
            return "None"
        origin = typing.get_origin(kind)
        args = typing.get_args(kind)
        if origin in (typing.Union, types.UnionType):
            return " | ".join(self.render(a) for a in args)
        if origin is not None:
            name = getattr(origin, "__name__", str(origin))
            return f"{name}[{', '.join(self.render(a) for a in args)}]" if args else name
        if kind in (dt.datetime, dt.date):
            self.imports.add("import datetime")
            return f"datetime.{kind.__name__}"
        if kind is decimal.Decimal:
            self.imports.add("import decimal")
            return "decimal.Decimal"
        if isinstance(kind, type) and kind.__module__ == "builtins":
            return kind.__name__
        return "Any"


def _typed_dict(name: str, fields: Mapping[str, str], doc: str, *, required: Iterable[str] = ()) -> list[str]:
    required = set(required)
    rendered = {key: f"Required[{value}]" if key in required else value for key, value in fields.items()}
    if all(key.isidentifier() and not keyword.iskeyword(key) for key in rendered):
        lines = [f"class {name}(TypedDict, total=False):", f'    """{doc}"""']
        return lines + [""] + [f"    {key}: {value}" for key, value in rendered.items()] if rendered else lines
    # A field named like a Python keyword (``from``) only fits the functional form.
    entries = ", ".join(f"{key!r}: {value}" for key, value in rendered.items())
    return [f'{name} = TypedDict("{name}", {{{entries}}}, total=False)', f'"""{doc}"""']


def _node_section(node_name: str, cls: type[Node], model: ModelSpec, types: _Types) -> list[str]:
    """The constant, the two TypedDicts and the two helpers of one node."""
    operation = node_name.removeprefix(model.name).removesuffix("Node") or node_name
    function = f"{module_name(model)}_{_snake(operation)}"
    declared = dict(cls.input_types())
    params = {name: types.render(kind) for name, kind in declared.items()}
    params.update((name, _COMMON_TYPES[name]) for name in COMMON_PARAMS if name not in params)
    required = [group[0] for group in cls.required_inputs() if len(group) == 1]
    outputs = {name: types.render(kind) for name, kind in cls.output_types().items()}
    summary = cls.describe().rstrip(".")
    alternatives = [group for group in cls.required_inputs() if len(group) > 1]
    needs = "".join(f" Needs one of: {', '.join(group[:4])}{' …' if len(group) > 4 else ''}." for group in alternatives)
    lines = ["", "", f'{node_name}: Final = "{node_name}"', f'"""{summary}."""', "", ""]
    lines += _typed_dict(f"{node_name}Params", params, f"The parameters of {node_name}.{needs}", required=required)
    lines += ["", ""]
    if cls.output_names() is None:  # outputs known only when it runs: any key may come back
        lines += [f"{node_name}Output = dict[str, Any]", f'"""What {node_name} returns: known only when it runs."""']
    else:
        lines += _typed_dict(f"{node_name}Output", outputs,
                             f"What {node_name} returns (``results[node_id]``); keys it may leave out are optional.")
    lines += ["", "", f"def add_{function}(workflow: WorkflowBuilder, node_id: str, params: {node_name}Params) -> str:",
              f'    """Add a {node_name} to ``workflow`` (the parameters checked by the type checker)."""',
              f"    return workflow.add_node({node_name}, node_id, dict(params))",
              "", "",
              f"def {function}_output(results: Mapping[str, Any], node_id: str) -> {node_name}Output:",
              f'    """The output of the {node_name} ``node_id`` in a run\'s results, typed."""',
              f"    return cast({node_name}Output, results[node_id])"]
    return lines


def module_source(db: Any, model: ModelSpec, origin: str = "") -> str:
    """The text of ``model``'s typed module (its nodes as registered on ``db``)."""
    names = sorted(db.state.get("generated", {}).get(model.name, ()))
    rendering = _Types()
    sections: list[str] = []
    for node_name in names:
        cls = node_registry.resolve(node_name, db)
        sections += _node_section(node_name, cls, model, rendering)
    header = [
        f'"""Typed node names, parameters and outputs of the model {model.name} (table {model.table}).',
        "",
        f"Generated by `dataflow generate {model.name}`{' from ' + origin if origin else ''}; regenerate it after "
        "changing the model.",
        '"""',
        "",
        # No ``from __future__ import annotations``: TypedDict reads Required[...] at class creation.
        *sorted(rendering.imports),
        "from collections.abc import Mapping",
        "from typing import Any, Final, Required, TypedDict, cast",
        "",
        "from dataflow import WorkflowBuilder",
    ]
    footer = ["", "", "NODES: Final = (", *(f"    {name}," for name in names), ")", '"""Every node of the model."""']
    return "\n".join([*header, *sections, *footer]).rstrip() + "\n"


def write_modules(instances: Iterable[Any], names: Iterable[str], output: Path, origin: str = "") -> list[Path]:
    """Write one module per model named in ``names`` (every model when empty) into ``output``;
    DF-605 for a model no instance declares."""
    models: dict[str, tuple[Any, ModelSpec]] = {}
    for db in instances:
        for spec in db.models.values():
            models.setdefault(spec.name, (db, spec))
    wanted = list(names) or list(models)
    for name in wanted:
        if name not in models:
            raise DataFlowError("DF-605", f"No model named {name!r} in the models given.{did_you_mean(name, models)}",
                                context={"model": name, "models": ", ".join(models)},
                                solutions=["Name a model declared with @db.model in the --models module."])
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name in wanted:
        db, spec = models[name]
        path = output / f"{module_name(spec)}.py"
        path.write_text(module_source(db, spec, origin), encoding="utf-8")
        written.append(path)
    return written
