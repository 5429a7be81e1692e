"""The Dialect contract: how a database plugin turns query descriptions into SQL and runs them.

A dialect plugin returns a ``DialectInfo`` from ``dataflow_dialects()``; its factory builds a
``SQLDialect`` subclass for one DataFlow instance. The base class here holds what all SQL databases
share — quoting, bound parameters, the filter compiler, DDL for a model, the generic query runners —
so a dialect overrides only what its database does differently (placeholders, types, fast paths,
error translation, connection handling).

Values never enter SQL text: every value goes through ``SQLBuilder.bind``. Identifiers come only from
model specs (checked as identifiers) and are quoted by ``quote``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import select
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, Generic, Protocol, TypeVar

from dataflow.aggregates import Aggregate, HavingCond, Measure, average
from dataflow.errors import DataFlowError
from dataflow.models import FieldSpec, IndexSpec, ModelSpec
from dataflow.query import (
    And,
    Atomic,
    ColumnBatch,
    Cond,
    Constant,
    Count,
    Delete,
    Expr,
    Insert,
    Not,
    Or,
    Query,
    Select,
    Update,
    Upsert,
)
from dataflow.rawsql import RawSQLSyntax
from dataflow.routing import ReadRouter
from dataflow.schema import SchemaDialect
from dataflow.sqllog import StatementLog
from dataflow.transactions import InstanceTransaction, Scope, TransactionBlock, current_scope
from dataflow.types import ColumnSchema, DialectInfo, DialectOptions, PoolInfo
from dataflow.url import DatabaseURL
from dataflow.values import parse_datetime, to_json

__all__ = [
    "LIKE_ESCAPE",
    "Connection",
    "DialectInfo",
    "DialectOptions",
    "LoopLocal",
    "OperatorCompiler",
    "PoolInfo",
    "SQLBuilder",
    "SQLDialect",
    "idle_socket_readable",
    "like_pattern",
    "like_tokens",
    "session_lost",
]

UTC = dt.UTC
T = TypeVar("T")


class Connection(Protocol):
    """The few driver calls the generic runners need; each dialect adapts its driver to it."""

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        """Run a statement and return its rows as tuples."""

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run a statement and return the number of rows it changed."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""


OperatorCompiler = Callable[["SQLBuilder", Cond], str]
"""Compiles a plugin's filter operator: ``compiler(builder, cond) -> SQL fragment``."""


class SQLBuilder:
    """Accumulates bound parameters while SQL text is assembled."""

    __slots__ = ("dialect", "params")

    def __init__(self, dialect: SQLDialect) -> None:
        self.dialect = dialect
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        """Bind a raw driver value; return its placeholder."""
        self.params.append(value)
        return self.dialect.placeholder(len(self.params))

    def bind_field(self, field: FieldSpec, value: Any) -> str:
        """Bind a canonical value of ``field`` after the dialect encodes it."""
        return self.bind(self.dialect.encode(field, value))

    def quote(self, name: str) -> str:
        return self.dialect.quote(name)


class LoopLocal(Generic[T]):
    """One resource (a pool, a connection) per running event loop, dropped when its loop is gone.

    Pools bound to a loop cannot be used from another: a new loop gets its own, and resources of
    closed loops are handed to ``discard`` so the dialect can release them. It remembers how many
    resources were ever set (``created``) and when each current one was (``created_at``), for
    ``SQLDialect.list_pools()``.
    """

    def __init__(self) -> None:
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()
        self._born: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = weakref.WeakKeyDictionary()
        self.created = 0
        """How many resources were ever set (one per new pool)."""

    def get(self) -> T | None:
        return self._items.get(asyncio.get_running_loop())

    def set(self, value: T) -> None:
        loop = asyncio.get_running_loop()
        self._items[loop] = value
        self._born[loop] = time.time()
        self.created += 1

    def created_at(self, loop: asyncio.AbstractEventLoop) -> float:
        """When the resource of ``loop`` was set (``time.time()``; 0.0 when it has none)."""
        return self._born.get(loop, 0.0)

    def pop(self, loop: asyncio.AbstractEventLoop) -> T | None:
        """Remove and return the resource of ``loop`` (any loop, running or not)."""
        return self._items.pop(loop, None)

    def pop_current(self) -> T | None:
        return self._items.pop(asyncio.get_running_loop(), None)

    def pop_closed(self) -> list[T]:
        """Remove and return the resources whose loops are closed."""
        closed = [loop for loop in list(self._items) if loop.is_closed()]
        return [self._items.pop(loop) for loop in closed]

    def items(self) -> Iterator[tuple[asyncio.AbstractEventLoop, T]]:
        """A snapshot (other threads may add or drop loops meanwhile: metrics are read from any thread)."""
        while True:
            try:
                return iter(list(self._items.items()))
            except RuntimeError:  # changed size during the copy: take it again
                continue

    def clear(self) -> None:
        self._items.clear()


def _utc(value: dt.datetime) -> dt.datetime:
    """The rule on every dialect: naive datetimes are taken as UTC; all come back aware, in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SQLDialect(SchemaDialect):
    """Base of every SQL dialect: compiles query descriptions and runs them on a ``Connection``."""

    name = "sql"
    quote_char = '"'
    supports_returning = True
    max_params = 32766
    """The most bound parameters in one statement (batches of multi-row statements are sized by it)."""
    index_methods: frozenset[str] = frozenset()
    """Index methods a model may ask for with ``"using"`` (``{"gin", …}`` on PostgreSQL); none by default.
    Another method is DF-610 at model registration."""

    def __init__(self, url: DatabaseURL, options: DialectOptions) -> None:
        self.url = url
        self.options = options
        self.sql_log = StatementLog(options.echo, options.slow_query_ms)
        """Where this dialect's statements are logged (``dataflow.sqllog``): connections ask ``sql_log.on()``."""
        self.operators: dict[str, OperatorCompiler] = {}
        self._row_decoders: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._column_plans: dict[tuple[int, tuple[str, ...]], tuple[ModelSpec, list[Any]]] = {}
        self._select_lists: dict[tuple[int, tuple[str, ...]], str] = {}
        self._statements: dict[tuple[Any, ...], tuple[ModelSpec, str]] = {}
        self.read_router: ReadRouter | None = None
        """Shown every statement first (``dataflow.routing``): set by the instance from the
        ``dataflow_read_router`` hook. A dialect that overrides ``run`` keeps that step."""

    # ---- connections: a dialect must provide these -------------------------------------------
    def connection(self) -> Any:
        """``async with dialect.connection() as conn``: a pooled Connection for this event loop.

        A connection of its own, outside any transaction (migrations and locks need their own
        sessions); ``scoped_connection`` is the one that joins the current transaction.
        """
        raise NotImplementedError

    # ---- transactions: the primitives a dialect implements (standard SQL by default) ----------
    schema_in_transaction = False
    """True when schema changes made while a transaction is open must run inside it, on its connection
    (a database with one writer at a time, where another connection would wait for the transaction's
    own write lock). Otherwise they run outside it and commit on their own."""
    fixed_isolation_level: str | None = None
    """The isolation level every transaction has when the database offers only one (SQLite: SERIALIZABLE)."""

    def transaction_connection(self) -> Any:
        """``async with dialect.transaction_connection() as conn``: the connection a new transaction
        runs on, held until it ends (a pooled one by default). Leaving it with an exception must
        not put a connection still inside a transaction back into use."""
        return self.connection()

    async def begin_transaction(self, conn: Connection, isolation_level: str | None) -> None:
        """Start a transaction on ``conn``; ``isolation_level`` is one of ``transactions.ISOLATION_LEVELS``
        or None (the database's default)."""
        level = f" ISOLATION LEVEL {isolation_level.replace('_', ' ')}" if isolation_level else ""
        await conn.execute(f"BEGIN{level}", [])

    async def commit_transaction(self, conn: Connection) -> None:
        await conn.execute("COMMIT", [])

    async def rollback_transaction(self, conn: Connection) -> None:
        await conn.execute("ROLLBACK", [])

    async def create_savepoint(self, conn: Connection, name: str) -> None:
        await conn.execute(f"SAVEPOINT {self.quote(name)}", [])

    async def release_savepoint(self, conn: Connection, name: str) -> None:
        await conn.execute(f"RELEASE SAVEPOINT {self.quote(name)}", [])

    async def rollback_to_savepoint(self, conn: Connection, name: str) -> None:
        await conn.execute(f"ROLLBACK TO SAVEPOINT {self.quote(name)}", [])

    # ---- transactions: what the kernel builds on the primitives ------------------------------
    def transaction(self, isolation_level: Any = None, *, timeout: float | None = None,
                    connection: Connection | None = None) -> TransactionBlock:
        """``with`` / ``async with dialect.transaction() as conn``: a transaction, or a savepoint of the
        one open in this context (see ``dataflow.transactions``). ``connection``: begin a new transaction
        on this connection, which the caller holds (for settings that must precede BEGIN)."""
        return TransactionBlock(self, isolation_level, timeout, connection)

    def current_transaction(self) -> Scope | None:
        """The transaction scope statements run in here (this task or thread), or None."""
        return current_scope(self)

    def scoped_connection(self) -> Any:
        """``async with dialect.scoped_connection() as conn``: the current transaction's connection
        (taking its turn) when one is open here, else ``connection()``."""
        scope = current_scope(self)
        return scope.borrow() if scope is not None else self.connection()

    # ---- the instance transaction (TDD mode) -----------------------------------------------------
    transactional_ddl = False
    """True when schema changes made inside a transaction are rolled back with it (PostgreSQL, SQLite).
    Inside an instance transaction they are then made in it; elsewhere (MySQL, whose DDL commits the
    open transaction) they are made on a connection of their own and commit at once."""
    instance_transaction: InstanceTransaction | None = None
    """The transaction every statement of this dialect joins, when one is held (``hold_transaction``)."""

    def hold_transaction(self, isolation_level: Any = None) -> InstanceTransaction:
        """From now on every statement of this dialect, from any task, thread or event loop, runs in
        one transaction (begun at the first statement) until ``release_transaction()``; see
        ``dataflow.transactions.InstanceTransaction``. Holding again returns the one held."""
        if self.instance_transaction is None:
            self.instance_transaction = InstanceTransaction(self, isolation_level)
        return self.instance_transaction

    async def release_transaction(self, *, commit: bool = False) -> bool:
        """Stop holding the instance transaction, rolling it back (or committing it); True when one
        had begun. Statements afterwards autocommit again."""
        held, self.instance_transaction = self.instance_transaction, None
        return await held.end(commit=commit) if held is not None else False

    # ---- pools -----------------------------------------------------------------------------------
    lists_pools = False
    """True when the dialect implements ``list_pools()`` and ``close_pool()`` (every first-party dialect)."""

    def list_pools(self) -> list[PoolInfo]:
        """The connection pools this dialect holds now, one per event loop that used it (cheap: no
        I/O). A dialect that does not list its pools (``lists_pools`` False) returns none."""
        return []

    @property
    def pools_created(self) -> int:
        """How many pools this dialect has made since it was built."""
        return 0

    async def close_pool(self, pool: PoolInfo, *, force: bool = False) -> None:
        """Release one pool ``list_pools()`` listed (found by its loop): idle connections are closed
        politely and those in use terminated; ``force`` terminates them all at once. A pool of a
        closed loop is always terminated (its loop cannot run the polite close)."""
        raise NotImplementedError

    async def close_pools(self, *, stale_only: bool = False,
                          force: bool = False) -> list[tuple[PoolInfo, BaseException | None]]:
        """Release every pool (``stale_only``: those of closed event loops); each pool with the error
        that stopped its release, or None. A dialect that does not list its pools is released whole
        with ``close()`` (and reports nothing; ``stale_only`` then releases nothing)."""
        if not self.lists_pools:
            if not stale_only:
                await self.close()
            return []
        done: list[tuple[PoolInfo, BaseException | None]] = []
        for pool in self.list_pools():
            if stale_only and not pool.loop_closed:
                continue
            try:
                await self.close_pool(pool, force=force)
            except Exception as exc:
                done.append((pool, exc))
            else:
                done.append((pool, None))
        return done

    def pool_key(self, loop: asyncio.AbstractEventLoop) -> str:
        """The ``PoolInfo.key`` of this dialect's pool on ``loop``: dialect, database, loop."""
        return f"{self.url}#loop-{id(loop):x}"

    async def close(self) -> None:
        """Release every pool and connection this dialect holds (for every event loop)."""

    def close_sync(self) -> None:
        """Release what can be released without a running loop (pools of closed loops)."""

    def translate_error(self, exc: BaseException) -> DataFlowError:
        """A driver exception as a DF-coded error (the original is chained by the caller)."""
        return DataFlowError("DF-503", f"The database reported an error: {type(exc).__name__}: {exc}")

    async def server_version(self) -> str:
        return ""

    # ---- raw SQL (db.fetch / db.execute) ---------------------------------------------------------
    raw_sql: RawSQLSyntax = RawSQLSyntax()
    """How this database's SQL text quotes literals and identifiers, for the ``:name`` placeholder
    scanner of ``dataflow.rawsql`` (which leaves literals, identifiers, comments and casts alone)."""
    reuses_placeholders = False
    """True when one numbered placeholder may appear twice (``$1`` on PostgreSQL): a ``:name`` used
    twice is then bound once."""

    async def fetch_named(self, conn: Connection, sql: str,
                          params: Sequence[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        """``(column names, rows)`` of ``sql``: a dialect's connections offer ``fetch_named`` for raw SQL
        (``db.fetch``); DF-308 where they do not."""
        named = getattr(conn, "fetch_named", None)
        if named is None:
            raise DataFlowError("DF-308", f"The {self.name} dialect does not return column names, so db.fetch "
                                          "is not available on it.", context={"dialect": self.name},
                                solutions=["Use db.connection() and the driver's own calls."])
        result: tuple[list[str], list[Sequence[Any]]] = await named(sql, params)
        return result

    def statement_refused(self, exc: BaseException) -> bool:
        """True when the driver's ``exc`` means the server refused a statement's text (a syntax error,
        an unknown column or function): raw SQL reports it as DF-720."""
        return False

    # ---- identifiers and values ------------------------------------------------------------
    def quote(self, name: str) -> str:
        q = self.quote_char
        return f"{q}{name.replace(q, q + q)}{q}"

    def placeholder(self, index: int) -> str:
        return "?"

    def encode(self, field: FieldSpec, value: Any) -> Any:
        """A canonical value as the driver wants it (JSON as text, datetimes aware in UTC …)."""
        if value is None:
            return None
        kind = field.kind
        if kind == "json" or kind == "array":
            return to_json(value)
        if kind == "datetime":
            return _utc(value)
        return value

    def decoder(self, field: FieldSpec) -> Callable[[Any], Any] | None:
        """A function turning the driver's value for ``field`` into the canonical one, or None."""
        kind = field.kind
        if kind in ("json", "array"):
            return _decode_json
        if kind == "datetime":
            return _decode_datetime
        if kind == "date":
            return _decode_date
        if kind == "decimal":
            return _decode_decimal
        if kind == "bool":
            return _decode_bool
        if kind == "bytes":
            return _decode_bytes
        if kind == "float":
            return _decode_float
        return None

    def column_type(self, field: FieldSpec) -> str:
        """The column type for a field (plugins may override through ``dataflow_column_type``)."""
        raise NotImplementedError

    def needs_encoding(self, field: FieldSpec) -> bool:
        """False when the driver takes this kind's canonical values as they are (no per-value work)."""
        return field.kind in ("json", "array", "datetime")

    def encode_column(self, field: FieldSpec, column: Sequence[Any]) -> list[Any]:
        """Every value of one column of a bulk write encoded (None stays None); a dialect with a
        faster whole-column form for some kind overrides."""
        encode = self.encode
        return [None if v is None else encode(field, v) for v in column]

    def encode_rows(
        self, model: ModelSpec, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> Iterable[tuple[Any, ...]]:
        """Rows encoded for ``executemany`` / COPY, column by column, touching only columns that need it."""
        fields = model.field_map
        todo = [(i, fields[c]) for i, c in enumerate(columns) if self.needs_encoding(fields[c])]
        batch = rows if isinstance(rows, ColumnBatch) else None
        if not todo:
            return batch.iter_rows() if batch is not None else rows
        data: list[Any] = list(batch.column_data) if batch is not None else list(zip(*rows, strict=True))
        for index, field in todo:
            column = data[index]
            if isinstance(column, Constant):
                data[index] = Constant(None if column.value is None else self.encode(field, column.value))
            elif column and column[0] is not None and len(set(map(id, column))) == 1:
                # One object in every row (a batch's timestamp that lost its Constant): encoded once.
                data[index] = [self.encode(field, column[0])] * len(column)
            else:
                data[index] = self.encode_column(field, column)
        if batch is not None:
            return batch.iter_rows(data)
        return list(zip(*data, strict=True))

    # ---- DDL -------------------------------------------------------------------------------
    def id_column_sql(self, field: FieldSpec) -> str:
        return f"{self.quote('id')} {self.column_type(field)} PRIMARY KEY"

    def column_sql(self, field: FieldSpec, column_type: str | None = None) -> str:
        """A model field's column: its type, NOT NULL unless optional, and the model's default as the
        column's DDL default (so rows written by other code, or by an older model, get it too)."""
        if field.primary_key:
            return self.id_column_sql(field)
        null = "" if field.nullable else " NOT NULL"
        kind = column_type or self.column_type(field)
        sql = f"{self.quote(field.name)} {kind}{null}"
        default = self.field_default_sql(field)
        if default is not None:
            sql += f" DEFAULT {self.default_clause(ColumnSchema(field.name, kind, default=default))}"
        return sql

    def create_table_sql(self, model: ModelSpec, column_types: Mapping[str, str] | None = None) -> list[str]:
        """``CREATE TABLE IF NOT EXISTS`` and its indexes."""
        types = column_types or {}
        columns = ", ".join([self.column_sql(f, types.get(f.name)) for f in model.fields]
                            + self.model_foreign_key_clauses(model))
        statements = [f"CREATE TABLE IF NOT EXISTS {self.quote(model.table)} ({columns}){self.table_suffix()}"]
        statements += [self.create_index_sql(model, index) for index in model.indexes]
        return statements

    def table_suffix(self) -> str:
        return ""

    def create_index_sql(self, model: ModelSpec, index: IndexSpec) -> str:
        unique = "UNIQUE " if index.unique else ""
        cols = ", ".join(self.quote(f) for f in index.fields)
        # ``using`` is one of ``index_methods`` (checked when the model was registered).
        using = f" USING {index.using}" if index.using else ""
        return (f"CREATE {unique}INDEX IF NOT EXISTS {self.quote(index.name)} ON {self.quote(model.table)}{using} "
                f"({cols})")

    def add_column_sql(self, model: ModelSpec, field: FieldSpec, column_type: str | None = None) -> str:
        """An additive column: nullable, since existing rows have no value for it."""
        return (
            f"ALTER TABLE {self.quote(model.table)} ADD COLUMN {self.quote(field.name)} "
            f"{column_type or self.column_type(field)}"
        )

    async def table_columns(self, conn: Connection, table: str) -> set[str] | None:
        """The column names of ``table``, or None when it does not exist."""
        raise NotImplementedError

    # ---- filters -----------------------------------------------------------------------------
    def compile_where(self, b: SQLBuilder, expr: Expr | None) -> str:
        if expr is None:
            return ""
        return " WHERE " + self.compile_expr(b, expr)

    def compile_expr(self, b: SQLBuilder, expr: Expr) -> str:
        if isinstance(expr, Cond):
            return self.compile_cond(b, expr)
        if isinstance(expr, And):
            return _balanced(" AND ", [self.compile_expr(b, e) for e in expr.items])
        if isinstance(expr, Or):
            return _balanced(" OR ", [self.compile_expr(b, e) for e in expr.items])
        if isinstance(expr, Not):
            return "(NOT " + self.compile_expr(b, expr.item) + ")"
        raise TypeError(f"not a filter expression: {expr!r}")

    _COMPARISONS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

    def compile_cond(self, b: SQLBuilder, cond: Cond) -> str:
        field = cond.field
        column = self.quote(field.name)
        op = cond.op
        if op in self._COMPARISONS:
            sql = f"{self.order_column(field)} {self._COMPARISONS[op]} {self.bind_compared(b, field, cond.value)}"
            # SQL's three-valued logic would drop NULL rows from "<> x"; users expect them kept.
            return f"({sql} OR {column} IS NULL)" if op == "ne" and field.nullable else sql
        if op == "null":
            return f"{column} IS NULL" if cond.value else f"{column} IS NOT NULL"
        if op in ("in", "nin"):
            if not cond.value:
                return "1=0" if op == "in" else "1=1"
            marks = ", ".join(self.bind_compared(b, field, v) for v in cond.value)
            compared = self.order_column(field)
            if op == "in":
                return f"{compared} IN ({marks})"
            return f"({compared} NOT IN ({marks}) OR {column} IS NULL)"
        if op == "like":
            return self.compile_like(b, column, cond.value, insensitive=False)
        if op == "ilike":
            return self.compile_like(b, column, cond.value, insensitive=True)
        if op == "regex":
            return self.compile_regex(b, column, cond.value)
        compiler = self.operators.get("$" + op)
        if compiler is None:
            raise DataFlowError(
                "DF-102",
                f"The filter operator ${op} is not available on {self.name}.",
                context={"field": cond.field.name, "dialect": self.name},
            )
        return compiler(b, cond)

    def compile_like(self, b: SQLBuilder, column: str, pattern: str, *, insensitive: bool) -> str:
        """``$like`` / ``$ilike`` with the one escape rule of every dialect (see ``like_pattern``)."""
        mark = b.bind(like_pattern(pattern))
        if insensitive:
            return f"LOWER({column}) LIKE LOWER({mark}) ESCAPE '{LIKE_ESCAPE}'"
        return f"{column} LIKE {mark} ESCAPE '{LIKE_ESCAPE}'"

    def compile_regex(self, b: SQLBuilder, column: str, pattern: str) -> str:
        return f"{column} ~ {b.bind(pattern)}"

    # ---- statements --------------------------------------------------------------------------
    def select_list(self, model: ModelSpec, columns: tuple[str, ...] | None = None) -> str:
        """The quoted column list of a SELECT: the model's columns, or ``columns`` (a projection)."""
        names = model.column_names if columns is None else columns
        key = (id(model), names)
        cached = self._select_lists.get(key)
        if cached is None:
            cached = self._select_lists[key] = ", ".join(self.quote(name) for name in names)
        return cached

    def _cached(self, kind: str, q: Any, compile: Callable[[Any], tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
        """Reuse the SQL of a statement whose filter is made of comparisons, ``$in`` / ``$nin`` lists and
        NULL tests, combined with ``$and`` / ``$or`` / ``$not`` (every list and count an application
        repeats with other values).

        The text depends only on the statement's shape (``filter_shape``); the values are bound afresh
        each time. A shape whose compiled form does not bind exactly the values ``filter_shape``
        predicts is never cached, nor one holding a pattern or a plugin's operator.
        """
        where = q.where
        shape: list[Any] = []
        params: list[Any] = []
        if where is not None and not self.filter_shape(where, shape, params):
            return compile(q)
        limit = getattr(q, "limit", None)
        offset = getattr(q, "offset", 0)
        model = q.model
        key = (kind, id(model), tuple(shape), getattr(q, "order_by", ()), limit is None, bool(offset),
               getattr(q, "columns", None), getattr(q, "distinct", False))
        if limit is not None:
            params.append(int(limit))
        if offset:
            params.append(int(offset))
        return self._reuse(key, q, params, compile)

    def _reuse(self, key: tuple[Any, ...], q: Any, params: list[Any],
               compile: Callable[[Any], tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
        """The text kept for the statement shape ``key`` with ``params`` (the values its shape binds),
        or ``compile(q)``, whose text is kept for the shape when it binds exactly ``params``."""
        model = q.model
        cached = self._statements.get(key)
        if cached is not None and cached[0] is model:  # the same spec, not a new one at a reused id
            return cached[1], params
        sql, compiled_params = compile(q)
        if compiled_params == params and len(self._statements) < 4096:
            self._statements[key] = (model, sql)
        return sql, compiled_params

    def filter_shape(self, expr: Expr, shape: list[Any], params: list[Any]) -> bool:
        """Add ``expr``'s shape to ``shape`` and the values its SQL binds to ``params``, in order; False
        when its SQL may depend on more than the shape (patterns, plugin operators)."""
        kind = type(expr)
        if kind is Cond:
            op = expr.op  # type: ignore[union-attr]
            field = expr.field  # type: ignore[union-attr]
            value = expr.value  # type: ignore[union-attr]
            if op in self._COMPARISONS:
                shape.append((field.name, op))
                params.append(self.encode(field, value))
                return True
            if op == "null":
                shape.append((field.name, op, bool(value)))
                return True
            if op in ("in", "nin"):
                shape.append((field.name, op, len(value)))
                params.extend(self.list_operands(field, value))
                return True
            return False
        if kind is And or kind is Or:
            items = expr.items  # type: ignore[union-attr]
            shape.append((kind.__name__, len(items)))
            # A loop, not all() over a generator (no generator frame): every scoped read by id comes here.
            for item in items:  # noqa: SIM110
                if not self.filter_shape(item, shape, params):
                    return False
            return True
        if kind is Not:
            shape.append("not")
            return self.filter_shape(expr.item, shape, params)  # type: ignore[union-attr]
        return False

    def list_operands(self, field: FieldSpec, values: Sequence[Any]) -> list[Any]:
        """What an ``$in`` / ``$nin`` list binds (a parameter per value here; one array on PostgreSQL)."""
        encode = self.encode
        return [encode(field, v) for v in values]

    def compile_select(self, q: Select) -> tuple[str, list[Any]]:
        return self._cached("select", q, self._compile_select)

    def _compile_select(self, q: Select) -> tuple[str, list[Any]]:
        b = SQLBuilder(self)
        distinct = "DISTINCT " if q.distinct else ""
        sql = (f"SELECT {distinct}{self.select_list(q.model, q.columns)} FROM {self.quote(q.model.table)}"
               f"{self.compile_where(b, q.where)}")
        if q.order_by:
            fields = q.model.field_map
            sql += " ORDER BY " + ", ".join(
                self.order_term(fields[name], desc, nulls_first) for name, desc, nulls_first in q.order_by
            )
        if q.limit is not None:
            sql += f" LIMIT {b.bind(int(q.limit))}"
            if q.offset:
                sql += f" OFFSET {b.bind(int(q.offset))}"
        elif q.offset:
            sql += f" {self.offset_without_limit()} OFFSET {b.bind(int(q.offset))}"
        return sql, b.params

    def order_column(self, field: FieldSpec) -> str:
        """What ``order_by`` sorts a field by and ``$eq`` … ``$nin`` compare: its column, or for a kind a
        dialect stores as text (decimals), an expression ordered as the values are."""
        return self.quote(field.name)

    def bind_compared(self, b: SQLBuilder, field: FieldSpec, value: Any) -> str:
        """The bound operand compared with ``order_column(field)`` (the same form as that expression)."""
        return b.bind_field(field, value)

    def order_term(self, field: FieldSpec, descending: bool, nulls_first: bool) -> str:
        """One ``ORDER BY`` term with its NULLs placed explicitly (databases disagree on the default).

        A column that cannot hold NULL gets the plain term, which every index can serve.
        """
        term = f"{self.order_column(field)} {'DESC' if descending else 'ASC'}"
        if not field.nullable:
            return term
        return f"{term} NULLS {'FIRST' if nulls_first else 'LAST'}"

    def offset_without_limit(self) -> str:
        return "LIMIT -1"

    def compile_count(self, q: Count) -> tuple[str, list[Any]]:
        return self._cached("count", q, self._compile_count)

    def _compile_count(self, q: Count) -> tuple[str, list[Any]]:
        b = SQLBuilder(self)
        source = f"{self.quote(q.model.table)}{self.compile_where(b, q.where)}"
        if q.distinct and q.columns:
            inner = f"SELECT DISTINCT {self.select_list(q.model, q.columns)} FROM {source}"
            return f"SELECT COUNT(*) FROM ({inner}) {self.quote('df_distinct')}", b.params
        return f"SELECT COUNT(*) FROM {source}", b.params

    def insert_head(self, model: ModelSpec, columns: Sequence[str]) -> str:
        cols = ", ".join(self.quote(c) for c in columns)
        return f"INSERT INTO {self.quote(model.table)} ({cols})"

    def returning_sql(self, model: ModelSpec) -> str:
        return f" RETURNING {self.select_list(model)}"

    def row_marks(self, b: SQLBuilder, model: ModelSpec, columns: Sequence[str], row: Sequence[Any]) -> str:
        fields = model.field_map
        return "(" + ", ".join(b.bind_field(fields[c], v) for c, v in zip(columns, row, strict=True)) + ")"

    def compile_update(self, q: Update) -> tuple[str, list[Any]]:
        """``UPDATE … SET … WHERE …``; the text of a shape seen before is reused, as ``_cached`` does for
        reads: the shape is the columns set (and which of them change atomically, by which operator),
        the filter's shape and RETURNING, and the values are bound afresh."""
        fields = q.model.field_map
        encode = self.encode
        shape: list[Any] = ["update", id(q.model), q.returning, len(q.values)]
        params: list[Any] = []
        for name, value in q.values.items():
            if type(value) is Atomic:
                shape.append((name, value.op))
                params.append(encode(fields[name], value.operand))
            else:
                shape.append(name)
                params.append(encode(fields[name], value))
        if q.where is not None and not self.filter_shape(q.where, shape, params):
            return self._compile_update(q)
        return self._reuse(tuple(shape), q, params, self._compile_update)

    def _compile_update(self, q: Update) -> tuple[str, list[Any]]:
        b = SQLBuilder(self)
        fields = q.model.field_map
        sets = ", ".join(f"{self.quote(k)} = {self.set_value(b, fields[k], v)}" for k, v in q.values.items())
        sql = f"UPDATE {self.quote(q.model.table)} SET {sets}{self.compile_where(b, q.where)}"
        if q.returning:
            sql += self.returning_sql(q.model)
        return sql, b.params

    def set_value(self, b: SQLBuilder, field: FieldSpec, value: Any) -> str:
        """The right-hand side of ``SET column = …``: a bound value, or an ``Atomic`` computed in SQL."""
        if type(value) is Atomic:
            return self.atomic_sql(b, field, value)
        return b.bind_field(field, value)

    def atomic_sql(self, b: SQLBuilder, field: FieldSpec, change: Atomic) -> str:
        """``column + operand`` / ``column * operand`` for an int, float or decimal column (a NULL stays
        NULL). A dialect storing decimals as text overrides this for them, to stay exact."""
        operator = "+" if change.op == "add" else "*"
        return f"{self.quote(field.name)} {operator} {b.bind_field(field, change.operand)}"

    def compile_delete(self, q: Delete) -> tuple[str, list[Any]]:
        b = SQLBuilder(self)
        sql = f"DELETE FROM {self.quote(q.model.table)}{self.compile_where(b, q.where)}"
        if q.returning:
            sql += self.returning_sql(q.model)
        return sql, b.params

    # ---- rows ----------------------------------------------------------------------------------
    def row_decoder(self, model: ModelSpec,
                    columns: tuple[str, ...] | None = None) -> Callable[[Sequence[Any]], dict[str, Any]]:
        """A function turning a result tuple (all model columns in order, or ``columns``) into a canonical dict."""
        names = model.column_names if columns is None else columns
        key = (id(model), names)
        decode = self._row_decoders.get(key)
        if decode is None:
            fields = model.field_map
            converters = [(name, fn) for name in names if (fn := self.decoder(fields[name])) is not None]

            def decode(row: Sequence[Any]) -> dict[str, Any]:
                record = dict(zip(names, row, strict=False))
                for name, fn in converters:
                    value = record[name]
                    if value is not None:
                        record[name] = fn(value)
                return record

            self._row_decoders[key] = decode
        return decode

    # ---- running queries -------------------------------------------------------------------
    async def run(self, query: Query, conn: Connection | None = None) -> Any:
        """Run a query description; driver errors come out as DF-coded errors (see ``recover``).

        Without ``conn``, the statement joins the transaction open in this context, if any, else runs
        on a pooled connection (autocommit). A dialect that overrides ``run`` keeps these first steps
        (the read router, then the transaction).
        """
        if self.read_router is not None and (routed := self.read_router.route(query, conn)) is not None:
            return await routed
        if conn is None:
            scope = current_scope(self)
            if scope is not None:
                return await scope.run(query)
        try:
            if conn is not None:
                return await self._dispatch(conn, query)
            async with self.connection() as fresh:
                return await self._dispatch(fresh, query)
        except DataFlowError:
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            return await self.recover(query, exc, conn)

    # ---- a session lost mid-operation ---------------------------------------------------------
    def lost_connection(self, exc: BaseException) -> bool:
        """True when ``exc`` means the session with the server ended under the statement (the server
        killed or restarted it, the network dropped it). Dialects classify their driver's errors."""
        return False

    def in_transaction(self, conn: Connection) -> bool:
        """Whether ``conn`` was inside a transaction (its last known state: it may be gone)."""
        return False

    async def recover(self, query: Query, exc: Exception, conn: Connection | None) -> Any:
        """What a ``query`` that raised ``exc`` comes to; ``conn`` is the caller's connection (None when
        the query borrowed its own).

        A read that lost its own connection changed nothing, so it runs once more on a fresh one.
        Anything else is raised as its DF-coded error, and a lost write says whether it was applied
        (``lost_error``).
        """
        if not self.lost_connection(exc):
            raise self.translate_error(exc) from exc
        if conn is None and type(query) in _READS:
            try:
                async with self.connection() as fresh:
                    return await self._dispatch(fresh, query)
            except (DataFlowError, asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as again:
                raise self.translate_error(again) from again
        writing = type(query) not in _READS
        raise self.lost_error(exc, writing=writing, in_transaction=conn is not None and self.in_transaction(conn),
                              table=query.model.table) from exc

    def lost_error(self, exc: BaseException, *, writing: bool, in_transaction: bool = False,
                   committing: bool = False, table: str | None = None) -> DataFlowError:
        """The error for a session lost under a statement (``committing``: under a COMMIT); see
        ``session_lost``. A read changed nothing: the dialect's usual error (DF-402)."""
        lost = session_lost(self.name, exc, writing=writing, in_transaction=in_transaction, committing=committing,
                            table=table)
        return lost if lost is not None else self.translate_error(exc)

    _RUNNERS = {Select: "run_select", Count: "run_count", Insert: "run_insert", Update: "run_update",
                Delete: "run_delete", Upsert: "run_upsert", Aggregate: "run_aggregate"}

    def _dispatch(self, conn: Connection, query: Query) -> Any:
        runner = self._RUNNERS.get(type(query))
        if runner is None:
            raise TypeError(f"not a query: {query!r}")
        return getattr(self, runner)(conn, query)

    async def run_select(self, conn: Connection, q: Select) -> list[dict[str, Any]]:
        sql, params = self.compile_select(q)
        return self.decode_rows(q.model, await conn.fetch(sql, params), q.columns)

    def decode_rows(self, model: ModelSpec, rows: Sequence[Sequence[Any]],
                    columns: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Result tuples (all model columns in order, or ``columns``) as canonical dicts, converted
        column by column.

        Each column that needs converting is converted with ``map`` over the column (no per-row Python
        frame); a value repeated down an immutable column (a batch's shared timestamp) is converted
        once. The dicts are made by ``dict(zip(names, row))`` at C speed.
        """
        if len(rows) < 2:
            decode = self.row_decoder(model, columns)
            return [decode(row) for row in rows]
        names = model.column_names if columns is None else columns
        key = (id(model), names)
        plan = self._column_plans.get(key)
        if plan is None or plan[0] is not model:
            fields = model.field_map
            converters = [(i, fn, fields[name].kind in _IMMUTABLE_KINDS) for i, name in enumerate(names)
                          if (fn := self.decoder(fields[name])) is not None]
            plan = self._column_plans[key] = (model, converters)
        if not plan[1]:
            return list(map(dict, map(zip, repeat(names), rows)))
        data: list[Any] = list(zip(*rows, strict=True))
        for index, fn, immutable in plan[1]:
            data[index] = _convert_column(fn, data[index], immutable)
        return list(map(dict, map(zip, repeat(names), zip(*data, strict=True))))

    # ---- aggregates ----------------------------------------------------------------------------
    def numeric_column(self, field: FieldSpec) -> str:
        """A column as an exact number for SUM / AVG / MIN / MAX (a dialect storing decimals as text casts)."""
        return self.quote(field.name)

    def measure_sql(self, m: Measure) -> str:
        """The SQL aggregate of one measure (``SUM("amount")`` …); the same text in SELECT, HAVING, ORDER BY."""
        if m.field is None:
            return "COUNT(*)"
        if m.func == "count":
            return f"COUNT({self.quote(m.field.name)})"
        if m.func == "count_distinct":
            return f"COUNT(DISTINCT {self.order_column(m.field)})"
        return f"{m.func.upper()}({self.numeric_column(m.field)})"

    def measure_compared(self, m: Measure) -> str:
        """What HAVING compares and ORDER BY sorts for a measure (``measure_sql`` unless a dialect keys it)."""
        return self.measure_sql(m)

    def bind_measure(self, b: SQLBuilder, m: Measure, value: Any) -> str:
        """A HAVING operand, in the form ``measure_compared`` gives."""
        if m.field is not None and m.kind == "decimal":
            return self.bind_compared(b, m.field, value)
        return b.bind(value)

    def group_sql(self, field: FieldSpec) -> tuple[str, str]:
        """``(grouped by, selected)`` for a group field: a field compared through an expression
        (decimals stored as text) is grouped by its value and shown by one of its stored forms."""
        column, compared = self.quote(field.name), self.order_column(field)
        return (compared, f"MIN({column})") if compared != column else (column, column)

    def compile_having(self, b: SQLBuilder, expr: Any) -> str:
        if isinstance(expr, HavingCond):
            left = self.measure_compared(expr.measure)
            if expr.op in ("in", "nin"):
                if not expr.value:
                    return "1=0" if expr.op == "in" else "1=1"
                marks = ", ".join(self.bind_measure(b, expr.measure, v) for v in expr.value)
                return f"{left} IN ({marks})" if expr.op == "in" else f"({left} NOT IN ({marks}) OR {left} IS NULL)"
            sql = f"{left} {self._COMPARISONS[expr.op]} {self.bind_measure(b, expr.measure, expr.value)}"
            return f"({sql} OR {left} IS NULL)" if expr.op == "ne" else sql
        if isinstance(expr, And | Or):
            joiner = " AND " if isinstance(expr, And) else " OR "
            return _balanced(joiner, [self.compile_having(b, e) for e in expr.items])
        if isinstance(expr, Not):
            return "(NOT " + self.compile_having(b, expr.item) + ")"
        raise TypeError(f"not a having expression: {expr!r}")

    def compile_aggregate(self, q: Aggregate) -> tuple[str, list[Any]]:
        """One ``SELECT … GROUP BY …``; an average selects its sum and count (divided exactly after)."""
        b = SQLBuilder(self)
        grouped = [self.group_sql(f) for f in q.group_by]
        selected = [shown for _by, shown in grouped] + list(self._measure_columns(q))
        sql = f"SELECT {', '.join(selected)} FROM {self.quote(q.model.table)}{self.compile_where(b, q.where)}"
        if grouped:
            sql += " GROUP BY " + ", ".join(by for by, _shown in grouped)
        if q.having is not None:
            sql += " HAVING " + self.compile_having(b, q.having)
        fields = {f.name: f for f in q.group_by}
        measures = {m.alias: m for m in q.measures}
        terms = []
        for name, descending in q.order_by or [(f.name, False) for f in q.group_by]:
            if name in fields:
                terms.append(self.order_term(fields[name], descending, descending))
            else:
                measure = measures[name]
                expr = self.measure_compared(measure)
                direction = "DESC" if descending else "ASC"
                if measure.func in ("count", "count_distinct"):  # never NULL
                    terms.append(f"{expr} {direction}")
                else:  # NULLs as larger than every value, as in order_by everywhere
                    terms.append(f"CASE WHEN {expr} IS NULL THEN 1 ELSE 0 END {direction}, {expr} {direction}")
        if terms:
            sql += " ORDER BY " + ", ".join(terms)
        if q.limit is not None:
            sql += f" LIMIT {b.bind(int(q.limit))}"
        return sql, b.params

    def _measure_columns(self, q: Aggregate) -> dict[str, list[str]]:
        """The SQL of the measures' columns, each once (an average selects its sum and count, which a
        ``$sum`` or ``$count`` of the same field shares), mapped to the aliases using it."""
        columns: dict[str, list[str]] = {}
        for m in q.measures:
            if m.func == "avg" and m.field is not None:
                parts = [self.measure_sql(Measure(m.alias, "sum", m.field)),
                         self.measure_sql(Measure(m.alias, "count", m.field))]
            else:
                parts = [self.measure_sql(m)]
            for part in parts:
                columns.setdefault(part, []).append(m.alias)
        return columns

    def aggregate_decoder(self, q: Aggregate) -> Callable[[Sequence[Any]], dict[str, Any]]:
        """A result row of ``compile_aggregate`` as ``{group field: value, alias: value}``, canonical types."""
        # (output name, its columns, the function decoding their values)
        steps: list[tuple[str, tuple[int, ...], Callable[..., Any]]] = []
        for position, field in enumerate(q.group_by):
            steps.append((field.name, (position,), _or_none(self.decoder(field) or _same)))
        first = len(q.group_by)
        position_of = {sql: first + i for i, sql in enumerate(self._measure_columns(q))}
        for m in q.measures:
            if m.func == "avg" and m.field is not None:
                total = Measure(m.alias, "sum", m.field)
                count = Measure(m.alias, "count", m.field)
                at = (position_of[self.measure_sql(total)], position_of[self.measure_sql(count)])
                steps.append((m.alias, at, _averaging(self._measure_decoder(total), m)))
            else:
                steps.append((m.alias, (position_of[self.measure_sql(m)],), self._measure_decoder(m)))

        def decode(row: Sequence[Any]) -> dict[str, Any]:
            return {name: fn(*[row[i] for i in at]) for name, at, fn in steps}

        return decode

    def _measure_decoder(self, m: Measure) -> Callable[[Any], Any]:
        kind = m.kind
        if kind == "int":
            return _int_or_none
        if kind == "float":
            return _float_or_none
        decode = self.decoder(m.field) if m.field is not None else None
        return _or_none(decode) if decode is not None else _same

    async def run_aggregate(self, conn: Connection, q: Aggregate) -> list[dict[str, Any]]:
        sql, params = self.compile_aggregate(q)
        decode = self.aggregate_decoder(q)
        return [decode(row) for row in await conn.fetch(sql, params)]

    async def run_count(self, conn: Connection, q: Count) -> int:
        sql, params = self.compile_count(q)
        rows = await conn.fetch(sql, params)
        return int(rows[0][0])

    def insert_batches(self, q: Insert | Upsert) -> Iterator[Sequence[tuple[Any, ...]]]:
        """Slices of rows small enough for one multi-row statement."""
        per_statement = max(1, self.max_params // max(1, len(q.columns)))
        rows = q.rows
        for start in range(0, len(rows), per_statement):
            yield rows[start : start + per_statement]

    def compile_insert(self, q: Insert, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
        b = SQLBuilder(self)
        values = ", ".join(self.row_marks(b, q.model, q.columns, row) for row in rows)
        sql = f"{self.insert_head(q.model, q.columns)} VALUES {values}"
        if q.skip_conflicts:
            sql += self.skip_conflicts_sql(q.model)
        if q.returning:
            sql += self.returning_sql(q.model)
        return sql, b.params

    def skip_conflicts_sql(self, model: ModelSpec) -> str:
        return " ON CONFLICT DO NOTHING"

    async def run_insert(self, conn: Connection, q: Insert) -> list[dict[str, Any]] | int:
        """Inserted rows (``returning``) or the number inserted."""
        decode = self.row_decoder(q.model)
        records: list[dict[str, Any]] = []
        inserted = 0
        for rows in self.insert_batches(q):
            sql, params = self.compile_insert(q, rows)
            if q.returning:
                records += [decode(r) for r in await conn.fetch(sql, params)]
            else:
                inserted += await conn.execute(sql, params)
        return records if q.returning else inserted

    async def run_update(self, conn: Connection, q: Update) -> list[dict[str, Any]] | int:
        sql, params = self.compile_update(q)
        if q.returning:
            decode = self.row_decoder(q.model)
            return [decode(r) for r in await conn.fetch(sql, params)]
        return await conn.execute(sql, params)

    async def run_delete(self, conn: Connection, q: Delete) -> list[dict[str, Any]] | int:
        sql, params = self.compile_delete(q)
        if q.returning:
            decode = self.row_decoder(q.model)
            return [decode(r) for r in await conn.fetch(sql, params)]
        return await conn.execute(sql, params)

    def upsert_sets(self, b: SQLBuilder, q: Upsert) -> list[str]:
        """The ``SET`` assignments applied on conflict."""
        # Nothing to change still needs an assignment so that the existing row is returned.
        return self.upsert_changes(b, q) or [f"{self.quote(q.conflict_on[0])} = {self.excluded(q.conflict_on[0])}"]

    def upsert_changes(self, b: SQLBuilder, q: Upsert) -> list[str]:
        """The assignments that change a conflicting row (none when it is to be left as it is)."""
        fields = q.model.field_map
        if q.update is None:
            keep = set(q.conflict_on) | {"id", "created_at"}
            chosen = q.columns if q.update_columns is None else q.update_columns
            return [f"{self.quote(c)} = {self.excluded(c)}" for c in chosen if c not in keep]
        return [f"{self.quote(k)} = {b.bind_field(fields[k], v)}" for k, v in q.update.items()]

    def excluded(self, column: str) -> str:
        return f"excluded.{self.quote(column)}"

    def compile_upsert(self, q: Upsert, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
        b = SQLBuilder(self)
        values = ", ".join(self.row_marks(b, q.model, q.columns, row) for row in rows)
        target = ", ".join(self.quote(c) for c in q.conflict_on)
        sql = (f"{self.insert_head(q.model, q.columns)} VALUES {values} "
               f"ON CONFLICT ({target}) DO UPDATE SET {', '.join(self.upsert_sets(b, q))}")
        if q.returning:
            sql += self.returning_sql(q.model)
        return sql, b.params

    async def existing_keys(self, conn: Connection, q: Upsert) -> set[tuple[Any, ...]]:
        """The conflict keys among ``q.rows`` that already exist (compared as decoded values)."""
        return {tuple(row) for row in await self.fetch_by_keys(conn, q, q.conflict_on)}

    async def fetch_by_keys(self, conn: Connection, q: Upsert, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        """``columns`` (decoded) of the stored rows whose conflict key is one of ``q.rows``' keys.

        One ``IN`` list per batch of keys (never one condition per row, which nests as deep as the
        rows are many), so any number of rows is probed in a few statements.
        """
        fields = q.model.field_map
        positions = [q.columns.index(c) for c in q.conflict_on]
        decoders = [self.decoder(fields[c]) for c in columns]
        found: list[tuple[Any, ...]] = []
        select = f"SELECT {', '.join(self.quote(c) for c in columns)} FROM {self.quote(q.model.table)} WHERE "
        per_statement = max(1, (self.max_params - 1) // len(positions))
        for start in range(0, len(q.rows), per_statement):
            b = SQLBuilder(self)
            keys = [[row[p] for p in positions] for row in q.rows[start : start + per_statement]]
            where = self.keys_in(b, q.model, q.conflict_on, keys)
            found += [tuple(fn(v) if fn and v is not None else v for fn, v in zip(decoders, fetched, strict=True))
                      for fetched in await conn.fetch(select + where, b.params)]
        return found

    def distinct_keys(self, q: Upsert) -> list[Sequence[Any]]:
        """The distinct conflict keys of ``q.rows`` (canonical values, in order), column by column:
        one list per ``conflict_on`` field, made at C speed (no tuple per row for a one-field key)."""
        positions = [q.columns.index(c) for c in q.conflict_on]
        rows = q.rows
        if isinstance(rows, ColumnBatch):
            n = len(rows)
            columns = [[c.value] * n if isinstance(c, Constant) else c
                       for c in (rows.column_data[p] for p in positions)]
        else:
            columns = [list(map(itemgetter(p), rows)) for p in positions]
        if len(columns) == 1:
            return [list(dict.fromkeys(columns[0]))]
        return [list(c) for c in zip(*dict.fromkeys(zip(*columns, strict=True)), strict=True)] or [[] for _ in columns]

    async def count_stored(self, conn: Connection, q: Upsert, keys: Sequence[Sequence[Any]]) -> int:
        """How many stored rows have one of the conflict ``keys`` (``distinct_keys``' columns), counted
        by the database: one ``COUNT`` per batch of keys, nothing but a number read back."""
        table = self.quote(q.model.table)
        fields = q.model.field_map
        per_statement = max(1, (self.max_params - 1) // len(q.conflict_on))
        stored = 0
        for start in range(0, len(keys[0]), per_statement):
            b = SQLBuilder(self)
            batch = [column[start : start + per_statement] for column in keys]
            if len(batch) == 1:
                where = self.compile_cond(b, Cond(fields[q.conflict_on[0]], "in", tuple(batch[0])))
            else:
                where = self.keys_in(b, q.model, q.conflict_on, list(zip(*batch, strict=True)))
            stored += int((await conn.fetch(f"SELECT COUNT(*) FROM {table} WHERE {where}", b.params))[0][0])
        return stored

    def keys_in(self, b: SQLBuilder, model: ModelSpec, columns: Sequence[str], keys: Sequence[Sequence[Any]]) -> str:
        """A condition true for the rows whose ``columns`` equal one of ``keys`` (canonical values)."""
        fields = model.field_map
        if len(columns) == 1:
            return self.compile_cond(b, Cond(fields[columns[0]], "in", tuple(key[0] for key in keys)))
        tuples = ", ".join("(" + ", ".join(b.bind_field(fields[c], v) for c, v in zip(columns, key, strict=True)) + ")"
                           for key in keys)
        return self.row_in(", ".join(self.quote(c) for c in columns), tuples)

    def row_in(self, columns: str, tuples: str) -> str:
        """``(a, b) IN ((…), (…))``; SQLite spells the right-hand side as a ``VALUES`` subquery."""
        return f"({columns}) IN ({tuples})"

    def conflict_key(self, q: Upsert, row: Sequence[Any]) -> tuple[Any, ...]:
        """A row's conflict key, decoded the way ``existing_keys`` decodes stored ones."""
        return self.conflict_keys(q, (row,))[0]

    def conflict_keys(self, q: Upsert, rows: Sequence[Sequence[Any]] | None = None) -> list[tuple[Any, ...]]:
        """The conflict keys of ``rows`` (default: all of ``q``'s), in order, as ``conflict_key`` makes them."""
        fields = q.model.field_map
        plan = [(q.columns.index(c), fields[c], self.decoder(fields[c])) for c in q.conflict_on]
        encode = self.encode

        def key(row: Sequence[Any]) -> tuple[Any, ...]:
            parts = []
            for position, field, decode in plan:
                encoded = encode(field, row[position])
                parts.append(decode(encoded) if decode is not None and encoded is not None else encoded)
            return tuple(parts)

        return [key(row) for row in (q.rows if rows is None else rows)]

    async def run_upsert(self, conn: Connection, q: Upsert) -> list[dict[str, Any]] | tuple[int, int]:
        """``ON CONFLICT (…) DO UPDATE``: rows flagged ``__created__``, or ``(inserted, updated)``.

        The counts come from the stored rows counted before the statement (the created flags from the
        conflict keys read before it), so callers run this inside a transaction; a dialect with a
        cheaper signal (PostgreSQL's xmax) overrides.
        """
        if not q.returning:
            keys = self.distinct_keys(q)
            stored = await self.count_stored(conn, q, keys)
            for rows in self.insert_batches(q):
                sql, params = self.compile_upsert(q, rows)
                await conn.execute(sql, params)
            return len(keys[0]) - stored, len(q.rows) - len(keys[0]) + stored
        existing = await self.existing_keys(conn, q)
        decode = self.row_decoder(q.model)
        records: list[dict[str, Any]] = []
        for rows in self.insert_batches(q):
            sql, params = self.compile_upsert(q, rows)
            records += [decode(r) for r in await conn.fetch(sql, params)]
        for record in records:
            record["__created__"] = tuple(record[c] for c in q.conflict_on) not in existing
        return records


LIKE_ESCAPE = "!"
"""The escape character of the LIKE patterns dialects send (chosen because no SQL dialect quotes it)."""


def like_tokens(pattern: str) -> Iterator[tuple[str, bool]]:
    """A ``$like`` pattern as ``(character, is_wildcard)`` pairs, by the rule of every dialect.

    ``%`` matches any run of characters and ``_`` one character; a backslash makes the ``%``, ``_``
    or backslash after it literal, and is itself literal before anything else (so ``x\\y`` matches
    the text ``x\\y``, as a user reading the pattern would expect).
    """
    index, end = 0, len(pattern)
    while index < end:
        char = pattern[index]
        if char == "\\" and index + 1 < end and pattern[index + 1] in "%_\\":
            yield pattern[index + 1], False
            index += 2
            continue
        yield char, char in "%_"
        index += 1


def like_pattern(pattern: str) -> str:
    """A ``$like`` pattern for SQL ``LIKE … ESCAPE '!'`` (``LIKE_ESCAPE``): literals escaped, wildcards kept."""
    return "".join(char if wild or char not in "%_!" else LIKE_ESCAPE + char for char, wild in like_tokens(pattern))


_READS = (Select, Count, Aggregate)
"""Queries that change nothing, so can run again after their connection was lost."""


def session_lost(server: str, exc: BaseException, *, writing: bool, in_transaction: bool = False,
                 committing: bool = False, table: str | None = None) -> DataFlowError | None:
    """The DF-coded error for a session with ``server`` that ended under a statement, or None for a read.

    Inside a transaction, before its COMMIT, nothing was applied: the server rolls back a transaction
    whose session ends (DF-511). A write on its own, or a COMMIT, may have been applied just before
    the session ended, and nothing can tell (DF-510).
    """
    context: dict[str, Any] = {"dialect": server, "detail": str(exc)[:300]}
    if table is not None:
        context["table"] = table
    causes = ["The server ended the session (a restart, a failover, an administrator's kill, an idle timeout).",
              "The network between DataFlow and the server dropped the connection."]
    if in_transaction and not committing:
        return DataFlowError(
            "DF-511",
            f"The connection to the {server} server was lost inside a transaction; the server rolls such a "
            "transaction back, so none of its writes were applied.",
            context=context, causes=causes,
            solutions=["Run the operation (or the whole transaction) again: nothing of it was kept."])
    if writing or committing:
        return DataFlowError(
            "DF-510",
            f"The connection to the {server} server was lost while a write "
            f"{'was being committed' if committing else 'was running'}: whether it was applied is unknown.",
            context=context, causes=causes,
            solutions=["Read the row back (by id or a unique field) before trying again, so that the write "
                       "is not made twice.", "An upsert, or an update to fixed values, can be run again as it is."])
    return None


def idle_socket_readable(transport: Any) -> bool:
    """True when an idle pooled connection's socket has something the event loop has not read yet.

    Between operations a server sends a session nothing but its goodbye (an error message, then the
    end of the stream) when it ends the session, so such a connection is not handed out: a statement
    sent on it would fail, or worse, leave a write's outcome unknown. One ``poll`` system call, with no
    round trip to the server.
    """
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


_GROUP = 64


def _balanced(joiner: str, parts: list[str]) -> str:
    """``(a OR b OR …)``, nested in groups of 64 when long: a parser reads ``a OR b OR c …`` as a
    chain as deep as it is long, and SQLite refuses expressions deeper than 1,000 ("Expression tree
    is too large"); groups keep a 100,000-term filter about 200 deep."""
    while len(parts) > _GROUP:
        parts = ["(" + joiner.join(parts[i : i + _GROUP]) + ")" for i in range(0, len(parts), _GROUP)]
    return "(" + joiner.join(parts) + ")"


def _same(value: Any) -> Any:
    return value


def _int_or_none(value: Any) -> Any:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> Any:
    return None if value is None else float(value)


def _or_none(decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def decoded(value: Any) -> Any:
        return None if value is None else decode(value)

    return decoded


def _averaging(total: Callable[[Any], Any], measure: Measure) -> Callable[[Any, Any], Any]:
    def average_of(summed: Any, count: Any) -> Any:
        return average(total(summed), count, measure)

    return average_of


_IMMUTABLE_KINDS = frozenset({"datetime", "date", "decimal", "bool", "float", "bytes", "int", "str"})
"""Kinds whose canonical values are immutable, so one converted value may stand for every equal one."""


def _convert_column(fn: Callable[[Any], Any], column: Sequence[Any], immutable: bool) -> list[Any]:
    """``fn`` over one column's values, NULLs kept."""
    if immutable:
        try:
            distinct = set(column)
        except TypeError:  # a driver value that cannot be hashed: convert one by one
            distinct = None
        if distinct is not None and len(distinct) * 2 <= len(column):
            converted = {v: None if v is None else fn(v) for v in distinct}
            return list(map(converted.__getitem__, column))
    if None in column:
        return [None if v is None else fn(v) for v in column]
    return list(map(fn, column))


def _decode_json(value: Any) -> Any:
    if isinstance(value, str | bytes | bytearray):
        import json

        return json.loads(value)
    return value


def _decode_datetime(value: Any) -> Any:
    if type(value) is str:
        value = parse_datetime(value)
    if isinstance(value, dt.datetime):
        # Values DataFlow wrote are already aware UTC (the common case): no conversion to make.
        return value if value.tzinfo is UTC else _utc(value)
    return value


def _decode_date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


def _decode_decimal(value: Any) -> Any:
    return value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))


def _decode_bool(value: Any) -> Any:
    return bool(value)


def _decode_bytes(value: Any) -> Any:
    return value if isinstance(value, bytes) else bytes(value)


def _decode_float(value: Any) -> Any:
    return float(value)
