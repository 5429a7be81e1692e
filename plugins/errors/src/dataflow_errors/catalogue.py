"""The DF error catalogue: the one source of truth for every error code DataFlow can raise.

Each entry says what happened, the likely causes (most likely first) and the fixes, each fix with a
short code example. The plugin's hints, ``docs/errors.md``, ``dataflow errors list | show`` and the
rich rendering are all generated from ``CATALOGUE``; nothing else lists codes.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from dataflow.errors import ErrorHint

__all__ = ["CATALOGUE", "CATEGORIES", "DOCS_PAGE", "CatalogueEntry", "Solution", "by_code", "lookup"]

DOCS_PAGE = "docs/errors.md"

CATEGORIES: dict[str, str] = {
    "1": "Parameters",
    "2": "Connections",
    "3": "Migrations",
    "4": "Configuration",
    "5": "Runtime",
    "6": "Models",
    "7": "Nodes",
    "8": "Workflows",
}
"""The first digit of a code names its range."""


@attrs.frozen
class Solution:
    """One way to fix an error, with a short code example."""

    text: str
    example: str = ""


@attrs.frozen
class CatalogueEntry:
    """Everything known about one DF code."""

    code: str
    title: str
    summary: str
    """What happened, in a sentence or two."""
    causes: tuple[str, ...]
    solutions: tuple[Solution, ...]

    @property
    def category(self) -> str:
        return CATEGORIES[self.code[3]]

    @property
    def anchor(self) -> str:
        return self.code.lower()

    @property
    def docs(self) -> str:
        return f"{DOCS_PAGE}#{self.anchor}"

    def hint(self) -> ErrorHint:
        """The catalogue's knowledge as the kernel's ErrorHint (the first fix's example comes along)."""
        return ErrorHint(
            code=self.code,
            title=self.title,
            causes=self.causes,
            solutions=tuple(s.text for s in self.solutions),
            docs=self.docs,
            example=next((s.example for s in self.solutions if s.example), ""),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "title": self.title,
            "category": self.category,
            "summary": self.summary,
            "causes": list(self.causes),
            "solutions": [{"text": s.text, "example": s.example} for s in self.solutions],
            "docs": self.docs,
        }


def _entry(code: str, title: str, summary: str, causes: Iterable[str],
           solutions: Iterable[tuple[str, str]]) -> CatalogueEntry:
    return CatalogueEntry(code, title, summary, tuple(causes), tuple(Solution(t, e) for t, e in solutions))


CATALOGUE: tuple[CatalogueEntry, ...] = (
    # ---- 1xx parameters ------------------------------------------------------------------------
    _entry(
        "DF-101", "Missing required parameter",
        "A node, template or operation needs a parameter or field that was not given.",
        ["A required field of the model is missing from the data (an explicit `id: str` must be supplied).",
         "A template `${name}` names neither an upstream node nor a run input.",
         "An update or upsert node got no `fields` / `where`, or a single-row node got neither `id` "
         "nor `filter`."],
        [("Pass every required field; fields with a default or `Optional[...]` may be left out.",
          'wf.add_node("UserCreateNode", "create", {"id": "u1", "name": "Alice", "email": "a@x.io"})'),
         ("Give the run the inputs its templates use.",
          'runtime.execute(wf.build(), parameters={"user_id": "u1"})'),
         ("Identify the row of a single-row node.",
          'wf.add_node("UserUpdateNode", "up", {"filter": {"id": "u1"}, "fields": {"name": "Bob"}})')],
    ),
    _entry(
        "DF-102", "Invalid parameter value",
        "A parameter has the wrong type or names something that does not exist: an unknown field, node "
        "parameter or filter operator, a value of the wrong type, or a bad `order_by`.",
        ["A misspelled field, parameter or operator (the message names the closest valid one).",
         "A value of the wrong type (a string for an int field, a list where a dict is expected).",
         "`order_by` entries that are not field names, `-field`, or `{field: 1 | -1}`."],
        [("Use the name the message suggests.",
          'wf.add_node("UserListNode", "ls", {"filter": {"age": {"$gte": 18}}})'),
         ("Pass values of the field's type; ISO-8601 strings are accepted for datetimes.",
          '{"age": 30, "joined": "2024-05-01T12:00:00Z"}'),
         ("Write order_by as a list of field names, `-` for descending.",
          '{"order_by": ["-age", "name"]}')],
    ),
    _entry(
        "DF-104", "Auto-managed field set",
        "The caller set `created_at` or `updated_at`, which DataFlow manages itself.",
        ["`created_at` / `updated_at` were copied from a read result into create or update data.",
         "An import script passes every column of a source row."],
        [("Drop the managed fields from the data; DataFlow stamps them.",
          'row = {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}'),
         ("Keep your own timestamp in a field of its own.",
          "class Event:\n    id: str\n    happened_at: datetime")],
    ),
    _entry(
        "DF-106", "Confirmation needed",
        "A bulk update or delete with an empty filter would touch every row; it needs `confirmed=True`.",
        ["The filter is empty by mistake (a template resolved to `{}`, a variable was not set).",
         "The intent really is to change every row, but the node was not told so."],
        [("Add a filter that selects the rows you mean.",
          'wf.add_node("UserBulkDeleteNode", "purge", {"filter": {"active": False}})'),
         ("Confirm that every row is meant.",
          'wf.add_node("UserBulkDeleteNode", "purge", {"filter": {}, "confirmed": True})')],
    ),
    # ---- 2xx connections -----------------------------------------------------------------------
    _entry(
        "DF-107", "Regular expression refused",
        "A `$regex` pattern is not valid for the database, or matching it costs more than the budget: "
        "on SQLite one value may take 0.1 s (the match runs in Python), on MariaDB the server's PCRE "
        "match limit applies (where it would otherwise treat the value as not matching).",
        ["A typo in the pattern (an unclosed `(` or `[`).",
         "Nested quantifiers such as `(a+)+` or `(a|aa)+`, which backtrack exponentially on a near-match."],
        [("Fix the pattern; the message quotes the database's complaint.",
          '{"filter": {"name": {"$regex": "^Al(ice|ex)$"}}}'),
         ("Anchor the pattern and drop nested quantifiers, or use `$like`.",
          '{"filter": {"name": {"$like": "Al%"}}}')],
    ),
    _entry(
        "DF-201", "Connection mismatch",
        "A workflow connection or template names an output the source node does not produce or an input "
        "the target does not take, the types at its two ends can never match (\"Type mismatch\"), or an "
        "argument of `add_connection` is not a non-empty string.",
        ["A misspelled output name (the message lists what the node returned).",
         "A dotted path that walks into a value without that key (`result.filter` on a list).",
         "The source node returns its row flat: use `id`, not `result.id`.",
         "An output of one type feeds an input of another (a `count` into a `str` field)."],
        [("Connect an output the source really returns.",
          'wf.add_connection("create", "id", "read", "id")'),
         ("Walk nested outputs with a dotted path.",
          'wf.add_connection("list", "records.0.id", "read", "id")'),
         ("See the type at each end of every connection.",
          "dataflow validate my_workflow.py   # or Inspector(wf).validate_connections()")],
    ),
    # ---- 3xx migrations ------------------------------------------------------------------------
    _entry(
        "DF-301", "Migration failed",
        "A schema migration failed while it was applied; it was rolled back where the database allows "
        "(PostgreSQL and SQLite roll back DDL; MySQL commits each DDL statement).",
        ["Existing rows violate a new constraint (NOT NULL, UNIQUE, a narrower type).",
         "Another process changed the table at the same time.",
         "The database user lacks the privilege to alter the table."],
        [("Fix the data first, then migrate again.",
          'UPDATE users SET email = id || \'@example.invalid\' WHERE email IS NULL;'),
         ("Look at the planned steps before applying them.",
          "dataflow migrate plan --url postgresql://app@db:5432/app")],
    ),
    _entry(
        "DF-302", "Migration needs confirmation",
        "A migration was refused because its risk (dropping a column or table, narrowing a type, a "
        "rename that may lose data) needs explicit confirmation.",
        ["A field was removed or renamed in the model while its column still holds data.",
         "A field's type changed to one that cannot hold every existing value."],
        [("Review the risk report, then confirm the migration.",
          "dataflow migrate apply --confirm"),
         ("Keep the old field until its data is moved.",
          "class User:\n    id: str\n    email: str\n    legacy_email: Optional[str] = None")],
    ),
    _entry(
        "DF-303", "Schema introspection unavailable",
        "The migration planner cannot read the live schema of this database: its dialect has no schema "
        "reader.",
        ["A third-party dialect (DuckDB …) used with the migrate plugin, which reads SQLite, PostgreSQL "
         "and MySQL / MariaDB schemas.",
         "A dialect plugin that reports a name the migrate plugin does not know."],
        [("Use a database the migrate plugin can read.",
          'db = DataFlow("postgresql://app@localhost:5432/app")'),
         ("Turn automatic migrations off and manage the schema yourself.",
          'db = DataFlow("duckdb:///analytics.duckdb", auto_migrate=False)')],
    ),
    _entry(
        "DF-304", "Table missing",
        "The model's table does not exist and DataFlow was told not to create it.",
        ["`auto_migrate=False` or `existing_schema_mode=True` on a database without the table.",
         "The model's table name differs from the real one (`User` → `users`)."],
        [("Let DataFlow create the table.",
          'db = DataFlow("sqlite:///app.db", auto_migrate=True)'),
         ("Point the model at the existing table.",
          'class User:\n    __tablename__ = "app_users"\n    id: str')],
    ),
    _entry(
        "DF-305", "Schema mismatch",
        "The table exists but lacks columns for fields of the model, and migrations are off.",
        ["A field was added to the model but the table was not migrated.",
         "`existing_schema_mode=True` on a table the model does not match."],
        [("Enable migrations so the missing columns are added.",
          'db = DataFlow(url, auto_migrate=True, existing_schema_mode=False)'),
         ("Make the field optional in the model, or add the column yourself.",
          "ALTER TABLE users ADD COLUMN nickname TEXT;")],
    ),
    _entry(
        "DF-307", "Migration lock timeout",
        "The migration lock could not be acquired in time: another process is migrating the same database.",
        ["Several application processes start together and all try to migrate.",
         "A crashed migration left a session holding the lock."],
        [("Retry after the other migration finishes, or migrate from one process before starting "
          "the workers.",
          "python -m app.migrate && gunicorn app:app -w 4  # one migrator, then the workers"),
         ("Find the session holding the lock (PostgreSQL advisory lock) and end it if it is stale.",
          "SELECT pid FROM pg_locks WHERE locktype = 'advisory';")],
    ),
    # ---- 4xx configuration ---------------------------------------------------------------------
    _entry(
        "DF-308", "Not available on this database",
        "A schema operation needs something this database does not offer (its dialect does not declare "
        "the capability): a scratch database for a staging copy, for example.",
        ["The dialect (often a third-party one) does not implement that part of the contract.",
         "The database itself has no such thing (SQLite has no schemas to copy into)."],
        [("See what the dialect declares.",
          "print(db.dialect.capabilities)"),
         ("Rehearse the migration on a database that offers it, or skip the step that needs it.",
          'staging = StagingEnvironmentManager(DataFlow("postgresql://app@localhost/app"))')],
    ),
    _entry(
        "DF-401", "Invalid configuration",
        "The database URL or a `DataFlow(...)` / runtime option is invalid: an unknown option, a value of "
        "the wrong type, or a URL that cannot be parsed.",
        ["A misspelled option (the message names the closest known one).",
         "An option value of the wrong type (`pool_size='10'`).",
         "A URL without `scheme://`, or with a port that is not a number."],
        [("Use the option name the message suggests.",
          'db = DataFlow("sqlite:///app.db", auto_migrate=True)'),
         ("Write the URL as scheme://user@host:port/database.",
          'db = DataFlow("postgresql://app@localhost:5432/app")')],
    ),
    _entry(
        "DF-402", "Database unreachable",
        "DataFlow could not connect to the database, or a SQLite file could not be opened.",
        ["The server is not running, or the host / port is wrong.",
         "A firewall or the server's authentication rules reject the connection.",
         "The SQLite file's directory does not exist or is not writable."],
        [("Check that the server answers at the URL's host and port.",
          "pg_isready -h localhost -p 5432"),
         ("Use a directory that exists for a SQLite file.",
          'db = DataFlow("sqlite:///data/app.db")  # mkdir -p data first')],
    ),
    _entry(
        "DF-403", "Dialect or runtime not available",
        "No installed, enabled plugin serves the URL's scheme (or offers the runtime asked for); the "
        "message names the package.",
        ["The dialect plugin is not installed (`dataflow-postgresql`, `dataflow-mysql`).",
         "The plugin is installed but disabled, or its driver is missing.",
         "A typo in the URL scheme (`postgressql://`)."],
        [("Install the plugin for the database.",
          "pip install dataflow-postgresql"),
         ("Check which plugins are active.",
          "dataflow plugins list")],
    ),
    _entry(
        "DF-404", "Plugin error",
        "A plugin could not be enabled, disabled or registered: an unknown or essential plugin, a blocked "
        "one, or two plugins offering the same name.",
        ["A misspelled plugin name.",
         "Trying to disable the kernel's essential `builtin` plugin.",
         "Two plugins both add the same `db.<method>`."],
        [("List the installed plugins and their names.",
          "dataflow plugins list"),
         ("Disable one of two conflicting plugins.",
          'db = DataFlow(url, disable_plugins=["inspector"])')],
    ),
    _entry(
        "DF-405", "Plugin failed while setting up an instance",
        "A plugin's `dataflow_db_methods` hook raised while `DataFlow(...)` was being made. The instance "
        "would have lacked that plugin's `db.<methods>`, so it is not made; the message names the "
        "plugin and the original exception is chained.",
        ["A bug in the plugin, or an option it needs is missing or wrong.",
         "The plugin is older or newer than the kernel it runs on."],
        [("Disable the plugin for this instance while it is fixed.",
          'db = DataFlow(url, disable_plugins=["the-plugin"])'),
         ("See the chained traceback for the cause.",
          "python -X dev app.py  # shows the full chain")],
    ),
    _entry(
        "DF-407", "Optional component not installed",
        "A feature asked for needs a plugin or an optional package that is not installed (or is "
        "disabled); the message names what to install.",
        ["Parquet export / import without pyarrow.",
         "A Kailash import path (`dataflow.platform.inspector`) whose plugin (dataflow-inspector) is absent.",
         "The plugin is installed but disabled."],
        [("Install what the message names.",
          "pip install 'dataflow-export[parquet]'"),
         ("Check which plugins are active.",
          "dataflow plugins list")],
    ),
    _entry(
        "DF-408", "Command not available",
        "The `dataflow` command asked for comes from a plugin that is not installed, or is disabled; the "
        "message names the plugin and its package.",
        ["The plugin's package is not installed (a minimal install has only the core plugins).",
         "The plugin is disabled (the message says where: the project file, the user file, the "
         "environment, or `-p no:NAME`)."],
        [("See each plugin's status and why one is off.",
          "dataflow plugins list"),
         ("Install the package the message names, or enable the plugin where it was disabled.",
          "pip install dataflow-inspector\ndataflow plugins enable inspector")],
    ),
    _entry(
        "DF-410", "Tenant isolation not available",
        "`tenant_isolation=\"schema\"` (a schema per tenant) was asked of a database that cannot keep "
        "one: only PostgreSQL has schemas that a connection can switch between. Nothing was set up.",
        ["The instance is on SQLite or MySQL / MariaDB.",
         "The option was copied from a PostgreSQL deployment."],
        [("Keep a tenant column in shared tables instead (the default).",
          'db = DataFlow(url, multi_tenant=True, tenant_isolation="row")'),
         ("Use PostgreSQL for schema-per-tenant isolation.",
          'db = DataFlow("postgresql://app@db/saas", multi_tenant=True, tenant_isolation="schema")')],
    ),
    _entry(
        "DF-411", "Invalid protection or audit setting",
        "A write-protection rule or an audit setting of dataflow-protect cannot be used: an unknown level or "
        "key, a value of the wrong type, a window that is not a time range, a rule naming a model or field "
        "the instance does not have, or a runtime rule whose 'when' raised (the write is then refused).",
        ["A typo in a level, key, model or field name (the message names the closest one).",
         "A runtime rule with both 'when' and 'window', or neither.",
         "A rule's 'when' function failed on the context it was given."],
        [("Give each rule its level and what it says at that level.",
          'DataFlow(url, write_protection=[{"level": "model", "model": "Invoice", "read_only": True}])'),
         ("Spell a window as days and a time range.",
          'db.protection.add_rule(level="runtime", window="Mon-Fri 09:00-17:00", tz="UTC", allow_inside=True)')],
    ),
    _entry(
        "DF-413", "Database file in use by another process",
        "An embedded database that one process at a time may open for writing (DuckDB) is open in another "
        "process, so this one cannot open it.",
        ["A second worker process (gunicorn, uvicorn --workers, multiprocessing) on the same DuckDB file.",
         "A notebook, the duckdb shell or another program still has the file open."],
        [("Run one process per DuckDB file, or close the other program first.",
          'db = DataFlow("duckdb:///analytics.duckdb")  # in a single worker'),
         ("Use a server database for several processes writing one database.",
          'db = DataFlow("postgresql://app@localhost:5432/app")')],
    ),
    _entry(
        "DF-414", "Invalid read-replica settings",
        "The read-replica options cannot work as given: `read_replicas` is not a list of URLs, a replica is "
        "another kind of database than the primary, the database has no replicas (SQLite), or a number "
        "(`max_replica_lag`, `read_your_writes_window`, `replica_check_interval`) is out of range.",
        ["A single URL given where a list is expected.",
         "A replica URL of another scheme (a MySQL replica for a PostgreSQL primary).",
         "`db.replica_metrics()` on an instance made without `read_replicas`."],
        [("Give the replicas as a list of URLs of the same database kind.",
          'db = DataFlow("postgresql://primary/app", read_replicas=["postgresql://replica1/app"], '
          "max_replica_lag=2.0)"),
         ("Numbers are seconds: lag and window ≥ 0, check interval > 0.",
          'DataFlow(url, read_replicas=[r1], read_your_writes_window=5, replica_check_interval=1)')],
    ),
    _entry(
        "DF-415", "Operation not available for the model",
        "A direct call (`db.express`) asked for an operation the model has no node for on this instance; "
        "the message lists the operations it has.",
        ["A misspelt operation (`db.express.cout`).",
         "The node comes from a plugin that is not installed or is disabled (`aggregate` needs the "
         "plugin that generates `<Model>AggregateNode`).",
         "The operation is not a name (`db.express.call(\"User\", 7)`)."],
        [("Use one of the operations the message lists.",
          'await db.express.count("User", {"active": True})'),
         ("Check the plugins: the one generating the node must be installed and enabled.",
          "dataflow plugins list")],
    ),
    # ---- 5xx runtime ---------------------------------------------------------------------------
    _entry(
        "DF-501", "Runtime failure",
        "The runtime could not run the operation: a synchronous call from inside DataFlow's own event "
        "loop, a timeout, or a cancellation.",
        ["`LocalRuntime().execute()` or `db.close()` called from async code running on DataFlow's loop.",
         "The operation took longer than its timeout."],
        [("In async code use the async runtime and methods.",
          "results, run_id = await AsyncLocalRuntime().execute_workflow_async(wf.build())"),
         ("Close the instance with the async method inside a loop.",
          "await db.close_async()")],
    ),
    _entry(
        "DF-503", "Database error",
        "The database reported an error that has no more specific code (a CHECK constraint, a type the "
        "driver cannot bind, a server-side failure).",
        ["A constraint of the table that the model does not know about (CHECK, trigger).",
         "A value outside what the column can hold (an integer beyond 64 bits)."],
        [("Read the chained driver error (`exc.__cause__`) for the database's own words.",
          "except DataFlowError as exc:\n    print(exc.__cause__)"),
         ("Keep values within the column's range.",
          '{"quantity": 2**31 - 1}')],
    ),
    _entry(
        "DF-507", "Connection pool exhausted",
        "Every connection of the pool was busy for longer than `pool_timeout` seconds.",
        ["More concurrent operations than `pool_size + max_overflow`.",
         "Long transactions (or leaked connections) hold connections."],
        [("Give the pool more connections or more patience.",
          'db = DataFlow(url, pool_size=20, max_overflow=10, pool_timeout=30)'),
         ("Keep transactions short: do slow work outside `db.transaction()`.",
          "async with db.transaction() as conn:\n    await dialect.run(query, conn)")],
    ),
    _entry(
        "DF-508", "Database locked or deadlocked",
        "The database refused the statement because another transaction holds a conflicting lock "
        "(SQLite `database is locked`, a deadlock on PostgreSQL / MySQL).",
        ["Another process or connection holds a long write transaction.",
         "Two transactions update the same rows in opposite orders."],
        [("Retry the operation; keep write transactions short.",
          "for attempt in range(3):\n    try:\n        return runtime.execute(wf.build())\n"
          "    except DataFlowError as exc:\n        if exc.code != 'DF-508': raise"),
         ("Wait longer for SQLite's write lock (busy_timeout, seconds; default 5).",
          'db = DataFlow("sqlite:///app.db", busy_timeout=30)')],
    ),
    _entry(
        "DF-509", "Transaction no longer usable",
        "A statement was given to a transaction that cannot take it: the transaction has ended, belongs to "
        "another event loop, or was aborted by an earlier failed statement (it can then only be rolled back; "
        "leaving the block rolls it back and raises this).",
        ["An error inside `with db.transaction():` was caught and the block went on writing.",
         "A transaction opened in one event loop (or thread's `asyncio.run`) was used from another.",
         "A connection object kept after its `with db.transaction()` block ended."],
        [("Let the error leave the block (everything is rolled back), or run the statement that may fail in "
          "a nested block: the savepoint takes the failure and the transaction goes on.",
          "with db.transaction():\n    try:\n        with db.transaction():   # a savepoint\n"
          "            runtime.execute(risky)\n    except DataFlowError:\n        pass\n"
          "    runtime.execute(rest)"),
         ("Open the transaction where its work runs (the same thread, or the same event loop).",
          "async with db.transaction():\n    await AsyncLocalRuntime().execute_workflow_async(wf.build())")],
    ),
    _entry(
        "DF-510", "Write outcome unknown (connection lost)",
        "The session with the database server ended while a write was running on its own, or while a "
        "transaction was being committed. The server may have applied it just before the session ended, "
        "and nothing tells whether it did. Reads are never this error: a read that loses its connection "
        "runs once more on a fresh one.",
        ["The server ended the session: a restart, a failover, an administrator's kill "
         "(`pg_terminate_backend`, `KILL CONNECTION`), an idle timeout.",
         "The network between DataFlow and the server dropped the connection."],
        [("Read the row back before trying again, so the write is not made twice.",
          'run_node("UserReadNode", {"id": "u1", "raise_on_not_found": False})'),
         ("Prefer writes that can be repeated safely: an upsert converges whether or not the first "
          "attempt landed.",
          'wf.add_node("UserUpsertNode", "save", {"where": {"id": "u1"}, "create": {...}, "update": {...}})')],
    ),
    _entry(
        "DF-511", "Connection lost inside a transaction (nothing applied)",
        "The session with the database server ended inside a transaction, before its COMMIT. The server "
        "rolls such a transaction back, so none of its writes were applied: it is safe to run again. (A "
        "node that runs its own transaction does so by itself, once; this error comes from your "
        "`db.transaction()` or `transaction=True` workflow.)",
        ["The server ended the session: a restart, a failover, an administrator's kill, an idle timeout.",
         "The network between DataFlow and the server dropped the connection."],
        [("Run the operation (or the whole transaction, or the workflow with `transaction=True`) again.",
          "results, run_id = runtime.execute(wf.build())")],
    ),
    _entry(
        "DF-512", "Statement timed out",
        "A statement ran longer than `statement_timeout` (default 300 s) and the database stopped it. "
        "Nothing it would have written was kept.",
        ["A filter that cannot use an index on a large table.",
         "A very large bulk write or migration in one statement."],
        [("Narrow the filter, or add an index on the filtered field.",
          '__dataflow__ = {"indexes": [{"fields": ["email"]}]}'),
         ("Raise the limit (seconds; 0 means none).",
          'db = DataFlow(url, statement_timeout=900)')],
    ),
    _entry(
        "DF-515", "TDD transaction lost",
        "The transaction that keeps a TDD test's writes (`tdd_mode=True`, the `tdd_dataflow` fixture) could not "
        "be rolled back, or is no longer held. A lost connection is rolled back by the server itself; a "
        "transaction committed by hand is not.",
        ["The database connection was closed or killed during the test (a server restart, "
         "pg_terminate_backend, KILL).",
         "The test ran COMMIT by hand through `db.connection()`.",
         "`tdd_test_context.transaction` was read after its instance was closed."],
        [("Let DataFlow end the transaction: never COMMIT by hand inside a TDD test.",
          "def test_signup(tdd_dataflow):\n    ...   # rolled back when the test ends"),
         ("Check the rows the test wrote are gone, with a fresh instance, if the connection was lost.",
          'DataFlow(url)  # then count the rows')],
    ),
    _entry(
        "DF-516", "Auto-migration blocked by the test's own transaction",
        "On MySQL / MariaDB schema changes commit at once, so inside a TDD transaction auto-migration runs on a "
        "connection of its own; that connection waited for a lock the test's own transaction holds on the "
        "table (the test already wrote to it) and was stopped rather than left to wait for ever.",
        ["A model whose table the test already wrote to got a new field (a second model, or a second "
         "instance, on the same table) inside the same TDD test."],
        [("Create the tables before the tests write to them: migrations, or a session fixture outside TDD.",
          "@pytest.fixture(scope=\"session\", autouse=True)\ndef schema():\n"
          "    with DataFlow(url) as db:\n        declare_models(db)\n"
          "        for model in db.models.values():\n            asyncio.run(db.ensure_ready(model))"),
         ("Register every version of a model before the test's first write to its table.",
          "@db.model\nclass User:  # every field the test needs, declared up front\n"
          "    id: str\n    nickname: str = \"\"")],
    ),
    # ---- 6xx models ----------------------------------------------------------------------------
    _entry(
        "DF-517", "Write conflict (optimistic concurrency)",
        "DuckDB aborted a write because another connection changed the same rows, or the same table's schema, "
        "in a transaction that committed first (DuckDB does not make writers wait for each other). Nothing of "
        "the aborted transaction was applied. DataFlow's own writers take turns and never meet this; it comes "
        "from a connection opened outside DataFlow on the same file.",
        ["Code outside DataFlow (`duckdb.connect` on the same file, in the same process) wrote the same rows "
         "at the same time."],
        [("Run the operation again: nothing of it was kept.",
          "results, run_id = runtime.execute(wf.build())"),
         ("Write through one DataFlow instance, whose writers wait for each other.",
          'db = DataFlow("duckdb:///analytics.duckdb")')],
    ),
    _entry(
        "DF-518", "No usable read replica",
        "Every read replica is down, not replicating, or further behind the primary than `max_replica_lag`. "
        "Reads then run on the primary (logged once as a warning until a replica is usable again); with "
        "`replica_fallback=\"error\"` the read raises this error instead.",
        ["The replicas are stopped or unreachable.",
         "Replication is paused or broken (PostgreSQL: replay paused; MariaDB: the slave SQL thread stopped).",
         "A burst of writes put the replicas further behind than `max_replica_lag`."],
        [("See each replica's state and last measured lag.",
          "print(db.replica_metrics())"),
         ("Allow more lag if the replicas are only a little behind.",
          "db = DataFlow(url, read_replicas=[r1, r2], max_replica_lag=10)")],
    ),
    _entry(
        "DF-519", "Not a read replica",
        "A URL given in `read_replicas` points at a server that replicates from no primary (PostgreSQL: "
        "`pg_is_in_recovery()` is false; MariaDB: `SHOW SLAVE STATUS` is empty). Its rows may be anything, "
        "so it is never read from; `db.check_replicas()` raises this error naming it.",
        ["The primary's own URL, or another primary's, listed as a replica.",
         "A replica that was promoted (failover) and no longer follows the primary."],
        [("List only streaming replicas of this primary.",
          'db = DataFlow(primary_url, read_replicas=["postgresql://replica1/app"])'),
         ("After a failover, point the primary URL at the new primary and the replicas at its replicas.",
          "db.check_replicas()  # raises DF-519 while one is not a replica")],
    ),
    _entry(
        "DF-601", "Primary key missing or misnamed",
        "The primary key is always `id` (str: the caller supplies it; int or absent: generated); the "
        "model asks for another name or type.",
        ["`__dataflow__ = {'primary_key': 'user_id'}`.",
         "`id` declared with a type other than `str` or `int`."],
        [("Name the key `id`.",
          "class User:\n    id: str\n    name: str"),
         ("Keep the old key as an ordinary unique field.",
          "__dataflow__ = {\"indexes\": [{\"fields\": [\"user_id\"], \"unique\": True}]}")],
    ),
    _entry(
        "DF-602", "Model already registered",
        "A model of that name is already registered on this DataFlow instance.",
        ["The same class is decorated twice (a module imported twice, a test re-running set-up).",
         "Two different classes share one name."],
        [("Give the second model its own class name.",
          "@db.model\nclass ArchivedUser:\n    id: str"),
         ("Use a separate instance for a separate database.",
          'archive = DataFlow("sqlite:///archive.db", name="archive")')],
    ),
    _entry(
        "DF-603", "Invalid model declaration",
        "The model class cannot be read: it is not a class, its annotations cannot be resolved, or a "
        "field has a type DataFlow cannot store.",
        ["A field type outside `str int float bool datetime date Decimal bytes dict list` and "
         "`Optional[...]`.",
         "A forward reference in an annotation that cannot be resolved.",
         "`@db.model` applied to something that is not a class."],
        [("Use a supported type; store other structures as `dict` (JSON).",
          "class Order:\n    id: str\n    items: list\n    meta: dict = {}"),
         ("Import the names the annotations use at module level.",
          "from datetime import datetime\nfrom typing import Optional")],
    ),
    _entry(
        "DF-605", "Unknown model",
        "No model of that name is registered on this instance.",
        ["A misspelled model name (the message names the closest one).",
         "The model was registered on another DataFlow instance."],
        [("Use the registered name.", "db.get_model(\"User\")"),
         ("List the models of the instance.", "print(db.list_models())")],
    ),
    _entry(
        "DF-607", "Invalid identifier",
        "A model, table, field or index name cannot be stored alike on every database: it holds "
        "characters other than ASCII letters, digits and `_` (a space, a newline, a control character), "
        "starts with a digit, or is longer than 63 characters (PostgreSQL's limit).",
        ["A field or `__tablename__` with a trailing newline, space or punctuation.",
         "A long class name whose derived table name passes 63 characters.",
         "A model class made with `type()` from a name that is not an identifier."],
        [("Use ASCII letters, digits and underscores.",
          'class User:\n    __tablename__ = "users"\n    first_name: str'),
         ("Shorten a long table name with `__tablename__`.",
          'class CustomerSubscriptionRenewalReminderSchedule:\n    __tablename__ = "renewal_reminders"')],
    ),
    _entry(
        "DF-608", "Identifier clash",
        "Two names differ only in letter case (fields `a` and `A`, tables `Users` and `users`, index "
        "names): SQLite and MySQL / MariaDB do not tell them apart, so the model would work on "
        "PostgreSQL only. Refused at registration, on every database.",
        ["Two fields of one model differ only in case.",
         "Two models' tables, or two index names of one instance, differ only in case."],
        [("Rename one of the two.",
          "class Point:\n    x_upper: int\n    x: int"),
         ("Give each index a distinct name.",
          '__dataflow__ = {"indexes": [{"name": "ix_orders_email", "fields": ["email"]}]}')],
    ),
    _entry(
        "DF-609", "Native arrays not available on this database",
        "A model (its `__dataflow__`) or the instance asks for `use_native_arrays`, but the database has no "
        "array columns: only PostgreSQL stores `List[str]` / `List[int]` / `List[float]` as `TEXT[]` / "
        "`INTEGER[]` / `REAL[]`. Refused when the model is registered (the instance option when the instance "
        "is made), before any table is touched.",
        ["`use_native_arrays: True` on a SQLite or MySQL / MariaDB instance.",
         "A model written for PostgreSQL run against another database in development or tests."],
        [("Leave the option out: lists are stored as JSON, and `$contains` / `$overlap` / `$any` still work.",
          '@db.model\nclass Post:\n    id: str\n    tags: List[str]'),
         ("Or turn it on only where the database is PostgreSQL.",
          '__dataflow__ = {"use_native_arrays": db.url.scheme.startswith("postgres")}')],
    ),
    _entry(
        "DF-610", "Index method not available",
        "An index asks for an index method (`\"using\": \"gin\"`) the database does not have, or one that "
        "does not serve the field (GIN indexes list and JSON fields). Refused at model registration.",
        ["A GIN index declared on SQLite or MySQL / MariaDB (GIN is PostgreSQL's).",
         "A GIN index on a text or number field."],
        [("Use the database's default index (drop `using`).",
          '__dataflow__ = {"indexes": [{"fields": ["name"]}]}'),
         ("Keep GIN for list and JSON fields on PostgreSQL.",
          '__dataflow__ = {"use_native_arrays": True, "indexes": [{"fields": ["tags"], "using": "gin"}]}')],
    ),
    # ---- 7xx nodes -----------------------------------------------------------------------------
    _entry(
        "DF-701", "Unknown node type",
        "No node type of that name is registered (or not on the DataFlow instance asked for).",
        ["The model was not declared with `@db.model` before the workflow was built.",
         "A misspelled node name (the message names the closest one); names are `<Model><Operation>Node`.",
         "`db_instance` names an instance that did not register the model."],
        [("Declare the model first, then use its generated node.",
          '@db.model\nclass User:\n    id: str\n\nwf.add_node("UserCreateNode", "create", {"id": "u1"})'),
         ("Choose the instance explicitly.",
          'wf.add_node("UserReadNode", "read", {"id": "u1", "db_instance": db})')],
    ),
    _entry(
        "DF-703", "Record not found",
        "The read node found no row matching its `id` or `filter`.",
        ["The id is wrong, or the row was deleted.",
         "The filter names a different instance's data."],
        [("Ask for `found=False` instead of an error.",
          'wf.add_node("UserReadNode", "read", {"id": "u1", "raise_on_not_found": False})'),
         ("Check existence with a count first.",
          'wf.add_node("UserCountNode", "exists", {"filter": {"id": "u1"}})')],
    ),
    _entry(
        "DF-704", "Unique constraint violated",
        "A row with the same primary key or unique value already exists.",
        ["Creating a row whose `id` is already taken.",
         "A unique index (such as on `email`) already holds the value."],
        [("Upsert instead of create.",
          'wf.add_node("UserUpsertNode", "save", {"where": {"id": "u1"}, "create": {...}, "update": {...}})'),
         ("Skip duplicates in bulk.",
          'wf.add_node("UserBulkCreateNode", "load", {"data": rows, "conflict_resolution": "skip"})')],
    ),
    _entry(
        "DF-705", "Not-null constraint violated",
        "A column that requires a value received none.",
        ["The table has a NOT NULL column the model does not declare (existing_schema_mode).",
         "A field was declared required in the database but optional in the model."],
        [("Declare the column in the model so DataFlow fills it.",
          "class User:\n    id: str\n    tenant: str = \"default\""),
         ("Give the column a default in the database.",
          "ALTER TABLE users ALTER COLUMN tenant SET DEFAULT 'default';")],
    ),
    _entry(
        "DF-706", "Foreign key violated",
        "The row refers to a row of another table that does not exist, or a referenced row is still in use.",
        ["The parent row was not created first (or was deleted).",
         "A typo in the referencing id."],
        [("Create the parent before the child in the workflow.",
          'wf.add_connection("create_org", "id", "create_user", "org_id")'),
         ("Delete children before their parent.",
          'wf.add_node("UserBulkDeleteNode", "rm_users", {"filter": {"org_id": "o1"}})')],
    ),
    _entry(
        "DF-708", "Filter matches several rows",
        "A single-row node (read, update, delete, upsert) was given a filter that matches more than one row.",
        ["The filter names a field that is not unique.",
         "Duplicate data where a unique value was expected."],
        [("Filter on the primary key or a unique field.",
          '{"filter": {"id": "u1"}, "fields": {"name": "Bob"}}'),
         ("Use the bulk node to change every matching row.",
          'wf.add_node("UserBulkUpdateNode", "up", {"filter": {"team": "a"}, "fields": {"active": False}})')],
    ),
    _entry(
        "DF-709", "Code does not compile",
        "The code of a `PythonCodeNode` / `AsyncPythonCodeNode` has a syntax error.",
        ["A typo in the code string, or indentation that does not match.",
         "`await` used in a PythonCodeNode (only AsyncPythonCodeNode allows it)."],
        [("Fix the syntax; the message gives the line.",
          'wf.add_node("PythonCodeNode", "calc", {"code": "result = x * 2", "x": 21})'),
         ("Use AsyncPythonCodeNode for top-level await.",
          'wf.add_node("AsyncPythonCodeNode", "fetch", {"code": "result = await get()"})')],
    ),
    _entry(
        "DF-711", "Relation broken",
        "A write would break a relation declared in `__dataflow__[\"foreign_keys\"]`: the row refers to a row "
        "that does not exist, or a row still referenced (`on_delete=\"restrict\"`) was to be deleted. The "
        "message names the relation; nothing was written.",
        ["The referenced row was not created first, or the id has a typo.",
         "The row to delete is still referenced by rows of another model whose relation restricts deletes."],
        [("Create the referenced row first, and pass its id.",
          'wf.add_connection("create_user", "id", "create_post", "author_id")'),
         ("Delete the referencing rows first, or declare the relation with on_delete='cascade' or 'set_null'.",
          '__dataflow__ = {"foreign_keys": {"author_id": {"model": "User", "on_delete": "cascade"}}}')],
    ),
    _entry(
        "DF-712", "Import refused",
        "An import stopped at a line that does not fit the model (a wrong value, an unknown column, a "
        "missing required field, malformed CSV / JSON) or that the database refused (a duplicate id); the "
        "message names the line (the row, for Parquet) and nothing was written.",
        ["A value of the wrong type or format on that line (`thirty` for an int field).",
         "A column that is not a field of the model, or a required field left out.",
         "A row whose id already exists (the import is all or nothing)."],
        [("Fix the named line and run the import again.",
          'wf.add_node("UserImportNode", "load", {"path": "users.csv"})'),
         ("Keep going past rows that already exist.",
          'wf.add_node("UserImportNode", "load", {"path": "users.csv", "conflict_resolution": "skip"})')],
    ),
    _entry(
        "DF-713", "File cannot be used",
        "An export or import could not use its file: it does not exist, its folder is missing or not "
        "writable, it exists and overwrite=False, or it is not a readable Parquet file.",
        ["A typo in the path; relative paths start from the working directory.",
         "The target folder does not exist.",
         "overwrite=False and the file is already there."],
        [("Check the path and the folder.",
          'wf.add_node("UserExportNode", "dump", {"path": "exports/users.jsonl"})  # mkdir exports'),
         ("Allow replacing the file.",
          'wf.add_node("UserExportNode", "dump", {"path": "users.csv", "overwrite": True})')],
    ),
    _entry(
        "DF-714", "No current tenant",
        "A node or query used a tenant model (`multi_tenant=True`) while no tenant was current. DataFlow "
        "never reads or writes a tenant model's rows unfiltered: nothing ran.",
        ["The call is outside any `db.tenant_context.switch(...)` / `aswitch(...)` block.",
         "A thread or task started elsewhere does not inherit the tenant (context variables follow the "
         "code that set them).",
         "The workflow was run without `tenant_id=`."],
        [("Act for a tenant around the call.",
          'with db.tenant_context.switch("acme"):\n    runtime.execute(wf.build())'),
         ("Or name the run's tenant.",
          'runtime.execute(wf.build(), tenant_id="acme")'),
         ("A table every tenant shares is not a tenant model.",
          '@db.model\nclass Plan:\n    name: str\n    __dataflow__ = {"multi_tenant": False}')],
    ),
    _entry(
        "DF-715", "Another tenant's rows refused",
        "A node or query named another tenant than the current one: a row, a filter or an update that sets "
        "the tenant column to another tenant's id. Tenants only ever see and change their own rows: "
        "nothing was written.",
        ["The data carries a tenant id from elsewhere (an import, another tenant's request).",
         "An update tried to move a row to another tenant.",
         "The wrong tenant is current."],
        [("Leave the tenant column out: DataFlow sets it to the current tenant.",
          'wf.add_node("CustomerCreateNode", "c", {"email": "a@x.io"})  # tenant_id is stamped'),
         ("Act for the other tenant explicitly.",
          'with db.tenant_context.switch("globex"):\n    runtime.execute(wf.build())')],
    ),
    _entry(
        "DF-716", "Write refused by protection",
        "A write-protection rule refused the write before any SQL ran: the database is unchanged. The message "
        "names the write, the rule (its id, level and what it says) and how to change that.",
        ["A global, connection or model rule makes the data read-only.",
         "An operation rule refuses this kind of write (a 'delete' rule covers the bulk delete too).",
         "A field rule: the field is immutable after the row is created.",
         "A runtime rule: writes are refused at this time."],
        [("Remove the rule by the id the message gives.",
          "db.protection.remove_rule(3)"),
         ("Allow one model under a broader read-only rule (a more specific rule wins).",
          'db.protection.add_rule(level="model", model="AuditNote", allow=True)')],
    ),
    _entry(
        "DF-717", "Audit trail broken",
        "The audit trail's hash chain does not verify: a row was changed, removed or inserted after it was "
        "written, or the chain head no longer matches the last row. The message names the first bad row.",
        ["Someone edited or deleted rows of the audit table by hand.",
         "The audit table was restored from a backup older than its chain head (or the reverse)."],
        [("Verify the chain and see the first bad row.",
          "dataflow audit verify --url postgresql://app@db/app"),
         ("Verify from Python (require_intact() raises DF-717 instead).",
          "report = db.audit.verify()\nprint(report.ok, report.first_bad, report.reason)")],
    ),
    _entry(
        "DF-719", "Raw SQL parameters do not match",
        "The parameters of `db.fetch` / `db.fetch_one` / `db.execute` do not match the statement's `:name` "
        "placeholders: one has no value, a value is used by none, they are not a dict of names, a value "
        "cannot be bound, or the statement uses the driver's own placeholders (`?`, `$1`).",
        ["A placeholder misspelt in the statement or in the dict (the message names the closest one).",
         "A `:name` inside a string literal or a comment, which is text, not a placeholder.",
         "Positional parameters (a list) or the driver's own placeholder style.",
         "A list bound as one value on a database without arrays (only PostgreSQL binds lists)."],
        [("Name every placeholder and pass a dict.",
          'await db.fetch("SELECT * FROM users WHERE age > :age", {"age": 30})'),
         ("Give each item of an IN list its own placeholder.",
          'await db.fetch("SELECT * FROM users WHERE id IN (:a, :b)", {"a": 1, "b": 2})')],
    ),
    _entry(
        "DF-720", "SQL statement refused",
        "A raw SQL call got something other than one SQL statement, or the database refused the "
        "statement's text (a syntax error, an unknown column or function).",
        ["An empty string, or not a string at all.",
         "Several statements in one call (a `;` followed by more SQL).",
         "SQL of another database's dialect, or a misspelt column."],
        [("Run one statement per call; keep several together with a transaction.",
          'with db.transaction():\n    db.execute_sync("UPDATE a SET n = n + 1")\n    '
          'db.execute_sync("UPDATE b SET n = n - 1")'),
         ("Check the names against the model's table.",
          'await db.fetch("SELECT id, name FROM users")')],
    ),
    # ---- 8xx workflows -------------------------------------------------------------------------
    _entry(
        "DF-801", "Workflow cannot be built",
        "The workflow is not valid: a duplicate or malformed node id, a connection to an unknown node, a "
        "node connected to itself, or a cycle.",
        ["Two nodes share an id.",
         "A connection names a node id that was never added (the message names the closest one).",
         "Connections form a loop, or an unbuilt WorkflowBuilder was handed to a runtime."],
        [("Give every node a unique id.",
          'wf.add_node("UserCreateNode", "create_alice", {...})\n'
          'wf.add_node("UserCreateNode", "create_bob", {...})'),
         ("Build the workflow before running it.",
          "results, run_id = LocalRuntime().execute(wf.build())")],
    ),
    _entry(
        "DF-802", "Node failed",
        "A node failed while the workflow ran; the error names the node and chains the cause (whose own "
        "code is in `cause_code`).",
        ["The node's own error: see `exc.__cause__` and its DF code.",
         "An upstream node produced data the node cannot use."],
        [("Look at the cause's code and fix that.",
          "except WorkflowExecutionError as exc:\n    print(exc.node_id, exc.cause_code, exc.__cause__)"),
         ("Run the failing node alone with the same parameters to reproduce it.",
          'wf = WorkflowBuilder(); wf.add_node("UserCreateNode", "c", params)')],
    ),
    _entry(
        "DF-803", "Transaction node used out of place",
        "A transaction node cannot act: a commit, rollback or savepoint node with no TransactionScopeNode "
        "transaction open, a second scope on an instance that has one open, a savepoint name that was never "
        "made, or a workflow whose nodes use several DataFlow instances without `db_instance` saying which.",
        ["The TransactionScopeNode was added after the node that commits, or a commit / rollback already "
         "ended the transaction.",
         "The workflow runs with `transaction=True`, which commits at its end by itself.",
         "A misspelt savepoint name."],
        [("Open the transaction first, end it once.",
          'wf.add_node("TransactionScopeNode", "tx", {})\nwf.add_node("UserCreateNode", "c", {...})\n'
          'wf.add_node("TransactionCommitNode", "commit", {})'),
         ("Say which instance when the workflow uses several.",
          'wf.add_node("TransactionScopeNode", "tx", {"db_instance": orders_db})')],
    ),
    _entry(
        "DF-804", "Workflow committed in part",
        "A workflow run with `transaction=True` wrote to several DataFlow instances (databases); every node "
        "succeeded and the instances committed one after the other, but a later commit failed after an "
        "earlier one had committed. The message names which committed and which was rolled back.",
        ["A deferred constraint (a foreign key checked at commit) failed on the later instance.",
         "The later database went away between the last node and its commit."],
        [("Keep a workflow that must be all-or-nothing on one DataFlow instance.",
          'wf.add_node("OrderCreateNode", "order", {..., "db_instance": main_db})'),
         ("Make the writes to the second instance idempotent (upserts), so the workflow can be run again.",
          'wf.add_node("AuditUpsertNode", "audit", {"where": {"order_id": "${order.id}"}, ...})')],
    ),
    _entry(
        "DF-805", "Transaction timed out",
        "A transaction ran longer than the timeout it was given (`db.transaction(timeout=…)`, "
        "`TransactionScopeNode`'s `timeout`); it was rolled back. The deadline is checked before each "
        "statement and at commit.",
        ["Slow work (a long computation, a remote call) inside the transaction.",
         "A timeout shorter than the work really needs."],
        [("Do slow work before or after the transaction, not inside it.",
          "data = fetch_remote()\nwith db.transaction(timeout=5):\n    runtime.execute(wf.build(), parameters=data)"),
         ("Give the transaction a longer timeout (seconds).",
          'wf.add_node("TransactionScopeNode", "tx", {"timeout": 60})')],
    ),
    _entry(
        "DF-806", "No workflow in the file",
        "A workflow file given to `dataflow analyze | debug | validate | perf` does not give a workflow: it "
        "does not exist, importing it failed, it defines none (or several and `--workflow` does not pick "
        "one), or its `parameters` is not a dict.",
        ["The workflow is built inside `if __name__ == \"__main__\":` or a function without a return "
         "annotation, so it is not at module level.",
         "The file calls `wf.build()` at import and the build fails: the inspector needs the builder itself.",
         "The file defines several workflows."],
        [("Define the WorkflowBuilder at module level (a function annotated `-> WorkflowBuilder` works too).",
          "workflow = WorkflowBuilder()\nworkflow.add_node(\"UserCreateNode\", \"create\", {...})"),
         ("Pick one of several workflows by name.",
          "dataflow validate flows.py --workflow nightly")],
    ),
    _entry(
        "DF-807", "Not in the inspected workflow",
        "The inspector was asked about something the workflow does not have: a node id it has no node "
        "for, or an object that is not a workflow.",
        ["A misspelled node id (the message names the closest one).",
         "`Inspector(...)` was given something other than a WorkflowBuilder or a built workflow."],
        [("Use a node id of the workflow; `dataflow analyze` lists them.",
          "dataflow debug my_workflow.py --node create_user"),
         ("Give the inspector the WorkflowBuilder itself.",
          "inspector = Inspector(workflow)")],
    ),
)

_BY_CODE = {entry.code: entry for entry in CATALOGUE}


def by_code() -> dict[str, CatalogueEntry]:
    """Every entry, by code (a fresh dict, safe to change)."""
    return dict(_BY_CODE)


def lookup(code: str) -> CatalogueEntry | None:
    """The entry for ``code`` (case-insensitive, ``df101`` and ``101`` accepted), or None."""
    text = str(code).strip().upper().replace("_", "-")
    if text.isdigit():
        text = f"DF-{text}"
    elif text.startswith("DF") and not text.startswith("DF-"):
        text = "DF-" + text[2:]
    return _BY_CODE.get(text)
