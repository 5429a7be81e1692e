"""``StagingEnvironmentManager``: a sampled copy of the database to rehearse a migration on (component 5).

The staging copy is the dialect's scratch database (``SQLDialect.create_scratch``: a schema on
PostgreSQL, a database on MySQL / MariaDB, a file on SQLite), opened as a DataFlow instance of its own
whose default namespace is the copy, so the migration's SQL runs there unchanged. Tables are made from
their records by the dialect's DDL, parents first, and each child keeps only rows whose foreign keys
point at sampled parents, so the sample keeps referential integrity (keys are added once the rows are
in). The migration is then run there, timed and checked (foreign keys, row counts, schema changes),
and the copy is always removed by ``cleanup_staging_environment``.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from dataflow.types import SchemaChange

from dataflow_risk.catalog import Catalog, TableInfo, catalog_for
from dataflow_risk.schema_state_manager import SchemaStateManager, diff_snapshots
from dataflow_risk.validation_checkpoints import call_operation

if TYPE_CHECKING:
    from dataflow.facade import DataFlow

__all__ = ["ConnectionInfo", "StagingEnvironment", "StagingEnvironmentManager", "StagingTestResult"]

_BATCH = 500


@attrs.frozen
class ConnectionInfo:
    database_url: str
    schema: str | None = None


@attrs.define
class StagingEnvironment:
    environment_id: str
    environment_name: str
    connection_info: ConnectionInfo
    db: Any
    catalog: Catalog
    tables: list[str]
    sampled_rows: dict[str, int]
    source_rows: dict[str, int]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    resource_limits: Mapping[str, Any]
    path: str | None = None
    cleaned_up: bool = False


@attrs.frozen
class StagingTestResult:
    success: bool
    failure_reason: str | None
    performance_metrics: Mapping[str, Any]
    data_integrity_check: Mapping[str, Any]
    schema_changes: tuple[str, ...] = ()
    result: Any = None


def _topological(tables: Mapping[str, TableInfo]) -> list[str]:
    """Parents before children (self-references ignored; cycles broken by name order)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: frozenset[str]) -> None:
        if name in seen or name in path:
            return
        for fk in tables[name].foreign_keys:
            if fk.ref_table in tables and fk.ref_table != name:
                visit(fk.ref_table, path | {name})
        seen.add(name)
        order.append(name)

    for name in sorted(tables):
        visit(name, frozenset())
    return order


class StagingEnvironmentManager:
    """Creates, tests on and removes staging copies of the database.

    :param db: the DataFlow instance (the spec's ``connection_manager``).
    """

    def __init__(self, db: DataFlow, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or catalog_for(db)

    async def _tables(self, tables: Sequence[str] | str | None) -> dict[str, TableInfo]:
        """The tables to copy, closed over the parents their foreign keys reference."""
        names = await self.catalog.tables()
        wanted = [
            n for n in names if tables is None or (n.startswith(tables) if isinstance(tables, str) else n in tables)
        ]
        result: dict[str, TableInfo] = {}
        while wanted:
            name = wanted.pop()
            if name in result or name.startswith(("_df_", "dataflow_")):
                continue
            info = await self.catalog.table(name)
            if info is None:
                continue
            result[name] = info
            wanted += [fk.ref_table for fk in info.foreign_keys if fk.ref_table not in result]
        return result

    async def create_staging_environment(
        self,
        environment_name: str,
        data_sampling_strategy: Mapping[str, Any] | None = None,
        resource_limits: Mapping[str, Any] | None = None,
        *,
        tables: Sequence[str] | str | None = None,
    ) -> StagingEnvironment:
        """Copy the schema of ``tables`` (default: all; a str is a name prefix) with a data sample."""
        sampling = {
            "strategy": "representative",
            "sample_percentage": 10,
            "preserve_referential_integrity": True,
            "max_rows_per_table": 100_000,
            **dict(data_sampling_strategy or {}),
        }
        limits = dict(resource_limits or {})
        env_id = uuid.uuid4().hex[:8]
        slug = re.sub(r"[^a-z0-9_]+", "_", environment_name.lower())[:40].strip("_")
        name = f"staging_{slug}_{env_id}"
        infos = await self._tables(tables)
        order = _topological(infos)
        if not self.db.dialect.capabilities.scratch_databases:
            raise self.db.enhance(self.db.dialect._unsupported("scratch databases for staging copies"))
        url = await self.db.dialect.create_scratch(name)
        from dataflow import DataFlow

        try:
            db = DataFlow(url)
        except BaseException:
            await self.db.dialect.drop_scratch(name, url)
            raise
        catalog = catalog_for(db)
        created = dt.datetime.now(dt.UTC)
        hours = limits.get("max_duration_hours")
        env = StagingEnvironment(
            env_id,
            environment_name,
            ConnectionInfo(url, name),
            db,
            catalog,
            order,
            {},
            {},
            created,
            created + dt.timedelta(hours=float(hours)) if hours else None,
            limits,
            name,
        )
        try:
            for table in order:
                await catalog.execute(db.dialect.create_table_from(attrs.evolve(infos[table], foreign_keys=())),
                                      transaction=False)
            kept: dict[str, set[Any]] = {}
            for table in order:
                env.source_rows[table] = await self.catalog.row_count(table)
                env.sampled_rows[table] = await self._copy(infos[table], infos, catalog, sampling, kept)
            for table in order:
                keys = [fk for fk in infos[table].foreign_keys if fk.ref_table in infos]
                if keys:
                    bare = attrs.evolve(infos[table], foreign_keys=())
                    statements: list[str] = []
                    for fk in keys:
                        after = attrs.evolve(bare, foreign_keys=(*bare.foreign_keys, fk))
                        statements += db.dialect.schema_change_sql(SchemaChange("add_foreign_key", table, bare, after))
                        bare = after
                    await catalog.execute(statements)
        except BaseException:
            await self.cleanup_staging_environment(env)
            raise
        return env

    async def _copy(
        self,
        info: TableInfo,
        infos: Mapping[str, TableInfo],
        target: Catalog,
        sampling: Mapping[str, Any],
        kept: dict[str, set[Any]],
    ) -> int:
        """Copy a sample of ``info``'s rows whose parents were kept; return how many."""
        q = self.catalog.q
        columns = [c.name for c in info.columns]
        pk = next((c.name for c in info.columns if c.primary_key), columns[0])
        fks = [fk for fk in info.foreign_keys if fk.ref_table in infos and len(fk.columns) == 1]
        probe_cols = [pk, *(fk.columns[0] for fk in fks)]
        rows = await self.catalog.fetch(
            f"SELECT {', '.join(q(c) for c in probe_cols)} FROM {self.catalog.qualified(info.name)} ORDER BY {q(pk)}"
        )
        if sampling.get("preserve_referential_integrity", True):

            def parents_kept(row: Sequence[Any]) -> bool:
                return all(
                    row[i + 1] is None or (fk.ref_table == info.name) or row[i + 1] in kept.get(fk.ref_table, ())
                    for i, fk in enumerate(fks)
                )

            rows = [r for r in rows if parents_kept(r)]
        share = float(sampling.get("sample_percentage", 10)) / 100
        limit = (
            min(int(sampling.get("max_rows_per_table", 100_000)), max(1, math.ceil(len(rows) * share))) if rows else 0
        )
        if sampling.get("strategy") == "random":
            chosen = random.sample(rows, limit)
        else:  # representative / stratified: evenly spaced over the key order
            step = len(rows) / limit if limit else 1
            chosen = [rows[int(i * step)] for i in range(limit)]
        keys = {r[0] for r in chosen}
        for i, fk in enumerate(fks):  # self-references must point inside the sample too
            if fk.ref_table == info.name:
                keys = {r[0] for r in chosen if r[0] in keys and (r[i + 1] is None or r[i + 1] in keys)}
        kept[info.name] = keys
        ordered = sorted(keys, key=lambda k: (str(type(k)), k))
        cols = ", ".join(q(c) for c in columns)
        insert = target.dialect.copy_rows_sql(info, columns)
        for start in range(0, len(ordered), _BATCH):
            batch = ordered[start : start + _BATCH]
            data = await self.catalog.fetch(
                f"SELECT {cols} FROM {self.catalog.qualified(info.name)} WHERE {q(pk)} IN "
                f"({', '.join('?' for _ in batch)})",
                batch,
            )
            async with target.dialect.connection() as conn:
                await conn.executemany(insert, [list(r) for r in data])
        return len(ordered)

    async def test_migration_in_staging(
        self,
        staging_env: StagingEnvironment,
        migration_plan: Any,
        *,
        validation_checks: bool = True,
        performance_monitoring: bool = True,
    ) -> StagingTestResult:
        """Run ``migration_plan`` on the staging copy: a spec-style dict (operation / table / details),
        a list of SQL statements, a MigrationPlan, or an async callable taking the environment."""
        catalog = staging_env.catalog
        states = SchemaStateManager(staging_env.db, catalog)
        before = await states.create_schema_snapshot("staging before", scope=tuple(staging_env.tables))
        counts_before = {t: await catalog.row_count(t) for t in staging_env.tables}
        hours = staging_env.resource_limits.get("max_duration_hours")
        started = time.perf_counter()
        result: Any = None
        failure: str | None = None
        try:
            with anyio.fail_after(float(hours) * 3600 if hours else None):
                result = await self._run(staging_env, migration_plan)
            if getattr(result, "success", True) is False:
                failure = str(getattr(result, "error", None) or "the migration reported failure")
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        duration = time.perf_counter() - started
        after = await states.create_schema_snapshot("staging after", scope=tuple(staging_env.tables))
        integrity: dict[str, Any] = {"checked": validation_checks}
        if validation_checks:
            orphans = 0
            for name, info in after.tables.items():
                for fk in info.foreign_keys:
                    if fk.ref_table in after.tables:
                        orphans += await catalog.orphan_count(name, fk.columns, fk.ref_table, fk.ref_columns)
            counts_after = {t: await catalog.row_count(t) for t in after.tables}
            lost = {t: (n, counts_after.get(t, 0)) for t, n in counts_before.items() if counts_after.get(t, 0) < n}
            integrity.update(
                passed=orphans == 0 and not lost,
                orphan_rows=orphans,
                rows_lost=lost,
                row_counts_before=counts_before,
                row_counts_after=counts_after,
            )
            if failure is None and not integrity["passed"]:
                failure = f"data integrity check failed: {orphans} orphan rows, rows lost in {sorted(lost)}"
        metrics = (
            {
                "duration_ms": round(duration * 1000, 2),
                "rows_in_staging": sum(counts_before.values()),
                "estimated_production_ms": round(duration * 1000 * self._scale(staging_env), 2),
            }
            if performance_monitoring
            else {}
        )
        changes = tuple(c.description for c in diff_snapshots(before, after))
        return StagingTestResult(failure is None, failure, metrics, integrity, changes, result)

    @staticmethod
    def _scale(env: StagingEnvironment) -> float:
        sampled, source = sum(env.sampled_rows.values()), sum(env.source_rows.values())
        return source / sampled if sampled else 1.0

    async def _run(self, env: StagingEnvironment, plan: Any) -> Any:
        if callable(plan):
            return await call_operation(lambda: plan(env))
        if isinstance(plan, Mapping):
            from dataflow_risk.operations import run_operation

            return await run_operation(
                env.db, env.catalog, plan["operation"], plan["table"], dict(plan.get("details") or {})
            )
        statements = [s for step in plan.steps for s in step.sql] if hasattr(plan, "steps") else list(plan)
        return await self.run_in(env, statements)

    async def run_in(self, env: StagingEnvironment, statements: Sequence[str]) -> int:
        """Run unqualified SQL against the staging copy (its own instance: the copy is its default namespace)."""
        await env.catalog.execute(statements)
        return len(statements)

    async def cleanup_staging_environment(self, staging_env: StagingEnvironment) -> bool:
        """Remove the staging copy (idempotent)."""
        if staging_env.cleaned_up:
            return True
        await staging_env.db.close_async()
        info = staging_env.connection_info
        await self.db.dialect.drop_scratch(info.schema or "", info.database_url)
        staging_env.cleaned_up = True
        return True
