"""The tenancy plugin's hooks: its options, ``db.tenant_context``, the tenant column and the scopes.

- ``dataflow_options``: ``tenant_field`` (the column's name, ``tenant_id``) and ``tenant_isolation``
  (``"row"``: a tenant column; ``"schema"``: a PostgreSQL schema per tenant). The kernel's own
  ``multi_tenant`` flag turns tenancy on for every model; ``__dataflow__ = {"multi_tenant": ...}``
  decides per model.
- ``dataflow_register_model``: a tenant model gets the tenant column (set by DataFlow, never
  required from callers), an index on ``(tenant, id)`` and the tenant in every unique index.
- ``dataflow_model_scope``: the scope every node and query of a tenant model passes through.
- ``dataflow_run_parameters``: ``runtime.execute(wf, tenant_id="acme")``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from dataflow.hookspecs import hookimpl
from dataflow.types import OptionInfo

if TYPE_CHECKING:
    from dataflow.models import ModelSpec

    from dataflow_tenancy.context import TenantContext

# Loading the plugin stays cheap (``dataflow --help`` loads every plugin): the modules doing the work,
# and the kernel modules they need, are imported when an instance first uses them.

STATE_KEY = "tenancy"
ISOLATIONS = ("row", "schema")


@attrs.define
class TenancyState:
    """What the plugin keeps on one instance (``db.state["tenancy"]``)."""

    context: TenantContext
    field: str
    isolation: str
    models: dict[str, str] = attrs.field(factory=dict)
    """Tenant model name → its tenant column."""
    schemas: Any = None
    """The ``SchemaIsolation`` of ``tenant_isolation="schema"``."""


@hookimpl
def dataflow_options() -> Iterable[OptionInfo]:
    return [
        OptionInfo("tenant_field", "The tenant column of tenant models (multi_tenant=True).", "tenant_id"),
        OptionInfo("tenant_isolation", '"row": a tenant column in shared tables; "schema": a PostgreSQL schema '
                                       "per tenant.", "row"),
    ]


@hookimpl
def dataflow_run_parameters() -> Iterable[OptionInfo]:
    return [OptionInfo("tenant_id", "The tenant every node of the run acts for (dataflow-tenancy).")]


@hookimpl
def dataflow_db_methods(db: Any) -> Mapping[str, Any]:
    # Methods are collected before dataflow_configure runs: the state (and its context) is made here.
    from dataflow_tenancy.context import TenantContext

    isolation = db.options["tenant_isolation"]
    context = TenantContext(db.name, schema_safe=isolation == "schema")
    db.state[STATE_KEY] = TenancyState(context, db.options["tenant_field"], isolation)
    return {"tenant_context": context}


@hookimpl
def dataflow_configure(db: Any) -> None:
    from dataflow.errors import DataFlowError
    from dataflow.models import check_identifier

    state = state_of(db)
    try:
        check_identifier("tenant_field", "field", state.field)
    except DataFlowError as exc:
        raise db.error("DF-401", f"tenant_field= must be a column name: {exc.message}",
                       option="tenant_field") from None
    if state.isolation not in ISOLATIONS:
        raise db.error("DF-401", f"tenant_isolation= takes 'row' or 'schema', got {state.isolation!r}.",
                       option="tenant_isolation")
    if state.isolation == "schema":
        from dataflow_tenancy.schemas import SchemaIsolation, check_schema_isolation

        check_schema_isolation(db)
        state.schemas = SchemaIsolation(db, state.context, state.models)
        db.plugins.register(state.schemas, name="tenancy-schemas")
        state.context.isolation = state.schemas


def state_of(db: Any) -> TenancyState:
    state: TenancyState = db.state[STATE_KEY]
    return state


def is_tenant_model(model: ModelSpec, db: Any) -> bool:
    """``__dataflow__["multi_tenant"]`` when the model says, else the instance's ``multi_tenant``."""
    return bool(model.options.get("multi_tenant", db.options["multi_tenant"]))


@hookimpl
def dataflow_register_model(model: ModelSpec, db: Any) -> ModelSpec | None:
    if not is_tenant_model(model, db):
        return None
    state = state_of(db)
    field = state.field
    if field in model.field_map:
        raise db.error("DF-401", f"Model {model.name} declares a field {field!r}, the tenant column DataFlow adds "
                                 f"to tenant models.", model=model.name, field=field,
                       solutions=["Remove the field (DataFlow sets it), or name the tenant column otherwise: "
                                  "DataFlow(url, multi_tenant=True, tenant_field='org_id')."])
    state.models[model.name] = field
    if state.isolation == "schema":
        return None  # the schema is the boundary: the table itself stays as declared
    from dataflow.models import FieldSpec, IndexSpec

    column = FieldSpec(field, "str", str, nullable=False, generated=True)
    managed = [f for f in model.fields if f.auto]
    fields = (*(f for f in model.fields if not f.auto), column, *managed)
    indexes = [IndexSpec(ix.name, ix.fields if field in ix.fields else (field, *ix.fields), True) if ix.unique
               else ix for ix in model.indexes]
    indexes.append(IndexSpec(_index_name(model.table, field), (field, "id"), True))
    return attrs.evolve(model, fields=fields, indexes=tuple(indexes))


def _index_name(table: str, field: str) -> str:
    """``ix_<table>_<field>_id``; one too long keeps its head and a digest of the rest."""
    from dataflow.models import MAX_IDENTIFIER_LENGTH

    name = f"ix_{table}_{field}_id"
    if len(name) <= MAX_IDENTIFIER_LENGTH:
        return name
    return f"{name[: MAX_IDENTIFIER_LENGTH - 11]}_{hashlib.sha256(name.encode()).hexdigest()[:10]}"


@hookimpl
def dataflow_model_scope(model: ModelSpec, db: Any) -> Any:
    state = state_of(db)
    field = state.models.get(model.name)
    if field is None:
        return None
    if state.isolation == "schema":
        from dataflow_tenancy.schemas import SchemaScope

        return SchemaScope(state.context, model, db)
    from dataflow_tenancy.scope import TenantScope

    return TenantScope(state.context, model, field)
