"""The ``dataflow_migrations`` history table: one row per applied (or failed) plan.

Each row keeps the steps with their SQL, the plan checksum, the checksums of the models it served
(``ModelSpec.checksum()``), status, timings and — for MySQL, where DDL cannot be rolled back — the
checkpoint: how many steps completed, so a failed plan can be resumed or reversed.
Values are bound parameters; the table is created under the migration lock.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from dataflow.types import MigrationPlan, MigrationStep

__all__ = ["HISTORY_TABLE", "History", "holder", "step_from_dict", "step_to_dict"]

HISTORY_TABLE = "dataflow_migrations"
_COLUMNS = ("id", "plan_checksum", "dialect", "kind", "status", "steps", "models", "step_count", "checkpoint",
            "started_at", "finished_at", "duration_ms", "error", "holder")


def holder() -> str:
    """Who is migrating: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def step_to_dict(step: MigrationStep) -> dict[str, Any]:
    return {"kind": step.kind, "table": step.table, "column": step.column, "sql": list(step.sql),
            "details": dict(step.details), "model": step.model}


def step_from_dict(data: Mapping[str, Any]) -> MigrationStep:
    return MigrationStep(data["kind"], data["table"], data.get("column"), tuple(data.get("sql", ())),
                         dict(data.get("details") or {}), data.get("model"))


class History:
    """Reads and writes the history table of one DataFlow instance."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.dialect = db.dialect
        self.q = db.dialect.quote

    def _marks(self, count: int) -> str:
        return ", ".join(self.dialect.placeholder(i + 1) for i in range(count))

    def create_sql(self) -> str:
        text, key, real = "TEXT", "VARCHAR(64)", "DOUBLE PRECISION"
        cols = [
            f"{self.q('id')} {key} PRIMARY KEY", f"{self.q('plan_checksum')} {key} NOT NULL",
            f"{self.q('dialect')} VARCHAR(32) NOT NULL", f"{self.q('kind')} VARCHAR(16) NOT NULL",
            f"{self.q('status')} VARCHAR(16) NOT NULL", f"{self.q('steps')} {text} NOT NULL",
            f"{self.q('models')} {text} NOT NULL", f"{self.q('step_count')} INTEGER NOT NULL",
            f"{self.q('checkpoint')} INTEGER NOT NULL", f"{self.q('started_at')} VARCHAR(40) NOT NULL",
            f"{self.q('finished_at')} VARCHAR(40)", f"{self.q('duration_ms')} {real}",
            f"{self.q('error')} {text}", f"{self.q('holder')} VARCHAR(255)",
        ]
        return f"CREATE TABLE IF NOT EXISTS {self.q(HISTORY_TABLE)} ({', '.join(cols)}){self.dialect.table_suffix()}"

    async def ensure(self, conn: Any) -> None:
        await conn.execute(self.create_sql(), [])

    async def start(self, conn: Any, plan: MigrationPlan, models: Mapping[str, str], kind: str,
                    status: str = "in_progress") -> str:
        """Insert the row of a plan about to run; returns its id."""
        row_id = uuid.uuid4().hex
        steps = json.dumps([step_to_dict(s) for s in plan.steps], default=str)
        values = [row_id, plan.checksum(), plan.dialect, kind, status, steps, json.dumps(dict(models)),
                  len(plan.steps), 0, now(), None, None, None, holder()]
        cols = ", ".join(self.q(c) for c in _COLUMNS)
        await conn.execute(f"INSERT INTO {self.q(HISTORY_TABLE)} ({cols}) VALUES ({self._marks(len(values))})", values)
        return row_id

    async def update(self, conn: Any, row_id: str, **values: Any) -> None:
        names = list(values)
        sets = ", ".join(f"{self.q(n)} = {self.dialect.placeholder(i + 1)}" for i, n in enumerate(names))
        params = [values[n] for n in names] + [row_id]
        await conn.execute(
            f"UPDATE {self.q(HISTORY_TABLE)} SET {sets} WHERE {self.q('id')} = {self.dialect.placeholder(len(params))}",
            params,
        )

    async def rows(self, conn: Any, *, status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """History rows, newest first (an instance that never migrated has none)."""
        if not await self.exists(conn):
            return []
        cols = ", ".join(self.q(c) for c in _COLUMNS)
        sql = f"SELECT {cols} FROM {self.q(HISTORY_TABLE)}"
        params: list[Any] = []
        if status is not None:
            sql += f" WHERE {self.q('status')} = {self.dialect.placeholder(1)}"
            params.append(status)
        sql += f" ORDER BY {self.q('started_at')} DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        records = []
        for row in await conn.fetch(sql, params):
            record = dict(zip(_COLUMNS, row, strict=True))
            record["steps"] = json.loads(record["steps"])
            record["models"] = json.loads(record["models"])
            records.append(record)
        return records

    async def exists(self, conn: Any) -> bool:
        return await self.dialect.table_columns(conn, HISTORY_TABLE) is not None

    @staticmethod
    def steps_of(record: Mapping[str, Any]) -> Sequence[MigrationStep]:
        return [step_from_dict(s) for s in record["steps"]]
