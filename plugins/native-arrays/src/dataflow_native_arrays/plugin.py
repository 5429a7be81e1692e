"""The native-arrays plugin's hooks.

- ``dataflow_options``: ``use_native_arrays`` for every model of an instance (a model's own
  ``__dataflow__["use_native_arrays"]`` wins);
- ``dataflow_configure`` / ``dataflow_register_model``: the option refused (DF-609) on a database
  without array types; ``List[str|int|float]`` fields marked ``native_array``; a GIN index only on list
  and JSON fields (DF-610);
- ``dataflow_column_type``: ``TEXT[]`` / ``INTEGER[]`` / ``REAL[]`` for those fields (nullable when
  ``Optional``); the dialect sends and reads their values as Python lists;
- ``dataflow_filter_operators``: ``$contains`` / ``$overlap`` / ``$any`` (``operators.py``);
- ``dataflow_assess_migration``: moving an existing JSONB list column to an array is an ``alter_type``
  step the PostgreSQL dialect writes and the migrate plugin plans (never applied by auto-migration);
  this counts the stored values that would not convert (``migration.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.hookspecs import hookimpl
from dataflow.types import OptionInfo

if TYPE_CHECKING:
    from dataflow.dialect import OperatorCompiler, SQLDialect
    from dataflow.errors import DataFlowError
    from dataflow.models import FieldSpec, ModelSpec
    from dataflow.types import MigrationPlan, RiskFinding

# The operators and the migration check load with the hooks that use them: loading the plugin (every
# ``dataflow`` command does, ``--help`` included) does not import the SQL dialect machinery.

__all__ = ["ARRAY_TYPES", "native_fields"]

ARRAY_TYPES = {"str": "TEXT[]", "int": "INTEGER[]", "float": "REAL[]"}
"""The column type of a native ``List[X]`` field, by element kind (the spec's table)."""
_GIN_KINDS = frozenset({"array", "json"})


@hookimpl
def dataflow_options() -> Iterable[OptionInfo]:
    return [OptionInfo("use_native_arrays", "Store List[str] / List[int] / List[float] fields of every model as "
                                            "PostgreSQL arrays (TEXT[], INTEGER[], REAL[]); a model's "
                                            "__dataflow__ may say otherwise.", False)]


def _refused(db: Any, where: str, model: str | None = None) -> DataFlowError:
    return db.error(
        "DF-609",
        f"use_native_arrays is set {where}, but {db.dialect.name} has no native array columns "
        "(PostgreSQL has: TEXT[], INTEGER[], REAL[]).",
        model=model, dialect=db.dialect.name,
        solutions=["Remove use_native_arrays: list fields are then stored as JSON, and $contains / $overlap / "
                   "$any still filter them on every database.",
                   "Or use PostgreSQL for this model."],
    )


def _flag(db: Any, value: Any, where: str, model: str | None = None) -> bool:
    if not isinstance(value, bool):
        raise db.error("DF-603" if model else "DF-401",
                       f"use_native_arrays {where} takes True or False, got {value!r}.",
                       model=model, option="use_native_arrays")
    return value


@hookimpl
def dataflow_configure(db: Any) -> None:
    if _flag(db, db.options["use_native_arrays"], "for the instance") and not db.dialect.capabilities.native_arrays:
        raise _refused(db, "for the instance")


@hookimpl
def dataflow_register_model(model: ModelSpec, db: Any) -> ModelSpec | None:
    _check_gin(model, db)
    where = f"in __dataflow__ of {model.name}"
    if "use_native_arrays" in model.options:
        wanted = _flag(db, model.options["use_native_arrays"], where, model.name)
    else:
        wanted = bool(db.options["use_native_arrays"])
    if not wanted:
        return None
    if not db.dialect.capabilities.native_arrays:
        raise _refused(db, where, model.name)
    fields = tuple(attrs.evolve(f, native_array=True) if f.kind == "array" else f for f in model.fields)
    return attrs.evolve(model, fields=fields)


def _check_gin(model: ModelSpec, db: Any) -> None:
    """A GIN index serves list and JSON columns; on a text or number column the database refuses it at
    first use, so it is refused here, at registration."""
    for index in model.indexes:
        if index.using != "gin":
            continue
        for name in index.fields:
            field = model.field_map[name]
            if field.kind not in _GIN_KINDS:
                raise db.error(
                    "DF-610",
                    f"Index {index.name!r} of {model.name} is a GIN index on '{name}', a {field.kind} field: "
                    "GIN indexes list and JSON fields.",
                    model=model.name, index=index.name, using="gin",
                    solutions=["Drop \"using\": \"gin\" for this field (a default index serves $eq, ranges "
                               "and sorting)."],
                )


def native_fields(model: ModelSpec) -> list[FieldSpec]:
    """The fields of ``model`` stored as native arrays."""
    return [f for f in model.fields if f.native_array]


@hookimpl
def dataflow_column_type(field: FieldSpec, dialect: SQLDialect) -> str | None:
    if field.native_array and field.kind == "array" and dialect.capabilities.native_arrays:
        return ARRAY_TYPES[field.element_kind or "str"]
    return None


@hookimpl
def dataflow_filter_operators(dialect: SQLDialect) -> Mapping[str, OperatorCompiler]:
    from dataflow_native_arrays.operators import compilers_for

    return compilers_for(dialect)


@hookimpl
def dataflow_assess_migration(plan: MigrationPlan, db: Any) -> Awaitable[Iterable[RiskFinding]] | None:
    if db.dialect.capabilities.native_arrays:
        from dataflow_native_arrays.migration import assess_array_conversions

        return assess_array_conversions(plan, db)
    return None
