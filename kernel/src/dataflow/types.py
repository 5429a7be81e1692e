"""The records plugins exchange: frozen ``attrs`` values, typed, with no behaviour beyond small helpers.

Three families live here so that hooks can be typed with them and every plugin speaks the same words:

- **What plugins offer**: ``OptionInfo`` (an option of ``DataFlow(...)``), ``RuntimeInfo``,
  ``DialectInfo`` (a dialect and its factory), ``DialectOptions`` (what a dialect is built with) and
  ``PoolInfo`` (one of a dialect's connection pools, as ``SQLDialect.list_pools()`` lists them).
- **The database contract**: what a dialect reads from its catalogue (``TableSchema`` with its
  ``ColumnSchema`` / ``IndexSchema`` / ``ForeignKeySchema`` / ``CheckSchema`` / ``TriggerSchema``, plus
  ``ViewSchema``, ``RowEstimate`` and ``ServerInfo``), what it declares it can do
  (``DialectCapabilities``), how it says what a schema change costs on it (``ChangeCost``), and the
  one schema change it is asked to write DDL for (``SchemaChange``).
- **Migrations**: ``MigrationStep``, ``MigrationPlan``, ``RiskFinding`` and ``RiskLevel``.

Types are kept as the server spells them (``ColumnSchema.type``) plus a coarse ``family`` that compares
across spellings (``int4`` / ``integer`` / ``INT(11)`` are all ``int``), which is also the model field
kind a column maps back to.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    from dataflow.dialect import SQLDialect
    from dataflow.facade import DataFlow
    from dataflow.models import ModelSpec
    from dataflow.url import DatabaseURL

__all__ = [
    "ADDITIVE_KINDS",
    "STEP_KINDS",
    "ChangeCost",
    "ChangeEffect",
    "CheckSchema",
    "ColumnSchema",
    "DialectCapabilities",
    "DialectInfo",
    "DialectOptions",
    "ForeignKeySchema",
    "IndexSchema",
    "MigrationPlan",
    "MigrationStep",
    "OptionInfo",
    "PoolInfo",
    "RiskFinding",
    "RiskLevel",
    "RowEstimate",
    "RuntimeInfo",
    "SchemaChange",
    "SchemaManager",
    "ServerInfo",
    "TableSchema",
    "TriggerSchema",
    "ViewSchema",
    "normalise_type",
    "type_family",
]


# -------------------------------------------------------------------------------------------------
# What plugins offer
# -------------------------------------------------------------------------------------------------


@attrs.frozen
class OptionInfo:
    """A ``DataFlow(...)`` option a plugin understands."""

    name: str
    help: str = ""
    default: Any = None


@attrs.frozen
class RuntimeInfo:
    """A runtime a plugin offers: ``factory(**kwargs)`` builds it."""

    name: str
    factory: Callable[..., Any]


@attrs.frozen
class DialectOptions:
    """Connection settings a DataFlow instance passes to its dialect."""

    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout: float = 30.0
    connect_timeout: float = 10.0
    echo: bool | str = False
    """Log statements to stderr (True), with their bound values too (``"values"``); see ``dataflow.sqllog``."""
    statement_timeout: float = 300.0
    """Seconds one statement may run before the database stops it (DF-512); 0 means no limit."""
    schema_changes: bool = True
    """False when the instance must not change the schema (``existing_schema_mode``, ``auto_migrate=False``)."""
    slow_query_ms: float | None = None
    """Statements taking at least this many milliseconds are logged at WARNING."""
    busy_timeout: float = 5.0
    """Seconds a write waits for another writer's lock before DF-508 (databases with one writer at a time)."""


@attrs.frozen
class PoolInfo:
    """One connection pool a dialect holds: the event loop it belongs to and what it holds now.

    :param key: names the pool among every pool of the process (dialect, database, loop).
    :param loop_id: ``id()`` of the event loop the pool belongs to.
    :param loop_closed: the loop is closed: the pool is stale and can only be released.
    :param connections: open connections (idle and in use).
    :param in_use: connections lent out right now.
    :param created_at: when the pool was made (``time.time()``).
    """

    key: str
    loop_id: int
    loop_closed: bool
    connections: int
    in_use: int
    created_at: float


@attrs.frozen
class DialectInfo:
    """What a dialect plugin offers.

    :param name: the dialect name (``"postgresql"``).
    :param schemes: URL schemes it accepts (``("postgresql", "postgres")``).
    :param factory: ``factory(url, options) -> SQLDialect``.
    :param package: the distribution to install (``"dataflow-postgresql"``).
    :param available: False when its driver is missing.
    :param reason: why it is unavailable.
    """

    name: str
    schemes: tuple[str, ...]
    factory: Callable[[DatabaseURL, DialectOptions], SQLDialect]
    package: str = ""
    available: bool = True
    reason: str = ""

    @classmethod
    def needing(cls, driver: str, name: str, schemes: tuple[str, ...],
                factory: Callable[[DatabaseURL, DialectOptions], SQLDialect], package: str) -> DialectInfo:
        """A dialect that needs the ``driver`` module: unavailable, with the reason, when it is missing.

        Checked with ``find_spec``, never by importing: every DataFlow() asks every dialect plugin,
        and importing a driver can cost 100 ms.
        """
        import importlib.util

        if importlib.util.find_spec(driver) is None:
            return cls(name, schemes, factory, package, False, f"its driver {driver!r} is not installed")
        return cls(name, schemes, factory, package)


class SchemaManager(Protocol):
    """What ``dataflow_schema_manager`` returns: makes the tables of models ready on their first use."""

    async def ensure(self, db: DataFlow, models: Iterable[ModelSpec]) -> None:
        """Create / extend the tables of ``models`` (per the instance's options), or raise DF-304 / DF-305."""


# -------------------------------------------------------------------------------------------------
# The database contract: what a dialect reads from its catalogue
# -------------------------------------------------------------------------------------------------


@attrs.frozen
class ColumnSchema:
    """One column.

    :param name: the column name.
    :param type: the declared type as the server reports it (``bigint``, ``varchar(255)``, ``TEXT``).
    :param nullable: NULL allowed.
    :param default: the default as SQL text in the server's syntax (``'active'``, ``0``), or None.
    :param primary_key: part of the primary key.
    :param autoincrement: filled by the database (serial, identity, AUTO_INCREMENT, INTEGER PRIMARY KEY).
    :param identity: ``"always"`` or ``"by default"`` for an SQL-standard identity column, else "".
    :param element_type: for native arrays, the element type (``text`` for ``text[]``).
    :param kind: for a column a model wants, the field kind it serves (a ``bool`` stored as
        ``INTEGER`` on SQLite); None for live columns. Not part of equality.
    """

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    autoincrement: bool = False
    identity: str = ""
    element_type: str | None = None
    kind: str | None = attrs.field(default=None, eq=False)

    @property
    def family(self) -> str:
        """The field kind the column holds: ``str int float bool datetime date decimal bytes json array``."""
        return "array" if self.element_type else type_family(self.type)

    def to_dict(self) -> dict[str, Any]:
        """The shape ``db.discover_schema()`` returns for a column."""
        return {
            "type": self.type,
            "family": self.family,
            "nullable": self.nullable,
            "default": self.default,
            "primary_key": self.primary_key,
            "autoincrement": self.autoincrement,
        }


@attrs.frozen
class IndexSchema:
    """An index other than the primary key's.

    :param constraint: it backs a UNIQUE constraint (dropped and recreated as the constraint).
    :param definition: the server's own ``CREATE INDEX`` text where it keeps one (exact re-creation).
    :param method: the index method when it is not the database's default (``gin``), lower case.
    """

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    constraint: bool = False
    definition: str | None = None
    method: str | None = None


@attrs.frozen
class ForeignKeySchema:
    """A foreign key from ``table(columns)`` to ``ref_table(ref_columns)``.

    ``on_delete`` / ``on_update`` are None for the default (NO ACTION / RESTRICT), else the action as
    SQL spells it (``CASCADE``, ``SET NULL``, ``SET DEFAULT``). ``validated`` is False for a key added
    ``NOT VALID`` and not yet validated.
    """

    name: str | None
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str | None = None
    on_update: str | None = None
    table: str = ""
    validated: bool = True


@attrs.frozen
class CheckSchema:
    """A CHECK constraint: ``expression`` is the boolean SQL expression, without ``CHECK``."""

    name: str
    expression: str
    validated: bool = True


@attrs.frozen
class TriggerSchema:
    """A trigger; ``definition`` is the statement that creates it again."""

    name: str
    table: str
    definition: str


@attrs.frozen
class ViewSchema:
    """A view: ``query`` is its ``SELECT``; ``depends_on`` the tables it reads when the catalogue says
    (None: unknown, callers search ``query`` for names)."""

    name: str
    query: str
    depends_on: tuple[str, ...] | None = None


@attrs.frozen
class TableSchema:
    """A table: columns in their physical order, primary key, indexes, keys, checks and triggers.

    :param ddl: the ``CREATE TABLE`` text where the database keeps one (SQLite, MySQL), else None.
    :param oid: a server identity for the relation where one exists (PostgreSQL oid), for "unchanged" checks.
    """

    name: str
    columns: tuple[ColumnSchema, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[IndexSchema, ...] = ()
    foreign_keys: tuple[ForeignKeySchema, ...] = ()
    checks: tuple[CheckSchema, ...] = ()
    triggers: tuple[TriggerSchema, ...] = ()
    ddl: str | None = attrs.field(default=None, eq=False)
    oid: Any = attrs.field(default=None, eq=False)

    @property
    def column_map(self) -> Mapping[str, ColumnSchema]:
        return {c.name: c for c in self.columns}

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)

    def index(self, name: str) -> IndexSchema | None:
        return next((i for i in self.indexes if i.name == name), None)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {c.name: c.to_dict() for c in self.columns}


@attrs.frozen
class RowEstimate:
    """How many rows a table holds: ``exact`` when counted, else the catalogue's statistics.

    ``capped`` means counting stopped at the cap: the table holds at least ``rows``.
    """

    rows: int
    exact: bool = True
    capped: bool = False


@attrs.frozen
class ServerInfo:
    """The database product and its version (``version >= (11,)`` compares as a tuple)."""

    product: str
    version: tuple[int, ...] = ()
    text: str = ""

    def at_least(self, *numbers: int) -> bool:
        """True when the version is known and at least ``numbers``; an unknown version counts as recent."""
        return not self.version or self.version >= numbers

    @classmethod
    def parse(cls, product: str, text: str) -> ServerInfo:
        found = re.match(r"\s*(\d+(?:\.\d+)*)", text or "")
        numbers = tuple(int(n) for n in found.group(1).split(".")) if found else ()
        return cls(product, numbers, text or "")


@attrs.frozen
class DialectCapabilities:
    """What a dialect's database can do; behaviour and conformance tests are gated on these, never on names.

    :param transactional_ddl: DDL commits with the transaction (a failed migration rolls back whole);
        without it every DDL statement commits on its own and migrations checkpoint step by step.
    :param alter_column: ``ALTER TABLE … ALTER / MODIFY COLUMN`` changes a column in place (else the
        dialect's DDL rebuilds the table).
    :param foreign_keys: foreign keys are enforced and introspected.
    :param check_constraints: CHECK constraints are kept and introspected.
    :param views: views exist and are introspected.
    :param triggers: triggers exist and are introspected.
    :param routines: stored procedures / functions exist (their source is searched for table names).
    :param scratch_databases: the dialect can make and drop an isolated scratch database (a schema,
        a database or a file) for staging copies.
    :param concurrent_index: ``CREATE INDEX CONCURRENTLY`` exists (building an index without it blocks writes).
    :param not_valid_constraints: constraints can be added ``NOT VALID`` and validated later.
    :param views_follow_renames: views keep working when a table they read is renamed.
    :param native_arrays: array column types exist (``TEXT[]``).
    """

    transactional_ddl: bool = False
    alter_column: bool = True
    foreign_keys: bool = True
    check_constraints: bool = True
    views: bool = True
    triggers: bool = True
    routines: bool = False
    scratch_databases: bool = False
    concurrent_index: bool = False
    not_valid_constraints: bool = False
    views_follow_renames: bool = True
    native_arrays: bool = False


class ChangeEffect(enum.Enum):
    """What running a schema change does to the table, from cheapest to dearest."""

    INSTANT = "instant"
    """Catalogue only: no row is read or written."""
    SCAN = "scan"
    """Every row is read (to validate) while a lock is held."""
    REWRITE = "rewrite"
    """The table (and its indexes) is rewritten or copied."""
    REFUSED = "refused"
    """The database refuses the statement outright (it cannot run as written)."""


@attrs.frozen
class ChangeCost:
    """What a dialect says one schema change costs on its database (the risk rules judge it).

    :param effect: instant, scan, rewrite, or refused.
    :param blocks_writes: writers wait while it runs.
    :param blocks_reads: readers wait too.
    :param reason: why, in the database's own terms ("SET NOT NULL scans the table under an ACCESS
        EXCLUSIVE lock").
    :param mitigation: how to do it more safely on this database, or "".
    :param fills_existing: for a NOT NULL column added without a default: existing rows silently get
        the type's implicit value instead of the statement failing.
    :param fails_with_rows: the statement fails when the table holds rows (NOT NULL without a default).
    :param narrows: a type change to one that may not hold every existing value (truncation or failure).
    """

    effect: ChangeEffect = ChangeEffect.INSTANT
    blocks_writes: bool = False
    blocks_reads: bool = False
    reason: str = ""
    mitigation: str = ""
    fills_existing: bool = False
    fails_with_rows: bool = False
    narrows: bool = False


@attrs.frozen
class SchemaChange:
    """One schema change for a dialect to write DDL for (``SQLDialect.schema_change_sql``).

    :param kind: a step kind (``STEP_KINDS``).
    :param table: the table's name before the change.
    :param before: the table before the change (None for ``create_table``).
    :param after: the table after it (None for ``drop_table``).
    :param column: the column the change is about, for column kinds (its name before the change).
    :param details: kind-specific facts: ``to`` (new name), ``name`` (index / key / check name),
        ``using`` (an expression converting values for ``alter_type``) …
    """

    kind: str
    table: str
    before: TableSchema | None = None
    after: TableSchema | None = None
    column: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)


# Aliases a server reports for one type, folded into one spelling before comparing.
_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "serial": "integer",
    "bigserial": "bigint",
    "float8": "double precision",
    "double": "double precision",
    "float4": "real",
    "bool": "boolean",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "varchar": "character varying",
    "char": "character",
    "decimal": "numeric",
}
_INT_WIDTH = re.compile(r"^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)")


def normalise_type(type_name: str) -> str:
    """A comparable spelling: lower case, one space, integer display widths dropped, aliases folded."""
    text = " ".join(type_name.strip().lower().split())
    if text == "tinyint(1)":
        return "boolean"
    text = _INT_WIDTH.sub(r"\1", text)
    text = text.replace(" unsigned", "")
    base, paren, rest = text.partition("(")
    base = _ALIASES.get(base.strip(), base.strip())
    return f"{base}({rest}" if paren else base


_FAMILIES: tuple[tuple[str, str], ...] = (
    # (prefix of the normalised type, family): first match wins, so longer prefixes come first.
    ("boolean", "bool"),
    ("bigint", "int"),
    ("smallint", "int"),
    ("mediumint", "int"),
    ("tinyint", "int"),
    ("integer", "int"),
    ("double precision", "float"),
    ("real", "float"),
    ("float", "float"),
    ("numeric", "decimal"),
    ("timestamp", "datetime"),
    ("datetime", "datetime"),
    ("date", "date"),
    ("jsonb", "json"),
    ("json", "json"),
    ("bytea", "bytes"),
    ("blob", "bytes"),
    ("longblob", "bytes"),
    ("mediumblob", "bytes"),
    ("varbinary", "bytes"),
    ("binary", "bytes"),
    ("uuid", "str"),
    ("character", "str"),
    ("text", "str"),
    ("longtext", "str"),
    ("mediumtext", "str"),
    ("tinytext", "str"),
    ("clob", "str"),
    ("enum", "str"),
)


def type_family(type_name: str) -> str:
    """The model field kind a column type holds: ``str int float bool datetime date decimal bytes json``.

    SQLite's affinity rules are the fallback for names nobody lists (``VARCHAR2`` → str, ``BIGINTEGER``
    → int), and anything unknown is ``str``.
    """
    text = normalise_type(type_name)
    if text.endswith("[]"):
        return "array"
    for prefix, family in _FAMILIES:
        if text.startswith(prefix):
            return family
    upper = text.upper()
    if "INT" in upper:
        return "int"
    if "CHAR" in upper or "CLOB" in upper or "TEXT" in upper:
        return "str"
    if "REAL" in upper or "FLOA" in upper or "DOUB" in upper:
        return "float"
    if not upper or "BLOB" in upper:
        return "bytes"
    return "str"


# -------------------------------------------------------------------------------------------------
# Migrations
# -------------------------------------------------------------------------------------------------

STEP_KINDS = frozenset({
    "create_table", "add_column", "add_index", "add_foreign_key", "alter_nullability", "alter_type",
    "alter_default", "drop_column", "drop_index", "drop_foreign_key", "drop_table", "rename_column",
    "rename_table", "add_check", "add_unique",
})
ADDITIVE_KINDS = frozenset({"create_table", "add_column", "add_index"})


class RiskLevel(enum.IntEnum):
    """How dangerous a step is; ordered, so ``max()`` of levels is the plan's level."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


@attrs.frozen
class MigrationStep:
    """One typed schema change.

    :param kind: one of ``STEP_KINDS``.
    :param table: the table it changes.
    :param column: the column, for column steps.
    :param sql: the statements, for the plan's dialect.
    :param details: kind-specific facts (old / new type, nullability, default, index fields, new name …).
    :param model: the model that asked for it, when one did.
    """

    kind: str
    table: str
    column: str | None = None
    sql: tuple[str, ...] = ()
    details: Mapping[str, Any] = attrs.field(factory=dict)
    model: str | None = None

    @property
    def additive(self) -> bool:
        """Safe for auto-migration: creates something, narrows or removes nothing."""
        if self.kind == "add_column":
            return bool(self.details.get("nullable", True)) or self.details.get("default") is not None
        if self.kind == "alter_nullability":
            return self.details.get("to") is True  # allowing NULL loses nothing
        return self.kind in ADDITIVE_KINDS

    def describe(self) -> str:
        target = f"{self.table}.{self.column}" if self.column else self.table
        return f"{self.kind.replace('_', ' ')} {target}"


@attrs.frozen
class RiskFinding:
    """What a risk rule found about one step."""

    rule: str
    level: RiskLevel
    score: int
    category: str
    reason: str
    step_index: int | None = None
    mitigation: str = ""


@attrs.define
class MigrationPlan:
    """An ordered list of steps for one dialect, and the findings assessed for them.

    ``follow_ups`` are steps the plan deliberately leaves for later, each with the command that
    completes it (a required column added nullable to a populated table, to be made NOT NULL once
    backfilled): they are shown as pending, never applied automatically.
    """

    dialect: str
    steps: list[MigrationStep] = attrs.Factory(list)
    findings: list[RiskFinding] = attrs.Factory(list)
    rename_candidates: list[MigrationStep] = attrs.Factory(list)
    follow_ups: list[MigrationStep] = attrs.Factory(list)

    @property
    def level(self) -> RiskLevel:
        return max((f.level for f in self.findings), default=RiskLevel.LOW)

    @property
    def is_empty(self) -> bool:
        return not self.steps

    @property
    def additive_only(self) -> bool:
        return all(step.additive for step in self.steps)

    def checksum(self) -> str:
        return hashlib.sha256("\n".join(s for step in self.steps for s in step.sql).encode()).hexdigest()[:16]
