"""Models: an annotated class declared with ``@db.model`` becomes a frozen ModelSpec of FieldSpecs.

The spec is what every plugin agrees on: the table name, the fields with their Python types,
nullability, defaults and index declarations. Plugins may amend it through
``dataflow_register_model`` (for example to add a tenant column) before nodes are generated.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Union

import attrs

from dataflow.errors import DataFlowError, did_you_mean, short_repr

__all__ = [
    "MAX_IDENTIFIER_LENGTH",
    "MISSING",
    "FieldSpec",
    "IndexSpec",
    "ModelSpec",
    "check_identifier",
    "check_name_clashes",
    "model_spec_from_class",
    "table_name_for",
]

class _Missing:
    """Marks a field without a default (the caller must supply it)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

SCALAR_TYPES: dict[type, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    dt.datetime: "datetime",
    dt.date: "date",
    decimal.Decimal: "decimal",
    bytes: "bytes",
    dict: "json",
    list: "json",
}
"""Python type → the kind name every dialect maps to a column type."""

ARRAY_ELEMENT_KINDS = {str: "str", int: "int", float: "float"}
AUTO_FIELDS = ("created_at", "updated_at")
_DATAFLOW_KEYS = {"indexes", "table", "primary_key", "use_native_arrays", "multi_tenant", "soft_delete",
                  "foreign_keys"}
ON_DELETE = {"cascade": "CASCADE", "set_null": "SET NULL", "restrict": "RESTRICT"}
"""The ``on_delete`` choices of a relation, and their SQL."""
MAX_IDENTIFIER_LENGTH = 63
"""The longest table, column or index name: PostgreSQL keeps 63 bytes (and silently truncates longer
names, so two long names could share a table), MySQL / MariaDB 64 characters."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
"""ASCII letters, digits and underscores: the names every database stores and compares alike.
``\\Z``, not ``$``: ``$`` also matches before a final newline, which let ``"users\\n"`` through."""


@attrs.frozen
class FieldSpec:
    """One column of a model.

    :param name: the field (and column) name.
    :param kind: ``str int float bool datetime date decimal bytes json`` or ``array``.
    :param python_type: the annotation's base type (``Optional`` removed).
    :param nullable: ``Optional[...]`` or a ``None`` default.
    :param default: the default value, or ``MISSING`` when the caller must supply it.
    :param primary_key: True only for ``id``.
    :param element_kind: for ``List[str|int|float]``, the element kind.
    :param auto: True for ``created_at`` / ``updated_at`` (managed by DataFlow).
    :param native_array: stored in the database's own array type (``TEXT[]``) rather than as JSON; set
        by a plugin (dataflow-native-arrays) on ``array`` fields, for dialects whose
        ``capabilities.native_arrays`` is True, which then send and read such values as Python lists.
    """

    name: str
    kind: str
    python_type: Any = None
    nullable: bool = False
    default: Any = MISSING
    primary_key: bool = False
    element_kind: str | None = None
    auto: bool = False
    generated: bool = False
    native_array: bool = False

    @property
    def required(self) -> bool:
        """The caller must give a value on create."""
        return self.default is MISSING and not self.nullable and not self.auto and not self.generated

    def default_value(self) -> Any:
        """A fresh copy of the default (mutable defaults such as ``{}`` are never shared)."""
        if self.default is MISSING:
            return None
        if isinstance(self.default, dict | list):
            return type(self.default)(self.default)
        return self.default


@attrs.frozen
class IndexSpec:
    """An index declared in ``__dataflow__["indexes"]``.

    :param using: the index method (``"gin"``) when one is asked for, lower case; None for the
        database's default. A dialect lists the methods it has in ``SQLDialect.index_methods``.
    """

    name: str
    fields: tuple[str, ...]
    unique: bool = False
    using: str | None = None


@attrs.frozen
class RelationSpec:
    """A foreign key declared in ``__dataflow__["foreign_keys"]``: ``field`` holds the id of a ``target``
    model's row; ``name`` (the field without ``_id``) is the relation's name in ``include``.

    ``ref_table`` is the target's table, known once the model is registered on an instance that has
    the target (``resolve_relations``); ``constraint`` the foreign key's name in the database.
    """

    field: str
    target: str
    on_delete: str = "restrict"
    ref_table: str = ""
    constraint: str = ""

    @property
    def name(self) -> str:
        return self.field[:-3]

    @property
    def on_delete_sql(self) -> str | None:
        """The action as SQL; None for ``restrict``: the default action (NO ACTION), which refuses the
        delete as RESTRICT does for immediate constraints, on every database (DuckDB knows no other)."""
        return None if self.on_delete == "restrict" else ON_DELETE[self.on_delete]


@attrs.frozen
class ModelSpec:
    """A model: its name, table, fields in declaration order, indexes and options.

    :param name: the class name (``User``).
    :param table: the table name (``users``).
    :param fields: every column, ``id`` first and ``created_at`` / ``updated_at`` last.
    :param indexes: declared indexes.
    :param options: the rest of ``__dataflow__`` (``use_native_arrays`` …) for plugins to read.
    """

    name: str
    table: str
    fields: tuple[FieldSpec, ...]
    indexes: tuple[IndexSpec, ...] = ()
    options: Mapping[str, Any] = attrs.field(factory=dict)
    source: Any = attrs.field(default=None, eq=False, repr=False)
    relations: tuple[RelationSpec, ...] = ()
    """Declared foreign keys (``__dataflow__["foreign_keys"]``)."""

    @functools.cached_property
    def field_map(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    @property
    def id_field(self) -> FieldSpec:
        return self.field_map["id"]

    @property
    def id_is_generated(self) -> bool:
        """Integer ids are generated by the database; string ids are supplied by the caller."""
        return self.id_field.generated

    @functools.cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @functools.cached_property
    def writable_fields(self) -> tuple[FieldSpec, ...]:
        """Fields a caller may set (everything except the managed timestamps)."""
        return tuple(f for f in self.fields if not f.auto)

    def field(self, name: str, *, node: str | None = None) -> FieldSpec:
        """The named field, or DF-102 naming the closest valid one."""
        try:
            return self.field_map[name]
        except (KeyError, TypeError):
            raise DataFlowError(
                "DF-102",
                f"Model '{self.name}' has no field {name!r}.{did_you_mean(str(name), self.column_names)}",
                context={"model": self.name, "field": name, "node": node, "fields": ", ".join(self.column_names)},
                solutions=[f"Use one of the fields of {self.name}: {', '.join(self.column_names)}."],
            ) from None

    def checksum(self) -> str:
        """A stable digest of the columns and indexes (for schema caches and migration history)."""
        import hashlib

        # Native arrays, index methods and relations only add to the text, so the checksums of models using
        # none of them stay what they were before these existed (migration history compares them).
        fields = [(f.name, f.kind, f.nullable, f.element_kind, *(("native",) if f.native_array else ()))
                  for f in self.fields]
        indexes = "(" + "".join(f"IndexSpec(name={i.name!r}, fields={i.fields!r}, unique={i.unique!r}"
                                + (f", using={i.using!r}" if i.using else "") + "), " for i in self.indexes)
        indexes = indexes[:-2] + ",)" if len(self.indexes) == 1 else indexes.rstrip(", ") + ")"
        relations = f", {self.relations!r}" if self.relations else ""
        text = f"({self.table!r}, {fields!r}, {indexes}{relations})"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def table_name_for(class_name: str) -> str:
    """``User`` → ``users``, ``AgentMemory`` → ``agent_memories``, ``Person`` → ``people``."""
    import inflection

    snake = inflection.underscore(class_name)
    head, _, last = snake.rpartition("_")
    plural = inflection.pluralize(last)
    return f"{head}_{plural}" if head else plural


def _model_error(model: str, message: str, **context: Any) -> DataFlowError:
    return DataFlowError("DF-102", message, context={"model": model, **context})


def check_identifier(model: str, what: str, name: Any) -> str:
    """``name`` when every database can store it as a ``what`` ("field", "table", "index" name) of
    ``model``; DF-607 saying why otherwise (control characters, length, characters outside
    ``[A-Za-z0-9_]``)."""
    shown = short_repr(name, 70)
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise DataFlowError(
            "DF-607",
            f"The {what} name {shown} of {model} is not a valid identifier: use ASCII letters, digits and "
            f"underscores, not starting with a digit.",
            context={"model": model, what: name},
            solutions=[f"Rename the {what} (e.g. {_suggest(name)!r}); every database stores such names alike."],
        )
    if len(name) > MAX_IDENTIFIER_LENGTH:
        raise DataFlowError(
            "DF-607",
            f"The {what} name {shown} of {model} is {len(name)} characters long; the limit is "
            f"{MAX_IDENTIFIER_LENGTH} (PostgreSQL truncates longer names, MySQL refuses them).",
            context={"model": model, what: name, "limit": MAX_IDENTIFIER_LENGTH},
            solutions=[f"Use a {what} name of at most {MAX_IDENTIFIER_LENGTH} characters"
                       + (" (set __tablename__)." if what == "table" else ".")],
        )
    return name


def _suggest(name: Any) -> str:
    text = re.sub(r"[^A-Za-z0-9_]+", "_", str(name)).strip("_") or "name"
    return ("_" + text if text[0].isdigit() else text)[:MAX_IDENTIFIER_LENGTH]


def check_name_clashes(spec: ModelSpec, others: Iterable[ModelSpec] = ()) -> None:
    """DF-608 when two names differ only in letter case: SQLite and MySQL / MariaDB compare column
    names (and SQLite table names) ignoring case, so ``a`` and ``A`` would collide there at first use.

    Checks the fields of ``spec`` among themselves, its index names, and its table and index names
    against the ``others`` models of the same instance.
    """
    _first_clash(spec.name, "field", [f.name for f in spec.fields])
    _first_clash(spec.name, "index", [i.name for i in spec.indexes])
    for other in others:
        if other.table.lower() == spec.table.lower() and other.table != spec.table:
            raise _clash(spec.name, "table", spec.table, f"{other.table!r} of model {other.name}")
        mine = {i.name.lower(): i.name for i in spec.indexes}
        for index in other.indexes:
            if index.name.lower() in mine and other.table != spec.table:
                raise _clash(spec.name, "index", mine[index.name.lower()],
                             f"{index.name!r} of model {other.name} (index names are shared by a schema)")


def _first_clash(model: str, what: str, names: Iterable[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        earlier = seen.setdefault(name.lower(), name)
        if earlier != name:
            raise _clash(model, what, name, repr(earlier))


def _clash(model: str, what: str, name: str, other: str) -> DataFlowError:
    return DataFlowError(
        "DF-608",
        f"The {what} name {name!r} of {model} clashes with {other}: SQLite and MySQL / MariaDB do not "
        f"tell names apart by letter case.",
        context={"model": model, what: name, "clashes_with": other},
        solutions=[f"Rename one of the two {what}s so that they differ by more than letter case."],
    )


def _classify(model: str, name: str, annotation: Any) -> tuple[str, Any, bool, str | None]:
    """(kind, python type, nullable, element kind) for an annotation, or a DF error."""
    nullable = False
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1 or len(args) == len(typing.get_args(annotation)):
            raise _model_error(model, f"Field '{name}' of {model}: only Optional[X] unions are supported.")
        nullable = True
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if annotation in SCALAR_TYPES:
        return SCALAR_TYPES[annotation], annotation, nullable, None
    if origin in (list, typing.List):  # noqa: UP006 - both spellings reach here
        (element,) = typing.get_args(annotation) or (Any,)
        element_kind = ARRAY_ELEMENT_KINDS.get(element)
        return ("array" if element_kind else "json"), list, nullable, element_kind
    if origin in (dict, typing.Dict):  # noqa: UP006
        return "json", dict, nullable, None
    if annotation is Any:
        return "json", object, True, None
    raise DataFlowError(
        "DF-603",
        f"Field '{name}' of {model} has an unsupported type {annotation!r}.",
        context={"model": model, "field": name},
        solutions=["Use one of: str int float bool datetime date Decimal bytes dict list, or Optional[...]."],
    )


def model_spec_from_class(cls: type) -> ModelSpec:
    """Read an annotated class into a ModelSpec (the ``@db.model`` rules of API.md)."""
    if not isinstance(cls, type):
        raise DataFlowError("DF-603", f"@db.model expects a class, got {cls!r}.")
    name = cls.__name__
    if not name.isidentifier():
        raise DataFlowError("DF-607", f"The model name {short_repr(name, 70)} is not a Python identifier.",
                            context={"model": name},
                            solutions=["Name the model class like any Python class: letters, digits, '_'."])
    raw_options = getattr(cls, "__dataflow__", None) or {}
    if not isinstance(raw_options, Mapping):
        raise DataFlowError("DF-603", f"__dataflow__ of {name} must be a dict, got {type(raw_options).__name__}.",
                            context={"model": name})
    options = dict(raw_options)
    unknown = set(options) - _DATAFLOW_KEYS
    if unknown:
        key = sorted(unknown, key=str)[0]
        raise _model_error(
            name, f"Unknown __dataflow__ option {key!r} on {name}.{did_you_mean(key, _DATAFLOW_KEYS)}"
        )
    if "primary_key" in options and options["primary_key"] != "id":
        raise DataFlowError(
            "DF-601",
            f"Model {name} asks for primary key {options['primary_key']!r}; the primary key is always 'id'.",
            context={"model": name},
            solutions=[f"Rename the field to 'id' and drop __dataflow__['primary_key']: `id: str` in {name}."],
        )
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:
        raise DataFlowError("DF-603", f"The annotations of {name} cannot be resolved: {exc}") from exc
    hints = {k: v for k, v in hints.items() if not k.startswith("_") and typing.get_origin(v) is not typing.ClassVar}
    fields: list[FieldSpec] = []
    for field_name, annotation in hints.items():
        check_identifier(name, "field", field_name)
        kind, python_type, nullable, element_kind = _classify(name, field_name, annotation)
        default = getattr(cls, field_name, MISSING)
        if default is None:
            nullable = True
        if field_name in AUTO_FIELDS:
            continue  # always managed; a declaration only documents it
        if field_name == "id":
            if kind not in ("str", "int"):
                raise DataFlowError("DF-601", f"The id of {name} must be str or int, not {annotation!r}.")
            fields.insert(0, FieldSpec("id", kind, python_type, primary_key=True, generated=kind == "int"))
            continue
        fields.append(FieldSpec(field_name, kind, python_type, nullable, default, False, element_kind))
    if not fields or fields[0].name != "id":
        fields.insert(0, FieldSpec("id", "int", int, primary_key=True, generated=True))
    fields += [FieldSpec(n, "datetime", dt.datetime, nullable=True, auto=True) for n in AUTO_FIELDS]
    table = getattr(cls, "__tablename__", None) or options.get("table") or table_name_for(name)
    check_identifier(name, "table", table)
    indexes = tuple(_read_index(name, table, entry, {f.name for f in fields}) for entry in options.get("indexes", ()))
    relations = _read_relations(name, table, options.get("foreign_keys"), {f.name: f for f in fields})
    spec = ModelSpec(name, table, tuple(fields), indexes, options, source=cls, relations=relations)
    check_name_clashes(spec)
    return spec


def _read_relations(model: str, table: str, raw: Any, fields: Mapping[str, FieldSpec]) -> tuple[RelationSpec, ...]:
    """``{"author_id": "User"}`` or ``{"author_id": {"model": "User", "on_delete": "cascade"}}`` → RelationSpecs."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise _model_error(model, f"__dataflow__['foreign_keys'] of {model} must be a dict of field → model, "
                                  f"got {short_repr(raw)}.")
    relations = []
    for field_name, entry in raw.items():
        field = fields.get(field_name) if isinstance(field_name, str) else None
        if field is None:
            raise _model_error(model, f"The foreign key {short_repr(field_name)} of {model} is not one of its fields."
                                      f"{did_you_mean(str(field_name), fields)}")
        if field.primary_key or field.auto or field.kind not in ("int", "str"):
            raise _model_error(model, f"The foreign key field '{field_name}' of {model} must be an int or str field "
                                      "holding the other row's id.")
        if not field_name.endswith("_id") or len(field_name) == 3:
            raise _model_error(model, f"The foreign key field '{field_name}' of {model} must end in '_id' "
                                      "(the relation is named by the rest: author_id → author).")
        spec = {"model": entry} if isinstance(entry, str) else entry
        valid = isinstance(spec, Mapping) and not set(spec) - {"model", "on_delete"}
        if not valid or not isinstance(spec.get("model"), str):
            raise _model_error(model, f"The foreign key '{field_name}' of {model} must be a model name or "
                                      f"{{'model': ..., 'on_delete': ...}}, got {short_repr(entry)}.")
        on_delete = spec.get("on_delete", "restrict")
        if on_delete not in ON_DELETE:
            raise _model_error(model, f"on_delete of '{field_name}' in {model} must be one of "
                                      f"{', '.join(ON_DELETE)}, got {short_repr(on_delete)}.")
        if on_delete == "set_null" and not field.nullable:
            raise _model_error(model, f"on_delete='set_null' needs '{field_name}' of {model} to be optional "
                                      f"({field_name}: int | None = None).")
        check_identifier(model, "model", spec["model"])
        relations.append(RelationSpec(field_name, spec["model"], on_delete,
                                      constraint=_constraint_name(table, field_name)))
    return tuple(relations)


def _constraint_name(table: str, field: str) -> str:
    """``fk_<table>_<field>``, shortened with a digest like index names."""
    return "fk" + _index_name(table, (field,))[2:]


def resolve_relations(spec: ModelSpec, models: Mapping[str, ModelSpec]) -> ModelSpec:
    """``spec`` with each relation's target table filled in from ``models`` (the instance's, plus
    ``spec`` itself for a relation to its own table); DF-102 for a target not declared yet, or whose
    id has another type than the field."""
    if not spec.relations:
        return spec
    resolved = []
    for relation in spec.relations:
        target = spec if relation.target == spec.name else models.get(relation.target)
        if target is None:
            raise _model_error(spec.name, f"The foreign key '{relation.field}' of {spec.name} refers to model "
                                          f"{relation.target!r}, which is not declared on this instance (declare it "
                                          f"first).{did_you_mean(relation.target, models)}")
        field = spec.field_map[relation.field]
        if target.id_field.kind != field.kind:
            raise _model_error(spec.name, f"'{relation.field}' of {spec.name} is a {field.kind} field but the id of "
                                          f"{target.name} is {target.id_field.kind}.")
        resolved.append(attrs.evolve(relation, ref_table=target.table))
    return attrs.evolve(spec, relations=tuple(resolved))


def _index_name(table: str, fields: tuple[str, ...]) -> str:
    """``ix_<table>_<fields>``; one too long for every database keeps its head and a digest of the rest."""
    import hashlib

    name = f"ix_{table}_{'_'.join(fields)}"
    if len(name) <= MAX_IDENTIFIER_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: MAX_IDENTIFIER_LENGTH - 11]}_{digest}"


def _read_index(model: str, table: str, entry: Any, field_names: set[str]) -> IndexSpec:
    if not isinstance(entry, Mapping) or not entry.get("fields"):
        raise _model_error(model, f"Each index of {model} needs a 'fields' list: {entry!r}.")
    index_fields = tuple(entry["fields"])
    for f in index_fields:
        if f not in field_names:
            raise _model_error(model, f"Index of {model} names unknown field {f!r}.{did_you_mean(f, field_names)}")
    index_name = entry.get("name") or _index_name(table, index_fields)
    check_identifier(model, "index", index_name)
    using = entry.get("using")
    if using is not None:
        if not isinstance(using, str) or not _IDENTIFIER.match(using):
            raise _model_error(model, f"The 'using' of an index of {model} must be an index method name such as "
                                      f"'gin', got {short_repr(using)}.")
        using = using.lower()
    return IndexSpec(index_name, index_fields, bool(entry.get("unique", False)), using)
