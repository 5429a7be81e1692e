"""A subset of the conformance suite against ``sqlite://:memory:`` (one in-memory database per test).

In-memory databases differ from files in how connections share them (a shared-cache URI kept alive
by the instance), so the row-level parts of the suite run here too; the migration tests need two
instances on one database and are skipped for ``:memory:`` by the suite itself.
"""

import pytest
from dataflow.testing.fixtures import db, make_model, run, run_node  # noqa: F401
from dataflow.testing.suite.test_filters import *  # noqa: F403
from dataflow.testing.suite.test_nodes import *  # noqa: F403
from dataflow.testing.suite.test_safety import test_hostile_strings_are_stored_exactly  # noqa: F401
from dataflow.testing.suite.test_types import *  # noqa: F403
from dataflow.testing.suite.test_workflows import test_async_runtime_across_event_loops  # noqa: F401


@pytest.fixture
def dataflow_url():
    return "sqlite:///:memory:"
