"""The model registry: the specs of the models whose tables DataFlow migrated, kept in the database.

Every migration that applies records, in the same database, the full spec of each model it served
(fields with their kinds, nullability, defaults and array elements; indexes; options) in the
``dataflow_model_registry`` table. Another process — a worker, a script, a notebook — that has no
model classes calls ``db.reconstruct_models_from_registry()`` and gets the same models, with their
eleven nodes, exactly as declared (types, defaults and ``Optional`` included, which introspection
alone cannot recover: a ``TEXT`` column may be a ``str`` or a JSON list on SQLite).

Values are bound parameters; rows are replaced by delete + insert in one transaction, which every
dialect supports alike.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from dataflow.models import MISSING, FieldSpec, IndexSpec, ModelSpec

from dataflow_migrate.discovery import PYTHON_TYPES, nodes_of

__all__ = ["REGISTRY_TABLE", "reconstruct_models_from_registry", "record_models", "spec_from_json", "spec_to_json"]

REGISTRY_TABLE = "dataflow_model_registry"

log = logging.getLogger("dataflow.migrate")

def _encode_value(value: Any) -> Any:
    """A default as JSON: tagged where JSON has no such type (a Decimal keeps its digits)."""
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {"$json": value}  # a dict default is data, never read as a tag
    return value


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$decimal": decimal.Decimal, "$datetime": dt.datetime.fromisoformat, "$date": dt.date.fromisoformat,
    "$bytes": base64.b64decode, "$json": lambda v: v,
}


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        (tag, raw), = value.items()
        decoder = _DECODERS.get(tag)
        if decoder is not None:
            return decoder(raw)
    return value


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def spec_to_json(spec: ModelSpec) -> str:
    """The spec as JSON. A default or option JSON cannot hold (a callable) is left out."""
    fields = []
    for f in spec.fields:
        entry: dict[str, Any] = {"name": f.name, "kind": f.kind, "nullable": f.nullable,
                                 "primary_key": f.primary_key, "element_kind": f.element_kind,
                                 "auto": f.auto, "generated": f.generated}
        if f.default is not MISSING and _jsonable(default := _encode_value(f.default)):
            entry["default"] = default
        fields.append(entry)
    return json.dumps({
        "name": spec.name,
        "table": spec.table,
        "fields": fields,
        "indexes": [{"name": i.name, "fields": list(i.fields), "unique": i.unique} for i in spec.indexes],
        "options": {k: v for k, v in spec.options.items() if _jsonable(v)},
    }, sort_keys=True)


def spec_from_json(text: str) -> ModelSpec:
    data = json.loads(text)
    fields = tuple(
        FieldSpec(f["name"], f["kind"], PYTHON_TYPES.get(f["kind"]), f["nullable"],
                  _decode_value(f["default"]) if "default" in f else MISSING, f["primary_key"],
                  f["element_kind"], f["auto"], f["generated"])
        for f in data["fields"]
    )
    indexes = tuple(IndexSpec(i["name"], tuple(i["fields"]), i["unique"]) for i in data["indexes"])
    return ModelSpec(data["name"], data["table"], fields, indexes, data["options"])


class _Registry:
    """Reads and writes the registry table of one DataFlow instance."""

    def __init__(self, db: Any) -> None:
        self.dialect = db.dialect
        self.q = db.dialect.quote
        self.p = db.dialect.placeholder

    def create_sql(self) -> str:
        q = self.q
        return (f"CREATE TABLE IF NOT EXISTS {q(REGISTRY_TABLE)} ({q('table_name')} VARCHAR(64) PRIMARY KEY, "
                f"{q('name')} VARCHAR(64) NOT NULL, {q('checksum')} VARCHAR(64) NOT NULL, "
                f"{q('spec')} TEXT NOT NULL, {q('recorded_at')} VARCHAR(40) NOT NULL){self.dialect.table_suffix()}")

    async def record(self, conn: Any, specs: Iterable[ModelSpec]) -> None:
        q, p = self.q, self.p
        await conn.execute(self.create_sql(), [])
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        for spec in specs:
            await conn.execute(f"DELETE FROM {q(REGISTRY_TABLE)} WHERE {q('table_name')} = {p(1)}", [spec.table])
            cols = ", ".join(q(c) for c in ("name", "table_name", "checksum", "spec", "recorded_at"))
            marks = ", ".join(p(i) for i in range(1, 6))
            await conn.execute(f"INSERT INTO {q(REGISTRY_TABLE)} ({cols}) VALUES ({marks})",
                               [spec.name, spec.table, spec.checksum(), spec_to_json(spec), stamp])

    async def load(self, conn: Any) -> list[tuple[str, str, str]]:
        """``(name, spec JSON, table)`` of every recorded table's model, by model name (none when nothing
        was ever recorded)."""
        if await self.dialect.table_columns(conn, REGISTRY_TABLE) is None:
            return []
        q = self.q
        rows = await conn.fetch(f"SELECT {q('name')}, {q('spec')}, {q('table_name')} FROM {q(REGISTRY_TABLE)} "
                                f"ORDER BY {q('name')}, {q('table_name')}", [])
        return [(row[0], row[1], row[2]) for row in rows]


async def record_models(db: Any, specs: Iterable[ModelSpec]) -> None:
    """Record ``specs``, one row per table (called under the migration lock, after a migration applied).

    Best effort: the migration has applied, and a registry that cannot be written (a read-only role on
    that table, say) must not report it as failed; the reason is logged.
    """
    specs = list(specs)
    if not specs:
        return
    try:
        async with db.dialect.transaction() as conn:
            await _Registry(db).record(conn, specs)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as exc:
        log.warning("The model registry was not updated for %s: %s", ", ".join(s.name for s in specs), exc)


async def reconstruct_models_from_registry(db: Any, models: Iterable[str] | None = None) -> dict[str, Any]:
    """Register the recorded models this instance does not have yet (all, or those named in ``models``).

    Returns ``{"success", "reconstructed_models", "generated_nodes", "models", "skipped"}`` —
    ``generated_nodes[name][operation]`` is a node name (``result["generated_nodes"]["User"]["create"]``),
    as ``register_schema_as_models`` returns it. Models already registered on this instance are
    reported with their nodes and left as they are.
    """
    if isinstance(models, str):
        models = [models]
    wanted = None if models is None else set(models)
    if wanted is not None and not all(isinstance(name, str) for name in wanted):
        raise db.error("DF-102", f"'models' takes model names (str); got {sorted(map(repr, wanted))}.",
                       solutions=["Pass a list of model names: models=['User', 'Order']."])
    result: dict[str, Any] = {"success": True, "reconstructed_models": [], "generated_nodes": {}, "models": {},
                              "skipped": {}}
    async with db.dialect.connection() as conn:
        recorded = await _Registry(db).load(conn)
        # Only the entries to be registered are checked: a table dropped outside DataFlow leaves one behind.
        gone = {table for name, _, table in recorded
                if (wanted is None or name in wanted) and name not in db.models
                and await db.dialect.table_columns(conn, table) is None}
    for name, text, table in recorded:
        if wanted is not None and name not in wanted:
            continue
        if table in gone:
            result["skipped"][name] = "its table no longer exists"
            continue
        if name not in db.models:
            try:
                spec = spec_from_json(text)
            except (ValueError, KeyError, TypeError) as exc:
                result["skipped"][name] = f"its registry entry cannot be read ({type(exc).__name__}: {exc})"
                continue
            db.register_model(spec)
            result["reconstructed_models"].append(name)
        elif any(n == name for n in result["models"]):
            result["skipped"][name] = "two recorded tables have a model of this name; the first was registered"
            continue
        result["models"][name] = db.models[name].table
        result["generated_nodes"][name] = nodes_of(db, name)
    for name in sorted((wanted or set()) - {entry[0] for entry in recorded}):
        result["skipped"][name] = ("no such model in the registry (a model is recorded when a migration creates or "
                                   "changes its table)")
    if result["skipped"] and not result["models"]:
        result["success"] = False
    return result

