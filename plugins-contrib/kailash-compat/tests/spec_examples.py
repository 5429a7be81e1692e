"""The spec's code examples, extracted from the spec itself, and what each needs to run.

``examples()`` reads every ```` ```python ```` block of the spec (indented ones in lists too), in order,
numbered from 1. ``EXPECTED`` says, for every number, one of:

- ``Runs(context=…, after=…, databases=…)``: runs verbatim; ``after`` are earlier examples of the same
  section that it continues (run first, in the same module), ``context`` the few names the spec leaves
  to the reader (a ``db``, the ``workflow`` being built, a ``User`` model …), given by ``CONTEXT``;
- ``Waits(issue, reason)``: needs a feature of that issue; run as ``xfail(strict=True)``, so it turns
  into a failure to fix when the feature lands;
- ``Never(reason)``: cannot run as written, whatever DataFlow does (listed in the README).

Every example runs in a fresh module whose namespace first holds the imports the spec shows and then
leaves out of later examples (``STANDARD_IMPORTS``). The only change to an example's text is its
database URL: every ``postgresql://`` / ``mysql://`` string literal becomes the URL under test, and
``DataFlow()`` without a URL reads ``DATABASE_URL``, which is set to it too. ``sqlite:///`` URLs stay
as they are (relative files, in the example's own folder).
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from pathlib import Path

import attrs

SPEC = Path(__file__).parent / "spec" / "seed-dataflow-specialist.md"

STANDARD_IMPORTS = """\
import asyncio
import json
import time
from datetime import datetime
from typing import Any, Dict, List, Optional

import pytest
from dataflow import DataFlow
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder
"""
"""Imports the spec writes once and then uses without repeating (``WorkflowBuilder``, ``datetime`` …)."""

_SERVER_URL = re.compile(r"^(postgresql|postgres|mysql|mariadb)://")


@attrs.frozen
class Example:
    number: int
    line: int
    heading: str
    code: str

    @property
    def first_line(self) -> str:
        return next((ln.strip() for ln in self.code.splitlines() if ln.strip()), "")

    @property
    def names_server(self) -> bool:
        """True when the example is written against a server database URL."""
        return bool(re.search(r"[\"'](postgresql|postgres|mysql)://", self.code))


def examples(path: Path = SPEC) -> list[Example]:
    text = path.read_text(encoding="utf-8")
    found = []
    heading = ""
    headings = [(m.start(), m.group(1).strip()) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)]
    for number, match in enumerate(re.finditer(r"^( *)```python\n(.*?)^\1```", text, re.S | re.M), 1):
        heading = next((h for pos, h in reversed(headings) if pos < match.start()), "")
        line = text.count("\n", 0, match.start()) + 1
        found.append(Example(number, line, heading, textwrap.dedent(match.group(2))))
    return found


def with_url(code: str, url: str) -> str:
    """``code`` with every server URL string literal replaced by ``url`` (nothing else changes)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    pieces = []
    lines = code.splitlines(keepends=True)
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln))
    cursor = 0
    for tok in tokens:
        if tok.type != tokenize.STRING:
            continue
        try:
            value = ast.literal_eval(tok.string)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, str) and _SERVER_URL.match(value):
            start = offsets[tok.start[0] - 1] + tok.start[1]
            end = offsets[tok.end[0] - 1] + tok.end[1]
            pieces.append(code[cursor:start])
            quote = tok.string[-1]  # keep the example's own quotes
            pieces.append(quote + url.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote)
            cursor = end
    pieces.append(code[cursor:])
    return "".join(pieces)


# ---- what each example needs -------------------------------------------------------------------------
@attrs.frozen
class Runs:
    context: tuple[str, ...] = ()
    after: tuple[int, ...] = ()
    databases: tuple[str, ...] = ("sqlite",)
    note: str = ""
    prints: tuple[str, ...] = ()
    """Lines the example must print (its own comments say what they show)."""


@attrs.frozen
class Waits:
    issue: int
    reason: str
    context: tuple[str, ...] = ()
    after: tuple[int, ...] = ()
    databases: tuple[str, ...] = ("sqlite",)


@attrs.frozen
class Never:
    reason: str
    context: tuple[str, ...] = ()
    """What it is given when the test checks that it really does fail as the reason says."""
    after: tuple[int, ...] = ()
    databases: tuple[str, ...] = ("sqlite",)


Expectation = Runs | Waits | Never

SERVER = ("sqlite", "postgresql")
"""Examples written against a PostgreSQL URL run on SQLite and on PostgreSQL."""

CONTEXT: dict[str, str] = {
    "db": "db = DataFlow(TEST_URL)",
    "url": "url = TEST_URL",
    "workflow": "workflow = WorkflowBuilder()",
    "user": """\
@db.model
class User:
    id: str
    name: str
    email: str = ""
    active: bool = True
    verified: bool = False
    updated_by_system: bool = False
""",
    "user_values": "user_id, user_email, user_name = 'user-1', 'alice@example.com', 'Alice'",
    "counting_models": """\
user_id = 'user-1'


@db.model
class Session:
    id: str
    user_id: str
    active: bool


@db.model
class Order:
    id: str
    status: str
""",
    "runtime": "runtime = LocalRuntime()",
    "failing_workflow": """\
workflow = WorkflowBuilder()
workflow.add_node("UserCreateNode", "create", {"name": "no id"})
""",
    "count_workflow": """\
workflow = WorkflowBuilder()
workflow.add_node("UserCountNode", "count", {})
""",
    "enterprise": """\
from dataflow.migrations.concurrent_access_manager import MigrationLockManager
from dataflow.migrations.staging_environment_manager import StagingEnvironmentManager
from dataflow.migrations.validation_checkpoints import ValidationCheckpointManager

connection_manager = db
your_connection_manager = db


@db.model
class User:
    name: str
    account_value: int = 0
    deprecated_field: Optional[str] = None
    legacy_field: Optional[str] = None
    department_id: Optional[int] = None


_seed = WorkflowBuilder()
_seed.add_node("UserBulkCreateNode", "seed", {"data": [
    {"name": f"user {i}", "account_value": i * 1000, "legacy_field": "old"} for i in range(20)]})
LocalRuntime().execute(_seed.build())
dependency_report = None
need_rollback = False
your_migration_plan = {"operation": "add_column", "table": "users",
                       "details": {"column_name": "nickname", "data_type": "VARCHAR(40)"}}


async def execute_your_migration():
    return "done"


async def your_migration_function():
    return "done"


async def execute_actual_migration(operation_type, table_name, details):
    from dataflow.migrations.not_null_handler import ColumnDefinition, DefaultValueType, NotNullColumnHandler

    handler = NotNullColumnHandler(connection_manager)
    column = ColumnDefinition(name=details["column_name"], data_type=details["data_type"],
                              default_value=details["default_value"], default_type=DefaultValueType.STATIC)
    return await handler.execute_not_null_addition(await handler.plan_not_null_addition(table_name, column))
""",
    "inspector_class": "from dataflow.platform.inspector import Inspector",
}
"""Names the spec's fragments use without defining them: the reader's own set-up, nothing more."""


EXPECTED: dict[int, Expectation] = {
    1: Never(
        "It declares the ✅ `User` and the ❌ WRONG `User` (`user_id`) side by side on one "
        "instance: the second `@db.model class User` is DF-602 (a model of that name is already registered).",
        context=("db", "workflow"),
    ),
    2: Never(
        "It mixes code with the error it prints (`DF-101: Missing Required Parameter`, `Error: …`): "
        "the block is not Python."
    ),
    3: Runs(context=("url",)),
    4: Runs(),
    5: Runs(after=(4,)),
    6: Runs(after=(4,)),
    7: Runs(after=(4,)),
    8: Runs(databases=SERVER, prints=("True", "created")),
    9: Runs(context=("db", "workflow")),
    10: Runs(context=("db", "workflow")),
    11: Runs(context=("workflow", "user_values")),
    12: Never(
        "It uses `req_id` and `req_data` that nothing defines, passes Python's builtin `id` "
        "as the row's id, and reads `results` of a run it never makes.",
        context=("db", "workflow"),
    ),
    13: Runs(databases=SERVER),
    14: Runs(after=(13,), databases=SERVER),
    15: Runs(after=(13, 14), databases=SERVER),
    16: Runs(after=(13, 14), databases=SERVER),
    17: Runs(after=(13,), context=("counting_models",), databases=SERVER),
    18: Runs(after=(13,), context=("counting_models",), databases=SERVER),
    19: Runs(databases=("postgresql",), note="PostgreSQL only, as the spec says (MySQL and SQLite must refuse it)."),
    20: Runs(after=(19,), databases=("postgresql",), note="Native arrays and $contains: dataflow-native-arrays."),
    21: Runs(after=(19,), context=("workflow",), databases=("postgresql",)),
    22: Runs(after=(19,), context=("workflow",), databases=("postgresql",)),
    23: Runs(after=(19,), context=("workflow",), databases=("postgresql",)),
    24: Runs(note="An annotation shown on its own."),
    25: Runs(note="An annotation shown on its own."),
    26: Runs(databases=SERVER),
    27: Runs(databases=SERVER),
    28: Runs(after=(27,), databases=SERVER),
    29: Runs(databases=SERVER),
    30: Runs(context=("db", "workflow")),
    31: Runs(databases=SERVER),
    32: Runs(context=("db", "workflow")),
    33: Runs(context=("db", "workflow")),
    34: Runs(context=("workflow",)),
    35: Runs(context=("workflow",)),
    36: Runs(context=("workflow",)),
    37: Runs(context=("db", "user", "count_workflow"), databases=SERVER),
    38: Runs(databases=SERVER),
    39: Never(
        "`{...}` is a placeholder (a set holding Ellipsis), not node parameters.",
        context=("db", "workflow"),
    ),
    40: Runs(context=("db", "enterprise"), databases=SERVER),
    41: Runs(after=(40,), databases=SERVER),
    42: Runs(context=("db", "enterprise"), databases=SERVER),
    43: Runs(context=("db", "enterprise"), databases=SERVER),
    44: Runs(context=("db", "enterprise"), databases=SERVER),
    45: Runs(context=("db", "enterprise"), databases=SERVER),
    46: Runs(context=("db", "enterprise"), databases=SERVER),
    47: Runs(context=("db", "enterprise"), databases=SERVER),
    48: Runs(context=("db", "enterprise"), databases=SERVER),
    49: Never(
        "`return` outside a function: the block is not valid Python at module level (and uses "
        "`RemovalResult` without importing it)."
    ),
    50: Runs(context=("db", "enterprise"), databases=SERVER, prints=("Migration result: SUCCESS",)),
    51: Runs(databases=SERVER, note="test_mode= comes with the testing plugin (dataflow-testing)."),
    52: Runs(databases=SERVER),
    53: Runs(databases=SERVER),
    54: Runs(context=("db",)),
    55: Runs(context=("db",)),
    56: Runs(context=("db",)),
    57: Runs(note="Defines a fixture and a test (run by pytest, not as a script); see the testing plugin."),
    58: Runs(note="Defines a session fixture (run by pytest)."),
    59: Never(
        "`AsyncSQLDatabaseNode` is the Kailash Core SDK's raw-SQL node, not part of DataFlow, and "
        "the example never says where it comes from.",
        context=("db",),
    ),
    60: Never(
        "`AsyncSQLDatabaseNode` is the Kailash Core SDK's raw-SQL node, not part of DataFlow.",
        context=("db",),
    ),
    61: Runs(note="Defines a fixture (run by pytest)."),
    62: Runs(context=("db",)),
    63: Runs(note="Defines a fixture (run by pytest)."),
    64: Runs(context=("workflow",)),
    65: Runs(context=("db", "user", "failing_workflow", "runtime"), prints=("Error code: DF-802",)),
    66: Runs(context=("db", "user"), prints=("Correct: True",)),
    67: Never(
        "`results = runtime.execute(...)` keeps the (results, run_id) tuple "
        "the spec unpacks everywhere else, so `results['create_user']` is a TypeError; unpacked, it runs.",
        context=("db", "user", "workflow", "runtime"),
    ),
    68: Runs(after=(64,)),
    69: Runs(after=(64,)),
    70: Never(
        "It declares `BlogPost` twice on one instance (DF-602), and with `use_native_arrays` on a "
        "database other than PostgreSQL, which the spec says must be refused.",
        context=("db",),
    ),
    71: Never(
        "It shows the old, wrong behaviour (`# FAILS - config is a string`): it reads `results` no "
        "run made, and JSON fields come back as dicts.",
        context=("db",),
    ),
    72: Never(
        "It reads `results[node_id]` without a run or a node id: an access pattern, not a program.",
        context=("db",),
    ),
    73: Runs(),
    74: Runs(context=("workflow", "inspector_class")),
    75: Runs(context=("workflow", "inspector_class")),
    76: Runs(context=("db",)),
    77: Runs(databases=SERVER, note="Defines a fixture (run by pytest) after making an instance."),
    78: Runs(context=("workflow", "inspector_class")),
    79: Never(
        "`nexus` (Kailash Nexus) is another product, not part of DataFlow."
    ),
}
