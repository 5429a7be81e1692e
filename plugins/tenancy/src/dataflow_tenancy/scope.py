"""Row isolation: the scope every node and query of a tenant model passes through.

Two layers, both from the kernel's ``dataflow_model_scope`` hook:

- ``query``: every query on the table (whoever built it) reads and changes only the current
  tenant's rows. Filters gain ``tenant = current``; inserted and upserted rows get the tenant column
  (a caller-given value must be the current tenant); an update may not move a row to another tenant;
  upserts conflict on the tenant too. No current tenant is DF-714, another tenant's id DF-715.
- ``node_params``: the upsert nodes decide how to upsert from their parameters (a native upsert only
  when ``conflict_on`` is a unique key), and every unique key of a tenant model includes the tenant.
  So the tenant joins their ``where`` / rows and ``conflict_on`` before they decide: two tenants may
  hold the same natural key, and each upserts its own.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from dataflow.errors import DataFlowError, short_repr
from dataflow.models import FieldSpec, ModelSpec
from dataflow.nodes import Node
from dataflow.query import (
    And,
    ColumnBatch,
    Cond,
    Constant,
    Count,
    Delete,
    Expr,
    Insert,
    Not,
    Or,
    Select,
    Update,
    Upsert,
)
from dataflow.scopes import ModelScope

from dataflow_tenancy.context import TenantContext

__all__ = ["TenantScope", "other_tenant"]


def other_tenant(model: str, field: str, given: Any, tenant: str, what: str) -> DataFlowError:
    """DF-715: a caller named another tenant than the current one."""
    return DataFlowError(
        "DF-715",
        f"{what} of {model} names the tenant {short_repr(given, 40)}, but the current tenant is {tenant!r}: "
        f"a tenant only ever reads and writes its own rows.",
        context={"model": model, "field": field, "tenant": tenant},
        solutions=[f"Leave '{field}' out: DataFlow sets it to the current tenant.",
                   f'To act for another tenant, switch to it: `with db.tenant_context.switch({given!r}):`.'],
    )


class TenantScope(ModelScope):
    """The row-isolation scope of one tenant model.

    :param context: the instance's ``db.tenant_context``.
    :param model: the model (as amended: it has the tenant column).
    :param field: the tenant column's name.
    """

    def __init__(self, context: TenantContext, model: ModelSpec, field: str) -> None:
        self.context = context
        self.model_name = model.name
        self.field_name = field
        self.field: FieldSpec = model.field_map[field]
        self._cond: Any = None  # the last tenant condition made (reads by one tenant in a row reuse it)

    # ---- the nodes' parameters ------------------------------------------------------------------
    def node_params(self, node: Node, params: dict[str, Any]) -> dict[str, Any]:
        operation = node.operation
        if operation == "upsert":
            tenant = self.context.require(self.model_name, node.type_name)
            where = params.get("where")
            if isinstance(where, Mapping):
                params["where"] = self._stamped(where, tenant, "'where'")
            params["conflict_on"] = self._conflict_with_tenant(params.get("conflict_on"), None)
        elif operation == "bulk_upsert":
            tenant = self.context.require(self.model_name, node.type_name)
            data = params.get("data")
            if isinstance(data, list | tuple):
                params["data"] = [self._stamped(row, tenant, f"Row {index} of 'data'")
                                  if isinstance(row, Mapping) else row for index, row in enumerate(data)]
            params["conflict_on"] = self._conflict_with_tenant(params.get("conflict_on"), ["id"])
        return params

    def _stamped(self, values: Mapping[str, Any], tenant: str, what: str) -> dict[str, Any]:
        given = values.get(self.field_name, tenant)
        if given != tenant:
            raise other_tenant(self.model_name, self.field_name, given, tenant, what)
        return {**values, self.field_name: tenant}

    def _conflict_with_tenant(self, conflict_on: Any, default: list[str] | None) -> Any:
        """``conflict_on`` with the tenant column added (the node checks the rest of its value)."""
        if conflict_on is None:
            conflict_on = default
            if conflict_on is None:
                return None  # the upsert node takes its 'where' keys, which now hold the tenant
        if isinstance(conflict_on, str):
            conflict_on = [conflict_on]
        if isinstance(conflict_on, list | tuple) and self.field_name not in conflict_on:
            return [*conflict_on, self.field_name]
        return conflict_on

    # ---- every query -------------------------------------------------------------------------------
    def query(self, query: Any) -> Any:
        tenant = self.context.require(self.model_name)
        kind = type(query)
        if kind is Select or kind is Count or kind is Delete or (kind not in _WRITES and hasattr(query, "where")):
            # Reads of other shapes (an Aggregate …) are filtered alike: anything with a 'where'.
            return _with_where(query, self._where(query.where, tenant))
        if kind is Update:
            self._check_values(query.values, tenant, "An update")
            return _with_where(query, self._where(query.where, tenant))
        if kind is Insert:
            columns, rows = self._rows(query.columns, query.rows, tenant)
            return _replace(query, columns=columns, rows=rows)
        if kind is Upsert:
            columns, rows = self._rows(query.columns, query.rows, tenant)
            if query.update:
                self._check_values(query.update, tenant, "An upsert's update")
            update_columns = query.update_columns
            if update_columns is not None:
                update_columns = tuple(c for c in update_columns if c != self.field_name)
            return _replace(query, columns=columns, rows=rows, update_columns=update_columns,
                            conflict_on=tuple(self._conflict_with_tenant(query.conflict_on, None)))
        raise DataFlowError("DF-715", f"A {kind.__name__} query on the tenant model {self.model_name} cannot be "
                                      f"scoped to a tenant, so it is refused.",
                            context={"model": self.model_name, "query": kind.__name__})

    def _condition(self, tenant: str) -> Any:
        cond = self._cond
        if cond is None or cond.value != tenant:
            cond = self._cond = Cond(self.field, "eq", tenant)
        return cond

    def _where(self, where: Expr | None, tenant: str) -> Expr:
        cond = self._condition(tenant)
        if where is None:
            return cond
        if type(where) is Cond:  # a read by id, mostly: checked here without walking a tree
            if where is cond:
                return where  # scoped already (a held transaction's statement, handed on from another loop)
            if where.field.name == self.field_name:
                self._check_filter(where, tenant)
            return And((where, cond))  # by id first: the shape the dialects' fast paths know
        if type(where) is And and any(item is cond for item in where.items[:2]):
            return where  # scoped already, as above
        self._check_filter(where, tenant)
        return And((cond, where))

    def _check_filter(self, where: Expr, tenant: str) -> None:
        """DF-715 for a filter naming another tenant (it would find nothing: refused, so that the mistake shows)."""
        stack: list[Expr] = [where]
        while stack:
            item = stack.pop()
            if isinstance(item, And | Or):
                stack.extend(item.items)
            elif isinstance(item, Not):
                stack.append(item.item)
            elif item.field.name == self.field_name and (
                (item.op == "eq" and item.value != tenant)
                or (item.op == "in" and any(value != tenant for value in item.value))
            ):
                raise other_tenant(self.model_name, self.field_name, item.value, tenant, "A filter")

    def _check_values(self, values: Mapping[str, Any], tenant: str, what: str) -> None:
        if self.field_name in values and values[self.field_name] != tenant:
            raise other_tenant(self.model_name, self.field_name, values[self.field_name], tenant, what)

    def _rows(self, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]],
              tenant: str) -> tuple[tuple[str, ...], Sequence[tuple[Any, ...]]]:
        """The rows with the tenant column: added as a constant, or checked where the caller gave it."""
        field = self.field_name
        if field not in columns:
            if isinstance(rows, ColumnBatch):
                return (*columns, field), ColumnBatch([*rows.column_data, Constant(tenant)], rows.length)
            return (*columns, field), [(*row, tenant) for row in rows]
        at = columns.index(field)
        if isinstance(rows, ColumnBatch):
            column = rows.column_data[at]
            given = {column.value} if isinstance(column, Constant) else set(column)
        else:
            given = {row[at] for row in rows}
        for value in given:
            if value != tenant:
                raise other_tenant(self.model_name, field, value, tenant, "A row")
        return columns, rows



_WRITES = (Insert, Update, Upsert)
_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], Any]]] = {}


def _fields(kind: type) -> tuple[tuple[str, ...], Callable[[Any], Any]]:
    """The attribute names of a query class, and an ``attrgetter`` reading them all at once."""
    found = _FIELDS.get(kind)
    if found is None:
        names = tuple(a.name for a in attrs.fields(kind))
        found = _FIELDS[kind] = (names, operator.attrgetter(*names))
    return found


def _replace(query: Any, **changes: Any) -> Any:
    """``query`` with ``changes``, keeping every other attribute it has (projections, flags added later).

    ``attrs.evolve`` does the same, several times slower: this is on the path of every query.
    """
    names, values = _fields(type(query))
    current = list(values(query))
    for name, value in changes.items():
        current[names.index(name)] = value
    return type(query)(*current)


def _with_where(query: Any, where: Expr) -> Any:
    """``_replace(query, where=where)``, for the reads by id every request makes: no keyword dict."""
    kind = type(query)
    names, values = _fields(kind)
    current = list(values(query))
    current[names.index("where")] = where
    return kind(*current)
